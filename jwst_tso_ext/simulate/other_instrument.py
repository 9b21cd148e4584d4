"""Check scenes from an instrument model that is deliberately not the package's.

Every calibration path of the package was first validated on the package's own
simulator, whose response, PSF and flux calibration are also those of the offline
CRDS cache: a fit that assumes them recovers what was injected by construction.
These scenes break that circle. Nothing here calls `jwst_tso_ext.miri_lrs.detector`
or `jwst_tso_ext.simulate.scene`; what is shared is only the flight wavelength
solution and trace curvature (`jwst_tso_ext.miri_lrs.geometry`, from the public
specwcs), against which the true offsets are defined.

How the model differs from the package's (see docs/simulator.rst):

* **response**: a plateau that falls linearly to the red, with a sharp cut-on
  (logistic, 0.03 um wide, ~0.4 px) at 5.0 um and a cut-off (0.004 um, ~0.25 px)
  at 11.8 um, optionally tilted
  (``tilt_per_um``) and with the cut-on moved (``cut_on_shift_um``) against the
  nominal curve that `other_photom_response` tabulates (the package: a smooth
  Gaussian with a floor, no edges);
* **PSF**: a Moffat-like profile (Student-t, beta 2.5, strong wings) whose FWHM
  grows as ``hypot(1.22 lambda / D, 1.4 px)``, optionally scaled (``psf_scale``),
  blurring the spectrum along the dispersion with the same profile at 7.5 um
  (the package: a Gaussian of sigma ``hypot(diffraction, 0.45 px)``);
* **star**: an M dwarf, a 3200 K blackbody with water absorption bands at 5.5-7.5 um
  and a weaker one near 10 um (`mdwarf_fnu`), or any F_nu callable (the package: a
  6230 K blackbody);
* **limb darkening**: the power-2 law (Maxted 2018), the transit computed by direct
  integration over the stellar disc (`power2_transit`), not with batman;
* **background and noise**: a background with its own wavelength law, photon noise
  at a gain of 4 e-/DN and a read noise of 25 DN per integration.

The functions are plain numpy, vectorised over integrations.
"""

import numpy as np
from scipy import special, stats
from scipy.signal import fftconvolve

from jwst_tso_ext.miri_lrs import geometry

__all__ = [
    "OTHER_GAIN",
    "OTHER_READ_NOISE_DN",
    "other_response",
    "other_photom_response",
    "other_psf_fwhm",
    "mdwarf_fnu",
    "blackbody_fnu_jy",
    "power2_intensity",
    "power2_transit",
    "other_star_rate",
    "other_background_rate",
    "other_slopes",
]

#: Gain (electrons per DN) of the other instrument's noise model.
OTHER_GAIN = 4.0
#: Read noise (DN/s x integration time, i.e. DN) of one integration's slope.
OTHER_READ_NOISE_DN = 25.0
#: Peak count rate (DN/s in one detector row) per Jy of F_nu.
OTHER_PEAK_DN_S_PER_JY = 2.2e5
#: Moffat beta of the PSF (a Student-t of 2 beta - 1 degrees of freedom).
OTHER_PSF_BETA = 2.5
_FINE_STEP = 0.02  # px, sampling along the dispersion
_ARCSEC_PER_RADIAN = 206264.80624709636


def other_response(
    wavelength, tilt_per_um=0.0, cut_on_shift_um=0.0, cut_on_um=5.0, cut_off_um=11.8
):
    """Relative count rate per unit F_nu of the other instrument (peak ~1).

    Parameters
    ----------
    wavelength : array_like
        Micron.
    tilt_per_um : float, optional
        Multiplies the curve by ``1 + tilt_per_um (lambda - 7.5)`` (0.1: 10 %/um).
    cut_on_shift_um : float, optional
        Moves the cut-on edge by this much (micron).
    cut_on_um, cut_off_um : float, optional
        Nominal half-power wavelengths of the sharp edges.

    Returns
    -------
    numpy.ndarray
        Never below 1e-6 (a photom reference must stay finite).
    """
    wave = np.asarray(wavelength, dtype=float)
    plateau = np.clip(1.15 - 0.09 * (wave - 5.0), 0.05, None)
    edges = special.expit((wave - cut_on_um - cut_on_shift_um) / 0.03) * special.expit(
        (cut_off_um - wave) / 0.004
    )
    tilt = np.clip(1.0 + tilt_per_um * (wave - 7.5), 0.05, None)
    return np.clip(plateau * edges * tilt, 1e-6, None)


def other_photom_response(wavelength):
    """The nominal (untilted, unshifted) response: what the other instrument's photom holds."""
    return other_response(wavelength)


def other_psf_fwhm(wavelength, psf_scale=1.0):
    """FWHM (px) of the other instrument's PSF at ``wavelength`` (micron)."""
    wave = np.asarray(wavelength, dtype=float)
    diffraction = 1.22 * wave * 1e-6 / 6.5 * _ARCSEC_PER_RADIAN / geometry.PIXEL_SCALE_ARCSEC
    return psf_scale * np.hypot(diffraction, 1.4)


def _student_t_scale(fwhm):
    """Scale of the Student-t profile (1 + x**2 / (nu s**2))**-beta of the given FWHM."""
    nu = 2.0 * OTHER_PSF_BETA - 1.0
    half = 0.5 * np.asarray(fwhm, dtype=float)
    # (1 + h**2 / (nu s**2))**-beta = 1/2
    return half / np.sqrt(nu * (2.0 ** (1.0 / OTHER_PSF_BETA) - 1.0))


def blackbody_fnu_jy(wavelength, temperature, flux_mjy_at_5um=30.0):
    """Blackbody F_nu in Jy, normalised to ``flux_mjy_at_5um`` at 5 micron."""
    wave = np.asarray(wavelength, dtype=float)
    hc_k = 14387.768775039337  # micron kelvin

    def shape(lam):
        return lam**-3 / np.expm1(hc_k / (lam * temperature))

    return 1e-3 * flux_mjy_at_5um * shape(wave) / shape(5.0)


def mdwarf_fnu(wavelength, temperature=3200.0, water_depth=0.25, flux_mjy_at_5um=30.0):
    """M-dwarf F_nu (Jy): a blackbody with water absorption bands.

    The H2O nu2 band is modelled as a broad depression (Gaussian in wavelength) of
    relative depth ``water_depth`` centred at 6.5 um (sigma 0.6 um) with narrower
    absorption structure (0.05-0.1 um wide lines of depth ``water_depth / 2``)
    every ~0.25 um across it, plus a shallow band (depth ``water_depth / 3``) at
    10 um: smooth on the scale of the spectrum, structured on the scale of a few
    pixels, unlike any blackbody template.
    """
    wave = np.asarray(wavelength, dtype=float)
    band = water_depth * np.exp(-0.5 * ((wave - 6.5) / 0.6) ** 2)
    centres = np.arange(5.4, 7.7, 0.27)
    lines = 0.5 * water_depth * np.exp(
        -0.5 * ((wave[..., None] - centres) / 0.04) ** 2
    ).sum(axis=-1) * np.exp(-0.5 * ((wave - 6.5) / 0.7) ** 2)
    weak = (water_depth / 3.0) * np.exp(-0.5 * ((wave - 10.0) / 0.4) ** 2)
    absorption = np.clip(1.0 - band - lines - weak, 0.05, None)
    return blackbody_fnu_jy(wave, temperature, flux_mjy_at_5um) * absorption


def power2_intensity(mu, c=0.6, alpha=0.6):
    """Power-2 limb-darkening law (Maxted 2018): ``I(mu) / I(1) = 1 - c (1 - mu**alpha)``."""
    mu = np.clip(np.asarray(mu, dtype=float), 0.0, 1.0)
    return 1.0 - c * (1.0 - mu**alpha)


def _overlap_area(radius, p, z):
    """Area of the intersection of a disc of ``radius`` (centre 0) and one of ``p`` at ``z``."""
    r = np.asarray(radius, dtype=float)
    z = np.asarray(z, dtype=float)
    r, z = np.broadcast_arrays(r, z)
    area = np.zeros(np.broadcast(r, z).shape)
    inside_planet = z + r <= p  # the disc of radius r lies inside the planet
    inside_disc = z + p <= r  # the planet lies inside the disc of radius r
    partial = ~inside_planet & ~inside_disc & (z < r + p) & (r > 0)
    area = np.where(inside_planet, np.pi * r**2, area)
    area = np.where(inside_disc & ~inside_planet, np.pi * p**2, area)
    rr, zz = r[partial], z[partial]
    k0 = np.arccos(np.clip((p**2 + zz**2 - rr**2) / (2 * p * zz), -1, 1))
    k1 = np.arccos(np.clip((rr**2 + zz**2 - p**2) / (2 * rr * zz), -1, 1))
    lens = np.sqrt(np.clip(4 * zz**2 * rr**2 - (rr**2 + zz**2 - p**2) ** 2, 0, None))
    area[partial] = p**2 * k0 + rr**2 * k1 - 0.5 * lens
    return area


def power2_transit(time, t0, period, rp, a_rs, inc_deg, c=0.6, alpha=0.6, n_annuli=2000):
    """Relative flux of a transit over a power-2 limb-darkened star, circular orbit.

    Computed by direct integration over the stellar disc (``n_annuli`` rings, the
    overlap of each ring with the planet's disc taken exactly), independent of
    batman and of the package's light-curve model.

    Parameters
    ----------
    time : array_like
        Times (days).
    t0, period : float
        Mid-transit time and period (days).
    rp : float
        Planet-to-star radius ratio.
    a_rs : float
        Semi-major axis in stellar radii.
    inc_deg : float
        Inclination (degrees).
    c, alpha : float, optional
        Power-2 coefficients.
    n_annuli : int, optional
        Rings of the integration.

    Returns
    -------
    numpy.ndarray
        Flux relative to out of transit.
    """
    time = np.asarray(time, dtype=float)
    phase = 2.0 * np.pi * (time - t0) / period
    inc = np.radians(inc_deg)
    z = a_rs * np.sqrt(np.sin(phase) ** 2 + (np.cos(inc) * np.cos(phase)) ** 2)
    front = np.cos(phase) > 0
    edges = np.linspace(0.0, 1.0, n_annuli + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    intensity = power2_intensity(np.sqrt(1.0 - mid**2), c, alpha)
    total = np.sum(intensity * np.pi * np.diff(edges**2))
    relevant = front & (z < 1.0 + rp)
    flux = np.ones(time.shape)
    if relevant.any():
        area = _overlap_area(edges[None, :], rp, z[relevant, None])
        blocked = np.sum(intensity[None, :] * np.diff(area, axis=1), axis=1)
        flux[relevant] = 1.0 - blocked / total
    return flux


def _cumulative_along_rows(fnu, response, psf_scale):
    """Fine grid of nominal row coordinates and the cumulative dispersed count rate."""
    rows, _, _ = geometry._monotonic_part()
    grid = np.arange(rows.min() - 25.0, rows.max() + 25.0, _FINE_STEP)
    wave = geometry.wavelength_at_row(grid)
    ok = np.isfinite(wave)
    safe = np.where(ok, wave, 7.5)
    density = np.where(ok, OTHER_PEAK_DN_S_PER_JY * fnu(safe) * response(safe), 0.0)
    scale = float(_student_t_scale(other_psf_fwhm(7.5, psf_scale)))
    offsets = np.arange(-12.0, 12.0 + 1e-9, _FINE_STEP)
    kernel = stats.t.pdf(offsets / scale, 2.0 * OTHER_PSF_BETA - 1.0)
    density = fftconvolve(density, kernel / kernel.sum(), mode="same")
    steps = 0.5 * (density[1:] + density[:-1]) * _FINE_STEP
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    return grid, cumulative


def other_star_rate(
    x_shift,
    y_shift,
    fnu=None,
    tilt_per_um=0.0,
    cut_on_shift_um=0.0,
    psf_scale=1.0,
    scale=None,
):
    """Noiseless count rate (DN/s) of the star in each pixel, per integration.

    Parameters
    ----------
    x_shift, y_shift : array_like
        Star position per integration relative to the nominal slitless position
        (pixels, positive toward higher column / row).
    fnu : callable, optional
        Stellar F_nu (Jy) of wavelength (micron); default `mdwarf_fnu` with
        ``water_depth=0`` (a plain 3200 K blackbody).
    tilt_per_um, cut_on_shift_um : float, optional
        Response mismatch against the nominal curve (`other_response`).
    psf_scale : float, optional
        FWHM of the PSF relative to the nominal `other_psf_fwhm` (1.2: 20 % broader).
    scale : array_like, optional
        Flux factor per integration (e.g. `power2_transit`).

    Returns
    -------
    numpy.ndarray
        ``(nints, 416, 72)`` float64; reference columns 0.
    """
    x_shift = np.atleast_1d(np.asarray(x_shift, dtype=float))
    y_shift = np.atleast_1d(np.asarray(y_shift, dtype=float))
    if x_shift.shape != y_shift.shape or x_shift.ndim != 1:
        raise ValueError("x_shift and y_shift must be 1-D arrays of equal length")
    if fnu is None:

        def fnu(wave):
            return mdwarf_fnu(wave, water_depth=0.0)

    scale = np.ones(x_shift.shape) if scale is None else np.broadcast_to(scale, x_shift.shape)

    def response(wave):
        return other_response(wave, tilt_per_um, cut_on_shift_um)

    grid, cumulative = _cumulative_along_rows(fnu, response, psf_scale)
    rows = np.arange(geometry.N_ROWS, dtype=float)
    lower = rows[None, :] - 0.5 - y_shift[:, None]
    row_rate = np.interp(lower + 1.0, grid, cumulative) - np.interp(lower, grid, cumulative)
    nominal_row = rows[None, :] - y_shift[:, None]
    table_rows, _, _ = geometry._monotonic_part()
    wave = geometry.wavelength_at_row(np.clip(nominal_row, table_rows.min(), table_rows.max()))
    width = _student_t_scale(other_psf_fwhm(wave, psf_scale))
    centre = geometry.NOMINAL_X + geometry.trace_x_offset_at_row(nominal_row) + x_shift[:, None]
    edges = np.arange(geometry.N_COLUMNS + 1, dtype=float) - 0.5
    cdf = stats.t.cdf(
        (edges[None, None, :] - centre[..., None]) / width[..., None], 2.0 * OTHER_PSF_BETA - 1.0
    )
    rate = (scale[:, None, None] * row_rate[..., None]) * np.diff(cdf, axis=-1)
    rate[:, :, : geometry.N_REFERENCE_COLUMNS] = 0.0
    return rate


def other_background_rate():
    """Background (DN/s per pixel) of the other instrument: rises as lambda**4 to the red."""
    rows = np.arange(geometry.N_ROWS, dtype=float)
    table_rows, table_waves, _ = geometry._monotonic_part()
    wave = np.interp(rows, table_rows[::-1], table_waves[::-1])
    image = np.repeat((4.0 + 60.0 * (wave / 12.0) ** 4)[:, None], geometry.N_COLUMNS, axis=1)
    image[:, : geometry.N_REFERENCE_COLUMNS] = 0.0
    return image


def other_slopes(x_shift, y_shift, integration_time=10.0, rng=None, noise=True, **star):
    """Flat-fielded slopes (DN/s) of the star plus background, with photon and read noise.

    Parameters
    ----------
    x_shift, y_shift : array_like
        Star position per integration (pixels), see `other_star_rate`.
    integration_time : float, optional
        Seconds per integration (sets the noise).
    rng : numpy.random.Generator or int, optional
        Random generator or seed.
    noise : bool, optional
        False returns the noiseless rates.
    **star
        Passed to `other_star_rate` (``fnu``, ``tilt_per_um``, ``cut_on_shift_um``,
        ``psf_scale``, ``scale``).

    Returns
    -------
    data, err : numpy.ndarray
        ``(nints, 416, 72)`` float32 rates and their 1-sigma errors.
    """
    rate = other_star_rate(x_shift, y_shift, **star) + other_background_rate()[None]
    variance = np.clip(rate, 0.0, None) / (OTHER_GAIN * integration_time)
    variance += (OTHER_READ_NOISE_DN / integration_time) ** 2
    err = np.sqrt(variance)
    data = rate
    if noise:
        data = rate + np.random.default_rng(rng).standard_normal(rate.shape) * err
    return data.astype(np.float32), err.astype(np.float32)
