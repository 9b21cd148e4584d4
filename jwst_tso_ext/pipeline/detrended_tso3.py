"""`DetrendedTso3Pipeline`: calwebb_tso3 with the detrended white light."""

from jwst.pipeline import Tso3Pipeline

from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import DetrendedWhiteLightStep

__all__ = ["DetrendedTso3Pipeline"]


class DetrendedTso3Pipeline(PackageStepMixin, Tso3Pipeline):
    """calwebb_tso3 with ``white_light`` replaced by `DetrendedWhiteLightStep`.

    Takes the usual level-3 association of calints segments. The step keeps the name
    ``white_light``, so ``--steps.white_light.<param>=`` configures it, and the
    ``_whtlt.ecsv`` product carries the detrended columns.
    """

    class_alias = "detrended_tso3"

    step_defs = {**Tso3Pipeline.step_defs, "white_light": DetrendedWhiteLightStep}

    def process(self, input_data):
        """
        Run calwebb_tso3 with the detrended white light on a level-3 association.

        Parameters
        ----------
        input_data : str or association
            The association of calints segments.

        Raises
        ------
        ValueError
            If the association file cannot be read (jwst's own error does not name it).
        """
        try:
            return super().process(input_data)
        except OSError as error:
            if "ASN" not in str(error):
                raise
            raise ValueError(f"{input_data}: not a readable association ({error})") from error
