"""`LrsTsoPipeline`: MIRI LRS slitless TSO from uncal ramps to a detrended white-light curve."""

import contextlib
import json
import logging
import os
import shutil
import signal
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
from jwst.resample.resample_utils import build_mask
from jwst.reset import reset_step
from jwst.rscd import rscd_step
from jwst.saturation import saturation_step
from jwst.srctype import srctype_step
from jwst.stpipe import Pipeline
from stdatamodels.jwst import datamodels

from jwst_tso_ext.crds_cache import synthetic
from jwst_tso_ext.pipeline import executor as executor_module
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
from jwst_tso_ext.tso_outlier_detection import rolling

log = logging.getLogger(__name__)

__all__ = [
    "LrsTsoPipeline",
    "SegmentResult",
    "atomic_save",
    "atomic_write",
    "existing_drift_table",
    "expand_inputs",
]

#: Test hook, never set in normal use: ``"<text>|<marker file>"`` makes a Dask worker
#: kill itself (SIGKILL) just before renaming a product whose name contains ``<text>``
#: into place; with a marker file, only while the marker does not exist (it is created
#: first, so the retry succeeds). Ignored outside Dask workers.
KILL_WORKER_ENV = "JWST_TSO_EXT_TEST_KILL_WORKER"

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
        (`_phase_a`, `_phase_reference`, `_phase_b`, `_phase_c`) and give the same
        products.

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
        root = product_name or exposure_root(_describe(members[0]))
        if self.output_file is None:
            # stpipe saves the returned product as <output_file>_x1dints.fits
            self.output_file = root
        # products are saved as they appear, but never over a file this run reads
        self._inputs = _input_files(members)
        written = []
        try:
            kind, _ = executor_module.parse_scheduler(self.scheduler)
            with (
                self._scratch_directory(kind) as scratch,
                executor_module.open_executor(
                    self.scheduler,
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
            _report_failure(error, written)
            raise
        log.info("... ending lrs_tso")
        return combined

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

        The work of each segment is split in phases: A (stage 1, ``assign_wcs``,
        ``srctype``, ``flat_field``); the drift reference frame, from the first segment
        that needs ``wavelength_drift`` (its phase-A cube); B (``wavelength_drift``
        against that frame, ``photom``, calints saved); C (``tso_outlier_detection``
        with the end of the previous segments' calints as context, extraction). A
        phase is submitted to ``executor`` when the results it needs are here (paths
        and small tables, never cubes), so a worker that dies loses only the task it
        was running. Serially, the highest-priority task runs first (C, B, the
        reference, then the next segment's A): one segment after another.
        """
        executor = executor or executor_module.SerialExecutor()
        total = len(members)
        labels = [f"segment {index}/{total}" for index in range(1, total + 1)]
        scratch = str(scratch_dir)
        phase = {}  # task -> (phase name, segment index)

        def submit(name, index, *args):
            task = executor.submit(
                _segment_task,
                self,
                executor.worker_setup,
                name,
                labels[index],
                *args,
                label=labels[index],
                priority=_PRIORITY[name],
                kind=name.removeprefix("_"),
            )
            phase[task] = (name, index)
            return task

        done_a, done_b, results = [None] * total, [None] * total, [None] * total
        reference = _UNDECIDED
        if str(self.wavelength_drift.reference).lower() != "median":
            reference = None  # the user's choice: each segment uses it
        next_a = next_b = next_c = 0  # phases are submitted in segment order
        pending = []

        def start_segments():
            # segments in flight (phase A submitted, C not done) are limited, which bounds
            # the cubes in scratch: one at a time serially, twice the workers on a cluster
            nonlocal next_a
            finished = sum(result is not None for result in results)
            while next_a < total and next_a - finished < executor.segments_in_flight():
                pending.append(submit("_phase_a", next_a, members[next_a], next_a + 1, scratch))
                next_a += 1

        start_segments()
        while pending:
            task = executor.first_done(pending)
            pending.remove(task)
            name, index = phase.pop(task)
            value = executor.result(task)
            if name == "_phase_a":
                done_a[index] = value
            elif name == "_phase_reference":
                reference = value
                if self.save_results:
                    written.append(value)
            elif name == "_phase_b":
                done_b[index] = value
                if done_a[index].cube:  # phase B will not run again: its input can go
                    _remove_scratch(done_a[index].cube)
            else:
                results[index] = value
                written.extend(p for p in value.written if p not in written)
                for path in done_b[index].scratch:
                    _remove_scratch(path)
                log.info("%s: stages 1 and 2 done in %.0f s", labels[index], value.seconds)
                if self.segment_done is not None:
                    self.segment_done(value)
                start_segments()
            if reference is _UNDECIDED:
                reference = self._shared_drift_reference(done_a, members, root)
                if reference is _SUBMIT:
                    first = next(i for i, a in enumerate(done_a) if a is not None and a.needs_drift)
                    pending.append(submit("_phase_reference", first, done_a[first], root, scratch))
                    reference = _WAITING
            if reference not in (_UNDECIDED, _WAITING):
                while next_b < total and done_a[next_b] is not None:
                    pending.append(submit("_phase_b", next_b, done_a[next_b], reference, scratch))
                    next_b += 1
            while next_c < total and done_b[next_c] is not None:
                pending.append(
                    submit("_phase_c", next_c, done_b[next_c], done_b[:next_c], total > 1, scratch)
                )
                next_c += 1
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

    def _shared_drift_reference(self, done_a, members, root):
        """What every segment measures its drift against, once phase A says.

        With ``wavelength_drift.reference='median'``, in segment order: the first
        segment that still needs ``wavelength_drift`` gives the frame (returns
        ``_SUBMIT``: `_phase_reference` makes it from that segment's phase-A cube and
        writes ``<root>_driftref.fits``); a segment corrected by an earlier run gives
        that run's ``<root>_driftref.fits`` if it is found. None when no segment needs
        the step; ``_UNDECIDED`` while the deciding segment's phase A is running.
        """
        for index, info in enumerate(done_a):
            if info is None:
                return _UNDECIDED
            if info.needs_drift:
                return _SUBMIT
            if info.drift_reused:
                # later segments that still need wavelength_drift must share the zero
                # point of the run that corrected this one
                path = self._earlier_drift_reference(members[index], root)
                if path is not None:
                    return path
        return None

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

        Runs the phases `_process_segments` runs for every segment (A, then B against
        ``drift_reference`` or, if None, a reference of the segment's own, then C) in
        this process, without context from other segments.

        Parameters
        ----------
        member : str or datamodel
            The segment: uncal, rateints, calints or x1dints (file or model; a model
            is copied, never changed).
        root : str
            Exposure root name (names the drift reference frame).
        scratch_dir : pathlib.Path
            Directory for the intermediate cubes (and the drift reference frame when
            results are not saved).
        drift_reference : str or None
            Reference frame (FITS image) that ``wavelength_drift`` measures against.
        save_x1dints : bool
            Save the segment's x1dints (when ``save_results`` is set).

        Returns
        -------
        SegmentResult
            The x1dints path, drift table and products saved; ``x1dints`` is the
            spectra, opened.
        """
        self._inputs = getattr(self, "_inputs", _input_files([member]))
        phase_a = self._phase_a(member, 1, str(scratch_dir))
        reference = drift_reference
        if reference is None and phase_a.needs_drift:
            if str(self.wavelength_drift.reference).lower() == "median":
                reference = self._phase_reference(phase_a, root, str(scratch_dir))
        phase_b = self._phase_b(phase_a, reference, str(scratch_dir))
        segment = self._phase_c(phase_b, [], save_x1dints, str(scratch_dir))
        for path in phase_b.scratch:
            _remove_scratch(path)
        if reference is not None and drift_reference is None:
            segment.drift_reference = reference
        segment.x1dints = datamodels.open(segment.x1dints_path)
        return segment

    def _phase_a(self, member, index, scratch_dir):
        """Phase A of a segment: open it; stage 1; ``assign_wcs``, ``srctype``, ``flat_field``.

        Returns
        -------
        _Phase
            The flat-fielded cube's scratch file (or, for an x1dints segment, its
            spectra's scratch file in ``final``) and what is known of its drift.
        """
        name = _describe(member)
        written = []
        log.info("Segment %d: %s", index, name)
        try:
            with _open(member) as model:
                _check_lrs_time_series(model, name)
                cal_steps, assumptions = stages.cal_steps_of(model)
                for assumption in assumptions:
                    log.info("%s: %s", name, assumption)
                stage = stages.product_stage(_product_kind(model), cal_steps)
                log.info("%s is a %s product", name, stage)
                if stage == "x1dints":
                    segment = _x1dints_segment(model, name)
                    segment.x1dints_path = _scratch_save(segment.x1dints, scratch_dir, "x", index)
                    segment.x1dints.close()
                    segment.x1dints = None
                    segment.name = name
                    return _Phase(index, name, final=segment, drift_reused=True)
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
            path = _scratch_save(calibrated, scratch_dir, "a", index)
            calibrated.close()
            return _Phase(index, name, cube=path, written=written, needs_drift=needs_drift,
                          drift_reused=reused)
        except Exception as error:
            _record_written(error, written)
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
        directory = Path(self.output_dir or ".") if self.save_results else Path(scratch_dir)
        path = atomic_save(image, directory / f"{root}_driftref.fits")
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
                    path = _scratch_save(calibrated, scratch_dir, "b", phase_a.index)
                    scratch = [path]
                else:
                    scratch = []
                tail = self._outlier_tail(calibrated, name, scratch_dir, phase_a.index)
                calibrated.close()
        except Exception as error:
            _record_written(error, written)
            raise
        return _Phase(
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

    def _outlier_context(self, previous):
        """The outlier context of a segment from the tails of the segments before it."""
        window = self.tso_outlier_detection.rolling_window_width
        keep = window // 2
        entries = [phase.tail for phase in previous]
        start = 0
        for position in range(len(entries) - 1, -1, -1):
            entry = entries[position]
            if entry is None or entry[3] >= keep:
                start = position
                break
        tails = [
            None if entry is None else (np.load(entry[0]), entry[1], entry[2])
            for entry in entries[start:]
        ]
        return rolling.chain_context(tails, window)

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
                step.context = self._outlier_context(previous)
                step.output_file = calibrated.meta.filename  # <segment>_crfints
                try:
                    flagged = self._run_step("tso_outlier_detection", calibrated, name)
                finally:
                    step.context = None
                drift_table = outlier_products.add_outlier_counts(phase_b.drift_table, flagged)
                extraction = getattr(self, self.extract_with)
                extraction.save_results = False
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
                x1d_path = _scratch_save(x1d, scratch_dir, "c", phase_b.index)
            x1d.close()
        except Exception as error:
            _record_written(error, written)
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

    def _wavelength_drift(self, calibrated, name, drift_reference, written):
        """Run ``wavelength_drift`` (or reuse its table) and save the table at once.

        Returns the calibrated model, the drift table, and whether the drift had been
        corrected before this run.
        """
        if self._already_applied(calibrated, "wavelength_drift", name):
            return calibrated, existing_drift_table(calibrated, name), True
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
        # the frame written by _phase_reference is the shared one: not part of calints
        for attribute in ("drift_reference", "drift_reference_err"):
            if getattr(calibrated, attribute, None) is not None:
                delattr(calibrated, attribute)
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
    name : str or None
        The segment's input (path or model name).
    seconds : float
        Time spent on the segment's phases (wherever they ran).
    """

    x1dints: object
    drift_table: Table | None = None
    drift_reference: str | None = None
    written: list = field(default_factory=list)
    x1dints_path: str | None = None
    drift_reused: bool = False
    name: str | None = None
    seconds: float = 0.0


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


#: Order in which ready phases run when the workers are busy: the shared drift reference
#: first (every B waits for it), then the long phases (A: stage 1, about 80 % of a
#: segment's cost) before the short ones, so that the last tasks of a run are short and
#: no worker idles while another finishes a whole phase A. (Serially only one segment is
#: in flight, so the order is A, reference, B, C of one segment, then the next.)
_PRIORITY = {"_phase_reference": 3, "_phase_a": 2, "_phase_b": 1, "_phase_c": 0}

#: States of the shared drift reference in `LrsTsoPipeline._process_segments`.
_UNDECIDED, _SUBMIT, _WAITING = "<undecided>", "<submit>", "<waiting>"


@dataclass
class _Phase:
    """What a phase of one segment hands to the next (paths and small tables only)."""

    index: int
    name: str
    cube: str | None = None
    written: list = field(default_factory=list)
    needs_drift: bool = False
    drift_reused: bool = False
    drift_table: Table | None = None
    tail: tuple | None = None
    scratch: list = field(default_factory=list)
    final: object = None
    seconds: float = 0.0


def _segment_task(pipeline, worker_setup, method, label, *args):
    """Run phase ``method`` of ``pipeline`` for one segment, here or on a Dask worker.

    The only function the executors run: on a worker, ``worker_setup`` (the client's
    CRDS / stpipe environment and log level) is applied first; log lines carry
    ``label``; an exception is marked with it.
    """
    if worker_setup is not None:
        executor_module.setup_worker_process(*worker_setup)
    started = time.monotonic()
    with _log_prefix(label):
        try:
            value = getattr(pipeline, method)(*args)
            if hasattr(value, "seconds"):
                value.seconds += time.monotonic() - started
            return value
        except Exception as error:
            if not hasattr(error, "lrs_tso_segment"):
                error.lrs_tso_segment = label
            raise


@contextlib.contextmanager
def _log_prefix(label):
    """Prefix ``[label]`` to the log records made while a segment task runs."""
    factory = logging.getLogRecordFactory()

    def make_record(*args, **kwargs):
        record = factory(*args, **kwargs)
        if not record.name.startswith(executor_module._DASK_LOGGERS):
            record.msg = f"[{label}] {record.msg}"
        return record

    logging.setLogRecordFactory(make_record)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)


def atomic_write(path, write):
    """Write a file under a temporary name in its directory, then rename it into place.

    A process killed while writing leaves at most a hidden ``.partial_*`` directory,
    never a partial file under ``path``.

    Parameters
    ----------
    path : str or Path
        Final path.
    write : callable
        ``write(staged_path)`` writes the file at ``staged_path`` (same file name, in a
        temporary directory beside ``path``).

    Returns
    -------
    str
        ``path``.
    """
    path = Path(path)
    staging = Path(tempfile.mkdtemp(prefix=".partial_", dir=path.parent))
    try:
        staged = staging / path.name
        write(str(staged))
        _test_kill_hook(path)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(path)


def atomic_save(model, path):
    """``model.save(path)`` through `atomic_write` (``meta.filename`` is the final name)."""
    return atomic_write(path, model.save)


def _test_kill_hook(path):
    spec = os.environ.get(KILL_WORKER_ENV)
    if not spec:
        return
    text, _, marker = spec.partition("|")
    if text not in Path(path).name:
        return
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    if marker:
        if Path(marker).exists():
            return
        Path(marker).touch()
    os.kill(os.getpid(), signal.SIGKILL)


def _scratch_save(model, scratch_dir, phase, index):
    """Save an intermediate product in ``scratch_dir`` under its own file name.

    Each in a directory of its own (``<phase><index>``), so that saving does not
    rename the model (``meta.filename`` names the products made from it).
    """
    name = Path(model.meta.filename or "").name
    if Path(name).suffix != ".fits":
        name = f"segment{index:04d}.fits"
    directory = Path(scratch_dir) / f"{phase}{index:04d}"
    directory.mkdir(exist_ok=True)
    return atomic_save(model, directory / name)


def _remove_scratch(path):
    """Remove an intermediate file written by `_scratch_save`, and its directory."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _record_written(error, written):
    """Attach the products a failing segment had written to its error."""
    previous = getattr(error, "lrs_tso_written", [])
    error.lrs_tso_written = list(previous) + [p for p in written if p not in previous]


def _report_failure(error, written):
    """Log, and add to the error as a note, the failing step and the products on disk."""
    step = getattr(error, "lrs_tso_step", None) or "lrs_tso"
    segment = getattr(error, "lrs_tso_segment", None)
    where = f" in {segment}" if segment else ""
    products = list(dict.fromkeys([*written, *getattr(error, "lrs_tso_written", [])]))
    message = (
        f"lrs_tso stopped: step {step} failed{where} ({type(error).__name__}: {error}). "
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
