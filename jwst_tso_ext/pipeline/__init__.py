"""Pipelines of jwst-tso-ext (listed in `jwst_tso_ext.integration`)."""

from jwst_tso_ext.pipeline.detrended_tso3 import DetrendedTso3Pipeline
from jwst_tso_ext.pipeline.lrs_tso import LrsTsoPipeline
from jwst_tso_ext.pipeline.tso_detector1 import TsoDetector1Pipeline

__all__ = [
    "DetrendedTso3Pipeline",
    "LrsTsoPipeline",
    "TsoDetector1Pipeline",
]
