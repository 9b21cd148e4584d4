"""Repair the time-series metadata of JWST exposures."""

from .tsovisit_fix_step import TsoVisitFixStep

__all__ = ["TsoVisitFixStep"]
