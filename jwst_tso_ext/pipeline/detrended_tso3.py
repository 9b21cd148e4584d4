"""`DetrendedTso3Pipeline`: calwebb_tso3 with the detrended white light."""

from jwst.pipeline import Tso3Pipeline

from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import DetrendedWhiteLightStep, SpectralLightCurvesStep

__all__ = ["DetrendedTso3Pipeline"]


class DetrendedTso3Pipeline(PackageStepMixin, Tso3Pipeline):
    """calwebb_tso3 with ``white_light`` replaced by `DetrendedWhiteLightStep`, then the spectrum.

    Takes the usual level-3 association of calints segments. The step keeps the name
    ``white_light``, so ``--steps.white_light.<param>=`` configures it, and the
    ``_whtlt.ecsv`` product carries the detrended columns. `SpectralLightCurvesStep`
    (``--steps.spectral_light_curves.<param>=``) runs right after it on the same
    x1dints product, with its orbit.
    """

    class_alias = "detrended_tso3"

    step_defs = {
        **Tso3Pipeline.step_defs,
        "white_light": DetrendedWhiteLightStep,
        "spectral_light_curves": SpectralLightCurvesStep,
    }

    def process(self, input_data):
        """
        Run calwebb_tso3 with the detrended white light and the spectrum on an association.

        Parameters
        ----------
        input_data : str or association
            The association of calints segments.

        Raises
        ------
        ValueError
            If the association file cannot be read (jwst's own error does not name it).
        """
        white_light_run = self.white_light.run

        def white_light_then_spectrum(x1d):
            # calwebb_tso3 calls white_light on the combined x1dints: the spectrum follows
            table = white_light_run(x1d)
            self.spectral_light_curves.output_file = self.output_file
            self.spectral_light_curves.run(x1d, table)
            return table

        self.white_light.run = white_light_then_spectrum
        try:
            return super().process(input_data)
        except OSError as error:
            if "ASN" not in str(error):
                raise
            raise ValueError(f"{input_data}: not a readable association ({error})") from error
        finally:
            del self.white_light.run
