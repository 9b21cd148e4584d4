"""jwst-tso-ext: stpipe steps and pipelines for MIRI LRS slitless time-series observations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jwst-tso-ext")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
