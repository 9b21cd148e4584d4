"""Inputs of the pipelines: what a file is, expanding associations, opening segments."""

import json
import logging
from pathlib import Path

from astropy.io import fits
from stdatamodels.jwst import datamodels

from jwst_tso_ext.pipeline import legacy, stages
from jwst_tso_ext.pipeline.products import drift_table_paths, existing_drift_table
from jwst_tso_ext.pipeline.scheduler import SegmentResult

log = logging.getLogger(__name__)

__all__ = [
    "check_lrs_time_series",
    "describe",
    "expand_inputs",
    "input_files",
    "open_segment",
    "product_kind",
    "x1dints_segment",
]


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


def input_files(members):
    """Resolved paths of the files a run reads: the members and their drift tables."""
    paths = set()
    for member in members:
        if isinstance(member, (str, Path)):
            path = Path(member)
            paths.add(path.resolve())
            paths.update(t.resolve() for t in drift_table_paths(path) if t.is_file())
    return paths


def describe(member):
    """A segment's name for the log: its path, or the model's file name or type."""
    if isinstance(member, (str, Path)):
        return str(member)
    return getattr(member.meta, "filename", None) or type(member).__name__


def product_kind(model):
    """``"ramp"``, ``"cube"`` or ``"spectra"`` (see `stages.product_kind`)."""
    if isinstance(model, (datamodels.MultiSpecModel, datamodels.TSOMultiSpecModel)):
        return stages.product_kind(has_spectra=True)
    data = model.instance.get("data")
    return stages.product_kind(getattr(data, "ndim", None))


def check_lrs_time_series(model, name):
    """Refuse anything but a MIRI LRS slitless time series before hours of processing.

    Raises
    ------
    ValueError
        If ``model`` is not MIRI MIR_LRS-SLITLESS with more than one integration.
    """
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
    kind = product_kind(model)
    if kind == "spectra":
        return legacy.spectra_count(model)
    if kind in ("ramp", "cube"):
        return model.data.shape[0]
    return 1


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


class open_segment:  # noqa: N801 - used like a function: ``with open_segment(m) as model``
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


def x1dints_segment(model, name):
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
