"""Entry point of the ``jwst-tso-ext`` command.

Each subcommand lives in its own module of this package, exposing
``add_parser(subparsers)`` (registers the subcommand and its options) and
``run(args)`` (does the work, returns an exit code).
"""

import argparse
import importlib
import logging
import sys

__all__ = ["main"]

#: subcommand name -> module in jwst_tso_ext.cli
SUBCOMMANDS = {
    "simulate": "jwst_tso_ext.cli.simulate",
    "crds-cache": "jwst_tso_ext.cli.crds_cache",
    "demo": "jwst_tso_ext.cli.demo",
    "configs": "jwst_tso_ext.cli.configs",
    "run": "jwst_tso_ext.cli.run",
}

#: Subcommands that take further options (``--steps.STEP.PARAM=VALUE``) they pass on.
PASS_THROUGH = {"run"}


def build_parser():
    """Build the argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="jwst-tso-ext",
        description="MIRI LRS slitless TSO tools: simulate data, build an offline CRDS cache, "
        "run the offline demo, list and copy the installed parameter files, run lrs_tso on "
        "several exposures (optionally on a Dask cluster).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug log messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
        modules[name] = module
    return parser


def main(argv=None):
    """Run the ``jwst-tso-ext`` command line; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command in PASS_THROUGH:
            return int(args._run(args, extra) or 0)
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, OSError) as error:
        parser.exit(2, f"jwst-tso-ext {args.command}: error: {error}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
