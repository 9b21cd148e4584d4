"""`LrsTsoPipeline`: MIRI LRS slitless TSO from uncal ramps to a detrended white-light curve."""

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from jwst.assign_wcs import assign_wcs_step
from jwst.dark_current import dark_current_step
from jwst.dq_init import dq_init_step
from jwst.emicorr import emicorr_step
from jwst.extract_1d import extract_1d_step
from jwst.firstframe import firstframe_step
from jwst.flatfield import flat_field_step
from jwst.gain_scale import gain_scale_step
from jwst.group_scale import group_scale_step
from jwst.ipc import ipc_step
from jwst.jump import jump_step
from jwst.lastframe import lastframe_step
from jwst.lib.suffix import remove_suffix
from jwst.linearity import linearity_step
from jwst.photom import photom_step
from jwst.ramp_fitting import ramp_fit_step
from jwst.reset import reset_step
from jwst.rscd import rscd_step
from jwst.saturation import saturation_step
from jwst.srctype import srctype_step
from jwst.stpipe import Pipeline
from stdatamodels.jwst import datamodels

from jwst_tso_ext.pipeline import legacy, stages
from jwst_tso_ext.pipeline.combine import combine_tables, combine_x1dints, exposure_root
from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import (
    DetrendedWhiteLightStep,
    MirisimRefpixGuardStep,
    SpectralLightCurvesStep,
    TsoExtract1dStep,
    TsoOutlierDetectionStep,
    TsoVisitFixStep,
    WavelengthDriftStep,
)
from jwst_tso_ext.tso_outlier_detection import products as outlier_products
from jwst_tso_ext.tso_outlier_detection.rolling import SegmentContext

log = logging.getLogger(__name__)

__all__ = ["LrsTsoPipeline", "SegmentResult", "existing_drift_table", "expand_inputs"]

#: Stage-1 steps in the order jwst's Detector1Pipeline runs them for MIRI, with the
#: MIRISim refpix guard in place of refpix.
STAGE1_STEPS = (
    "tsovisit_fix",
    "group_scale",
    "dq_init",
    "emicorr",
    "saturation",
    "ipc",
    "firstframe",
    "lastframe",
    "reset",
    "linearity",
    "rscd",
    "dark_current",
    "mirisim_refpix_guard",
    "jump",
)


def expand_inputs(input_data):
    """List the exposures (segments) named by ``input_data`` and the product name.

    Parameters
    ----------
    input_data : str, Path, list, or datamodel
        One file, a list of files or models, an association file (``.json``) whose
        ``science`` members are the segments, or a datamodel.

    Returns
    -------
    members : list
        Paths (str) or datamodels, in the order given.
    product_name : str or None
        The association's product name, None for other inputs.

    Raises
    ------
    FileNotFoundError
        If a named file does not exist.
    ValueError
        If an association names no science members or cannot be read.
    """
    product_name = None
    if isinstance(input_data, (list, tuple)):
        members = list(input_data)
    elif isinstance(input_data, (str, Path)) and str(input_data).endswith(".json"):
        path = Path(input_data)
        if not path.is_file():
            raise FileNotFoundError(f"association file not found: {path}")
        try:
            asn = json.loads(path.read_text())
            product_name = asn["products"][0].get("name")
            members = [
                str(path.parent / member["expname"])
                for product in asn["products"]
                for member in product["members"]
                if member.get("exptype", "science").lower() == "science"
            ]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a readable association ({error})") from error
        if not members:
            raise ValueError(f"{path}: association has no science members")
    else:
        members = [input_data]
    for member in members:
        if isinstance(member, (str, Path)) and not Path(member).is_file():
            raise FileNotFoundError(f"input file not found: {member}")
    return members, product_name


class LrsTsoPipeline(PackageStepMixin, Pipeline):
    """MIRI LRS slitless TSO: uncal, rateints, calints or x1dints to a detrended white light.

    Runs, one segment at a time: ``tsovisit_fix``, the MIRI detector1 steps with
    ``mirisim_refpix_guard`` in place of ``refpix``, ``ramp_fit``, ``gain_scale``,
    ``assign_wcs``, ``srctype``, ``flat_field``, ``wavelength_drift``, ``photom``,
    ``tso_outlier_detection`` (after the calints are saved) and ``extract_1d``; then
    combines the segments' 1-D products and runs
    ``detrended_white_light`` and ``spectral_light_curves`` (with the white light's
    orbit) on them. Only one segment's data is in memory at a time.
    Each segment starts from the stage it is at: steps recorded COMPLETE in its
    ``meta.cal_step`` are not applied again. Products are saved as they appear.
    """

    class_alias = "lrs_tso"

    spec = """
        save_calibrated_ramp = boolean(default=False)  # Save the stage-1 ramp before ramp fitting (without REFOUT, released after refpix to lower the memory peak)
        save_rateints = boolean(default=True)  # Save the per-integration slopes (_rateints)
        save_calints = boolean(default=True)  # Save the calibrated cubes (_calints)
        extract_with = option('tso_extract_1d', 'extract_1d', default='tso_extract_1d')  # Extraction step: the vectorised tso_extract_1d (same apertures and references, identical fluxes) or jwst's extract_1d
        suffix = string(default='x1dints')  # Suffix of the combined 1-D product
    """  # noqa: E501

    step_defs = {
        "tsovisit_fix": TsoVisitFixStep,
        "group_scale": group_scale_step.GroupScaleStep,
        "dq_init": dq_init_step.DQInitStep,
        "emicorr": emicorr_step.EmiCorrStep,
        "saturation": saturation_step.SaturationStep,
        "ipc": ipc_step.IPCStep,
        "firstframe": firstframe_step.FirstFrameStep,
        "lastframe": lastframe_step.LastFrameStep,
        "reset": reset_step.ResetStep,
        "linearity": linearity_step.LinearityStep,
        "rscd": rscd_step.RscdStep,
        "dark_current": dark_current_step.DarkCurrentStep,
        "mirisim_refpix_guard": MirisimRefpixGuardStep,
        "jump": jump_step.JumpStep,
        "ramp_fit": ramp_fit_step.RampFitStep,
        "gain_scale": gain_scale_step.GainScaleStep,
        "assign_wcs": assign_wcs_step.AssignWcsStep,
        "srctype": srctype_step.SourceTypeStep,
        "flat_field": flat_field_step.FlatFieldStep,
        "wavelength_drift": WavelengthDriftStep,
        "photom": photom_step.PhotomStep,
        "tso_outlier_detection": TsoOutlierDetectionStep,
        "tso_extract_1d": TsoExtract1dStep,
        "extract_1d": extract_1d_step.Extract1dStep,
        "detrended_white_light": DetrendedWhiteLightStep,
        "spectral_light_curves": SpectralLightCurvesStep,
    }

    def process(self, input_data):
        """
        Run the pipeline on one exposure or a list / association of segments.

        Each segment starts from the stage it is at (uncal, rateints, calints or
        x1dints, ours or official) and runs only what is still missing; steps recorded
        COMPLETE in its ``meta.cal_step`` are not applied again.

        Parameters
        ----------
        input_data : str, list, or datamodel
            Uncal ramps, rateints, calints or x1dints, one file per segment, or an
            association of them.

        Returns
        -------
        `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
            The combined x1dints product (one spectrum row per integration).

        Raises
        ------
        Exception
            Whatever a step raised; its message is followed by a note naming the
            step that failed and the products already written (also logged).
        """
        log.info("Starting lrs_tso ...")
        members, product_name = expand_inputs(input_data)
        root = product_name or exposure_root(_describe(members[0]))
        if self.output_file is None:
            # stpipe saves the returned product as <output_file>_x1dints.fits
            self.output_file = root
        # products are saved as they appear, but never over a file this run reads
        self._inputs = _input_files(members)
        written = []
        # the end of each segment is the outlier context of the next (this exposure only)
        self.tso_outlier_detection.context = SegmentContext()
        try:
            with tempfile.TemporaryDirectory(prefix="lrs_tso_") as scratch:
                combined = self._process_segments(members, root, Path(scratch), written)
                self.detrended_white_light.output_file = root
                white_light = self._run_step("detrended_white_light", combined)
                self.spectral_light_curves.output_file = root
                self._run_step("spectral_light_curves", combined, extra=(white_light,))
        except Exception as error:
            _report_failure(error, written)
            raise
        finally:
            self.tso_outlier_detection.context = None
        log.info("... ending lrs_tso")
        return combined

    def _process_segments(self, members, root, scratch_dir, written):
        """Every segment to its x1dints, combined; the exposure products saved at once."""
        x1d_products = []
        drift_tables = []
        drift_reference = None
        for index, member in enumerate(members, start=1):
            log.info("Segment %d of %d: %s", index, len(members), _describe(member))
            started = time.monotonic()
            segment = self.process_segment(
                member,
                root=root,
                scratch_dir=scratch_dir,
                drift_reference=drift_reference,
                save_x1dints=len(members) > 1,
            )
            log.info("segment %d/%d: stages 1 and 2 done in %.0f s", index, len(members),
                     time.monotonic() - started)
            written.extend(segment.written)
            drift_reference = drift_reference or segment.drift_reference
            if drift_reference is None and segment.drift_reused:
                # later segments that still need wavelength_drift must share the zero
                # point of the run that corrected this one
                drift_reference = self._earlier_drift_reference(member, root)
            x1d = segment.x1dints
            if index < len(members):
                # keep finished segments on disk until they are combined: their tables
                # (every integration x every wavelength) would otherwise stay in memory
                # while the next segments' ramps are processed
                x1d = segment.x1dints_path or _spill(x1d, scratch_dir / f"segment{index:03d}.fits")
                segment.x1dints.close()
            x1d_products.append(x1d)
            drift_tables.append(segment.drift_table)
        segments = [datamodels.open(x1d) if isinstance(x1d, str) else x1d for x1d in x1d_products]
        combined = combine_x1dints(segments)
        for segment in segments:
            segment.close()
        combined.meta.filename = f"{root}_x1dints.fits"
        drift = combine_tables(drift_tables)
        outlier_products.log_summary(drift)
        if drift is not None:
            # attached like wavelength_drift attaches it, for detrended_white_light
            combined.drift_table = drift.as_array()
            combined.meta.wavelength_drift = dict(drift.meta)  # the static offsets
            # recorded, so that the x1dints given back to lrs_tso says so
            combined.meta.cal_step.wavelength_drift = "COMPLETE"
        # saved before the white-light fit reads them, so that a failure there keeps them
        # (stpipe saves the returned x1dints again at the end, with its final metadata)
        if self.save_results:
            self._record(self.save_model(combined, suffix="x1dints"), written)
            if drift is not None:
                drift_path = self.make_output_path(basepath=root, suffix="drift", ext="ecsv")
                self._write_table(drift, drift_path, written, "combined drift table")
        return combined

    def _earlier_drift_reference(self, member, root):
        """``<root>_driftref.fits`` of the run that corrected a segment's drift, or None.

        Looked for beside the segment's file, then in ``output_dir``.
        """
        directories = [Path(self.output_dir or ".")]
        if isinstance(member, (str, Path)):
            directories.insert(0, Path(member).parent)
        for directory in directories:
            path = directory / f"{root}_driftref.fits"
            if path.is_file():
                log.info(
                    "Segments still to be drift-corrected are measured against %s, the "
                    "reference of the run that corrected the earlier segments",
                    path,
                )
                return str(path)
        if str(self.wavelength_drift.reference).lower() == "median":
            log.warning(
                "%s_driftref.fits not found: a later segment that still needs "
                "wavelength_drift is measured against its own median frame, so its drift "
                "zero point may differ from the earlier segments'",
                root,
            )
        return None

    def process_segment(self, member, root, scratch_dir, drift_reference=None, save_x1dints=True):
        """
        Take one segment from the stage it is at to its x1dints and drift table.

        Steps already COMPLETE on the segment are not applied again (one INFO line
        each). Each product is saved as soon as it exists (when ``save_results`` is
        set), before the steps that consume it: rateints, drift table, calints, then
        x1dints. Depends on nothing but its arguments and the steps' parameters (and,
        for saving, on the list of the run's input files that `process` records, so
        that no product is written over one of them).

        Parameters
        ----------
        member : str or datamodel
            The segment: uncal, rateints, calints or x1dints (file or model; a model
            is copied, never changed).
        root : str
            Exposure root name (names the shared drift reference frame).
        scratch_dir : pathlib.Path
            Directory for the drift reference frame when results are not saved.
        drift_reference : str or None
            Reference frame (FITS image) that ``wavelength_drift`` measures against,
            from an earlier segment of the exposure; None: the step's own ``reference``.
        save_x1dints : bool
            Save the segment's x1dints (when ``save_results`` is set).

        Returns
        -------
        SegmentResult
            The x1dints model, drift table, drift reference written and products saved.
        """
        name = _describe(member)
        written = []
        try:
            with _open(member) as model:
                _check_lrs_time_series(model, name)
                cal_steps, assumptions = stages.cal_steps_of(model)
                for assumption in assumptions:
                    log.info("%s: %s", name, assumption)
                stage = stages.product_stage(_product_kind(model), cal_steps)
                log.info("%s is a %s product", name, stage)
                if stage == "x1dints":
                    return _x1dints_segment(model, name)
                if stage == "uncal":
                    cube = self._stage1(model, written)
                else:
                    log.info("%s holds slopes per integration: stage 1 is skipped", name)
                    cube = self._run_step("tsovisit_fix", model)
            # closing does not free the ramp's arrays while a name still refers to them:
            # drop it so stage 2 runs with one segment's slopes only
            del model
            return self._stage2(
                cube,
                name=name,
                root=root,
                scratch_dir=scratch_dir,
                drift_reference=drift_reference,
                save_x1dints=save_x1dints,
                written=written,
            )
        except Exception as error:
            _record_written(error, written)
            raise

    def _run_step(self, step_name, model, name=None, extra=()):
        """Run sub-step ``step_name`` on ``model`` unless the model records it COMPLETE.

        A failure is marked with the step's name, for the error report.
        """
        if name is not None and self._already_applied(model, step_name, name):
            return model
        try:
            return getattr(self, step_name).run(model, *extra)
        except Exception as error:
            if not hasattr(error, "lrs_tso_step"):
                error.lrs_tso_step = step_name
            raise

    @staticmethod
    def _already_applied(model, step_name, name):
        """Whether ``model`` records ``step_name`` COMPLETE (said once, at INFO)."""
        cal_steps, _ = stages.cal_steps_of(model)
        if not stages.is_complete(cal_steps, step_name):
            return False
        log.info(
            "%s: %s already COMPLETE on the input (cal_step.%s): not applied again",
            name,
            step_name,
            stages.cal_step_name(step_name),
        )
        return True

    def _stage1(self, ramp, written=None):
        """Detector-level calibration of one segment: ramps to slopes per integration."""
        name = _describe(ramp)
        model = ramp
        for step_name in STAGE1_STEPS:
            model = self._run_step(step_name, model, name)
            if step_name == "mirisim_refpix_guard" and model.hasattr("refout"):
                # only refpix reads the reference output (a quarter of the ramp's
                # size): release it before jump, the memory peak of stage 1
                del model.refout
                log.info("REFOUT released after refpix (no later step reads it)")
        if self.save_calibrated_ramp:
            self._save_segment_product(model, "ramp", written)
        if self.ramp_fit.skip:
            raise ValueError("ramp_fit is skipped: lrs_tso needs slopes per integration")
        _, ints_model = self._run_step("ramp_fit", model)
        model.close()
        if ints_model is None:
            raise ValueError("ramp_fit produced no per-integration slopes (nints must be > 1)")
        self.gain_scale.suffix = "gain_scaleints"
        ints_model = self._run_step("gain_scale", ints_model)
        if self.save_rateints:
            self._save_segment_product(ints_model, "rateints", written)
        return ints_model

    def _stage2(
        self, cube, name, root, scratch_dir, drift_reference=None, save_x1dints=True, written=None
    ):
        """Spectroscopic calibration and extraction of one segment, resuming where it stopped.

        Returns a `SegmentResult`: the segment's x1dints and the drift table of
        ``wavelength_drift`` (run here, or attached to / saved beside the input when
        already applied; None when the step is skipped).
        """
        written = [] if written is None else written
        cal_steps, _ = stages.cal_steps_of(cube)
        stages.check_wcs_for_resume(cal_steps, cube.meta.wcs is not None, name)
        if cube.meta.wcs is None and stages.is_complete(cal_steps, "assign_wcs"):
            log.info("%s: assign_wcs recorded COMPLETE but no WCS stored: assigned again", name)
            calibrated = self._run_step("assign_wcs", cube)
        else:
            calibrated = self._run_step("assign_wcs", cube, name)
        if calibrated.meta.cal_step.assign_wcs != "COMPLETE":
            raise ValueError("assign_wcs did not complete: cannot calibrate wavelengths")
        calibrated = self._run_step("srctype", calibrated, name)
        calibrated = self._run_step("flat_field", calibrated, name)
        calibrated, drift_table, reference, reused = self._wavelength_drift(
            calibrated, name, root, scratch_dir, drift_reference, written
        )
        calibrated = self._run_step("photom", calibrated, name)
        if self.save_calints:
            self._save_segment_product(calibrated, "calints", written)
        self.tso_outlier_detection.output_file = calibrated.meta.filename  # <segment>_crfints
        calibrated = self._run_step("tso_outlier_detection", calibrated, name)
        drift_table = outlier_products.add_outlier_counts(drift_table, calibrated)
        extraction = getattr(self, self.extract_with)
        extraction.save_results = False
        x1d = self._run_step(self.extract_with, calibrated)
        calibrated.close()
        if x1d is None or x1d.meta.cal_step.extract_1d != "COMPLETE":
            raise ValueError("extract_1d did not produce spectra for this segment")
        if calibrated.meta.cal_step.tso_outlier_detection == "COMPLETE":
            outlier_products.flag_incomplete_bins(x1d)
        if drift_table is not None:
            x1d.drift_table = drift_table.as_array()
        x1d_path = None
        if save_x1dints:
            x1d_path = self._save_segment_product(x1d, "x1dints", written)
        return SegmentResult(x1d, drift_table, reference, written, x1d_path, reused)

    def _wavelength_drift(self, calibrated, name, root, scratch_dir, drift_reference, written):
        """Run ``wavelength_drift`` (or reuse its table) and save the table at once.

        Returns the calibrated model, the drift table, the path of the reference
        frame written for later segments (None if none was written), and whether the
        drift had been corrected before this run.
        """
        if self._already_applied(calibrated, "wavelength_drift", name):
            return calibrated, existing_drift_table(calibrated, name), None, True
        configured = self.wavelength_drift.reference
        user_choice = str(configured).lower() != "median"
        if drift_reference is not None and not user_choice:
            self.wavelength_drift.reference = drift_reference
        try:
            calibrated = self._run_step("wavelength_drift", calibrated)
        finally:
            self.wavelength_drift.reference = configured
        drift_table = _attached_drift_table(calibrated)
        if drift_table is not None and self.save_results:
            path = self.make_output_path(
                basepath=calibrated.meta.filename, suffix="drift", ext="ecsv"
            )
            self._write_table(drift_table, path, written, "segment's drift table")
        reference = self._keep_drift_reference(
            calibrated, root, scratch_dir, share=drift_reference is None and not user_choice
        )
        if reference is not None and self.save_results:
            written.append(reference)
        return calibrated, drift_table, reference, False

    def _keep_drift_reference(self, calibrated, root, scratch_dir, share):
        """Write this segment's drift reference frame for the later segments to share.

        The frame is written as ``<root>_driftref.fits`` (in ``scratch_dir`` when results
        are not saved), so all segments of the exposure share one zero point; it is
        removed from the model either way (not part of the calints product).

        Returns
        -------
        str or None
            The path written, None when ``share`` is False or there is no frame.
        """
        frame = getattr(calibrated, "drift_reference", None)
        error = getattr(calibrated, "drift_reference_err", None)
        if frame is not None:
            for attribute in ("drift_reference", "drift_reference_err"):
                delattr(calibrated, attribute)
        if frame is None or not share:
            return None
        image = datamodels.ImageModel(data=np.asarray(frame))
        image.err = np.asarray(error)
        image.update(calibrated, only="PRIMARY")
        directory = Path(self.output_dir or ".") if self.save_results else Path(scratch_dir)
        path = directory / f"{root}_driftref.fits"
        image.save(path)
        log.info("Later segments measure drift against the reference in %s", path)
        return str(path)

    def _save_segment_product(self, model, suffix, written=None):
        """Save a per-segment product named after its own exposure, if saving results.

        Returns the path written (None when results are not saved, or when the path is
        an input of this run) and appends it to ``written`` when given.
        """
        if not self.save_results:
            return None
        path = self.save_model(model, suffix=suffix, output_file=model.meta.filename)
        return self._record(path, written)

    def _write_table(self, table, path, written, what):
        """Write an ECSV table product unless ``path`` is an input of this run."""
        if self._is_input(path):
            return
        table.write(path, format="ascii.ecsv", overwrite=True)
        log.info("Saved %s in %s", what, path)
        self._record(path, written)

    @staticmethod
    def _record(path, written):
        if path is not None and written is not None:
            written.append(str(path))
        return path

    def _is_input(self, path):
        """Whether ``path`` is a file this run reads (said at INFO when it is)."""
        if Path(path).resolve() not in getattr(self, "_inputs", set()):
            return False
        log.info("Not writing %s: it is an input of this run, kept unchanged", path)
        return True

    def save_model(self, model, suffix=None, idx=None, output_file=None, force=False, **components):
        """
        Save ``model`` as stpipe does, unless that would overwrite an input of this run.

        A calints or x1dints given as input comes out under its own name when the
        output directory is its directory; the input file is left as it is.

        Parameters
        ----------
        model : `~stdatamodels.jwst.datamodels.JwstDataModel`
            The product.
        suffix, idx, output_file, force, **components
            As in `stpipe.Step.save_model`.

        Returns
        -------
        str or None
            The path written, None when nothing was written.
        """
        if output_file is None or output_file == "":
            output_file = self.output_file
        if isinstance(model, datamodels.JwstDataModel) and (force or self.save_results):
            basepath = output_file
            if self.output_use_model or (output_file is None and not self.search_output_file):
                basepath, idx = model.meta.filename, None
            target = self.make_output_path(basepath=basepath, suffix=suffix, idx=idx, **components)
            if self._is_input(target):
                return None
        return super().save_model(
            model, suffix=suffix, idx=idx, output_file=output_file, force=force, **components
        )


@dataclass
class SegmentResult:
    """What `LrsTsoPipeline.process_segment` hands back for one segment.

    Attributes
    ----------
    x1dints : `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        The segment's spectra (with its drift table attached when there is one).
    drift_table : `~astropy.table.Table` or None
        The segment's drift table.
    drift_reference : str or None
        Path of the drift reference frame this segment wrote for the later ones.
    written : list of str
        Products saved while processing the segment, in order.
    x1dints_path : str or None
        Where the x1dints was saved, if it was.
    drift_reused : bool
        The segment's drift had been corrected before this run (its table reused).
    """

    x1dints: object
    drift_table: Table | None = None
    drift_reference: str | None = None
    written: list = field(default_factory=list)
    x1dints_path: str | None = None
    drift_reused: bool = False


def _input_files(members):
    """Resolved paths of the files a run reads: the members and their drift tables."""
    paths = set()
    for member in members:
        if isinstance(member, (str, Path)):
            path = Path(member)
            paths.add(path.resolve())
            segment_root, _ = remove_suffix(path.stem)
            for root in (segment_root, exposure_root(path.name)):
                table = path.parent / f"{root}_drift.ecsv"
                if table.is_file():
                    paths.add(table.resolve())
    return paths


def _spill(x1d, path):
    """Save a finished segment's x1dints to a scratch file; returns the path."""
    x1d.save(path)
    return str(path)


def _record_written(error, written):
    """Attach the products a failing segment had written to its error."""
    previous = getattr(error, "lrs_tso_written", [])
    error.lrs_tso_written = list(previous) + [p for p in written if p not in previous]


def _report_failure(error, written):
    """Log, and add to the error as a note, the failing step and the products on disk."""
    step = getattr(error, "lrs_tso_step", None) or "lrs_tso"
    products = list(dict.fromkeys([*written, *getattr(error, "lrs_tso_written", [])]))
    message = (
        f"lrs_tso stopped: step {step} failed ({type(error).__name__}: {error}). "
        f"Products already written: {', '.join(map(str, products)) or 'none'}"
    )
    log.error(message)
    error.add_note(message)


def _product_kind(model):
    """``"ramp"``, ``"cube"`` or ``"spectra"`` (see `stages.product_kind`)."""
    if isinstance(model, (datamodels.MultiSpecModel, datamodels.TSOMultiSpecModel)):
        return stages.product_kind(has_spectra=True)
    data = model.instance.get("data")
    return stages.product_kind(getattr(data, "ndim", None))


def _x1dints_segment(model, name):
    """An x1dints segment: its spectra (a copy, in today's layout) and drift table."""
    cal_steps, _ = stages.cal_steps_of(model)
    for step_name in (*stages.STAGE2_STEPS, "extract_1d"):
        if stages.is_complete(cal_steps, step_name):
            log.info(
                "%s: %s already COMPLETE on the input (cal_step.%s): not applied again",
                name,
                step_name,
                step_name,
            )
    log.info("%s holds extracted spectra: stages 1 and 2 are skipped", name)
    x1d = legacy.tso_spectra(model, name)
    x1d = x1d.copy() if x1d is model else x1d
    table = existing_drift_table(model, name, required=False)
    if table is not None:
        x1d.drift_table = table.as_array()
    return SegmentResult(x1d, table, drift_reused=True)


def existing_drift_table(model, name, required=True):
    """The drift table of an earlier ``wavelength_drift`` run on a product.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        A calints or x1dints product.
    name : str
        Its path (where ``<root>_drift.ecsv`` is looked for) or name, for the log.
    required : bool, optional
        Warn when no table is found (the product records wavelength_drift COMPLETE).

    Returns
    -------
    `~astropy.table.Table` or None
        The table attached to the product; else ``<root>_drift.ecsv`` beside it (the
        segment's own root, then the exposure's), restricted to the product's
        integrations (``INTSTART..INTEND``); None when there is none.
    """
    table = _attached_drift_table(model)
    if table is not None:
        log.info("%s: reusing the drift table attached to the input", name)
        return table
    for path in _drift_table_candidates(model, name):
        if path.is_file():
            table = Table.read(path, format="ascii.ecsv")
            start, end = _integration_range(model)
            if start is not None:
                keep = (table["int_num"] >= start) & (table["int_num"] <= end)
                table = table[keep]
            if len(table):
                log.info("%s: reusing the drift table %s", name, path)
                return table
    if required:
        log.warning(
            "%s: wavelength_drift is COMPLETE but its drift table is neither attached nor "
            "saved beside the input as <root>_drift.ecsv: no drift regressors for this "
            "segment",
            name,
        )
    return None


def _drift_table_candidates(model, name):
    """``<root>_drift.ecsv`` paths beside the product: its own root, then the exposure's."""
    path = Path(name)
    if not path.suffix:
        filename = model.meta.filename
        if not filename:
            return []
        path = Path(filename)
    segment_root, _ = remove_suffix(path.stem)
    roots = [segment_root, exposure_root(path.name)]
    return [path.parent / f"{r}_drift.ecsv" for r in dict.fromkeys(roots)]


def _integration_range(model):
    """INTSTART..INTEND of a product, (None, None) when not recorded."""
    start = model.meta.exposure.integration_start
    end = model.meta.exposure.integration_end
    if start is None or end is None:
        return None, None
    return int(start), int(end)


def _check_lrs_time_series(model, name):
    """Refuse anything but a MIRI LRS slitless time series before hours of processing."""
    instrument = model.meta.instrument.name
    exp_type = model.meta.exposure.type
    nints = model.meta.exposure.nints or _integrations_held(model)
    if instrument != "MIRI" or exp_type != "MIR_LRS-SLITLESS" or nints < 2:
        raise ValueError(
            f"{name}: lrs_tso handles MIRI LRS slitless time series (MIR_LRS-SLITLESS, "
            f"NINTS > 1); got {instrument} {exp_type}, NINTS={nints}"
        )


def _integrations_held(model):
    """Integrations in the product's data (1 when it is not a time series)."""
    kind = _product_kind(model)
    if kind == "spectra":
        return legacy.spectra_count(model)
    if kind in ("ramp", "cube"):
        return model.data.shape[0]
    return 1


def _attached_drift_table(model):
    """The drift table ``wavelength_drift`` attached to ``model``, as an astropy Table.

    Its ``meta`` gets ``meta.wavelength_drift`` (static offsets, their error and
    provenance), which the structured array cannot carry, for the spectra's metadata.
    """
    table = getattr(model, "drift_table", None)
    if table is None:
        return None
    table = Table(np.asarray(table))
    table.meta.update(dict(model.meta.instance.get("wavelength_drift") or {}))
    return table


def _describe(member):
    if isinstance(member, (str, Path)):
        return str(member)
    return getattr(member.meta, "filename", None) or type(member).__name__


def _segment_model_class(path):
    """The datamodel class to open a segment file with, from its SCI dimensions.

    Opening with the class itself, as ``calwebb_detector1`` does, rather than with
    ``datamodels.open``: a model made by ``datamodels.open`` keeps the file's HDU
    arrays alive, so the first step that replaces ``data`` (``dark_current``) leaves
    a second ramp-sized array in memory for the rest of the segment.
    """
    try:
        naxis = fits.getheader(str(path), "SCI").get("NAXIS")
    except (KeyError, OSError):
        naxis = None
    return {4: datamodels.RampModel, 3: datamodels.CubeModel}.get(naxis, datamodels.open)


class _open:
    """Context manager opening a path as a datamodel, or copying a given datamodel."""

    def __init__(self, member):
        self.member = member
        self.model = None

    def __enter__(self):
        if isinstance(self.member, (str, Path)):
            try:
                self.model = _segment_model_class(self.member)(str(self.member))
            except Exception as error:  # noqa: BLE001 - report any reader failure plainly
                raise ValueError(
                    f"{self.member}: cannot be read as a JWST product ({error})"
                ) from error
            return self.model
        # a model handed in by the caller: work on a copy (stage 1 modifies its input)
        self.model = self.member.copy()
        return self.model

    def __exit__(self, *exc):
        if self.model is not None:
            self.model.close()
        return False
