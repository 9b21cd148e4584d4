"""``jwst-tso-ext configs``: the stpipe parameter files installed with the package.

Lists the presets (one line each on what they are for) and where they are
installed, prints the path of one (``--path NAME``, for ``strun``), or copies them
to a directory where they can be edited (``--copy DIR``).
"""

import logging
import sys

from jwst_tso_ext.presets import copy_presets, list_presets, preset_directory, preset_path

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    """Register the ``configs`` subcommand; returns its parser."""
    parser = subparsers.add_parser(
        "configs",
        help="list, locate or copy the installed stpipe parameter files (presets)",
        description="The stpipe parameter files installed with jwst-tso-ext. Without options, "
        "list them with what each is for and where they are installed; strun takes a preset "
        "by that path (strun PATH INPUT). --path NAME prints one preset's path, --copy DIR "
        "writes editable copies.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--path",
        metavar="NAME",
        help="print the installed path of preset NAME (e.g. lrs_tso_mirisim), for strun",
    )
    action.add_argument(
        "--copy", metavar="DIR", help="copy every preset into DIR (created if missing)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --copy: replace files that exist"
    )
    return parser


def run(args):
    """List, locate or copy the presets; returns 0."""
    out = sys.stdout
    if args.path:
        out.write(f"{preset_path(args.path)}\n")
        return 0
    if args.copy:
        for path in copy_presets(args.copy, overwrite=args.overwrite):
            out.write(f"{path}\n")
        return 0
    presets = list_presets()
    width = max(len(preset.name) for preset in presets)
    for preset in presets:
        short_class = preset.class_name.rsplit(".", 1)[-1]
        out.write(f"{preset.name:<{width}}  {short_class}: {preset.description}\n")
    example = presets[0].path
    for preset in presets:
        if preset.name == "lrs_tso_mirisim":
            example = preset.path
    out.write(
        f"\nInstalled in {preset_directory()}\n"
        f"Run one with strun, e.g.:  strun {example} INPUT\n"
        "One path: jwst-tso-ext configs --path NAME; "
        "copies to edit: jwst-tso-ext configs --copy DIR\n"
    )
    return 0
