"""Vectorised 1-D extraction of MIRI LRS slitless time series (x1dints)."""

from jwst_tso_ext.tso_extract.tso_extract_step import TsoExtract1dStep

__all__ = ["TsoExtract1dStep"]
