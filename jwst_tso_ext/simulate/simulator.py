"""Simulated MIRI LRS slitless TSO exposures with known injected truth.

`simulate_exposure` writes MIRISim-like uncal files (one, or one per segment) plus truth
tables; `make_truth` and `noiseless_rates` give the same truth and the noiseless count
rates in memory, for tests.

Randomness: every draw comes from ``numpy.random.SeedSequence(config.seed)`` children
with fixed spawn keys (pointing jitter, cosmic rays, and one stream per integration for
photon and read noise), so the output depends only on the configuration and not on the
segmentation or on internal chunking.
"""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.progress import IntegrationProgress
from jwst_tso_ext.simulate import chromatic, effects, outliers, phase_curve, ramps, scene, uncal
from jwst_tso_ext.simulate.config import SimulationConfig

log = logging.getLogger(__name__)

__all__ = [
    "SimulationConfig",
    "TRUTH_COLUMNS",
    "make_outliers",
    "make_truth",
    "noiseless_rates",
    "output_paths",
    "simulate_exposure",
]

#: Reference row for the wavelength offset recorded in the truth.
REFERENCE_ROW = 300.0
#: Upper bound on integrations x groups held in memory at once while building ramps.
_CHUNK_READS = 100

#: Columns of ``<root>_truth.ecsv`` with their descriptions.
TRUTH_COLUMNS = {
    "int_num": "integration number, 1-based over the exposure",
    "segment": "segment (file) number, 1-based",
    "time_mid_s": "integration mid time, s from exposure start (FASTR1 clock)",
    "MJD_UTC": "integration mid time, MJD UTC: start + ((i-1)(ngroups+1) + ngroups/2) tframe",
    "x_shift": "total star offset from nominal in x (column), px: static offset + drift",
    "y_shift": "total star offset from nominal in y (row), px: static offset + drift",
    "x_drift": "time-variable part of x_shift (trend + jitter + step), px",
    "y_drift": "time-variable part of y_shift (trend + jitter + step), px",
    "x_jitter": "jitter part of x_drift, px",
    "y_jitter": "jitter part of y_drift, px",
    "transit": "relative flux of the transit model (wavelength-dependent depth: of the "
    "star's total count rate on the subarray)",
    "orbital_phase": "orbital phase, 0 at mid-transit, 0.5 at mid-eclipse",
    "planet_visible": "fraction of the planet's disk not hidden by the star",
    "planet": "planet-to-star flux seen (phase function times planet_visible; of the star's "
    "total count rate on the subarray, star at the static offset)",
    "ramp": "response ramp factor 1 - A exp(-t / tau)",
    "flux_scale": "total multiplicative flux factor ((transit + planet) * ramp)",
    "star_flux_dn_s": "total star count rate on the subarray, DN/s, before the flat field",
    "star_flux_unscaled_dn_s": "star_flux_dn_s / flux_scale (position effects only)",
    "wavelength_offset": "wavelength_at_row(300, y_shift) - wavelength_at_row(300), micron",
    "n_cosmic_rays": "number of cosmic-ray hits in the integration",
}

_NOISE_STREAM, _POINTING_STREAM, _COSMIC_STREAM, _OUTLIER_STREAM = 1, 2, 3, 4


def _rng(seed, stream):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _spectrum(config):
    return scene.blackbody_spectrum(
        temperature=config.star_temperature,
        flux_mjy=config.star_flux_mjy,
        reference_wavelength=config.star_reference_wavelength,
    )


def _segment_ranges(config):
    """0-based half-open integration ranges of the output files."""
    size = config.nints if config.segment_size is None else config.segment_size
    return [(start, min(start + size, config.nints)) for start in range(0, config.nints, size)]


def output_paths(config, output_dir):
    """Paths that `simulate_exposure` writes: uncal files, then the truth files.

    Returns
    -------
    uncal_paths, truth_paths : list of pathlib.Path
        With a phase curve the truth paths go on with ``<root>_truth_phase_curve.ecsv``
        and ``<root>_truth_phase_curve_rows.ecsv``; with a wavelength-dependent depth
        then with
        ``<root>_truth_depth.ecsv`` and ``<root>_truth_depth_rows.ecsv``; they end
        with ``<root>_truth_outliers.ecsv`` when outliers are injected.
    """
    output_dir = Path(output_dir)
    if config.segment_size is None:
        uncal_paths = [output_dir / f"{config.root}_uncal.fits"]
    else:
        uncal_paths = [
            output_dir / f"{config.root}_seg{number:03d}_uncal.fits"
            for number in range(1, config.nsegments + 1)
        ]
    truth_paths = [
        output_dir / f"{config.root}_truth.ecsv",
        output_dir / f"{config.root}_truth_spectrum.ecsv",
        output_dir / f"{config.root}_truth_cosmic_rays.ecsv",
    ]
    if config.has_phase_curve:
        truth_paths += [
            output_dir / f"{config.root}_truth_phase_curve.ecsv",
            output_dir / f"{config.root}_truth_phase_curve_rows.ecsv",
        ]
    if chromatic.is_chromatic(config):
        truth_paths += [
            output_dir / f"{config.root}_truth_depth.ecsv",
            output_dir / f"{config.root}_truth_depth_rows.ecsv",
        ]
    if config.has_outliers:
        truth_paths.append(output_dir / f"{config.root}_truth_outliers.ecsv")
    return uncal_paths, truth_paths


def make_truth(config):
    """Every injected per-integration quantity, without simulating the ramps.

    Parameters
    ----------
    config : SimulationConfig
        Simulation parameters (validated here).

    Returns
    -------
    truth : astropy.table.Table
        One row per integration, columns `TRUTH_COLUMNS`; ``meta`` holds the scalar
        configuration.
    spectrum : astropy.table.Table
        The stellar spectrum: ``wavelength`` (micron) and ``flux`` (F_nu, Jy).
    cosmic_rays : astropy.table.Table
        One row per cosmic-ray hit (``int_num``, ``group`` (0-based first read
        containing the hit), ``row``, ``column``, ``amplitude_dn``); empty if noiseless.
    """
    config.validate()
    nints = config.nints
    _, t_mid, _ = effects.integration_times(nints, config.ngroups, config.frame_time)

    transit = effects.transit_model(
        t_mid,
        config.transit_depth,
        config.resolved_transit_t0(),
        config.resolved_transit_duration(),
        a_rs=config.a_rs,
        impact_parameter=config.impact_parameter,
        u=config.limb_darkening,
        period=config.resolved_orbital_period(),
    )
    ramp = effects.response_ramp(t_mid, config.ramp_amplitude, config.resolved_ramp_timescale())
    x_part, y_part = effects.pointing_drift(
        t_mid,
        config.exposure_duration,
        _rng(config.seed, _POINTING_STREAM),
        drift=(config.drift_x, config.drift_y),
        quadratic=(config.drift_quadratic_x, config.drift_quadratic_y),
        jitter_rms=config.jitter_rms,
        step_time=config.step_time,
        step=(config.step_x, config.step_y),
    )
    x_shift = config.x_offset + x_part["total"]
    y_shift = config.y_offset + y_part["total"]
    scale = transit * ramp

    if config.noiseless or config.cosmic_ray_rate == 0:
        cosmic = np.zeros(0, dtype=ramps.COSMIC_RAY_DTYPE)
    else:
        cosmic = ramps.draw_cosmic_rays(
            _rng(config.seed, _COSMIC_STREAM),
            nints,
            config.ngroups,
            config.cosmic_ray_rate,
            (config.cosmic_ray_min_dn, config.cosmic_ray_max_dn),
        )

    spectrum = _spectrum(config)
    star_flux = np.empty(nints)
    block = 50
    for start in range(0, nints, block):
        stop = min(start + block, nints)
        rate = scene.star_rate(x_shift[start:stop], y_shift[start:stop], spectrum=spectrum)
        star_flux[start:stop] = rate.sum(axis=(1, 2), dtype=float)
    if chromatic.is_chromatic(config):
        # the white light of a wavelength-dependent depth: the star's total count rate
        transit_chromatic = chromatic.chromatic_transit(config, t_mid)
        transit = _white_transit(transit_chromatic, x_shift, y_shift, spectrum, star_flux, block)
    emission, phase, visible = phase_curve.planet_emission(config, t_mid)
    planet = np.zeros(nints)
    if emission is not None:
        rows = phase_curve.row_truth(config, spectrum, emission)
        white = np.array([rows.meta["white_fp_day"], rows.meta["white_fp_night"]])
        planet = emission.factors @ white
    scale = (transit + planet) * ramp

    segment = np.empty(nints, dtype=int)
    for number, (start, stop) in enumerate(_segment_ranges(config), start=1):
        segment[start:stop] = number

    truth = Table()
    truth["int_num"] = np.arange(1, nints + 1)
    truth["segment"] = segment
    truth["time_mid_s"] = t_mid
    truth["MJD_UTC"] = config.start_mjd + t_mid / 86400.0
    truth["x_shift"] = x_shift
    truth["y_shift"] = y_shift
    truth["x_drift"] = x_part["total"]
    truth["y_drift"] = y_part["total"]
    truth["x_jitter"] = x_part["jitter"]
    truth["y_jitter"] = y_part["jitter"]
    truth["transit"] = transit
    truth["orbital_phase"] = phase
    truth["planet_visible"] = visible
    truth["planet"] = planet
    truth["ramp"] = ramp
    truth["flux_scale"] = scale
    truth["star_flux_dn_s"] = star_flux * scale
    truth["star_flux_unscaled_dn_s"] = star_flux
    truth["wavelength_offset"] = geometry.wavelength_at_row(
        REFERENCE_ROW, y_shift
    ) - geometry.wavelength_at_row(REFERENCE_ROW)
    truth["n_cosmic_rays"] = np.bincount(cosmic["int_num"], minlength=nints + 1)[1:]
    for name, description in TRUTH_COLUMNS.items():
        truth[name].description = description
    truth["time_mid_s"].unit = "s"
    truth["star_flux_dn_s"].unit = "DN/s"
    truth["star_flux_unscaled_dn_s"].unit = "DN/s"
    truth["wavelength_offset"].unit = "micron"
    truth.meta.update(config.scalar_meta())
    truth.meta["reference_row"] = REFERENCE_ROW
    if emission is not None:
        for key in ("white_fp_day", "white_fp_night", "phase_amplitude", "definition"):
            truth.meta[key if key != "definition" else "phase_function"] = rows.meta[key]
    if config.transit_depth > 0:
        truth.meta["orbital_period_days"] = config.resolved_orbital_period() / 86400.0
        truth.meta["inclination_deg"] = float(
            np.degrees(np.arccos(config.impact_parameter / config.a_rs))
        )
    truth.meta["timing"] = (
        "FASTR1: integration i (1-based) starts at start_mjd + (i - 1) * (ngroups + 1) * "
        "frame_time and collects light for ngroups * frame_time (as tsovisit_fix builds "
        "INT_TIMES); the uncal headers carry MIRISim FAST timing without the reset frame"
    )

    spectrum_table = Table(
        {"wavelength": spectrum.wavelength, "flux": spectrum.flux_jy},
        meta={
            "temperature_K": config.star_temperature,
            "flux_mjy": config.star_flux_mjy,
            "reference_wavelength_micron": config.star_reference_wavelength,
        },
    )
    spectrum_table["wavelength"].unit = "micron"
    spectrum_table["flux"].unit = "Jy"
    return truth, spectrum_table, Table(cosmic)


def make_outliers(config):
    """The injected outliers (`jwst_tso_ext.simulate.outliers`), one row per outlier.

    Parameters
    ----------
    config : SimulationConfig
        Simulation parameters (validated here).

    Returns
    -------
    astropy.table.Table
        Columns of `outliers.OUTLIER_DTYPE`; empty when none are configured.
    """
    config.validate()
    if not config.has_outliers:
        return Table(np.zeros(0, outliers.OUTLIER_DTYPE))
    nominal = _detected_rate(make_truth(config)[0], 0, 1, _spectrum(config), config.background)[0]
    star = scene.star_rate(np.zeros(1), np.zeros(1), spectrum=_spectrum(config))[0]
    table = outliers.draw_outliers(
        _rng(config.seed, _OUTLIER_STREAM),
        config.nints,
        config.ngroups,
        config.frame_time,
        nominal,
        trace=star >= 0.05 * star.max(),
        n_integration=config.outlier_integrations,
        n_telegraph=config.outlier_telegraph_pixels,
        n_last_group=config.outlier_last_group_hits,
        sigma_range=(config.outlier_sigma_min, config.outlier_sigma_max),
    )
    result = Table(table)
    result["amplitude"].description = "DN/s (integration, telegraph) or DN (last_group)"
    result["sigma"].description = "amplitude in units of the nominal slope noise"
    result.meta["description"] = (
        "outliers jump cannot see: kind integration = pixel raised for one whole "
        "integration, telegraph = raised state of a toggling pixel, last_group = hit in "
        "the last group ramp fitting uses (0-based group index)"
    )
    return result


def _white_transit(transit_chromatic, x_shift, y_shift, spectrum, star_flux, block):
    """Relative total star count rate of a transit whose depth varies with wavelength."""
    white = np.empty(x_shift.size)
    for start in range(0, x_shift.size, block):
        stop = min(start + block, x_shift.size)
        rate = scene.star_rate(
            x_shift[start:stop],
            y_shift[start:stop],
            spectrum=spectrum,
            chromatic=transit_chromatic.subset(start, stop),
        )
        white[start:stop] = rate.sum(axis=(1, 2), dtype=float)
    return white / star_flux


def _per_wavelength_light(config, times):
    """The transit per wavelength and the planet's emission (each None when not needed).

    With a phase curve the transit is always applied per wavelength, so that it dims the
    star's light and not the planet's.
    """
    transit = chromatic.chromatic_transit(config, times, always=config.has_phase_curve)
    emission, _, _ = phase_curve.planet_emission(config, times)
    return transit, emission


def _detected_rate(truth, start, stop, spectrum, background, light=(None, None)):
    """Noiseless detected count rate (DN/s) with flat field and dark, integrations [start, stop).

    ``light`` is `_per_wavelength_light`: with a transit per wavelength
    (`chromatic.ChromaticTransit`) the transit is applied per wavelength, the planet's
    emission (`phase_curve.PlanetEmission`) is added to it, and the per-integration
    scale is the response ramp only.
    """
    rows = truth[start:stop]
    transit_chromatic, emission = light
    if transit_chromatic is None:
        scale, per_wavelength = np.asarray(rows["flux_scale"]), None
    else:
        scale, per_wavelength = np.asarray(rows["ramp"]), transit_chromatic.subset(start, stop)
    rate = scene.scene_rate(
        np.asarray(rows["x_shift"]),
        np.asarray(rows["y_shift"]),
        spectrum=spectrum,
        scale=scale,
        background=background,
        chromatic=per_wavelength,
        planet=None if emission is None else emission.subset(start, stop),
    )
    return rate + np.float32(detector.DARK_RATE_DN_S)


def noiseless_rates(config, start=0, stop=None):
    """Noiseless count rates (the slopes of noiseless ramps) and the truth, in memory.

    Parameters
    ----------
    config : SimulationConfig
        Simulation parameters.
    start, stop : int
        0-based half-open range of integrations to return (default all).

    Returns
    -------
    rate : numpy.ndarray
        Shape ``(stop - start, 416, 72)``, float32 DN/s: (star + background) times the
        flat field, plus dark current.
    truth : astropy.table.Table
        As `make_truth` (all integrations).
    """
    truth, _, _ = make_truth(config)
    stop = config.nints if stop is None else stop
    if not 0 <= start < stop <= config.nints:
        raise ValueError(f"invalid integration range [{start}, {stop}) for nints={config.nints}")
    light = _per_wavelength_light(config, np.asarray(truth["time_mid_s"]))
    rate = _detected_rate(truth, start, stop, _spectrum(config), config.background, light)
    return rate, truth


def _segment_ramps(config, truth, cosmic, spectrum, start, stop, light=(None, None),
                   progress=None, injected=None):
    """Raw ramps of integrations [start, stop), built in bounded chunks.

    ``light`` is `_per_wavelength_light`; ``progress``, if given, is called with the
    number of integrations of each chunk; ``injected`` holds outliers
    (`jwst_tso_ext.simulate.outliers`) to add.
    """
    if injected is None:
        injected = np.zeros(0, outliers.OUTLIER_DTYPE)
    hits = outliers.hit_events(injected, ramps.COSMIC_RAY_DTYPE)
    data = np.empty((stop - start, config.ngroups, geometry.N_ROWS, geometry.N_COLUMNS), np.float32)
    chunk = max(1, _CHUNK_READS // config.ngroups)
    for first in range(start, stop, chunk):
        last = min(first + chunk, stop)
        rate = _detected_rate(truth, first, last, spectrum, config.background, light)
        if injected.size:
            rate = rate + outliers.rate_offsets(injected, first + 1, last - first, rate.shape[1:])
        if config.noiseless:
            rngs, events = None, cosmic[:0]
        else:
            rngs = [ramps.integration_noise_rng(config.seed, i) for i in range(first, last)]
            in_chunk = (cosmic["int_num"] > first) & (cosmic["int_num"] <= last)
            events = cosmic[in_chunk]
        hits_in_chunk = hits[(hits["int_num"] > first) & (hits["int_num"] <= last)]
        events = np.concatenate([events, hits_in_chunk]) if hits_in_chunk.size else events
        if config.noiseless and not events.size:
            events = None
        data[first - start : last - start] = ramps.read_ramps(
            rate, config.ngroups, config.frame_time, rngs, events, first_int_num=first + 1
        )
        if progress is not None:
            progress(last - first)
    return data


def simulate_exposure(config, output_dir, overwrite=False, progress=None):
    """Simulate an exposure and write MIRISim-like uncal files and truth tables.

    Parameters
    ----------
    config : SimulationConfig
        Simulation parameters.
    output_dir : str or pathlib.Path
        Directory for the files (created if missing).
    overwrite : bool
        Replace existing files; otherwise an existing target raises FileExistsError
        before anything is written.
    progress : callable, optional
        Called with the number of integrations just simulated, after each chunk (e.g.
        a progress bar's ``update``). By default an INFO line is logged every ~10 %
        of the integrations when there are more than a few thousand
        (`jwst_tso_ext.progress.IntegrationProgress`).

    Returns
    -------
    paths : list of pathlib.Path
        Uncal files (in segment order), then ``<root>_truth.ecsv``,
        ``<root>_truth_spectrum.ecsv`` and ``<root>_truth_cosmic_rays.ecsv`` (and, with
        a phase curve, ``<root>_truth_phase_curve.ecsv`` and
        ``<root>_truth_phase_curve_rows.ecsv``; with a wavelength-dependent depth,
        ``<root>_truth_depth.ecsv`` and ``<root>_truth_depth_rows.ecsv``; with injected
        outliers,
        ``<root>_truth_outliers.ecsv``).
    """
    config.validate()
    output_dir = Path(output_dir)
    uncal_paths, truth_paths = output_paths(config, output_dir)
    if not overwrite:
        existing = [str(path) for path in uncal_paths + truth_paths if path.exists()]
        if existing:
            raise FileExistsError(
                f"refusing to overwrite existing files (use overwrite): {', '.join(existing)}"
            )
    output_dir.mkdir(parents=True, exist_ok=True)

    truth, spectrum_table, cosmic_table = make_truth(config)
    cosmic = cosmic_table.as_array() if len(cosmic_table) else np.zeros(0, ramps.COSMIC_RAY_DTYPE)
    spectrum = _spectrum(config)
    light = _per_wavelength_light(config, np.asarray(truth["time_mid_s"]))
    ranges = _segment_ranges(config)
    injected_table = make_outliers(config)
    injected = injected_table.as_array() if len(injected_table) else None
    if progress is None:
        progress = IntegrationProgress(log, "simulated", config.nints).advance
    for number, ((start, stop), path) in enumerate(zip(ranges, uncal_paths, strict=True), start=1):
        log.info(
            "simulating integrations %d-%d of %d (%d groups) -> %s",
            start + 1,
            stop,
            config.nints,
            config.ngroups,
            path.name,
        )
        data = _segment_ramps(config, truth, cosmic, spectrum, start, stop, light,
                              progress, injected)
        segment = None if config.segment_size is None else (number, len(ranges), start + 1, stop)
        model = uncal.build_uncal_model(data, config.nints, config.start_mjd, segment=segment)
        model.save(path, overwrite=overwrite)
        model.close()
        del data

    truth.write(truth_paths[0], format="ascii.ecsv", overwrite=True)
    spectrum_table.write(truth_paths[1], format="ascii.ecsv", overwrite=True)
    cosmic_table.write(truth_paths[2], format="ascii.ecsv", overwrite=True)
    extra = iter(truth_paths[3:])
    if config.has_phase_curve:
        phase_curve.wavelength_truth(config).write(
            next(extra), format="ascii.ecsv", overwrite=True
        )
        phase_curve.row_truth(config, spectrum, light[1]).write(
            next(extra), format="ascii.ecsv", overwrite=True
        )
    if chromatic.is_chromatic(config):
        chromatic.depth_truth_table(config).write(
            next(extra), format="ascii.ecsv", overwrite=True
        )
        chromatic.row_depths(config, spectrum, light[0]).write(
            next(extra), format="ascii.ecsv", overwrite=True
        )
    if config.has_outliers:
        injected_table.write(truth_paths[-1], format="ascii.ecsv", overwrite=True)
    log.info("wrote truth tables %s", ", ".join(path.name for path in truth_paths))
    return uncal_paths + truth_paths
