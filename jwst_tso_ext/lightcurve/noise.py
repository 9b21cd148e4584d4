"""Noise metrics of a light-curve fit: rms, expected photon + read noise, red-noise beta, BIC."""

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["rms_ppm", "expected_noise_ppm", "binned_rms", "beta_factor", "bic", "fit_metrics"]


def rms_ppm(residual):
    """
    Root-mean-square of relative residuals, in ppm.

    Parameters
    ----------
    residual : ndarray
        Relative residuals (data / model - 1); non-finite values are ignored.

    Returns
    -------
    float
        rms in parts per million.
    """
    r = np.asarray(residual, dtype=float)
    r = r[np.isfinite(r)]
    return float(np.sqrt(np.mean(r**2)) * 1e6) if r.size else np.nan


def expected_noise_ppm(flux, error):
    """
    Expected per-integration noise from the propagated errors (photon + read noise).

    Parameters
    ----------
    flux, error : ndarray
        White-light flux and its propagated 1-sigma error.

    Returns
    -------
    float
        Median relative error, in ppm.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.asarray(error, dtype=float) / np.abs(np.asarray(flux, dtype=float))
    rel = rel[np.isfinite(rel)]
    return float(np.median(rel) * 1e6) if rel.size else np.nan


def binned_rms(residual, bin_sizes=None, min_bins=10):
    """
    rms of residuals averaged in non-overlapping bins, against the white-noise expectation.

    Parameters
    ----------
    residual : ndarray (n,)
        Residuals in time order (non-finite values are dropped first).
    bin_sizes : array-like of int, optional
        Bin sizes (points per bin).  Default: ~20 log-spaced sizes from 1 to
        ``n // min_bins``.
    min_bins : int
        Smallest number of bins a bin size must leave.

    Returns
    -------
    sizes : ndarray of int
        Bin sizes used.
    rms : ndarray
        rms of the binned residuals for each size.
    expected : ndarray
        White-noise expectation ``rms_1 / sqrt(N) * sqrt(M / (M - 1))`` with ``M`` bins.
    """
    r = np.asarray(residual, dtype=float)
    r = r[np.isfinite(r)]
    n = r.size
    if bin_sizes is None:
        nmax = max(n // min_bins, 1)
        bin_sizes = np.unique(np.round(np.logspace(0, np.log10(nmax), 20)).astype(int))
    sizes, rms, expected = [], [], []
    sigma1 = np.sqrt(np.mean(r**2)) if n else np.nan
    for size in np.asarray(bin_sizes, dtype=int):
        m = n // size
        if size < 1 or m < 2:
            continue
        binned = r[: m * size].reshape(m, size).mean(axis=1)
        sizes.append(size)
        rms.append(np.sqrt(np.mean(binned**2)))
        expected.append(sigma1 / np.sqrt(size) * np.sqrt(m / (m - 1.0)))
    return np.array(sizes, dtype=int), np.array(rms), np.array(expected)


def beta_factor(residual, bin_sizes=None, min_bins=10):
    """
    Time-averaging red-noise factor beta (Pont et al. 2006; Winn et al. 2008).

    The mean, over bin sizes larger than one point, of the ratio of the binned rms to
    its white-noise expectation.  ``beta ~ 1`` for white noise.

    Parameters
    ----------
    residual : ndarray (n,)
        Residuals in time order.
    bin_sizes : array-like of int, optional
        Bin sizes; see :func:`binned_rms`.
    min_bins : int
        Smallest number of bins a bin size must leave.

    Returns
    -------
    float
        beta (not floored at 1).
    """
    sizes, rms, expected = binned_rms(residual, bin_sizes=bin_sizes, min_bins=min_bins)
    use = sizes > 1
    if not use.any():
        return np.nan
    return float(np.mean(rms[use] / expected[use]))


def bic(chi2, n_params, n_points):
    """
    Bayesian information criterion ``chi2 + k ln N``.

    Parameters
    ----------
    chi2 : float
        Chi-square of the fit.
    n_params : int
        Number of free parameters.
    n_points : int
        Number of fitted points.

    Returns
    -------
    float
        The BIC.
    """
    return float(chi2 + n_params * np.log(n_points))


def fit_metrics(flux, error, model, fit_mask):
    """
    Noise metrics of a fitted light curve (the white light's or one wavelength bin's).

    Parameters
    ----------
    flux, error : ndarray (n,)
        Light curve and its propagated 1-sigma error.
    model : ndarray (n,)
        The full fitted model (systematics x astrophysics), flux units.
    fit_mask : ndarray of bool (n,)
        Points that were fitted; the metrics use only these.

    Returns
    -------
    dict
        ``rms_ppm`` (of ``flux / model - 1``), ``expected_noise_ppm`` (median relative
        propagated error), ``rms_to_expected`` and ``beta`` (time-averaging red-noise
        factor), plus ``relative_residual`` (n,: NaN where not fitted).
    """
    flux = np.asarray(flux, dtype=float)
    fit_mask = np.asarray(fit_mask, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = flux / np.asarray(model, dtype=float) - 1.0
    rel_fit = rel[fit_mask]
    rms = rms_ppm(rel_fit)
    expected = expected_noise_ppm(flux[fit_mask], np.asarray(error, dtype=float)[fit_mask])
    return {
        "rms_ppm": rms,
        "expected_noise_ppm": expected,
        "rms_to_expected": rms / expected if expected > 0 else np.nan,
        "beta": beta_factor(rel_fit),
        "relative_residual": np.where(fit_mask, rel, np.nan),
    }
