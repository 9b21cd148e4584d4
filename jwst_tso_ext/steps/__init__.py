"""All stpipe Step classes of jwst-tso-ext (listed in `jwst_tso_ext.integration`)."""

from jwst_tso_ext.detrended_white_light import DetrendedWhiteLightStep
from jwst_tso_ext.mirisim_refpix_guard import MirisimRefpixGuardStep
from jwst_tso_ext.spectral_light_curves import SpectralLightCurvesStep
from jwst_tso_ext.tso_extract import TsoExtract1dStep
from jwst_tso_ext.tso_outlier_detection import TsoOutlierDetectionStep
from jwst_tso_ext.tsovisit_fix import TsoVisitFixStep
from jwst_tso_ext.wavelength_drift import WavelengthDriftStep

__all__ = [
    "DetrendedWhiteLightStep",
    "MirisimRefpixGuardStep",
    "SpectralLightCurvesStep",
    "TsoExtract1dStep",
    "TsoOutlierDetectionStep",
    "TsoVisitFixStep",
    "WavelengthDriftStep",
]
