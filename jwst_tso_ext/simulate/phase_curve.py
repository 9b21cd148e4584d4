"""The planet's emission over its orbit: a phase curve with a secondary eclipse.

Phase function
--------------
The orbital phase is ``phi = (t - t0) / P`` (mod 1): the transit at 0, the secondary
eclipse at 0.5 (circular orbit). The planet-to-star flux at wavelength ``lambda`` is a
first-order sinusoid whose value is ``fp_day(lambda)`` at phase 0.5 and
``fp_night(lambda)`` at phase 0, peaking at phase ``0.5 - offset / 360`` (``offset``
= ``phase_offset_deg``, east positive: the hotspot is seen before the eclipse)::

    Fp(phi) = (fp_day + fp_night) / 2
              + (fp_day - fp_night) / 2 * cos(2 pi (phi - 0.5) + delta) / cos(delta)

with ``delta = 2 pi offset / 360``,

i.e. ``Fp = fp_day * w_day(phi) + fp_night * w_night(phi)`` (`phase_weights`), with
one phase function for all wavelengths. Its semi-amplitude is
``(fp_day - fp_night) / (2 cos(offset))``, so with an offset the maximum exceeds
``fp_day`` and the minimum lies below ``fp_night`` (below 0 when ``fp_night`` is small:
injected as is). These are the fitter's definitions (``fp_day`` and ``fp_night`` are
the planet's flux at phases 0.5 and 0), computed by another code path.

Eclipse
-------
The planet is a uniform disk of radius ``sqrt(transit_depth)`` (stellar radii); behind
the star (``cos(2 pi phi) < 0``) the visible fraction of its disk is one minus the
area of the overlap of the two circles at the sky separation ``z = a_rs sqrt(sin^2(2
pi phi) + cos^2 i cos^2(2 pi phi))``, divided by its area (`visible_fraction`). During
the transit its (night-side) emission is seen in full.

Spectra
-------
``fp_day`` and ``fp_night`` are flat in wavelength, or, with a planet temperature,
follow the blackbody ratio ``B_nu(T_planet, lambda) / B_nu(star_temperature, lambda)``
normalised to ``fp_day`` / ``fp_night`` at ``depth_pivot_wavelength``. The emission is
added to the star's light per wavelength before the dispersion (like the depth of a
transit that varies with wavelength): a detector row sees the flux-weighted mean of
the ``fp`` of the light falling on it (`row_truth`).
"""

import logging
import math

import numpy as np
from astropy.table import Table

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import effects
from jwst_tso_ext.simulate.chromatic import TRUTH_WAVELENGTHS, DispersedComponents

log = logging.getLogger(__name__)

__all__ = [
    "PlanetEmission",
    "binned_truth",
    "blackbody_ratio",
    "orbital_phase",
    "phase_weights",
    "planet_emission",
    "planet_spectra",
    "relative_flux",
    "row_truth",
    "validate_config",
    "visible_fraction",
    "wavelength_truth",
]

#: Planck's constant times the speed of light over Boltzmann's constant, micron K.
_HC_OVER_K = 14387.7688


def validate_config(config):
    """Raise ValueError for invalid phase-curve parameters (called by the config)."""
    for name in ("planet_day_temperature", "planet_night_temperature"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive or None, got {value}")
    if not abs(config.phase_offset_deg) < 90.0:
        raise ValueError(
            f"phase_offset_deg must be within (-90, 90), got {config.phase_offset_deg}"
        )
    if not config.has_phase_curve:
        return
    if config.transit_depth <= 0:
        raise ValueError(
            "a phase curve needs transit_depth > 0 (the planet's radius sets its eclipse)"
        )
    if config.fp_day < 0 or config.fp_night < 0:
        raise ValueError("fp_day and fp_night must be non-negative")
    if max(config.fp_day, config.fp_night) >= 0.1:
        raise ValueError("fp_day and fp_night must be below 0.1")


def orbital_phase(times, t0, period):
    """Orbital phase in [0, 1): 0 at mid-transit, 0.5 at mid-eclipse (circular orbit)."""
    return np.mod((np.asarray(times, dtype=float) - t0) / period, 1.0)


def phase_weights(phase, offset_deg):
    """Weights of ``fp_day`` and ``fp_night`` in the planet's flux at ``phase``.

    Returns
    -------
    w_day, w_night : numpy.ndarray
        ``Fp(phase) = fp_day * w_day + fp_night * w_night`` (module docstring).
    """
    offset = math.radians(offset_deg)
    ratio = np.cos(2.0 * np.pi * (np.asarray(phase, dtype=float) - 0.5) + offset) / math.cos(offset)
    return 0.5 * (1.0 + ratio), 0.5 * (1.0 - ratio)


def _overlap_area(z, radius):
    """Area of the overlap of the unit circle and a circle of ``radius`` < 1 at distance z."""
    z = np.asarray(z, dtype=float)
    area = np.zeros_like(z)
    inside = z <= 1.0 - radius
    area[inside] = np.pi * radius**2
    partial = (z > 1.0 - radius) & (z < 1.0 + radius)
    zp = z[partial]
    cos_planet = np.clip((zp**2 + radius**2 - 1.0) / (2.0 * zp * radius), -1.0, 1.0)
    cos_star = np.clip((zp**2 + 1.0 - radius**2) / (2.0 * zp), -1.0, 1.0)
    kite = (-zp + radius + 1.0) * (zp + radius - 1.0) * (zp - radius + 1.0) * (zp + radius + 1.0)
    area[partial] = (
        radius**2 * np.arccos(cos_planet)
        + np.arccos(cos_star)
        - 0.5 * np.sqrt(np.clip(kite, 0.0, None))
    )
    return area


def visible_fraction(phase, a_rs, impact_parameter, radius_ratio):
    """Fraction of the planet's (uniform) disk not hidden by the star.

    Parameters
    ----------
    phase : array_like
        Orbital phase (0 at mid-transit).
    a_rs, impact_parameter, radius_ratio : float
        Scaled semi-major axis, impact parameter of the transit and Rp/Rs.

    Returns
    -------
    fraction : numpy.ndarray
        1 except around phase 0.5, 0 in total eclipse.
    """
    angle = 2.0 * np.pi * np.asarray(phase, dtype=float)
    cos_i = impact_parameter / a_rs
    z = a_rs * np.sqrt(np.sin(angle) ** 2 + (cos_i * np.cos(angle)) ** 2)
    hidden = np.where(np.cos(angle) < 0.0, _overlap_area(z, radius_ratio), 0.0)
    area = np.pi * np.asarray(radius_ratio, dtype=float) ** 2
    # no planet disk (radius_ratio 0): nothing hidden, the planet is all visible
    return 1.0 - np.where(area > 0, hidden / np.where(area > 0, area, 1.0), 0.0)


def relative_flux(times, t0, period, a_rs, impact_parameter, radius_ratio, offset_deg, fp_day,
                  fp_night, limb_darkening=(0.1, 0.1)):
    """Light curves (star = 1) of a phase curve: transit plus the planet's visible emission.

    For light-curve-level tests and benchmarks (no detector): the transit (batman,
    quadratic limb darkening) dims the star, and ``Fp(phase) * visible_fraction`` is
    added, per column of ``fp_day`` / ``fp_night``.

    Parameters
    ----------
    times : array_like
        Times (any unit of ``t0`` and ``period``).
    t0, period, a_rs, impact_parameter, radius_ratio : float
        Mid-transit time, period, orbit (circular) and Rp/Rs.
    offset_deg : float
        Hotspot offset (east positive).
    fp_day, fp_night : float or array_like
        Planet-to-star flux at phases 0.5 and 0; arrays give one column each.
    limb_darkening : tuple of float
        Quadratic (u1, u2) of the transit.

    Returns
    -------
    numpy.ndarray
        ``(ntimes,)`` for scalar fluxes, else ``(ntimes, ncolumns)``.
    """
    times = np.asarray(times, dtype=float)
    transit = effects.transit_model(
        times, radius_ratio**2, t0, None, a_rs=a_rs, impact_parameter=impact_parameter,
        u=limb_darkening, period=period,
    )  # fmt: skip
    phase = orbital_phase(times, t0, period)
    visible = visible_fraction(phase, a_rs, impact_parameter, radius_ratio)
    w_day, w_night = phase_weights(phase, offset_deg)
    day, night = np.asarray(fp_day, dtype=float), np.asarray(fp_night, dtype=float)
    shape = (-1,) + (1,) * max(day.ndim, night.ndim)
    planet = visible.reshape(shape) * (w_day.reshape(shape) * day + w_night.reshape(shape) * night)
    return transit.reshape(shape) + planet


def blackbody_ratio(wavelength, temperature, star_temperature):
    """``B_nu(temperature) / B_nu(star_temperature)`` at ``wavelength`` (micron); 0 at
    wavelengths <= 0 (off the calibrated range)."""
    wavelength = np.asarray(wavelength, dtype=float)
    positive = wavelength > 0
    safe = np.where(positive, wavelength, 1.0)
    ratio = np.expm1(_HC_OVER_K / (safe * star_temperature)) / np.expm1(
        _HC_OVER_K / (safe * temperature)
    )
    return np.where(positive, ratio, 0.0)


def planet_spectra(config, wavelength):
    """Dayside and nightside planet-to-star flux at ``wavelength`` (micron).

    Returns
    -------
    fp_day, fp_night : numpy.ndarray
        Flat, or blackbody-shaped and normalised at ``depth_pivot_wavelength``.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    out = []
    for value, temperature in (
        (config.fp_day, config.planet_day_temperature),
        (config.fp_night, config.planet_night_temperature),
    ):
        if temperature is None:
            out.append(np.full(wavelength.shape, float(value)))
        else:
            shape = blackbody_ratio(wavelength, temperature, config.star_temperature)
            pivot = blackbody_ratio(
                config.depth_pivot_wavelength, temperature, config.star_temperature
            )
            out.append(value * shape / pivot)
    return out[0], out[1]


class PlanetEmission(DispersedComponents):
    """Dayside and nightside emission as two dispersed components (`DispersedComponents`).

    Parameters
    ----------
    factors : numpy.ndarray
        ``(nints, 2)``: visible fraction times ``w_day`` and times ``w_night``.
    spectra : callable
        Wavelength (micron) to ``(fp_day, fp_night)`` (`planet_spectra`).
    """

    def __init__(self, factors, spectra, _cache=None):
        super().__init__(factors, lambda wavelength: np.stack(spectra(wavelength)), _cache)


def planet_emission(config, times):
    """The planet's emission for a `SimulationConfig` (None without a phase curve).

    Parameters
    ----------
    config : SimulationConfig
    times : numpy.ndarray
        Integration mid times (s from the exposure start).

    Returns
    -------
    emission : PlanetEmission or None
    phase, visible : numpy.ndarray
        Orbital phase and the visible fraction of the planet's disk per integration.
    """
    phase = orbital_phase(times, config.resolved_transit_t0(), config.resolved_orbital_period())
    visible = visible_fraction(
        phase, config.a_rs, config.impact_parameter, math.sqrt(config.transit_depth)
    )
    if not config.has_phase_curve:
        return None, phase, visible
    w_day, w_night = phase_weights(phase, config.phase_offset_deg)
    factors = np.stack([visible * w_day, visible * w_night], axis=1)
    return (
        PlanetEmission(factors, lambda wavelength: planet_spectra(config, wavelength)),
        phase,
        visible,
    )


def _meta(config):
    offset = math.radians(config.phase_offset_deg)
    return {
        "fp_day": config.fp_day,
        "fp_night": config.fp_night,
        "phase_offset_deg": config.phase_offset_deg,
        "planet_day_temperature": config.planet_day_temperature,
        "planet_night_temperature": config.planet_night_temperature,
        "phase_amplitude": 0.5 * (config.fp_day - config.fp_night) / math.cos(offset),
        "pivot_wavelength": config.depth_pivot_wavelength,
        "definition": (
            "Fp(phi) = fp_day w_day + fp_night w_night, w_day = (1 + c) / 2, w_night = "
            "(1 - c) / 2, c = cos(2 pi (phi - 0.5) + offset) / cos(offset); phase 0 at "
            "transit, 0.5 at eclipse; offset east positive (peak before the eclipse); "
            "planet-to-star flux (F_nu ratio)"
        ),
    }


def wavelength_truth(config):
    """Dayside and nightside spectra on the fine grid (``<root>_truth_phase_curve.ecsv``)."""
    fp_day, fp_night = planet_spectra(config, TRUTH_WAVELENGTHS)
    table = Table({"wavelength": TRUTH_WAVELENGTHS, "fp_day": fp_day, "fp_night": fp_night})
    table["wavelength"].unit = "micron"
    table["fp_day"].description = "planet-to-star flux at phase 0.5 (dayside)"
    table["fp_night"].description = "planet-to-star flux at phase 0 (nightside)"
    table.meta.update(_meta(config))
    return table


def row_truth(config, spectrum, emission):
    """Effective dayside and nightside flux of every detector row.

    ``<root>_truth_phase_curve_rows.ecsv``: the flux-weighted mean of the ``fp`` of the
    light falling on each row, for the star at the static offset without drift.

    Parameters
    ----------
    config : SimulationConfig
    spectrum : `jwst_tso_ext.simulate.scene.StellarSpectrum`
    emission : PlanetEmission

    Returns
    -------
    table : astropy.table.Table
        Columns ``row``, ``wavelength`` (nominal, star at ``y_offset``), ``fp_day``,
        ``fp_night`` (NaN where the row receives no light) and ``star_flux_dn_s``
        (the row's star count rate, before the flat field); ``meta`` holds the
        parameters and the white-light values over all rows (``white_fp_day``,
        ``white_fp_night``).
    """
    from jwst_tso_ext.simulate import scene  # scene imports chromatic, not this module

    rows = np.arange(geometry.N_ROWS, dtype=float)
    lower = rows - 0.5 - config.y_offset
    grid, cumulative = scene._dispersed_cumulative(spectrum)
    star = np.interp(lower + 1.0, grid, cumulative) - np.interp(lower, grid, cumulative)
    planet = emission.node_row_rates(spectrum, lower, lower + 1.0)
    lit = star > 1e-9 * star.max()
    fp = np.full((2, rows.size), np.nan)
    fp[:, lit] = planet[:, lit] / star[lit]
    table = Table(
        {
            "row": rows.astype(int),
            "wavelength": geometry.wavelength_at_row(rows, config.y_offset),
            "fp_day": fp[0],
            "fp_night": fp[1],
            "star_flux_dn_s": star,
        }
    )
    table["wavelength"].unit = "micron"
    table["star_flux_dn_s"].unit = "DN/s"
    table["fp_day"].description = "effective planet-to-star flux of the row at phase 0.5"
    table["fp_night"].description = "effective planet-to-star flux of the row at phase 0"
    table.meta.update(_meta(config))
    table.meta["white_fp_day"] = float(planet[0].sum() / star.sum())
    table.meta["white_fp_night"] = float(planet[1].sum() / star.sum())
    table.meta["position"] = "star at the static offset (x_offset, y_offset), no drift"
    return table


def binned_truth(rows, edges):
    """Dayside and nightside flux of wavelength bins from the row truth (`row_truth`).

    Parameters
    ----------
    rows : astropy.table.Table
        ``<root>_truth_phase_curve_rows.ecsv``.
    edges : array_like
        Bin edges (micron), increasing.

    Returns
    -------
    fp_day, fp_night : numpy.ndarray
        Star-flux-weighted means over the rows whose nominal wavelength falls in each
        bin (NaN for an empty bin).
    """
    wavelength = np.asarray(rows["wavelength"], dtype=float)
    weight = np.asarray(rows["star_flux_dn_s"], dtype=float)
    day = np.asarray(rows["fp_day"], dtype=float)
    night = np.asarray(rows["fp_night"], dtype=float)
    usable = np.isfinite(wavelength) & np.isfinite(day)
    edges = np.asarray(edges, dtype=float)
    out = np.full((2, edges.size - 1), np.nan)
    for k in range(edges.size - 1):
        sel = usable & (wavelength >= edges[k]) & (wavelength < edges[k + 1])
        if weight[sel].sum() > 0:
            out[0, k] = np.sum(weight[sel] * day[sel]) / weight[sel].sum()
            out[1, k] = np.sum(weight[sel] * night[sel]) / weight[sel].sum()
    return out[0], out[1]
