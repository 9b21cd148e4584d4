"""Entry point for stpipe: the steps and pipelines this package provides."""

__all__ = ["get_steps"]


def get_steps():
    """
    Return tuples describing the stpipe Step subclasses provided by this package.

    Registered with the ``stpipe.steps`` entry point, so that ``stpipe list`` and
    ``strun <alias>`` find them. A unit test keeps this list in sync with the classes.

    Returns
    -------
    list of tuple (str, str, bool)
        Fully qualified class name, class alias, and whether it is a Pipeline.
    """
    return [
        ("jwst_tso_ext.steps.TsoVisitFixStep", "tsovisit_fix", False),
        ("jwst_tso_ext.steps.MirisimRefpixGuardStep", "mirisim_refpix_guard", False),
        ("jwst_tso_ext.steps.WavelengthDriftStep", "wavelength_drift", False),
        ("jwst_tso_ext.steps.DetrendedWhiteLightStep", "detrended_white_light", False),
        ("jwst_tso_ext.steps.SpectralLightCurvesStep", "spectral_light_curves", False),
        ("jwst_tso_ext.steps.TsoExtract1dStep", "tso_extract_1d", False),
        ("jwst_tso_ext.steps.TsoOutlierDetectionStep", "tso_outlier_detection", False),
        ("jwst_tso_ext.pipeline.TsoDetector1Pipeline", "tso_detector1", True),
        ("jwst_tso_ext.pipeline.LrsTsoPipeline", "lrs_tso", True),
        ("jwst_tso_ext.pipeline.DetrendedTso3Pipeline", "detrended_tso3", True),
    ]
