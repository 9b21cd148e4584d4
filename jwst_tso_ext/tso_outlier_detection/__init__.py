"""Time-domain outlier detection of TSO cubes (jwst's TSO mode, vectorised, segment-aware)."""

from .tso_outlier_detection_step import TsoOutlierDetectionStep

__all__ = ["TsoOutlierDetectionStep"]
