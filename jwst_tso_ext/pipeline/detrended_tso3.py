"""`DetrendedTso3Pipeline`: calwebb_tso3 with the detrended white light."""

import json
import logging
from pathlib import Path

from astropy.io import fits
from jwst.pipeline import Tso3Pipeline
from stdatamodels.jwst import datamodels

from jwst_tso_ext.pipeline import legacy, stages
from jwst_tso_ext.pipeline.combine import combine_tables, combine_x1dints
from jwst_tso_ext.pipeline.inputs import expand_inputs
from jwst_tso_ext.pipeline.products import existing_drift_table
from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import DetrendedWhiteLightStep, SpectralLightCurvesStep

__all__ = ["DetrendedTso3Pipeline"]

log = logging.getLogger(__name__)

#: Steps of the spectroscopic branch of calwebb_tso3, in the order they run on a cube.
CUBE_STEPS = ("outlier_detection", "adaptive_trace_model", "pixel_replace", "extract_1d")


class DetrendedTso3Pipeline(PackageStepMixin, Tso3Pipeline):
    """calwebb_tso3 with ``white_light`` replaced by `DetrendedWhiteLightStep`, then the spectrum.

    Takes the usual level-3 association of calints segments. The step keeps the name
    ``white_light``, so ``--steps.white_light.<param>=`` configures it, and the
    ``_whtlt.ecsv`` product carries the detrended columns. `SpectralLightCurvesStep`
    (``--steps.spectral_light_curves.<param>=``) runs right after it on the same
    x1dints product, with its orbit.

    For MIRI LRS slitless members (calints or x1dints, ours or official, of any jwst
    version) steps already COMPLETE on a member are not applied again, the drift
    tables of ``wavelength_drift`` (attached to the members, or ``<root>_drift.ecsv``
    beside them) reach the white-light fit, and the x1dints is saved before the fit.
    Other exposure types run exactly as in ``calwebb_tso3``.
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
            The association of calints (or x1dints) segments.

        Raises
        ------
        ValueError
            If the association file cannot be read (jwst's own error does not name it),
            or a MIRI LRS member is not yet calibrated (uncal, rateints).
        """
        members = _lrs_members(input_data)
        if members is not None:
            return self._process_lrs(input_data, members)
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

    def _process_lrs(self, asn_path, members):
        """The spectroscopic branch for MIRI LRS slitless, resuming each member's stage."""
        log.info("Starting detrended_tso3 (MIRI LRS slitless) ...")
        _, product_name = expand_inputs(asn_path)
        self.asn_id = _asn_id(asn_path)
        if self.output_file is None:
            self.output_file = product_name or Path(members[0]).stem
        self.outlier_detection.mode = "tso"
        spectra = []
        drift_tables = []
        for path in members:
            name = str(path)
            with datamodels.open(path) as model:
                cal_steps, assumptions = stages.cal_steps_of(model)
                for assumption in assumptions:
                    log.info("%s: %s", name, assumption)
                kind = stages.product_kind(
                    getattr(model.instance.get("data"), "ndim", None),
                    isinstance(model, (datamodels.MultiSpecModel, datamodels.TSOMultiSpecModel)),
                )
                stage = stages.product_stage(kind, cal_steps)
                log.info("%s is a %s product", name, stage)
                if stage in ("uncal", "rateints"):
                    raise ValueError(
                        f"{name}: a {stage} product; detrended_tso3 is stage 3 and needs "
                        "calints or x1dints members: run lrs_tso on it (or calwebb_spec2)"
                    )
                if stage == "x1dints":
                    _log_applied(name, cal_steps, (*stages.STAGE2_STEPS, "extract_1d"))
                    x1d = legacy.tso_spectra(model, name)
                    x1d = x1d.copy() if x1d is model else x1d
                else:
                    x1d = self._extract(model.copy(), name)
                drift_tables.append(existing_drift_table(model, name, required=False))
            spectra.append(x1d)

        x1d_result = combine_x1dints(spectra)
        x1d_result.meta.target.source_type = None
        drift = combine_tables(drift_tables)
        if drift is not None:
            x1d_result.drift_table = drift.as_array()
            x1d_result.meta.wavelength_drift = dict(drift.meta)  # the static offsets
        # saved before the white-light fit, so that a failure there keeps it
        self.save_model(x1d_result, suffix="x1dints")
        log.info("Performing white-light photometry")
        table = self.white_light.run(x1d_result)
        path = self.make_output_path(suffix="whtlt", ext="ecsv")
        log.info(f"Writing Level 3 photometry catalog {path}")
        table.meta["number_of_integrations"] = len(table)
        table.write(path, format="ascii.ecsv", overwrite=True)
        self.spectral_light_curves.output_file = self.output_file
        self.spectral_light_curves.run(x1d_result, table)
        log.info("... ending detrended_tso3")

    def _extract(self, cube, name):
        """Outlier detection, trace model, pixel replacement and extraction of one cube.

        Each is skipped when ``cube`` records it COMPLETE.
        """
        for step_name in CUBE_STEPS:
            cal_steps, _ = stages.cal_steps_of(cube)
            if stages.is_complete(cal_steps, step_name):
                _log_applied(name, cal_steps, (step_name,))
                continue
            result = getattr(self, step_name).run(cube)
            if step_name == "outlier_detection" and (
                result.meta.cal_step.outlier_detection == "COMPLETE"
            ):
                self.save_model(result, output_file=result.meta.filename, suffix="crfints")
            cube = result
        if cube.meta.cal_step.extract_1d != "COMPLETE":
            raise ValueError(f"{name}: extract_1d did not produce spectra")
        return cube


def _log_applied(name, cal_steps, step_names):
    """One INFO line per step of ``step_names`` recorded COMPLETE."""
    for step_name in stages.completed_steps(cal_steps, step_names):
        log.info(
            "%s: %s already COMPLETE on the input (cal_step.%s): not applied again",
            name,
            step_name,
            stages.cal_step_name(step_name),
        )


def _lrs_members(input_data):
    """Member files of an association whose science members are all MIRI LRS slitless.

    Returns None for anything else (other exposure types, in-memory models,
    unreadable associations), which then go to calwebb_tso3's own code.
    """
    if not isinstance(input_data, (str, Path)) or not str(input_data).endswith(".json"):
        return None
    try:
        members, _ = expand_inputs(input_data)
        exp_types = {fits.getval(str(member), "EXP_TYPE", 0) for member in members}
    except (OSError, ValueError, KeyError):
        return None
    return members if exp_types == {"MIR_LRS-SLITLESS"} else None


def _asn_id(path):
    """The association's ``asn_id`` (names the crfints products), None if absent."""
    return json.loads(Path(path).read_text()).get("asn_id")
