"""``jwst-tso-ext crds-cache PATH``: build the offline CRDS cache for MIRI LRS slitless."""

import logging
import shlex

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)


def add_parser(subparsers):
    """Register the ``crds-cache`` subcommand; return its parser."""
    parser = subparsers.add_parser(
        "crds-cache",
        help="build an offline CRDS cache (serverless mode) for MIRI LRS slitless",
        description="Build, or reuse if current, a CRDS cache with synthetic MIRI LRS slitless "
        "references and print the environment that runs the jwst pipeline from it offline.",
    )
    parser.add_argument("path", help="cache directory (becomes CRDS_PATH)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    parser.add_argument(
        "--context",
        default=None,
        help="CRDS context to print in the environment (default: the cache's)",
    )
    return parser


def run(args):
    """Build the cache and print ``export`` lines for a POSIX shell; return 0."""
    from jwst_tso_ext.crds_cache import build_cache, offline_crds_env

    path = build_cache(args.path, force=args.force)
    for name, value in offline_crds_env(path, context=args.context).items():
        print(f"export {name}={shlex.quote(value)}")  # noqa: T201  (command output)
    return 0
