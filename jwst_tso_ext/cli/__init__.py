"""Command-line interface ``jwst-tso-ext`` (subcommands simulate, crds-cache, demo)."""
