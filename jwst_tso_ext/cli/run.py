"""``jwst-tso-ext run``: ``lrs_tso`` on several exposures, on one Dask cluster.

Each input (an association of segments, or one uncal / rateints / calints / x1dints
file) is one exposure. With ``--scheduler local:N`` the local cluster is started once
and every exposure runs on it; with an address or scheduler file, on that cluster;
without, in this process. The exposures run one after another (their segments in
parallel on the cluster); a progress bar (a plain line per segment when not on a
terminal) counts the segments of all exposures.
"""

import contextlib
import logging
import sys

from jwst_tso_ext.pipeline import executor as executor_module
from jwst_tso_ext.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run", "step_options"]


def add_parser(subparsers):
    """Register the ``run`` subcommand; returns its parser."""
    parser = subparsers.add_parser(
        "run",
        help="run lrs_tso on several exposures (associations or files), optionally on Dask",
        description="Run lrs_tso on each input (an association of segments or one file) in "
        "turn, on one Dask cluster when --scheduler is given, with a progress bar over the "
        "segments of all exposures. Options --steps.STEP.PARAM=VALUE and --PARAM=VALUE "
        "after the inputs are passed to lrs_tso as with strun.",
    )
    parser.add_argument("inputs", nargs="+", metavar="ASN_OR_FILE", help="exposures to run")
    parser.add_argument("--output-dir", default=".", help="where products are written")
    parser.add_argument(
        "--scheduler",
        default=None,
        help="None (this process), local:N (a local cluster of N single-threaded worker "
        "processes, started once for all inputs), tcp://host:port or a scheduler file",
    )
    parser.add_argument("--config", default=None, help="lrs_tso parameter file (e.g. a preset)")
    parser.add_argument(
        "--dashboard", action="store_true", help="local:N: serve the dask dashboard"
    )
    return parser


def step_options(extra):
    """``--steps.STEP.PARAM=VALUE`` / ``--PARAM=VALUE`` options as ``call`` keywords.

    Parameters
    ----------
    extra : list of str
        Options left over by the argument parser.

    Returns
    -------
    dict
        Keyword arguments for the pipeline's configuration. Each value is read as a
        parameter file reads it (configobj: ``t0,rp`` is a list) and converted by
        stpipe's parameter validation.

    Raises
    ------
    ValueError
        For an option not of the form ``--NAME=VALUE``.
    """
    from configobj import ConfigObj

    options = {}
    for item in extra:
        if not item.startswith("--") or "=" not in item:
            raise ValueError(f"unrecognised option {item!r}: expected --NAME=VALUE")
        name, text = item[2:].split("=", 1)
        value = ConfigObj([f"value = {text}"])["value"]
        parts = name.split(".")
        if parts[0] == "steps" and len(parts) == 3:
            options.setdefault("steps", {}).setdefault(parts[1], {})[parts[2]] = value
        elif len(parts) == 1:
            options[name] = value
        else:
            raise ValueError(f"unrecognised option {item!r}: expected --steps.STEP.PARAM=VALUE")
    return options


@contextlib.contextmanager
def _shared_scheduler(scheduler, dashboard):
    """The scheduler value every exposure uses (a local cluster's address, started here)."""
    kind, count = executor_module.parse_scheduler(scheduler)
    if kind != "local":
        yield scheduler
        return
    with executor_module.local_cluster(count, dashboard=dashboard) as cluster:
        yield cluster.scheduler_address


def run(args, extra=()):
    """Run every input; returns 0, or 1 if an exposure failed (the others still run)."""
    from jwst_tso_ext.pipeline import LrsTsoPipeline
    from jwst_tso_ext.pipeline.inputs import expand_inputs

    options = step_options(extra)
    total = sum(len(expand_inputs(path)[0]) for path in args.inputs)
    bar = progress_bar(total, "segments", unit="segment")
    done = []

    def segment_done(segment):
        done.append(segment.name)
        if bar is not None:
            bar.update(1)
        else:
            sys.stderr.write(f"segments: {len(done)}/{total} done ({segment.name})\n")

    failed = []
    with _shared_scheduler(args.scheduler, args.dashboard) as scheduler:
        for path in args.inputs:
            log.info("Exposure %s", path)
            try:
                if args.config:
                    options["config_file"] = args.config
                config, config_file = LrsTsoPipeline.build_config(
                    path,
                    output_dir=args.output_dir,
                    save_results=True,
                    scheduler=scheduler,
                    **options,
                )
                config.pop("class", None)
                pipeline = LrsTsoPipeline.from_config_section(
                    config, name=config.get("name"), config_file=config_file
                )
                pipeline.segment_done = segment_done
                pipeline.run(path)
            except Exception as error:  # noqa: BLE001 - report it and go on with the others
                log.error("Exposure %s failed: %s", path, error)
                failed.append(path)
    if bar is not None:
        bar.close()
    if failed:
        sys.stderr.write(f"jwst-tso-ext run: {len(failed)} exposure(s) failed: {failed}\n")
        return 1
    return 0
