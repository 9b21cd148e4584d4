"""Spectroscopic light curves and the transmission / emission spectrum step."""

from jwst_tso_ext.spectral_light_curves.spectral_light_curves_step import SpectralLightCurvesStep

__all__ = ["SpectralLightCurvesStep"]
