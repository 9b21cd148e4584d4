"""`LrsTsoPipeline`: MIRI LRS slitless TSO from uncal ramps to a detrended white-light curve.

The pipeline class holds the parameters, the sub-steps and the bodies of a segment's
phases. When each phase runs is decided in `jwst_tso_ext.pipeline.scheduler`; inputs
are read with `jwst_tso_ext.pipeline.inputs` and products written with
`jwst_tso_ext.pipeline.products` (docs: architecture).
"""

import logging
import tempfile
from pathlib import Path

import numpy as np
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
from jwst.linearity import linearity_step
from jwst.photom import photom_step
from jwst.ramp_fitting import ramp_fit_step
from jwst.resample.resample_utils import build_mask
from jwst.reset import reset_step
from jwst.rscd import rscd_step
from jwst.saturation import saturation_step
from jwst.srctype import srctype_step
from jwst.stpipe import Pipeline
from stdatamodels.jwst import datamodels

from jwst_tso_ext.crds_cache import synthetic
from jwst_tso_ext.pipeline import executor as executor_module
from jwst_tso_ext.pipeline import stages
from jwst_tso_ext.pipeline.combine import combine_tables, combine_x1dints, exposure_root
from jwst_tso_ext.pipeline.inputs import (
    check_lrs_time_series,
    describe,
    expand_inputs,
    input_files,
    open_segment,
    product_kind,
    x1dints_segment,
)
from jwst_tso_ext.pipeline.products import (
    atomic_save,
    atomic_write,
    attached_drift_table,
    drift_reference_name,
    existing_drift_table,
    record_written,
    remove_scratch,
    report_failure,
    save_scratch,
)
from jwst_tso_ext.pipeline.scheduler import (
    Phase,
    PhaseResult,
    SegmentPhases,
    SegmentResult,
    run_segments,
)
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
from jwst_tso_ext.tso_outlier_detection import rolling

log = logging.getLogger(__name__)

__all__ = ["LrsTsoPipeline", "SegmentResult"]

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
        scheduler = string(default=None)  # Where segments run: None, one after another in this process; 'local:N', a dask LocalCluster of N single-threaded worker processes on this machine; 'tcp://host:port' or a scheduler file, an existing dask.distributed cluster (pip install jwst-tso-ext[dask])
        scratch_dir = string(default=None)  # Directory for the cubes passed between a segment's phases (removed at the end); None: the system's temporary directory, or output_dir for an existing cluster (its workers must see it)
        segment_retries = integer(min=0, default=1)  # 'local:N': times a segment phase is run again when its worker dies (an existing scheduler keeps its distributed.scheduler.allowed-failures)
        dashboard = boolean(default=False)  # 'local:N': serve the dask dashboard on 127.0.0.1:8787
    """  # noqa: E501

    #: Called on the client with each segment's `SegmentResult` as the segments finish,
    #: in order (the command line's progress bar); not a parameter.
    segment_done = None

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
        COMPLETE in its ``meta.cal_step`` are not applied again. The segments run one
        after another in this process (``scheduler=None``) or as tasks of a Dask
        cluster (see `~jwst_tso_ext.pipeline.executor`); both run the same phases
        (`_phase_a`, `_phase_reference`, `_phase_b`, `_phase_c`, scheduled by
        `~jwst_tso_ext.pipeline.scheduler.run_segments`) and give the same products.

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
            step (and segment) that failed and the products already written (also
            logged).
        """
        log.info("Starting lrs_tso ...")
        members, product_name = expand_inputs(input_data)
        root = product_name or exposure_root(describe(members[0]))
        if self.output_file is None:
            # stpipe saves the returned product as <output_file>_x1dints.fits
            self.output_file = root
        # products are saved as they appear, but never over a file this run reads
        self._inputs = input_files(members)
        self._keep_extraction_unsaved()
        written = []
        try:
            scheduler = executor_module.parse_scheduler(self.scheduler)
            with (
                self._scratch_directory(scheduler.kind) as scratch,
                executor_module.open_executor(
                    scheduler,
                    dashboard=self.dashboard,
                    allowed_failures=self.segment_retries,
                ) as executor,
            ):
                combined = self._process_segments(members, root, Path(scratch), written, executor)
            synthetic.warn_if_synthetic(combined, members[0])
            # the fits run here, in this process: the cluster (if any) is closed first
            self.detrended_white_light.output_file = root
            white_light = self._run_step("detrended_white_light", combined)
            self.spectral_light_curves.output_file = root
            self._run_step("spectral_light_curves", combined, extra=(white_light,))
        except Exception as error:
            report_failure(error, written)
            raise
        log.info("... ending lrs_tso")
        return combined

    def _keep_extraction_unsaved(self):
        """The extraction step does not save: each segment's x1dints is saved by lrs_tso.

        Said at WARNING when the user asked the extraction step to save its output.
        """
        extraction = getattr(self, self.extract_with)
        if extraction.save_results or extraction.output_file:
            log.warning(
                "steps.%s.save_results / output_file not used: lrs_tso saves each segment's "
                "x1dints itself (with its drift table and flags) when save_results is set",
                self.extract_with,
            )
            extraction.save_results = False
            extraction.output_file = None

    def _scratch_directory(self, kind):
        """Temporary directory for the cubes passed between phases (removed at the end).

        In ``scratch_dir`` when set; else in the system's temporary directory, or, for
        an existing cluster (whose workers may run on other machines), in
        ``output_dir``.
        """
        if self.scratch_dir:
            parent = Path(self.scratch_dir)
            if not parent.is_dir():
                raise ValueError(f"scratch_dir {parent} is not an existing directory")
        elif kind in ("address", "scheduler_file"):
            parent = Path(self.output_dir or ".")
        else:
            parent = None
        return tempfile.TemporaryDirectory(prefix=".lrs_tso_scratch_", dir=parent)

    def _process_segments(self, members, root, scratch_dir, written, executor=None):
        """Every segment to its x1dints, combined; the exposure products saved at once.

        The phases of the segments (`~jwst_tso_ext.pipeline.scheduler.Phase`: A, the
        shared drift reference, B, C) run on ``executor`` in the order
        `~jwst_tso_ext.pipeline.scheduler.run_segments` gives them; serially, one
        segment after another.
        """
        executor = executor or executor_module.SerialExecutor()
        phases = _SegmentPhases(self, members, root, str(scratch_dir), written)
        drift = self.wavelength_drift
        shared = str(drift.reference).lower() == "median" and not drift.skip
        results = run_segments(executor, len(members), phases, shared_reference=shared)
        segments = [datamodels.open(segment.x1dints_path) for segment in results]
        combined = combine_x1dints(segments)
        for segment in segments:
            segment.close()
        combined.meta.filename = f"{root}_x1dints.fits"
        drift = combine_tables([segment.drift_table for segment in results])
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
            path = directory / drift_reference_name(root)
            if path.is_file():
                log.info(
                    "Segments still to be drift-corrected are measured against %s, the "
                    "reference of the run that corrected the earlier segments",
                    path,
                )
                return str(path)
        log.warning(
            "%s not found: a later segment that still needs wavelength_drift is measured "
            "against its own median frame, so its drift zero point may differ from the "
            "earlier segments'",
            drift_reference_name(root),
        )
        return None

    def _phase_a(self, member, index, scratch_dir):
        """Phase A of a segment: open it; stage 1; ``assign_wcs``, ``srctype``, ``flat_field``.

        Returns
        -------
        PhaseResult
            The flat-fielded cube's scratch file (or, for an x1dints segment, its
            spectra's scratch file in ``final``) and what is known of its drift.
        """
        name = describe(member)
        written = []
        log.info("Segment %d: %s", index, name)
        try:
            with open_segment(member) as model:
                check_lrs_time_series(model, name)
                cal_steps, assumptions = stages.cal_steps_of(model)
                for assumption in assumptions:
                    log.info("%s: %s", name, assumption)
                stage = stages.product_stage(product_kind(model), cal_steps)
                log.info("%s is a %s product", name, stage)
                if stage == "x1dints":
                    segment = x1dints_segment(model, name)
                    segment.x1dints_path = save_scratch(segment.x1dints, scratch_dir, "x", index)
                    segment.x1dints.close()
                    segment.x1dints = None
                    segment.name = name
                    return PhaseResult(index, name, final=segment, drift_reused=True)
                if stage == "uncal":
                    cube = self._stage1(model, written)
                else:
                    log.info("%s holds slopes per integration: stage 1 is skipped", name)
                    cube = self._run_step("tsovisit_fix", model)
            # closing does not free the ramp's arrays while a name still refers to them:
            # drop it so stage 2 runs with one segment's slopes only
            del model
            calibrated = self._flat_fielded(cube, name)
            del cube
            cal_steps, _ = stages.cal_steps_of(calibrated)
            reused = stages.is_complete(cal_steps, "wavelength_drift")
            needs_drift = not reused and not self.wavelength_drift.skip
            path = save_scratch(calibrated, scratch_dir, "a", index)
            calibrated.close()
            return PhaseResult(
                index, name, cube=path, written=written, needs_drift=needs_drift,
                drift_reused=reused,
            )  # fmt: skip
        except Exception as error:
            record_written(error, written)
            raise

    def _flat_fielded(self, cube, name):
        """``assign_wcs``, ``srctype`` and ``flat_field`` of a segment, where not done yet."""
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
        return self._run_step("flat_field", calibrated, name)

    def _phase_reference(self, phase_a, root, scratch_dir):
        """The exposure's drift reference frame, from one segment's flat-fielded cube.

        Written as ``<root>_driftref.fits`` (in ``scratch_dir`` when results are not
        saved) before any segment's drift is measured, so that all segments, this
        one included, share one zero point.

        Returns
        -------
        str
            The path written.
        """
        with datamodels.CubeModel(phase_a.cube) as cube:
            frame, error = self.wavelength_drift.reference_frame(cube)
            image = datamodels.ImageModel(data=frame)
            image.err = error
            image.update(cube, only="PRIMARY")
            # err is that of one integration: the static offset's checks need the count
            image.meta.wavelength_drift = {
                "reference_frames": self.wavelength_drift.reference_frame_count(
                    cube, self.wavelength_drift.reference)
            }
        directory = Path(self.output_dir or ".") if self.save_results else Path(scratch_dir)
        path = atomic_save(image, directory / drift_reference_name(root))
        log.info(
            "Every segment measures its drift against the reference in %s (median frame "
            "of %s)",
            path,
            phase_a.name,
        )
        return path

    def _phase_b(self, phase_a, drift_reference, scratch_dir):
        """Phase B of a segment: ``wavelength_drift``, ``photom``; calints saved.

        Also keeps the end of the calibrated cube that the next segment's outlier
        detection takes as context (`rolling.segment_tail`).
        """
        if phase_a.final is not None:
            return phase_a
        name = phase_a.name
        written = list(phase_a.written)
        try:
            with datamodels.CubeModel(phase_a.cube) as calibrated:
                calibrated, drift_table, reused = self._wavelength_drift(
                    calibrated, name, drift_reference, written
                )
                calibrated = self._run_step("photom", calibrated, name)
                path = None
                if self.save_calints:
                    path = self._save_segment_product(calibrated, "calints", written)
                if path is None:
                    path = save_scratch(calibrated, scratch_dir, "b", phase_a.index)
                    scratch = [path]
                else:
                    scratch = []
                tail = self._outlier_tail(calibrated, name, scratch_dir, phase_a.index)
                calibrated.close()
        except Exception as error:
            record_written(error, written)
            raise
        return PhaseResult(
            phase_a.index,
            name,
            cube=str(path),
            written=written,
            drift_table=drift_table,
            drift_reused=reused or phase_a.drift_reused,
            tail=tail,
            scratch=[phase_a.cube, *scratch],
            seconds=phase_a.seconds,
        )

    def _outlier_tail(self, calibrated, name, scratch_dir, index):
        """Save the segment's end for the next one's outlier detection (if it runs).

        Returns ``(path, first_int_num, last_int_num, rows)``, or None when
        ``tso_outlier_detection`` will not run on this segment.
        """
        step = self.tso_outlier_detection
        cal_steps, _ = stages.cal_steps_of(calibrated)
        if step.skip or stages.is_complete(cal_steps, "tso_outlier_detection"):
            return None
        good = build_mask(calibrated.dq, step.good_bits).astype(bool)
        tail = rolling.segment_tail(calibrated.data, good, step.maskpt, step.rolling_window_width)
        if tail is None:
            return None
        first = int(calibrated.meta.exposure.integration_start or 1)
        last = first + calibrated.data.shape[0] - 1
        path = Path(scratch_dir) / f"tail{index:04d}.npy"
        np.save(path, tail)
        return (str(path), first, last, tail.shape[0])

    def _phase_c(self, phase_b, previous, save_x1dints, scratch_dir):
        """Phase C of a segment: ``tso_outlier_detection``, extraction; x1dints saved.

        ``previous`` are the phase-B results of the segments before this one (their
        saved ends are the outlier detection's context).

        Returns
        -------
        SegmentResult
            With ``x1dints_path`` (the saved product, or a scratch file) and
            ``x1dints`` None.
        """
        if phase_b.final is not None:
            return phase_b.final
        name = phase_b.name
        written = list(phase_b.written)
        step = self.tso_outlier_detection
        try:
            with datamodels.CubeModel(phase_b.cube) as calibrated:
                context = rolling.context_from_saved_tails(
                    [phase.tail for phase in previous], step.rolling_window_width
                )
                step.output_file = calibrated.meta.filename  # <segment>_crfints
                flagged = self._run_step(
                    "tso_outlier_detection", calibrated, name, extra=(context,)
                )
                drift_table = outlier_products.add_outlier_counts(phase_b.drift_table, flagged)
                x1d = self._run_step(self.extract_with, flagged)
                outliers_done = flagged.meta.cal_step.tso_outlier_detection == "COMPLETE"
                flagged.close()
            if x1d is None or x1d.meta.cal_step.extract_1d != "COMPLETE":
                raise ValueError("extract_1d did not produce spectra for this segment")
            if outliers_done:
                outlier_products.flag_incomplete_bins(x1d)
            if drift_table is not None:
                x1d.drift_table = drift_table.as_array()
            x1d_path = None
            if save_x1dints:
                x1d_path = self._save_segment_product(x1d, "x1dints", written)
            if x1d_path is None:
                x1d_path = save_scratch(x1d, scratch_dir, "c", phase_b.index)
            x1d.close()
        except Exception as error:
            record_written(error, written)
            raise
        return SegmentResult(
            None, drift_table, None, written, str(x1d_path), phase_b.drift_reused, name=name,
            seconds=phase_b.seconds,
        )

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
        name = describe(ramp)
        model = ramp
        for step_name in stages.STAGE1_STEPS:
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

    def _wavelength_drift(self, calibrated, name, drift_reference, written):
        """Run ``wavelength_drift`` (or reuse its table) and save the table at once.

        Returns the calibrated model, the drift table, and whether the drift had been
        corrected before this run.
        """
        if self._already_applied(calibrated, "wavelength_drift", name):
            return calibrated, existing_drift_table(calibrated, name), True
        calibrated = self._run_step("wavelength_drift", calibrated, extra=(drift_reference,))
        drift_table = attached_drift_table(calibrated)
        if drift_table is not None and self.save_results:
            path = self.make_output_path(
                basepath=calibrated.meta.filename, suffix="drift", ext="ecsv"
            )
            self._write_table(drift_table, path, written, "segment's drift table")
        return calibrated, drift_table, False

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
        atomic_write(path, lambda staged: table.write(staged, format="ascii.ecsv"))
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
            # written under a temporary name and renamed: a process killed while saving
            # never leaves a partial file under the product's name
            path = atomic_save(model, target)
            log.info("Saved model in %s", path)
            return path
        return super().save_model(
            model, suffix=suffix, idx=idx, output_file=output_file, force=force, **components
        )


class _SegmentPhases(SegmentPhases):
    """The phases of one run's segments, as `run_segments` asks for them.

    Each phase is a bound method of the pipeline (picklable, for Dask); the results
    coming back are recorded here: products written, scratch files removed.
    """

    def __init__(self, pipeline, members, root, scratch, written):
        self.pipeline = pipeline
        self.members = members
        self.root = root
        self.scratch = scratch
        self.written = written
        self.phase_a, self.phase_b = {}, {}

    def task(self, phase, index, *inputs):
        pipeline = self.pipeline
        if phase is Phase.A:
            return pipeline._phase_a, (self.members[index], index + 1, self.scratch)
        if phase is Phase.REFERENCE:
            return pipeline._phase_reference, (*inputs, self.root, self.scratch)
        if phase is Phase.B:
            return pipeline._phase_b, (*inputs, self.scratch)
        return pipeline._phase_c, (*inputs, len(self.members) > 1, self.scratch)

    def earlier_reference(self, index):
        return self.pipeline._earlier_drift_reference(self.members[index], self.root)

    def done(self, phase, index, value):
        if phase is Phase.A:
            self.phase_a[index] = value
        elif phase is Phase.REFERENCE:
            if self.pipeline.save_results:
                self.written.append(value)
        elif phase is Phase.B:
            self.phase_b[index] = value
            if self.phase_a[index].cube:  # phase B will not run again: its input can go
                remove_scratch(self.phase_a[index].cube)
        else:
            self.written.extend(p for p in value.written if p not in self.written)
            for path in self.phase_b.pop(index).scratch:
                remove_scratch(path)
            log.info(
                "segment %d/%d: stages 1 and 2 done in %.0f s",
                index + 1, len(self.members), value.seconds,
            )  # fmt: skip
            if self.pipeline.segment_done is not None:
                self.pipeline.segment_done(value)
