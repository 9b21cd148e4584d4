"""Optimal (Horne 1986) extraction of spectral time-series cubes, vectorised.

Horne, K. 1986, PASP 98, 609: the flux of each dispersion element is the
variance-weighted least-squares amplitude of a normalised spatial profile P,

    f = sum(M P (D - S) / V) / sum(M P**2 / V),

where D are the data, S the background, V the pixel variances and M the mask of
good pixels; outliers (cosmic rays) are rejected iteratively, the worst pixel
of a dispersion element at a time, while ``(D - S - f P)**2 > clip**2 V``.

For a time series the profile is estimated once, from the median over all
integrations of the background-subtracted data within the box aperture
(negative values set to zero, normalised to unit sum per dispersion element);
with stable pointing this is a high signal-to-noise estimate.  The background
is the same as in the box extraction (`box_extraction.fit_and_subtract_background`),
and the variances of the flux are propagated from the read-noise, Poisson and
flat variances with the extraction weights ``w = M P / V / sum(M P**2 / V)``.
"""

import logging
import warnings

import numpy as np

from jwst_tso_ext.progress import IntegrationProgress
from jwst_tso_ext.tso_extract import box_extraction

log = logging.getLogger(__name__)

__all__ = ["spatial_profile", "optimal_extract"]


def spatial_profile(image, aperture):
    """
    Normalised spatial profile from background-subtracted images.

    Parameters
    ----------
    image : ndarray
        ``(nints, n_disp, n_cross)`` background-subtracted data (NaN = invalid).
    aperture : ndarray
        ``(n_disp, n_cross)`` box weights; the profile is zero where they are zero.

    Returns
    -------
    ndarray
        ``(n_disp, n_cross)`` profile, >= 0, unit sum over each dispersion element
        (the normalised box weights where the data give no positive signal).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(image, axis=0)
    inside = aperture > 0
    profile = np.where(inside & np.isfinite(median), np.clip(median, 0.0, None), 0.0)
    total = profile.sum(axis=-1, keepdims=True)
    box = np.where(inside, aperture, 0.0)
    box_total = box.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(total > 0, profile / total, box / box_total)
    return np.nan_to_num(profile)


def _optimal_block(image, var_rnoise, var_poisson, var_flat, profile, clip, max_iter):
    """Weights and flux of one block; returns (weights, flux, denominator)."""
    variance = (
        var_rnoise.astype(np.float64) + var_poisson.astype(np.float64) + var_flat
    )  # fmt: skip
    good = (profile > 0) & np.isfinite(image) & np.isfinite(variance) & (variance > 0)
    safe_var = np.where(good, variance, 1.0)
    safe_img = np.where(good, image, 0.0)
    for _ in range(max(int(max_iter), 0) + 1):
        p_over_v = np.where(good, profile / safe_var, 0.0)
        denom = np.sum(p_over_v * profile, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            flux = np.sum(p_over_v * safe_img, axis=-1) / denom
        resid = np.where(good, (safe_img - flux[..., None] * profile) ** 2 / safe_var, -np.inf)
        worst = np.argmax(resid, axis=-1)
        worst_value = np.take_along_axis(resid, worst[..., None], axis=-1)[..., 0]
        reject = worst_value > clip**2
        if not np.any(reject):
            break
        n, d = np.nonzero(reject)
        good[n, d, worst[n, d]] = False
    else:
        p_over_v = np.where(good, profile / safe_var, 0.0)
        denom = np.sum(p_over_v * profile, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = p_over_v / denom[..., None]
    weights = np.nan_to_num(weights, nan=0.0, posinf=0.0, neginf=0.0)
    flux = np.sum(weights * safe_img, axis=-1)
    return weights, flux, denom, good


def optimal_extract(
    data,
    var_poisson,
    var_rnoise,
    var_flat,
    weights,
    bkg_weights=None,
    dq=None,
    err=None,
    bkg_fit="median",
    bkg_order=0,
    smoothing_length=0,
    dispaxis=2,
    profile=None,
    clip_sigma=5.0,
    max_iter=5,
    chunk_size=64,
):
    """
    Optimally extract every integration of a spectral cube at once.

    Parameters
    ----------
    data, var_poisson, var_rnoise, var_flat, weights, bkg_weights, dq, err
        As in `box_extraction.box_extract`; ``weights`` (the box aperture)
        bounds the pixels used.
    bkg_fit, bkg_order, smoothing_length, dispaxis, chunk_size
        As in `box_extraction.box_extract`.
    profile : ndarray or None, optional
        ``(ny, nx)`` spatial profile; None: estimated from the data
        (`spatial_profile`).
    clip_sigma : float, optional
        Outlier rejection threshold in standard deviations.
    max_iter : int, optional
        Maximum number of rejection iterations (one pixel per dispersion
        element per iteration); 0 for none.

    Returns
    -------
    dict of ndarray
        Same keys as `box_extraction.box_extract`.  ``sum_flux`` is the optimal
        flux (same units as the summed box flux), ``npixels`` the effective
        number of pixels ``sum(M P) / sum(P**2)``, ``background`` the background
        weighted as the flux.
    """
    if bkg_fit == "mean":
        bkg_fit, bkg_order = "poly", 0
    smoothing_length = int(smoothing_length or 0)
    args = (data, var_poisson, var_rnoise, var_flat, weights, bkg_weights, dq, err, dispaxis)
    setup, blocks = box_extraction.iter_blocks(*args, chunk_size=chunk_size)
    w_int, b_int, cross_coord = setup["weights"], setup["bkg_weights"], setup["cross_coord"]
    nints, ndisp = setup["nints"], w_int.shape[0]

    def background(d, vp, vr, vf, source_weights):
        return box_extraction.fit_and_subtract_background(
            d, vr, vp, vf, source_weights, b_int, bkg_fit, bkg_order, smoothing_length,
            cross_coord,
        )  # fmt: skip

    if profile is None:
        images = np.empty((nints, ndisp, w_int.shape[1]), dtype=np.float32)
        for block, d, vp, vr, vf in blocks:
            images[block] = background(d, vp, vr, vf, w_int)[0]
        prof = spatial_profile(images, w_int)
        del images
        _, blocks = box_extraction.iter_blocks(*args, chunk_size=chunk_size)
    else:
        prof = box_extraction._to_internal(np.asarray(profile, float), dispaxis)
        prof = np.where(w_int > 0, prof[:, setup["columns"]], 0.0)

    names = (
        "sum_flux", "var_rnoise", "var_poisson", "var_flat", "background",
        "bkg_var_rnoise", "bkg_var_poisson", "bkg_var_flat", "npixels",
    )  # fmt: skip
    out = {name: np.empty((nints, ndisp)) for name in names}
    prof_sq_sum = np.sum(prof**2, axis=-1)
    progress = IntegrationProgress(log, "tso_extract_1d: integrations extracted", nints)
    for block, d, vp, vr, vf in blocks:
        image, _, _ = background(d, vp, vr, vf, w_int)
        wts, flux, denom, good = _optimal_block(image, vr, vp, vf, prof, clip_sigma, max_iter)
        # background and its variance for these weights
        _, bkg_2d, bkg_var = background(d, vp, vr, vf, wts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            var = [np.nansum(v * wts**2, axis=-1) for v in (vr, vp, vf)]
            if bkg_2d is not None:
                bkg = np.sum(np.where(wts > 0, bkg_2d, 0.0) * wts, axis=-1)
            else:
                bkg = np.zeros(flux.shape)
        bkg[~np.isfinite(bkg)] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            npixels = np.sum(np.where(good, prof, 0.0), axis=-1) / prof_sq_sum
        npixels = np.nan_to_num(npixels)
        flux = np.where(denom > 0, flux, np.nan)
        out["sum_flux"][block] = flux
        for i, key in enumerate(("rnoise", "poisson", "flat")):
            out[f"var_{key}"][block] = var[i] + bkg_var[i]
            out[f"bkg_var_{key}"][block] = bkg_var[i]
        out["background"][block] = bkg
        out["npixels"][block] = npixels
        progress.advance(block.stop - block.start)
    return out
