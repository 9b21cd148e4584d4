"""`DetrendedTso3Pipeline`: calwebb_tso3 with the detrended white light."""

from jwst.pipeline import Tso3Pipeline

from jwst_tso_ext.steps import DetrendedWhiteLightStep
from jwst_tso_ext.stpipe_logging import PackageLoggersMixin

__all__ = ["DetrendedTso3Pipeline"]


class DetrendedTso3Pipeline(PackageLoggersMixin, Tso3Pipeline):
    """calwebb_tso3 with ``white_light`` replaced by `DetrendedWhiteLightStep`.

    Takes the usual level-3 association of calints segments. The step keeps the name
    ``white_light``, so ``--steps.white_light.<param>=`` configures it, and the
    ``_whtlt.ecsv`` product carries the detrended columns.
    """

    class_alias = "detrended_tso3"

    step_defs = {**Tso3Pipeline.step_defs, "white_light": DetrendedWhiteLightStep}
