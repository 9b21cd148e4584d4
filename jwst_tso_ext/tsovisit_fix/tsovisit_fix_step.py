"""Repair the time-series metadata of JWST exposures (TSOVISIT, INT_TIMES, MIRISim timing)."""

import logging

from jwst.stpipe import Step

from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.tsovisit_fix import fixes

__all__ = ["TsoVisitFixStep"]

log = logging.getLogger(__name__)


class TsoVisitFixStep(PackageStepMixin, Step):
    """Make a multi-integration exposure a well-formed time series."""

    class_alias = "tsovisit_fix"

    spec = """
        tsovisit = option('auto', 'force', 'off', default='auto') # auto: set TSOVISIT=T on TSO-capable time series lacking it (or F on MIRISim data); force: whenever not T
        fastr1_timing = option('auto', 'on', 'off', default='auto') # auto: MIRISim FAST -> FASTR1 timing on time series; on: any MIRI FAST exposure
        wcsaxes = option('auto', 'on', 'off', default='auto') # auto: WCSAXES 3 -> 2 on MIRISim P750L data; on: any P750L data
        data_origin = option('auto', 'mirisim', 'flight', default='auto') # auto: decide MIRISim vs flight from the header
    """  # noqa: E501

    reference_file_types = []


    def process(self, step_input):
        """
        Repair TSOVISIT, INT_TIMES, MIRISim FASTR1 timing and WCSAXES where needed.

        Parameters
        ----------
        step_input : str or `~stdatamodels.jwst.datamodels.JwstDataModel`
            File name or datamodel (ramp, rateints, calints ...).

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.JwstDataModel`
            A copy of the input (the input itself is never changed) with the repairs.
            ``meta.cal_step.tsovisit_fix`` is COMPLETE if anything was changed (or
            had been by an earlier run), SKIPPED otherwise; each change is logged and
            added as a history entry.
        """
        result = self.prepare_output(step_input)
        changes = fixes.fix_model(
            result,
            tsovisit=self.tsovisit,
            fastr1_timing=self.fastr1_timing,
            wcsaxes=self.wcsaxes,
            data_origin=self.data_origin,
        )
        for change in changes:
            log.info("Changed %s", change)
            result.add_history_entry(f"tsovisit_fix: {change}")

        if changes:
            result.meta.cal_step.tsovisit_fix = "COMPLETE"
        elif getattr(result.meta.cal_step, "tsovisit_fix", None) == "COMPLETE":
            log.info("Nothing to change: already repaired by an earlier run")
        else:
            log.info("Nothing to change: time-series metadata already valid")
            result.meta.cal_step.tsovisit_fix = "SKIPPED"
        return result
