"""Skip the reference-pixel correction on MIRISim data; run jwst's refpix otherwise."""

from .mirisim_refpix_guard_step import MirisimRefpixGuardStep

__all__ = ["MirisimRefpixGuardStep"]
