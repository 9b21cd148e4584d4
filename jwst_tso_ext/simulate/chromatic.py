"""A transit depth that varies with wavelength: a band (Gaussian or box) and a linear slope.

The depth (Rp/Rs)**2 at wavelength ``lambda`` (micron) is

    depth(lambda) = transit_depth + slope * (lambda - pivot) + band(lambda)

with ``slope`` in ppm per micron and ``band`` a Gaussian (``width`` its FWHM) or a box
(``width`` its full width) of ``amplitude`` ppm centred at ``center``. Every wavelength
shares one orbit (t0, duration, a/Rs, impact parameter and the period they give at
``transit_depth``) and the limb darkening; only Rp/Rs changes.

The light curve at a depth between two nodes of a fine grid of depths (spacing
`NODE_SPACING`) is interpolated linearly between the nodes' batman light curves (error
< 0.05 ppm); the detector rows then receive the dispersed, PSF-blurred light of each
node, so a pixel row's light curve is the flux-weighted mix of the wavelengths that
fall on it. Its truth, the effective depth of each row, is written beside the other
truth tables (`row_depths`).
"""

import copy
import logging
import math

import numpy as np
from astropy.table import Table

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import effects

log = logging.getLogger(__name__)

__all__ = [
    "BAND_SHAPES",
    "NODE_SPACING",
    "TRUTH_WAVELENGTHS",
    "ChromaticTransit",
    "DispersedComponents",
    "is_chromatic",
    "depth_at_wavelength",
    "config_depth",
    "chromatic_transit",
    "validate_config",
    "depth_truth_table",
    "row_depths",
]

#: Shapes of the band.
BAND_SHAPES = ("none", "gaussian", "box")
#: Spacing of the depth nodes between which the light curves are interpolated.
NODE_SPACING = 20e-6
#: At most this many nodes (wider spacing for very large depth ranges).
MAX_NODES = 256
#: Fine wavelength grid (micron) of the depth truth table: the calibrated range.
TRUTH_WAVELENGTHS = np.round(np.arange(3.7, 14.0 + 1e-9, 0.005), 6)
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def depth_at_wavelength(
    wavelength,
    depth,
    band_shape="none",
    band_center=7.35,
    band_width=0.7,
    band_amplitude_ppm=0.0,
    slope_ppm_per_micron=0.0,
    pivot=7.5,
):
    """Depth (Rp/Rs)**2 at ``wavelength`` (micron); see the module docstring.

    Returns
    -------
    depth : numpy.ndarray
    """
    wavelength = np.asarray(wavelength, dtype=float)
    out = depth + 1e-6 * slope_ppm_per_micron * (wavelength - pivot)
    if band_shape == "gaussian":
        sigma = band_width * _FWHM_TO_SIGMA
        profile = np.exp(-0.5 * ((wavelength - band_center) / sigma) ** 2)
        out = out + 1e-6 * band_amplitude_ppm * profile
    elif band_shape == "box":
        inside = np.abs(wavelength - band_center) <= 0.5 * band_width
        out = out + 1e-6 * band_amplitude_ppm * inside
    elif band_shape != "none":
        raise ValueError(f"depth band shape must be one of {BAND_SHAPES}, got {band_shape!r}")
    return out


def is_chromatic(config):
    """True if the configuration asks for a depth that varies with wavelength."""
    band = config.depth_band_shape != "none" and config.depth_band_amplitude_ppm != 0
    return bool(band or config.depth_slope_ppm_per_micron != 0)


def config_depth(config, wavelength):
    """Depth at ``wavelength`` (micron) for a `SimulationConfig`."""
    return depth_at_wavelength(
        wavelength,
        config.transit_depth,
        band_shape=config.depth_band_shape,
        band_center=config.depth_band_center,
        band_width=config.depth_band_width,
        band_amplitude_ppm=config.depth_band_amplitude_ppm,
        slope_ppm_per_micron=config.depth_slope_ppm_per_micron,
        pivot=config.depth_pivot_wavelength,
    )


def validate_config(config):
    """Raise ValueError for an invalid wavelength-dependent depth (called by the config)."""
    if config.depth_band_shape not in BAND_SHAPES:
        raise ValueError(
            f"depth_band_shape must be one of {', '.join(BAND_SHAPES)}, "
            f"got {config.depth_band_shape!r}"
        )
    if config.depth_band_width <= 0:
        raise ValueError(f"depth_band_width must be positive, got {config.depth_band_width}")
    if not is_chromatic(config):
        return
    if config.transit_depth <= 0:
        raise ValueError(
            "a depth that varies with wavelength needs transit_depth > 0 (the depth at the "
            "pivot wavelength, which also sets the shared orbit)"
        )
    depths = config_depth(config, TRUTH_WAVELENGTHS)
    if depths.min() < 0 or depths.max() >= 1:
        where = TRUTH_WAVELENGTHS[np.argmin(depths) if depths.min() < 0 else np.argmax(depths)]
        raise ValueError(
            f"the depth band and slope give a depth outside [0, 1) at {where:.2f} micron "
            f"(range {depths.min():.6f} .. {depths.max():.6f} over 3.7-14 micron)"
        )


class DispersedComponents:
    """Light of several components, each a spectrum weight times a time series.

    The star's light at wavelength ``lambda`` in integration ``i`` is
    ``sum_k factors[i, k] * weights(lambda)[k]`` times the stellar spectrum; the
    components are dispersed and PSF-blurred once (cached) and each integration's row
    rates are their mix. `ChromaticTransit` (depth nodes) and
    `jwst_tso_ext.simulate.phase_curve.PlanetEmission` (day- and nightside emission)
    are such components.

    Parameters
    ----------
    factors : numpy.ndarray
        Time series of each component per integration, shape ``(nints, n_components)``.
    weights : callable
        Weights of the components at wavelengths (micron): returns
        ``(n_components, n)``.
    """

    def __init__(self, factors, weights, _cache=None):
        self.factors = np.asarray(factors, dtype=float)
        self._weights = weights
        self._cache = {} if _cache is None else _cache

    def weights(self, wavelength):
        """Weights of the components at ``wavelength`` (micron), ``(n_components, n)``."""
        return self._weights(wavelength)

    def subset(self, start, stop):
        """The same components for integrations ``[start, stop)`` (shares the cache)."""
        part = copy.copy(self)
        part.factors = self.factors[start:stop]
        return part

    def node_cumulatives(self, spectrum):
        """Fine row grid and the cumulative dispersed count rate of each component (cached)."""
        from jwst_tso_ext.simulate import scene  # scene imports nothing from here

        key = id(spectrum)
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = (spectrum, *scene._dispersed_cumulative(spectrum, self.weights))
        _, grid, cumulative = self._cache[key]
        return grid, cumulative

    def node_row_rates(self, spectrum, lower, upper):
        """Count rate of each component's light in pixels with edges ``lower``..``upper``.

        Returns shape ``(n_components,) + lower.shape``, with factors 1.
        """
        grid, cumulative = self.node_cumulatives(spectrum)
        return np.stack([np.interp(upper, grid, c) - np.interp(lower, grid, c) for c in cumulative])

    def row_rates(self, spectrum, lower, upper):
        """Count rate per row of the mix, shape ``lower.shape`` = (nints, nrows)."""
        grid, cumulative = self.node_cumulatives(spectrum)
        out = np.zeros(np.shape(lower))
        for node, c in enumerate(cumulative):
            rate = np.interp(upper, grid, c) - np.interp(lower, grid, c)
            out += self.factors[:, node, None] * rate
        return out


class ChromaticTransit(DispersedComponents):
    """Per-integration light curves of the depth nodes and their weights in wavelength.

    Parameters
    ----------
    node_depths : numpy.ndarray
        Depths of the nodes, increasing (at least two).
    factors : numpy.ndarray
        Relative flux of each node per integration, shape ``(nints, n_nodes)``.
    depth_function : callable
        Depth as a function of wavelength (micron).
    """

    def __init__(self, node_depths, factors, depth_function, _cache=None):
        super().__init__(factors, None, _cache)
        self.node_depths = np.asarray(node_depths, dtype=float)
        self.depth_function = depth_function

    def weights(self, wavelength):
        """Linear-interpolation (hat) weights of the nodes at each wavelength, (n_nodes, n)."""
        depth = np.clip(self.depth_function(wavelength), self.node_depths[0], self.node_depths[-1])
        position = np.interp(depth, self.node_depths, np.arange(self.node_depths.size))
        lower = np.clip(np.floor(position).astype(int), 0, self.node_depths.size - 2)
        frac = position - lower
        out = np.zeros((self.node_depths.size, np.size(depth)))
        columns = np.arange(np.size(depth))
        out[lower, columns] = 1.0 - frac
        out[lower + 1, columns] += frac
        return out


def chromatic_transit(config, times, always=False):
    """Light curves of the depth nodes for a `SimulationConfig`, or None if not chromatic.

    Parameters
    ----------
    config : SimulationConfig
    times : numpy.ndarray
        Integration mid times (s from the exposure start).
    always : bool
        Also for a depth that does not vary with wavelength (two nodes, all weight on
        the first): the transit is then applied to the star's light alone, apart from
        light added later (the planet's emission of a phase curve).

    Returns
    -------
    transit : ChromaticTransit or None
    """
    if not (always or is_chromatic(config)):
        return None
    depths = config_depth(config, TRUTH_WAVELENGTHS)
    low, high = float(depths.min()), float(depths.max())
    count = min(MAX_NODES, max(2, int(math.ceil((high - low) / NODE_SPACING)) + 1))
    nodes = np.linspace(low, high if high > low else low + NODE_SPACING, count)
    period = config.resolved_orbital_period()
    factors = np.stack(
        [
            effects.transit_model(
                times,
                depth,
                config.resolved_transit_t0(),
                config.resolved_transit_duration(),
                a_rs=config.a_rs,
                impact_parameter=config.impact_parameter,
                u=config.limb_darkening,
                period=period,
            )
            for depth in nodes
        ],
        axis=1,
    )
    if is_chromatic(config):
        log.info("wavelength-dependent depth %.6f .. %.6f on %d depth nodes", low, high, count)
    return ChromaticTransit(nodes, factors, lambda wave: config_depth(config, wave))


def depth_truth_table(config):
    """Depth per wavelength on the fine grid `TRUTH_WAVELENGTHS` (``<root>_truth_depth.ecsv``)."""
    table = Table(
        {"wavelength": TRUTH_WAVELENGTHS, "depth": config_depth(config, TRUTH_WAVELENGTHS)}
    )
    table["wavelength"].unit = "micron"
    table["wavelength"].description = "wavelength, micron"
    table["depth"].description = "injected (Rp/Rs)**2 at this wavelength"
    table.meta.update(_depth_meta(config))
    return table


def row_depths(config, spectrum, chromatic):
    """Effective depth of every detector row (``<root>_truth_depth_rows.ecsv``).

    The light of several wavelengths falls on one row (pixel width, PSF blur along the
    dispersion); the row's light curve is their flux-weighted mix, which is the light
    curve of the flux-weighted mean depth to < 0.1 ppm. Evaluated for the star at the
    static offset (``x_offset``, ``y_offset``) without drift.

    Parameters
    ----------
    config : SimulationConfig
    spectrum : `jwst_tso_ext.simulate.scene.StellarSpectrum`
    chromatic : ChromaticTransit

    Returns
    -------
    table : astropy.table.Table
        Columns ``row`` (0-based subarray row), ``wavelength`` (nominal wavelength at the
        row centre for the star at ``y_offset``, NaN outside the calibration),
        ``depth`` (effective depth, NaN where the row receives no light) and
        ``star_flux_dn_s`` (out-of-transit star count rate of the row).
    """
    rows = np.arange(geometry.N_ROWS, dtype=float)
    lower = rows - 0.5 - config.y_offset
    node_rates = chromatic.node_row_rates(spectrum, lower, lower + 1.0)
    total = node_rates.sum(axis=0)
    lit = total > 1e-9 * total.max()
    depth = np.full(rows.size, np.nan)
    depth[lit] = (chromatic.node_depths @ node_rates[:, lit]) / total[lit]
    table = Table(
        {
            "row": rows.astype(int),
            "wavelength": geometry.wavelength_at_row(rows, config.y_offset),
            "depth": depth,
            "star_flux_dn_s": total,
        }
    )
    table["wavelength"].unit = "micron"
    table["star_flux_dn_s"].unit = "DN/s"
    table["row"].description = "subarray row, 0-based"
    table["wavelength"].description = "nominal wavelength at the row centre, star at y_offset"
    table["depth"].description = "effective (Rp/Rs)**2 of the row's light curve"
    table["star_flux_dn_s"].description = "out-of-transit star count rate of the row"
    table.meta.update(_depth_meta(config))
    table.meta["position"] = (
        "star at the static offset (x_offset, y_offset), no drift; before the flat field"
    )
    return table


def _depth_meta(config):
    return {
        "transit_depth": config.transit_depth,
        "depth_band_shape": config.depth_band_shape,
        "depth_band_center": config.depth_band_center,
        "depth_band_width": config.depth_band_width,
        "depth_band_amplitude_ppm": config.depth_band_amplitude_ppm,
        "depth_slope_ppm_per_micron": config.depth_slope_ppm_per_micron,
        "depth_pivot_wavelength": config.depth_pivot_wavelength,
        "definition": (
            "depth(lambda) = transit_depth + 1e-6 slope (lambda - pivot) + band; band: "
            "Gaussian of FWHM width or box of full width, amplitude in ppm; one orbit"
        ),
    }
