"""Pipelines of jwst-tso-ext (listed in `jwst_tso_ext.integration`)."""

from jwst_tso_ext.pipeline.tso_detector1 import TsoDetector1Pipeline

__all__ = [
    "TsoDetector1Pipeline",
]
