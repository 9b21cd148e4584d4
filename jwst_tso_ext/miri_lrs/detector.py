"""Detector and flux-calibration model shared by the simulator and the synthetic references.

The simulator applies these effects; the offline CRDS references
(`jwst_tso_ext.crds_cache`) carry the same numbers, so the official pipeline
steps undo exactly what was injected. Values are realistic for the MIRI
imager detector in SLITLESSPRISM but are not flight calibrations.
"""

import numpy as np
from scipy.special import erf

from jwst_tso_ext.miri_lrs.geometry import (
    FRAME_TIME,
    N_COLUMNS,
    N_REFERENCE_COLUMNS,
    N_ROWS,
    PIXEL_AREA_SR,
)

__all__ = [
    "GAIN",
    "READ_NOISE_DN",
    "READ_NOISE_CDS_DN",
    "DARK_RATE_DN_S",
    "BIAS_DN",
    "SATURATION_DN",
    "LINEARITY_QUADRATIC",
    "PHOTMJSR",
    "PEAK_RESPONSE_DN_S_PER_JY",
    "linearized_from_raw",
    "raw_from_linearized",
    "flat_field",
    "relative_response",
    "count_rate_per_jy",
    "psf_sigma",
    "psf_fraction",
    "background_rate",
    "slope_variances",
]

#: Gain in electrons per DN.
GAIN = 3.1
#: Read noise of a single frame, DN (what the simulator adds to every read).
READ_NOISE_DN = 6.0
#: Read noise as jwst's readnoise reference files give it: the noise of the difference
#: of two reads (CDS), sqrt(2) x the single-read noise. stcal's ramp fit divides the
#: reference by sqrt(2 nframes) and its jump detection treats it as CDS noise.
READ_NOISE_CDS_DN = float(np.sqrt(2.0) * READ_NOISE_DN)
#: Dark current, DN/s per pixel (uniform).
DARK_RATE_DN_S = 0.3
#: Bias (pedestal) level of the raw ramps, DN.
BIAS_DN = 10000.0
#: Saturation of the raw signal, DN (bias included), as in the saturation reference.
SATURATION_DN = 62000.0
#: Non-linearity on the total raw DN (bias included, as MIRI has no superbias step):
#: linearized = raw + LINEARITY_QUADRATIC * raw**2. The linearity reference carries the
#: polynomial coefficients (0, 1, LINEARITY_QUADRATIC), which jwst applies to raw DN.
LINEARITY_QUADRATIC = 1.0e-6

#: Peak of the flux conversion (DN/s per Jy of F_nu in one detector row).
PEAK_RESPONSE_DN_S_PER_JY = 3.0e5
#: Photom scalar: MJy/sr per DN/s at the response peak (relresponse = 1 there).
PHOTMJSR = 1.0 / (PEAK_RESPONSE_DN_S_PER_JY * 1.0e6 * PIXEL_AREA_SR)


def linearized_from_raw(raw):
    """Linearized DN for recorded raw DN (bias included), as the linearity step computes it."""
    raw = np.asarray(raw, dtype=float)
    return raw + LINEARITY_QUADRATIC * raw**2


def raw_from_linearized(signal):
    """Raw DN (bias included) that the detector records for a linear level ``signal`` (DN).

    Exact inverse of `linearized_from_raw` for non-negative levels. The simulator builds
    linear ramps ``linearized_from_raw(BIAS_DN) + accumulated counts`` and passes them here.
    """
    signal = np.asarray(signal, dtype=float)
    a = LINEARITY_QUADRATIC
    return 2.0 * signal / (1.0 + np.sqrt(1.0 + 4.0 * a * np.clip(signal, 0.0, None)))


def flat_field():
    """Pixel-to-pixel response of the SLITLESSPRISM subarray (mean 1, 1% rms).

    Deterministic (fixed seed), so the simulator and the flat reference agree.
    Reference columns are exactly 1.

    Returns
    -------
    flat : numpy.ndarray
        Array of shape (416, 72), float32.
    """
    rng = np.random.default_rng(20221201)
    flat = 1.0 + 0.01 * rng.standard_normal((N_ROWS, N_COLUMNS))
    flat[:, :N_REFERENCE_COLUMNS] = 1.0
    return flat.astype(np.float32)


def relative_response(wavelength):
    """System throughput relative to its peak (smooth, 0.1 .. 1 over 4-14 micron)."""
    wavelength = np.asarray(wavelength, dtype=float)
    return 0.1 + 0.9 * np.exp(-0.5 * ((wavelength - 7.5) / 2.6) ** 2)


def count_rate_per_jy(wavelength):
    """Detected count rate (DN/s) in one detector row per Jy of F_nu at ``wavelength``.

    The photom reference inverts this: PHOTMJSR * relresponse(lambda) * 1e6 * PIXEL_AREA_SR
    equals ``1 / count_rate_per_jy(lambda)``.
    """
    return PEAK_RESPONSE_DN_S_PER_JY * relative_response(wavelength)


def psf_sigma(wavelength):
    """Gaussian sigma (pixels) of the cross-dispersion PSF at ``wavelength`` (micron).

    Diffraction FWHM 1.03 lambda / 6.5 m at 0.11 arcsec/px, added in quadrature to a
    0.45 px detector blur.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    fwhm_px = 1.03 * wavelength * 1e-6 / 6.5 * 206264.80624709636 / 0.11
    return np.hypot(fwhm_px / 2.3548200450309493, 0.45)


def psf_fraction(wavelength, half_width):
    """Fraction of the cross-dispersion PSF inside +/- ``half_width`` pixels of its centre."""
    sigma = psf_sigma(wavelength)
    return erf(np.asarray(half_width, dtype=float) / (np.sqrt(2.0) * sigma))


def background_rate(wavelength):
    """Thermal background (DN/s per pixel) at ``wavelength``; rises steeply to the red.

    About 12 DN/s at 5 micron and 100 DN/s at 13 micron.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    return 10.0 + 90.0 * np.clip((wavelength - 4.0) / 9.0, 0.0, None) ** 3


def slope_variances(rate, ngroups, group_time=FRAME_TIME):
    """Poisson and read-noise variances of slopes fitted to ``ngroups`` groups (DN/s)^2.

    Photon noise of the electrons collected in the integration, and the read noise of
    a least-squares slope over evenly spaced groups, ``12 sigma_read**2 /
    (ngroups t_int**2)`` with ``t_int = ngroups * group_time`` (the large-ngroups
    form, as the simulator's tests and benchmarks use for their noise).

    Parameters
    ----------
    rate : numpy.ndarray
        Count rates (DN/s); negative values give no photon noise.
    ngroups : int
        Groups per integration.
    group_time : float, optional
        Seconds per group (SLITLESSPRISM frame time by default).

    Returns
    -------
    var_poisson : numpy.ndarray
        Same shape and floating dtype as ``rate``.
    var_rnoise : float
        The same for every pixel.
    """
    t_int = ngroups * group_time
    rate = np.asarray(rate)
    var_poisson = np.clip(rate, 0, None) / (t_int * GAIN)
    var_rnoise = 12.0 * READ_NOISE_DN**2 / (t_int**2 * ngroups)
    return var_poisson, var_rnoise
