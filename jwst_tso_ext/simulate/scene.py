"""Noiseless MIRI LRS slitless scene: star trace and thermal background in DN/s.

The star is dispersed with the flight wavelength solution and trace curvature
(`jwst_tso_ext.miri_lrs.geometry`) and converted to count rates with the shared
flux calibration (`jwst_tso_ext.miri_lrs.detector`). Positions are integrated over
pixels exactly (no point sampling): along the dispersion through the cumulative
integral of the dispersed flux, across it through differences of the error function
at the pixel edges. A shift of 0.01 px therefore really moves flux between pixels.

All functions are vectorised over integrations: the shifts are arrays of length
``nints`` and the rate cubes have shape ``(nints, 416, 72)``.
"""

import logging

import numpy as np
from astropy import units as u
from astropy.modeling.physical_models import BlackBody
from scipy.ndimage import gaussian_filter1d
from scipy.signal import fftconvolve
from scipy.special import erf

from jwst_tso_ext.miri_lrs import detector, geometry

log = logging.getLogger(__name__)

__all__ = [
    "StellarSpectrum",
    "blackbody_spectrum",
    "star_rate",
    "background_rate_image",
    "scene_rate",
]

#: Sub-pixel sampling of the fine grid along the dispersion.
_FINE_STEP = 0.02
#: PSF sigma along the dispersion used to blur the dispersed spectrum (pixels).
_DISPERSION_BLUR_WAVELENGTH = 7.5


class StellarSpectrum:
    """Stellar flux density F_nu as a function of wavelength.

    Parameters
    ----------
    wavelength : array_like
        Wavelengths in micron, increasing.
    flux_jy : array_like
        Flux density F_nu in Jy at those wavelengths.
    """

    def __init__(self, wavelength, flux_jy):
        self.wavelength = np.asarray(wavelength, dtype=float)
        self.flux_jy = np.asarray(flux_jy, dtype=float)
        if self.wavelength.ndim != 1 or self.wavelength.shape != self.flux_jy.shape:
            raise ValueError("wavelength and flux_jy must be 1-D arrays of the same length")
        if np.any(np.diff(self.wavelength) <= 0):
            raise ValueError("wavelength must increase strictly")

    def __call__(self, wavelength):
        """F_nu in Jy at ``wavelength`` (micron); 0 outside the tabulated range."""
        return np.interp(wavelength, self.wavelength, self.flux_jy, left=0.0, right=0.0)


def blackbody_spectrum(temperature=6230.0, flux_mjy=20.0, reference_wavelength=2.0):
    """Blackbody F_nu normalised to ``flux_mjy`` at ``reference_wavelength``.

    The default is the seed notebook's star: 6230 K, 20 mJy at 2 micron (K ~ 9).

    Returns
    -------
    spectrum : StellarSpectrum
        Tabulated on 3-15 micron.
    """
    if temperature <= 0 or flux_mjy <= 0:
        raise ValueError("temperature and flux_mjy must be positive")
    blackbody = BlackBody(temperature * u.K)
    wavelength = np.linspace(3.0, 15.0, 2401)
    shape = blackbody(wavelength * u.um).value / blackbody(reference_wavelength * u.um).value
    return StellarSpectrum(wavelength, 1e-3 * flux_mjy * shape)


def _dispersed_cumulative(spectrum, weights=None):
    """Cumulative dispersed count rate along the rows, in nominal row coordinates.

    Returns the fine grid of row coordinates (pixel edges are at half-integers) and the
    cumulative integral of the count rate per unit row length (DN/s), blurred by the
    PSF along the dispersion. With ``weights`` (a function of wavelength returning
    ``(n_nodes, n)`` weights, see `jwst_tso_ext.simulate.chromatic`) one cumulative
    per node is returned, shape ``(n_nodes, n_grid)``.
    """
    rows, _, _ = geometry._monotonic_part()
    lo, hi = rows.min() - 20.0, rows.max() + 20.0
    grid = np.arange(lo, hi + _FINE_STEP, _FINE_STEP)
    wavelength = geometry.wavelength_at_row(grid)
    density = np.where(
        np.isfinite(wavelength),
        spectrum(np.nan_to_num(wavelength)) * detector.count_rate_per_jy(np.nan_to_num(wavelength)),
        0.0,
    )
    sigma_px = float(detector.psf_sigma(_DISPERSION_BLUR_WAVELENGTH))
    if weights is None:
        density = gaussian_filter1d(density, sigma_px / _FINE_STEP, mode="constant")
    else:
        density = _blur_rows(density * weights(np.nan_to_num(wavelength)), sigma_px / _FINE_STEP)
    steps = 0.5 * (density[..., 1:] + density[..., :-1]) * _FINE_STEP
    start = np.zeros(density.shape[:-1] + (1,))
    cumulative = np.concatenate([start, np.cumsum(steps, axis=-1)], axis=-1)
    return grid, cumulative


def _blur_rows(density, sigma):
    """`gaussian_filter1d` (mode 'constant') of every row of ``density``, through FFTs."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    return fftconvolve(density, kernel[None, :], mode="same", axes=-1)


def star_rate(x_shift, y_shift, spectrum=None, scale=None, chromatic=None, planet=None):
    """Noiseless count rate of the star (DN/s) in each pixel, per integration.

    Parameters
    ----------
    x_shift, y_shift : array_like
        Star position relative to the nominal slitless position, in pixels, one value
        per integration (positive toward higher column / row numbers).
    spectrum : StellarSpectrum, optional
        Stellar F_nu; default `blackbody_spectrum()`.
    scale : array_like, optional
        Multiplicative flux factor per integration (transit, response ramp); default 1.
    chromatic : `jwst_tso_ext.simulate.chromatic.ChromaticTransit`, optional
        A transit whose depth varies with wavelength, for these integrations (applied
        on top of ``scale``).
    planet : `jwst_tso_ext.simulate.phase_curve.PlanetEmission`, optional
        The planet's emission for these integrations, added to the star's light (after
        ``chromatic``, before ``scale``; pass the transit as ``chromatic`` then).

    Returns
    -------
    rate : numpy.ndarray
        Shape ``(nints, 416, 72)``, float32, DN/s before the flat field. Reference
        columns are 0.
    """
    x_shift = np.atleast_1d(np.asarray(x_shift, dtype=float))
    y_shift = np.atleast_1d(np.asarray(y_shift, dtype=float))
    if x_shift.shape != y_shift.shape or x_shift.ndim != 1:
        raise ValueError("x_shift and y_shift must be 1-D arrays of equal length")
    scale = np.ones_like(x_shift) if scale is None else np.broadcast_to(scale, x_shift.shape)
    spectrum = blackbody_spectrum() if spectrum is None else spectrum
    row_centres = np.arange(geometry.N_ROWS, dtype=float)
    # nominal coordinates of the pixel edges for each integration: (nints, nrows)
    lower = row_centres[None, :] - 0.5 - y_shift[:, None]
    upper = lower + 1.0
    if chromatic is None:
        grid, cumulative = _dispersed_cumulative(spectrum)
        row_rate = np.interp(upper, grid, cumulative) - np.interp(lower, grid, cumulative)
    else:
        row_rate = chromatic.row_rates(spectrum, lower, upper)
    if planet is not None:
        row_rate = row_rate + planet.row_rates(spectrum, lower, upper)

    nominal_row = row_centres[None, :] - y_shift[:, None]
    # PSF width at the nominal wavelength; beyond either end of the calibrated table
    # the width of the nearest calibrated row is held (no jump at the spectral edges)
    table_rows, _, _ = geometry._monotonic_part()
    edge_clipped_row = np.clip(nominal_row, table_rows.min(), table_rows.max())
    sigma = detector.psf_sigma(geometry.wavelength_at_row(edge_clipped_row))
    centre = geometry.NOMINAL_X + geometry.trace_x_offset_at_row(nominal_row) + x_shift[:, None]
    edges = np.arange(geometry.N_COLUMNS + 1, dtype=float) - 0.5
    cdf = erf((edges[None, None, :] - centre[:, :, None]) / (np.sqrt(2.0) * sigma[:, :, None]))
    profile = 0.5 * np.diff(cdf, axis=-1)
    rate = (scale[:, None, None] * row_rate[:, :, None]) * profile
    rate[:, :, : geometry.N_REFERENCE_COLUMNS] = 0.0
    return rate.astype(np.float32)


def background_rate_image():
    """Thermal background (DN/s per pixel) on the subarray, before the flat field.

    The background is dispersed by the prism like any source filling the field, so it
    varies with row through the nominal wavelength and does not move with the star.
    Rows outside the calibrated range get the value at the nearest calibrated row.
    """
    rows = np.arange(geometry.N_ROWS, dtype=float)
    table_rows, table_waves, _ = geometry._monotonic_part()
    wavelength = np.interp(rows, table_rows[::-1], table_waves[::-1])
    image = np.repeat(detector.background_rate(wavelength)[:, None], geometry.N_COLUMNS, axis=1)
    image[:, : geometry.N_REFERENCE_COLUMNS] = 0.0
    return image.astype(np.float32)


def scene_rate(
    x_shift, y_shift, spectrum=None, scale=None, background=True, chromatic=None, planet=None
):
    """Detected count rate (DN/s): (star + background) times the flat field.

    Same parameters as `star_rate`; ``background`` switches the thermal background.
    """
    rate = star_rate(
        x_shift, y_shift, spectrum=spectrum, scale=scale, chromatic=chromatic, planet=planet
    )
    if background:
        rate += background_rate_image()[None]
    rate *= detector.flat_field()[None]
    return rate
