"""Product files of the pipelines: atomic writes, scratch files, names, drift-table lookup.

Used by `~jwst_tso_ext.pipeline.lrs_tso` and `~jwst_tso_ext.pipeline.detrended_tso3`.
Every product is written under a temporary name and renamed into place, so that a
process killed while writing (a Dask worker out of memory) never leaves a partial file
under a product's name.
"""

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table
from jwst.lib.suffix import remove_suffix

from jwst_tso_ext.pipeline.combine import exposure_root

log = logging.getLogger(__name__)

__all__ = [
    "atomic_save",
    "atomic_write",
    "attached_drift_table",
    "drift_reference_name",
    "existing_drift_table",
    "record_written",
    "remove_scratch",
    "report_failure",
    "save_scratch",
]


def drift_reference_name(root):
    """File name of an exposure's shared drift reference frame, ``<root>_driftref.fits``."""
    return f"{root}_driftref.fits"


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
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(path)


def atomic_save(model, path):
    """``model.save(path)`` through `atomic_write` (``meta.filename`` is the final name)."""
    return atomic_write(path, model.save)


def save_scratch(model, scratch_dir, phase, index):
    """Save an intermediate product in ``scratch_dir`` under its own file name.

    Each in a directory of its own (``<phase><index>``), so that saving does not
    rename the model (``meta.filename`` names the products made from it).

    Returns
    -------
    str
        The path written.
    """
    name = Path(model.meta.filename or "").name
    if Path(name).suffix != ".fits":
        name = f"segment{index:04d}.fits"
    directory = Path(scratch_dir) / f"{phase}{index:04d}"
    directory.mkdir(exist_ok=True)
    return atomic_save(model, directory / name)


def remove_scratch(path):
    """Remove an intermediate file written by `save_scratch`, and its directory."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def record_written(error, written):
    """Attach the products a failing segment had written to its error (see `report_failure`)."""
    previous = getattr(error, "lrs_tso_written", [])
    error.lrs_tso_written = list(previous) + [p for p in written if p not in previous]


def report_failure(error, written):
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
    table = attached_drift_table(model)
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


def attached_drift_table(model):
    """The drift table ``wavelength_drift`` attached to ``model``, as an astropy Table.

    Its ``meta`` gets ``meta.wavelength_drift`` (static offsets, their error and
    provenance), which the structured array cannot carry, for the spectra's metadata.
    None when no table is attached.
    """
    table = getattr(model, "drift_table", None)
    if table is None:
        return None
    table = Table(np.asarray(table))
    table.meta.update(dict(model.meta.instance.get("wavelength_drift") or {}))
    return table


def drift_table_paths(path):
    """``<root>_drift.ecsv`` paths beside a product file: its own root, then the exposure's."""
    path = Path(path)
    segment_root, _ = remove_suffix(path.stem)
    roots = [segment_root, exposure_root(path.name)]
    return [path.parent / f"{r}_drift.ecsv" for r in dict.fromkeys(roots)]


def _drift_table_candidates(model, name):
    """`drift_table_paths` of the product named ``name`` (or of its ``meta.filename``)."""
    path = Path(name)
    if not path.suffix:
        filename = model.meta.filename
        if not filename:
            return []
        path = Path(filename)
    return drift_table_paths(path)


def _integration_range(model):
    """INTSTART..INTEND of a product, (None, None) when not recorded."""
    start = model.meta.exposure.integration_start
    end = model.meta.exposure.integration_end
    if start is None or end is None:
        return None, None
    return int(start), int(end)
