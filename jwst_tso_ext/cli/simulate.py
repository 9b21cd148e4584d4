"""``jwst-tso-ext simulate``: write a MIRISim-like MIRI LRS slitless TSO exposure with truth."""

import argparse
import logging
import sys

from jwst_tso_ext.progress import progress_bar
from jwst_tso_ext.simulate import SimulationConfig, chromatic, simulate_exposure

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run", "config_from_args", "simulate_with_progress"]

_DEFAULTS = SimulationConfig()


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_parser(subparsers):
    """Register the ``simulate`` subcommand; returns its parser."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a MIRISim-like MIRI LRS slitless TSO exposure with known truth",
        description="Write MIRISim-like uncal files (RampModel, FAST readout, no TSOVISIT, "
        "no INT_TIMES) of a MIRI LRS slitless transit observation, and truth tables "
        "(<root>_truth.ecsv, <root>_truth_spectrum.ecsv, <root>_truth_cosmic_rays.ecsv). "
        "For MIRISim/seed-like files use --ngroups 100 --nints 10.",
    )
    parser.add_argument("output_dir", metavar="OUTDIR", help="directory for the output files")
    parser.add_argument("--root", default=_DEFAULTS.root, help="root of the file names")
    parser.add_argument("--nints", type=_positive_int, default=_DEFAULTS.nints)
    parser.add_argument("--ngroups", type=_positive_int, default=_DEFAULTS.ngroups)
    parser.add_argument(
        "--segment-size",
        type=_positive_int,
        default=None,
        help="integrations per <root>_segNNN_uncal.fits file (default: one file)",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument(
        "--noiseless",
        action="store_true",
        help="no photon noise, read noise or cosmic rays",
    )
    parser.add_argument("--start-mjd", type=float, default=_DEFAULTS.start_mjd)
    star = parser.add_argument_group("star")
    star.add_argument("--star-temperature", type=float, default=_DEFAULTS.star_temperature)
    star.add_argument(
        "--star-flux-mjy",
        type=float,
        default=_DEFAULTS.star_flux_mjy,
        help="blackbody flux density at 2 micron (mJy)",
    )
    star.add_argument("--no-background", action="store_true", help="no thermal background")
    transit = parser.add_argument_group("transit")
    transit.add_argument("--depth", type=float, default=_DEFAULTS.transit_depth, help="(Rp/Rs)^2")
    transit.add_argument("--t0", type=float, default=None, help="mid-transit time (s from start)")
    transit.add_argument(
        "--duration", type=float, default=None, help="transit duration (s; default exposure/3)"
    )
    transit.add_argument(
        "--period",
        type=float,
        default=None,
        help="orbital period (s), instead of --duration (which then follows from it)",
    )
    transit.add_argument("--a-rs", type=float, default=_DEFAULTS.a_rs)
    transit.add_argument("--impact-parameter", type=float, default=_DEFAULTS.impact_parameter)
    transit.add_argument(
        "--limb-darkening",
        type=float,
        nargs=2,
        default=list(_DEFAULTS.limb_darkening),
        metavar=("U1", "U2"),
    )
    depth_group = parser.add_argument_group(
        "wavelength-dependent depth",
        "depth(lambda) = depth + slope (lambda - pivot) + band (one orbit for all "
        "wavelengths); truth in <root>_truth_depth.ecsv and <root>_truth_depth_rows.ecsv",
    )
    depth_group.add_argument(
        "--depth-band",
        choices=chromatic.BAND_SHAPES,
        default=_DEFAULTS.depth_band_shape,
        help="shape of a band added to the depth",
    )
    depth_group.add_argument(
        "--depth-band-center", type=float, default=_DEFAULTS.depth_band_center, help="micron"
    )
    depth_group.add_argument(
        "--depth-band-width",
        type=float,
        default=_DEFAULTS.depth_band_width,
        help="micron: FWHM of a Gaussian, full width of a box",
    )
    depth_group.add_argument(
        "--depth-band-amplitude",
        type=float,
        default=_DEFAULTS.depth_band_amplitude_ppm,
        help="ppm of depth (negative for a dip)",
    )
    depth_group.add_argument(
        "--depth-slope",
        type=float,
        default=_DEFAULTS.depth_slope_ppm_per_micron,
        help="ppm of depth per micron",
    )
    depth_group.add_argument(
        "--depth-pivot",
        type=float,
        default=_DEFAULTS.depth_pivot_wavelength,
        help="micron where the depth (without band) is --depth",
    )
    phase = parser.add_argument_group(
        "phase curve",
        "the planet's emission over the orbit: a sinusoid of value --fp-day at phase 0.5 and "
        "--fp-night at phase 0, with a secondary eclipse (give --period for a full orbit); "
        "truth in <root>_truth_phase_curve.ecsv and <root>_truth_phase_curve_rows.ecsv",
    )
    phase.add_argument(
        "--fp-day", type=float, default=_DEFAULTS.fp_day, help="dayside planet-to-star flux"
    )
    phase.add_argument(
        "--fp-night", type=float, default=_DEFAULTS.fp_night, help="nightside planet-to-star flux"
    )
    phase.add_argument(
        "--phase-offset",
        type=float,
        default=_DEFAULTS.phase_offset_deg,
        help="hotspot offset, degrees east (flux peak before the eclipse)",
    )
    phase.add_argument(
        "--planet-day-temperature",
        type=float,
        default=None,
        help="K: blackbody shape of the dayside spectrum (normalised to --fp-day at the "
        "--depth-pivot wavelength); default flat",
    )
    phase.add_argument(
        "--planet-night-temperature",
        type=float,
        default=None,
        help="K: blackbody shape of the nightside spectrum; default flat",
    )
    ramp = parser.add_argument_group("response ramp")
    ramp.add_argument("--ramp-amplitude", type=float, default=_DEFAULTS.ramp_amplitude)
    ramp.add_argument(
        "--ramp-timescale",
        type=float,
        default=None,
        help="s; default min(600 s, exposure/6)",
    )
    pointing = parser.add_argument_group("pointing")
    pointing.add_argument("--x-offset", type=float, default=_DEFAULTS.x_offset, help="px")
    pointing.add_argument("--y-offset", type=float, default=_DEFAULTS.y_offset, help="px")
    pointing.add_argument(
        "--drift-x", type=float, default=_DEFAULTS.drift_x, help="linear drift over exposure, px"
    )
    pointing.add_argument(
        "--drift-y", type=float, default=_DEFAULTS.drift_y, help="linear drift over exposure, px"
    )
    pointing.add_argument("--drift-quadratic-x", type=float, default=_DEFAULTS.drift_quadratic_x)
    pointing.add_argument("--drift-quadratic-y", type=float, default=_DEFAULTS.drift_quadratic_y)
    pointing.add_argument(
        "--drift-jitter", type=float, default=_DEFAULTS.jitter_rms, help="jitter rms per axis, px"
    )
    pointing.add_argument("--drift-step-time", type=float, default=None, help="s from start")
    pointing.add_argument("--drift-step-x", type=float, default=_DEFAULTS.step_x, help="px")
    pointing.add_argument("--drift-step-y", type=float, default=_DEFAULTS.step_y, help="px")
    parser.add_argument(
        "--cosmic-ray-rate",
        type=float,
        default=_DEFAULTS.cosmic_ray_rate,
        help="mean hits per integration on the subarray",
    )
    outliers = parser.add_argument_group(
        "outliers jump cannot see (truth in <root>_truth_outliers.ecsv)"
    )
    outliers.add_argument(
        "--outlier-integrations",
        type=int,
        default=_DEFAULTS.outlier_integrations,
        help="pixels raised for one whole integration",
    )
    outliers.add_argument(
        "--outlier-telegraph-pixels",
        type=int,
        default=_DEFAULTS.outlier_telegraph_pixels,
        help="pixels toggling between two levels (raised for 1-3 integrations at a time)",
    )
    outliers.add_argument(
        "--outlier-last-group-hits",
        type=int,
        default=_DEFAULTS.outlier_last_group_hits,
        help="hits in the last group that ramp fitting uses",
    )
    outliers.add_argument(
        "--outlier-sigma",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(_DEFAULTS.outlier_sigma_min, _DEFAULTS.outlier_sigma_max),
        help="amplitude range in units of the pixel's slope noise",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser


def config_from_args(args):
    """SimulationConfig from parsed command-line arguments (validated)."""
    config = SimulationConfig(
        nints=args.nints,
        ngroups=args.ngroups,
        segment_size=args.segment_size,
        seed=args.seed,
        noiseless=args.noiseless,
        root=args.root,
        start_mjd=args.start_mjd,
        star_temperature=args.star_temperature,
        star_flux_mjy=args.star_flux_mjy,
        background=not args.no_background,
        transit_depth=args.depth,
        transit_t0=args.t0,
        transit_duration=args.duration,
        orbital_period=args.period,
        a_rs=args.a_rs,
        impact_parameter=args.impact_parameter,
        limb_darkening=tuple(args.limb_darkening),
        depth_band_shape=args.depth_band,
        depth_band_center=args.depth_band_center,
        depth_band_width=args.depth_band_width,
        depth_band_amplitude_ppm=args.depth_band_amplitude,
        depth_slope_ppm_per_micron=args.depth_slope,
        depth_pivot_wavelength=args.depth_pivot,
        fp_day=args.fp_day,
        fp_night=args.fp_night,
        phase_offset_deg=args.phase_offset,
        planet_day_temperature=args.planet_day_temperature,
        planet_night_temperature=args.planet_night_temperature,
        ramp_amplitude=args.ramp_amplitude,
        ramp_timescale=args.ramp_timescale,
        x_offset=args.x_offset,
        y_offset=args.y_offset,
        drift_x=args.drift_x,
        drift_y=args.drift_y,
        drift_quadratic_x=args.drift_quadratic_x,
        drift_quadratic_y=args.drift_quadratic_y,
        jitter_rms=args.drift_jitter,
        step_time=args.drift_step_time,
        step_x=args.drift_step_x,
        step_y=args.drift_step_y,
        cosmic_ray_rate=args.cosmic_ray_rate,
        outlier_integrations=args.outlier_integrations,
        outlier_telegraph_pixels=args.outlier_telegraph_pixels,
        outlier_last_group_hits=args.outlier_last_group_hits,
        outlier_sigma_min=args.outlier_sigma[0],
        outlier_sigma_max=args.outlier_sigma[1],
    )
    return config.validate()


def run(args):
    """Simulate the exposure and print the files written; returns 0.

    On a terminal a progress bar follows the integrations; otherwise progress is
    logged every ~10 % of the integrations (for more than a few thousand).
    """
    config = config_from_args(args)
    paths = simulate_with_progress(config, args.output_dir, overwrite=args.overwrite)
    for path in paths:
        sys.stdout.write(f"{path}\n")
    return 0


def simulate_with_progress(config, output_dir, overwrite=False):
    """`simulate_exposure` with a progress bar on stderr if it is a terminal.

    Without a terminal (a pipe, a log file, a batch job) the simulator logs its
    plain progress lines instead.
    """
    bar = progress_bar(config.nints, "simulating", unit="int")
    if bar is None:
        return simulate_exposure(config, output_dir, overwrite=overwrite)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with bar, logging_redirect_tqdm():
        return simulate_exposure(config, output_dir, overwrite=overwrite, progress=bar.update)
