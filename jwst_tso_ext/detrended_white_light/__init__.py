"""Detrended white-light curve step."""

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import DetrendedWhiteLightStep

__all__ = ["DetrendedWhiteLightStep"]
