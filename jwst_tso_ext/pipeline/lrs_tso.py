"""`LrsTsoPipeline`: MIRI LRS slitless TSO from uncal ramps to a detrended white-light curve."""

import json
import logging
import tempfile
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
from jwst.linearity import linearity_step
from jwst.photom import photom_step
from jwst.ramp_fitting import ramp_fit_step
from jwst.reset import reset_step
from jwst.rscd import rscd_step
from jwst.saturation import saturation_step
from jwst.srctype import srctype_step
from jwst.stpipe import Pipeline
from stdatamodels.jwst import datamodels

from jwst_tso_ext.pipeline.combine import combine_tables, combine_x1dints, exposure_root
from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.steps import (
    DetrendedWhiteLightStep,
    MirisimRefpixGuardStep,
    TsoExtract1dStep,
    TsoOutlierDetectionStep,
    TsoVisitFixStep,
    WavelengthDriftStep,
)
from jwst_tso_ext.tso_outlier_detection import products as outlier_products
from jwst_tso_ext.tso_outlier_detection.rolling import SegmentContext

log = logging.getLogger(__name__)

__all__ = ["LrsTsoPipeline", "expand_inputs"]

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
    """MIRI LRS slitless TSO: uncal ramps (or rateints) to a detrended white-light curve.

    Runs, one segment at a time: ``tsovisit_fix``, the MIRI detector1 steps with
    ``mirisim_refpix_guard`` in place of ``refpix``, ``ramp_fit``, ``gain_scale``,
    ``assign_wcs``, ``srctype``, ``flat_field``, ``wavelength_drift``, ``photom``,
    ``tso_outlier_detection`` (after the calints are saved) and ``extract_1d``; then
    combines the segments' 1-D products and runs
    ``detrended_white_light`` on them. Only one segment's data is in memory at a time.
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
    }

    def process(self, input_data):
        """
        Run the pipeline on one exposure or a list / association of segments.

        Parameters
        ----------
        input_data : str, list, or datamodel
            Uncal ramps (`~stdatamodels.jwst.datamodels.RampModel`) or rateints
            (`~stdatamodels.jwst.datamodels.CubeModel`), one file per segment.

        Returns
        -------
        `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
            The combined x1dints product (one spectrum row per integration).
        """
        log.info("Starting lrs_tso ...")
        members, product_name = expand_inputs(input_data)
        root = product_name or exposure_root(_describe(members[0]))
        self._root = root
        self._drift_reference_path = None
        self._scratch = None
        x1d_products = []
        drift_tables = []
        configured_reference = self.wavelength_drift.reference
        # the end of each segment is the outlier context of the next (this exposure only)
        self.tso_outlier_detection.context = SegmentContext()
        try:
            for index, member in enumerate(members, start=1):
                log.info("Segment %d of %d: %s", index, len(members), _describe(member))
                x1d, drift_table = self._process_segment(member)
                if index < len(members):
                    x1d = self._spill(x1d, index)
                x1d_products.append(x1d)
                drift_tables.append(drift_table)
            segments = [
                datamodels.open(x1d) if isinstance(x1d, str) else x1d for x1d in x1d_products
            ]
            combined = combine_x1dints(segments)
            for segment in segments:
                segment.close()
        finally:
            # the shared segment reference belongs to this exposure only
            self.wavelength_drift.reference = configured_reference
            self.tso_outlier_detection.context = None
            if self._scratch is not None:
                self._scratch.cleanup()

        combined.meta.filename = f"{root}_x1dints.fits"
        if self.output_file is None:
            # stpipe saves the returned product as <output_file>_x1dints.fits
            self.output_file = root

        drift = combine_tables(drift_tables)
        outlier_products.log_summary(drift)
        if drift is not None:
            # attached like wavelength_drift attaches it, for detrended_white_light
            combined.drift_table = drift.as_array()
            if self.save_results:
                drift_path = self.make_output_path(basepath=root, suffix="drift", ext="ecsv")
                drift.write(drift_path, format="ascii.ecsv", overwrite=True)
                log.info("Saved combined drift table in %s", drift_path)
        self.detrended_white_light.output_file = root
        self.detrended_white_light.run(combined)
        log.info("... ending lrs_tso")
        return combined

    def _scratch_directory(self):
        """This run's temporary directory (made on first use, removed at the end)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="lrs_tso_")
        return Path(self._scratch.name)

    def _spill(self, x1d, index):
        """Keep a finished segment's 1-D product on disk until the segments are combined.

        Its table (every integration x every wavelength x ~20 columns, ~60 MB per 1000
        integrations) would otherwise stay in memory while the next segments' ramps are
        processed, and grow with the length of the exposure.
        """
        path = self._scratch_directory() / f"segment{index:03d}_x1dints.fits"
        x1d.save(path)
        x1d.close()
        return str(path)

    def _process_segment(self, member):
        """Stages 1 and 2 on one segment; returns its x1dints product and drift table."""
        with _open(member) as model:
            _check_lrs_time_series(model, _describe(member))
            if isinstance(model, datamodels.RampModel):
                cube = self._stage1(model)
            elif isinstance(model, datamodels.CubeModel):
                log.info("Input holds slopes per integration: stage 1 is skipped")
                cube = self.tsovisit_fix.run(model)
            else:
                raise ValueError(
                    f"{_describe(member)}: expected uncal ramps (RampModel) or rateints "
                    f"(CubeModel), got {type(model).__name__}"
                )
        # closing does not free the ramp's arrays while a name still refers to them:
        # drop it so stage 2 runs with one segment's slopes only
        del model
        return self._stage2(cube)

    def _stage1(self, ramp):
        """Detector-level calibration of one segment: ramps to slopes per integration."""
        model = ramp
        for name in STAGE1_STEPS:
            model = getattr(self, name).run(model)
            if name == "mirisim_refpix_guard" and model.hasattr("refout"):
                # only refpix reads the reference output (a quarter of the ramp's
                # size): release it before jump, the memory peak of stage 1
                del model.refout
                log.info("REFOUT released after refpix (no later step reads it)")
        if self.save_calibrated_ramp:
            self._save_segment_product(model, "ramp")
        if self.ramp_fit.skip:
            raise ValueError("ramp_fit is skipped: lrs_tso needs slopes per integration")
        _, ints_model = self.ramp_fit.run(model)
        model.close()
        if ints_model is None:
            raise ValueError("ramp_fit produced no per-integration slopes (nints must be > 1)")
        self.gain_scale.suffix = "gain_scaleints"
        ints_model = self.gain_scale.run(ints_model)
        if self.save_rateints:
            self._save_segment_product(ints_model, "rateints")
        return ints_model

    def _stage2(self, cube):
        """Spectroscopic calibration and extraction of one segment.

        Returns the segment's x1dints product and the drift table that
        ``wavelength_drift`` attached to its output (None when that step is skipped).
        """
        calibrated = self.assign_wcs.run(cube)
        if calibrated.meta.cal_step.assign_wcs != "COMPLETE":
            raise ValueError("assign_wcs did not complete: cannot calibrate wavelengths")
        calibrated = self.srctype.run(calibrated)
        calibrated = self.flat_field.run(calibrated)
        calibrated = self.wavelength_drift.run(calibrated)
        drift_table = _attached_drift_table(calibrated)
        self._share_drift_reference(calibrated)
        calibrated = self.photom.run(calibrated)
        if self.save_calints:
            self._save_segment_product(calibrated, "calints")
        self.tso_outlier_detection.output_file = calibrated.meta.filename  # <segment>_crfints
        calibrated = self.tso_outlier_detection.run(calibrated)
        drift_table = outlier_products.add_outlier_counts(drift_table, calibrated)
        extraction = getattr(self, self.extract_with)
        extraction.save_results = False
        x1d = extraction.run(calibrated)
        calibrated.close()
        if x1d is None or x1d.meta.cal_step.extract_1d != "COMPLETE":
            raise ValueError("extract_1d did not produce spectra for this segment")
        if calibrated.meta.cal_step.tso_outlier_detection == "COMPLETE":
            outlier_products.flag_incomplete_bins(x1d)
        return x1d, drift_table

    def _share_drift_reference(self, calibrated):
        """Make every later segment measure its drift against this segment's reference.

        The first segment's reference frame is written as ``<root>_driftref.fits`` (in a
        temporary directory when results are not saved) and passed to
        ``wavelength_drift`` as its ``reference``, so all segments share one zero point.
        """
        frame = getattr(calibrated, "drift_reference", None)
        error = getattr(calibrated, "drift_reference_err", None)
        for name in ("drift_reference", "drift_reference_err"):
            if frame is not None:
                delattr(calibrated, name)  # not part of the calints product
        user_choice = str(self.wavelength_drift.reference).lower() != "median"
        if frame is None or self._drift_reference_path is not None or user_choice:
            return
        image = datamodels.ImageModel(data=np.asarray(frame))
        image.err = np.asarray(error)
        image.update(calibrated, only="PRIMARY")
        if self.save_results:
            directory = Path(self.output_dir or ".")
        else:
            directory = self._scratch_directory()
        path = directory / f"{self._root}_driftref.fits"
        image.save(path)
        log.info("Later segments measure drift against the reference in %s", path)
        self._drift_reference_path = str(path)
        self.wavelength_drift.reference = self._drift_reference_path

    def _save_segment_product(self, model, suffix):
        """Save a per-segment product named after its own exposure, if saving results."""
        if self.save_results:
            self.save_model(model, suffix=suffix, output_file=model.meta.filename)


def _check_lrs_time_series(model, name):
    """Refuse anything but a MIRI LRS slitless time series before hours of processing."""
    instrument = model.meta.instrument.name
    exp_type = model.meta.exposure.type
    nints = model.meta.exposure.nints or (model.data.shape[0] if model.data.ndim >= 3 else 1)
    if instrument != "MIRI" or exp_type != "MIR_LRS-SLITLESS" or nints < 2:
        raise ValueError(
            f"{name}: lrs_tso handles MIRI LRS slitless time series (MIR_LRS-SLITLESS, "
            f"NINTS > 1); got {instrument} {exp_type}, NINTS={nints}"
        )


def _attached_drift_table(model):
    """The drift table ``wavelength_drift`` attached to ``model``, as an astropy Table."""
    table = getattr(model, "drift_table", None)
    if table is None:
        return None
    return Table(np.asarray(table))


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
