"""Reference-pixel correction that is skipped on MIRISim data (drop-in for ``refpix``)."""

import logging
import os

from jwst.refpix.refpix_step import RefPixStep
from stdatamodels.jwst.datamodels import JwstDataModel

from jwst_tso_ext.mirisim_refpix_guard.provenance import mirisim_evidence
from jwst_tso_ext.step_mixin import PackageStepMixin

__all__ = ["MirisimRefpixGuardStep"]

log = logging.getLogger(__name__)


class MirisimRefpixGuardStep(PackageStepMixin, RefPixStep):
    """Skip refpix on MIRISim data, whose reference pixels are not flight-like; else run it."""

    class_alias = "mirisim_refpix_guard"

    # Merged by stpipe with RefPixStep's spec (it walks the class hierarchy), so every
    # refpix parameter is accepted here too, e.g. ``--steps.refpix.odd_even_rows=False``.
    spec = """
        data_origin = option('auto', 'mirisim', 'flight', default='auto') # auto: decide from the header (ORIGIN, CREATOR, HISTORY); mirisim: skip refpix; flight: run it
    """  # noqa: E501


    def run(self, *args):
        """
        Run the step; when skipped inside a pipeline, also record ``cal_step.refpix``.

        stpipe marks a skipped step under its own alias (``mirisim_refpix_guard``);
        as the stand-in for ``refpix`` the guard also sets ``refpix = 'SKIPPED'``, as
        jwst's `RefPixStep` would.

        Parameters
        ----------
        *args
            Arguments of `~stpipe.Step.run`.

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.RampModel`
            The step output.
        """
        result = super().run(*args)
        if self.skip and isinstance(result, JwstDataModel):
            result.meta.cal_step.refpix = "SKIPPED"
        return result

    def process(self, step_input):
        """
        Skip the correction on MIRISim data, otherwise run jwst's `RefPixStep`.

        Parameters
        ----------
        step_input : str or `~stdatamodels.jwst.datamodels.RampModel`
            File name or input datamodel.

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.RampModel`
            Corrected ramp (flight data), or a copy of the input with
            ``meta.cal_step.refpix = 'SKIPPED'`` (MIRISim data).
        """
        opened_here = isinstance(step_input, (str, os.PathLike))
        # Look at the metadata without copying; copy only once we know what to do.
        model = self.prepare_output(step_input, open_as_ramp=True, make_copy=False)
        if self.data_origin == "auto":
            reasons = mirisim_evidence(model)
        elif self.data_origin == "mirisim":
            reasons = ["data_origin='mirisim' requested"]
        else:
            reasons = []

        if not reasons:
            log.info("Data origin: flight; running the reference pixel correction")
            if opened_here:
                model.close()
            result = super().process(step_input)
            result.meta.cal_step.mirisim_refpix_guard = result.meta.cal_step.refpix
            return result

        log.info(
            "Data origin: MIRISim (%s); reference pixel correction SKIPPED: "
            "MIRISim reference pixels are not simulated like flight ones",
            "; ".join(reasons),
        )
        result = model if opened_here else self.prepare_output(step_input, open_as_ramp=True)
        result.meta.cal_step.refpix = "SKIPPED"
        result.meta.cal_step.mirisim_refpix_guard = "SKIPPED"
        return result
