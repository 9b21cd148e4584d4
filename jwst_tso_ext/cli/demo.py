"""``jwst-tso-ext demo``: the offline end-to-end run on a fresh machine.

Simulates a MIRISim-like exposure with known truth, builds (or reuses) the offline
CRDS cache, runs ``strun jwst_tso_ext.pipeline.LrsTsoPipeline`` on it in CRDS's
serverless mode, and prints recovered against injected values.
"""

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jwst_tso_ext.cli.simulate import simulate_with_progress
from jwst_tso_ext.crds_cache import build_cache, offline_crds_env
from jwst_tso_ext.crds_cache.environment import REDIRECTING_VARIABLES
from jwst_tso_ext.progress import progress_bar
from jwst_tso_ext.simulate import SimulationConfig

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run", "default_cache_dir", "run_strun"]

#: Root name of the demo exposure.
DEMO_ROOT = "jw_demo_mirilrs_tso"

#: lrs_tso's line at the end of each segment, and stpipe's at the start of each step.
_SEGMENT_DONE = re.compile(r"^segment \d+/\d+: .* done in")
_STEP_RUNNING = re.compile(r"^Step (\S+) running with args")


def default_cache_dir():
    """Default location of the offline CRDS cache (reused between runs)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jwst-tso-ext" / "crds"


def add_parser(subparsers):
    """Register the ``demo`` subcommand; returns its parser."""
    parser = subparsers.add_parser(
        "demo",
        help="simulate an exposure and run the whole pipeline on it offline",
        description="Simulate a MIRI LRS slitless transit (MIRISim-like uncal with known "
        "truth), build the offline CRDS cache once, run strun "
        "jwst_tso_ext.pipeline.LrsTsoPipeline on it, and compare recovered with injected "
        "values. Needs no network.",
    )
    parser.add_argument("--outdir", default="demo_output", help="output directory")
    parser.add_argument(
        "--crds-cache",
        default=None,
        help=f"offline CRDS cache directory (default {default_cache_dir()})",
    )
    parser.add_argument("--nints", type=int, default=200, help="integrations to simulate")
    parser.add_argument(
        "--ngroups", type=int, default=30, help="groups per integration (4.9 s integrations)"
    )
    parser.add_argument(
        "--segment-size", type=int, default=None, help="integrations per segment file"
    )
    parser.add_argument("--seed", type=int, default=2024, help="random seed of the simulation")
    return parser


def run(args):
    """Run the demo; returns the exit code."""
    outdir = Path(args.outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    config = SimulationConfig(
        nints=args.nints,
        ngroups=args.ngroups,
        segment_size=args.segment_size,
        seed=args.seed,
        root=DEMO_ROOT,
        x_offset=0.0,
        y_offset=0.0,
    )
    _say(f"[1/4] Simulating {config.nints} integrations x {config.ngroups} groups in {outdir}")
    paths = simulate_with_progress(config, outdir, overwrite=True)
    uncal = [p for p in paths if p.name.endswith("_uncal.fits")]

    cache = Path(args.crds_cache) if args.crds_cache else default_cache_dir()
    _say(f"[2/4] Offline CRDS cache at {cache}")
    cache = build_cache(cache)

    _say("[3/4] strun jwst_tso_ext.pipeline.LrsTsoPipeline (log: lrs_tso.log)")
    inputs = [str(p) for p in uncal]
    if len(inputs) > 1:
        inputs = [str(_write_association(outdir, inputs))]
    run_strun(
        [
            "jwst_tso_ext.pipeline.LrsTsoPipeline",
            *inputs,
            "--output_dir",
            str(outdir),
            # no orbit: the white-light fit finds the transit itself (orbit_arguments
            # gives the known-planet route)
        ],
        cache,
        log_path=outdir / "lrs_tso.log",
        segments=len(uncal),
    )

    _say("[4/4] Recovered against injected values")
    from jwst_tso_ext.cli import demo_summary

    summary = demo_summary.summarize(outdir, DEMO_ROOT)
    _say(demo_summary.format_summary(summary))
    png = demo_summary.plot_summary(outdir, DEMO_ROOT, summary)
    _say(f"Summary figure: {png}")
    _say(f"Done in {time.monotonic() - started:.0f} s; products in {outdir}")
    return 0


def orbit_arguments(truth_path):
    """``strun`` options giving the white-light fit the simulated planet's known orbit.

    As for a known planet, the period, scaled semi-major axis, inclination and limb
    darkening are fixed; the mid-transit time and radius ratio are fitted.
    """
    from astropy.table import Table

    meta = Table.read(truth_path, format="ascii.ecsv").meta
    prefix = "--steps.detrended_white_light."
    u1, u2 = meta["limb_darkening"]
    return [
        f"{prefix}period={meta['orbital_period_days']!r}",
        f"{prefix}a={meta['a_rs']!r}",
        f"{prefix}inc={meta['inclination_deg']!r}",
        f"{prefix}u1={u1!r}",
        f"{prefix}u2={u2!r}",
        f"{prefix}free_params=t0,rp",
    ]


def run_strun(arguments, cache, log_path=None, segments=None):
    """Run ``strun`` in a subprocess against the offline CRDS cache, showing progress.

    On a terminal, with ``segments`` given, a progress bar counts the segments done
    (from ``lrs_tso``'s per-segment log lines) and names the step running; otherwise
    the steps started, the products saved and the segments done are printed as
    plain lines.

    Parameters
    ----------
    arguments : list of str
        Arguments after ``strun``.
    cache : path-like
        Offline CRDS cache root.
    log_path : path-like, optional
        File receiving the full log.
    segments : int, optional
        Number of segments ``lrs_tso`` processes (for the progress bar).

    Raises
    ------
    RuntimeError
        If strun exits with an error (the end of its log is included).
    """
    strun = shutil.which("strun") or str(Path(sys.executable).with_name("strun"))
    env = {k: v for k, v in os.environ.items() if k not in REDIRECTING_VARIABLES}
    env.update(offline_crds_env(cache))
    env.setdefault("MPLBACKEND", "Agg")
    lines = []
    bar = progress_bar(segments, "lrs_tso", unit="segment") if segments else None
    with subprocess.Popen(
        [strun, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        log_file = open(log_path, "w") if log_path else None  # noqa: SIM115
        try:
            for line in process.stdout:
                lines.append(line)
                if log_file:
                    log_file.write(line)
                message = line.split(" - ")[-1].strip()
                if bar is not None:
                    step = _STEP_RUNNING.search(message)
                    if step:
                        bar.set_postfix_str(step.group(1), refresh=True)
                    elif _SEGMENT_DONE.search(message):
                        bar.update(1)
                elif (
                    " running with args" in line
                    or "Saved model in" in line
                    or _SEGMENT_DONE.search(message)
                ):
                    _say("    " + message[:110])
        finally:
            if log_file:
                log_file.close()
            if bar is not None:
                bar.close()
    if process.returncode != 0:
        tail = "".join(lines[-30:])
        raise RuntimeError(f"strun {' '.join(arguments[:2])} failed:\n{tail}")
    return lines


def _write_association(outdir, members):
    """A level-3 style association listing the segments (for multi-segment demos)."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    asn = asn_from_list(
        [Path(m).name for m in members], rule=DMS_Level3_Base, product_name=DEMO_ROOT
    )
    path = outdir / f"{DEMO_ROOT}_asn.json"
    _, text = asn.dump(format="json")
    path.write_text(text)
    return path


def _say(message):
    """Progress line on standard output (the CLI's user interface, not a log)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()
