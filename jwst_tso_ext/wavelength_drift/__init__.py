"""Measure and correct the drift of the MIRI LRS slitless trace between integrations."""

from jwst_tso_ext.wavelength_drift.wavelength_drift_step import WavelengthDriftStep

__all__ = ["WavelengthDriftStep"]
