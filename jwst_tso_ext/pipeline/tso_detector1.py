"""`TsoDetector1Pipeline`: calwebb_detector1 with time-series repairs and a MIRISim refpix guard."""

import logging
import warnings

from jwst.pipeline import Detector1Pipeline
from stdatamodels.jwst.datamodels import JwstDataModel

from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import MirisimRefpixGuardStep, TsoVisitFixStep

__all__ = ["TsoDetector1Pipeline"]

log = logging.getLogger(__name__)


def _history_texts(model):
    """Descriptions of the history entries of ``model``."""
    with warnings.catch_warnings():
        # Reading ``history`` warns of a future deprecation; there is no other reader yet.
        warnings.simplefilter("ignore", UserWarning)
        return [str(entry.get("description", "")) for entry in model.history]


class TsoDetector1Pipeline(PackageStepMixin, Detector1Pipeline):
    """
    Detector1Pipeline for time series: ``tsovisit_fix`` first, ``refpix`` guarded.

    Identical to ``calwebb_detector1`` except that `TsoVisitFixStep` repairs the
    time-series metadata before any other step, and the ``refpix`` slot holds
    `MirisimRefpixGuardStep` (skips refpix on MIRISim data, runs jwst's refpix
    otherwise; it accepts every refpix parameter as ``--steps.refpix.<name>``).
    """

    class_alias = "tso_detector1"

    spec = """
    """  # noqa: E501

    step_defs = {
        "tsovisit_fix": TsoVisitFixStep,
        **Detector1Pipeline.step_defs,
        "refpix": MirisimRefpixGuardStep,
    }

    def process(self, input_data):
        """
        Repair the time-series metadata, then run the Detector1 steps.

        Parameters
        ----------
        input_data : str or `~stdatamodels.jwst.datamodels.RampModel`
            The input ramp (``_uncal``).

        Returns
        -------
        `~stdatamodels.jwst.datamodels.JwstDataModel`
            The calibrated data model (as from ``calwebb_detector1``).
        """
        log.info("Starting tso_detector1 ...")
        model = self.prepare_output(input_data, open_as_ramp=True)
        model = self.tsovisit_fix.run(model)
        # ramp_fit builds new models without our cal_step entry or history: keep them
        # to copy onto every product (`save_model`, and the returned result).
        self._fix_records = (
            getattr(model.meta.cal_step, "tsovisit_fix", None),
            [text for text in _history_texts(model) if text.startswith("tsovisit_fix:")],
        )
        # ``model`` is already a private copy: stop Detector1Pipeline.process copying it again.
        self._private_input = model
        try:
            result = super().process(model)
        finally:
            self._private_input = None
        self._carry_fix_records(result)
        return result

    def _carry_fix_records(self, product):
        """Copy ``cal_step.tsovisit_fix`` and its history entries onto ``product``."""
        status, entries = getattr(self, "_fix_records", (None, []))
        if not isinstance(product, JwstDataModel) or status is None:
            return
        product.meta.cal_step.tsovisit_fix = status
        present = set(_history_texts(product))
        for text in entries:
            if text not in present:
                product.add_history_entry(text)

    def save_model(self, model, *args, **kwargs):
        """
        Save ``model`` as the base class does, after copying the tsovisit_fix records onto it.

        Parameters
        ----------
        model : `~stdatamodels.jwst.datamodels.JwstDataModel`
            The product to save (e.g. the ``rateints`` model built by ramp_fit).
        *args, **kwargs
            Passed to `~stpipe.Step.save_model`.

        Returns
        -------
        str
            The output path, as from the base class.
        """
        self._carry_fix_records(model)
        return super().save_model(model, *args, **kwargs)

    def prepare_output(self, init, make_copy=None, **kwargs):
        """
        Open or copy the input as the base class does, but never re-copy our own copy.

        Parameters
        ----------
        init : str or `~stdatamodels.jwst.datamodels.JwstDataModel`
            Input data.
        make_copy : bool or None, optional
            As in the base class; forced to False for the model made in `process`.
        **kwargs
            Passed to the base class.

        Returns
        -------
        `~stdatamodels.jwst.datamodels.JwstDataModel`
            The opened (or copied) model.
        """
        if init is not None and init is getattr(self, "_private_input", None):
            make_copy = False
        return super().prepare_output(init, make_copy=make_copy, **kwargs)
