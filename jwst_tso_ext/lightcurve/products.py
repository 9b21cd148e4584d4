"""
Adapters from pipeline products to the light-curve code (the only datamodel-aware part).

Both light-curve steps find the ``wavelength_drift`` table the same way and copy the
same descriptive metadata into their tables.
"""

import logging
import os

import numpy as np
from astropy.table import Table
from jwst.lib.suffix import remove_suffix

log = logging.getLogger(__name__)

__all__ = ["find_drift_table", "product_table_meta", "beside_input", "product_root"]

#: Suffixes of this package's products that jwst does not know (it knows ``whtlt``).
OWN_SUFFIXES = ("speclc", "tspec", "drift")


def product_root(name):
    """
    A file name (without extension) without its product suffix, jwst's or ours.

    Parameters
    ----------
    name : str
        E.g. ``jw01_x1dints`` or ``lc_speclc``.

    Returns
    -------
    root : str
        E.g. ``jw01`` or ``lc``.
    separator : str or None
        The separator before the suffix (``_``), as jwst's ``remove_suffix`` gives it.
    """
    for suffix in OWN_SUFFIXES:
        if name.endswith(f"_{suffix}"):
            return name[: -len(suffix) - 1], "_"
    return remove_suffix(name)


def beside_input(input_data, model, suffix, input_dir=None):
    """
    Path of ``<rootname>_<suffix>.ecsv`` beside the input file, or None if absent.

    Parameters
    ----------
    input_data : str or datamodel
        What the step was given.
    model : datamodel
        The opened input (its ``meta.filename`` when ``input_data`` is a model).
    suffix : str
        Product suffix, e.g. ``drift`` or ``whtlt``.
    input_dir : str, optional
        Directory of a model's file when its name has none (the step's ``input_dir``).

    Returns
    -------
    str or None
        The path when the file exists.
    """
    filename = input_data if isinstance(input_data, str) else model.meta.filename
    if not filename:
        return None
    directory = os.path.dirname(filename) or (input_dir or "")
    root, _ = product_root(os.path.splitext(os.path.basename(filename))[0])
    candidate = os.path.join(directory, f"{root}_{suffix}.ecsv")
    return candidate if os.path.exists(candidate) else None


def find_drift_table(input_data, model, path=None, input_dir=None):
    """
    The drift table of an x1dints product: given, attached, or beside the input file.

    Order: ``path`` (must exist); a ``drift_table`` extension attached to the model (as
    ``wavelength_drift`` and ``lrs_tso`` attach it); ``<rootname>_drift.ecsv`` beside
    the input file.

    Parameters
    ----------
    input_data : str or datamodel
        What the step was given.
    model : datamodel
        The opened input.
    path : str, optional
        The user's drift table.
    input_dir : str, optional
        Directory of a model's file when its name has none.

    Returns
    -------
    table : `~astropy.table.Table` or None
        The drift table (an attached one carries the model's ``meta.wavelength_drift``
        as its meta when present).
    source : str or None
        Its path, ``'attached to input'``, or None.

    Raises
    ------
    ValueError
        If ``path`` is given but does not exist.
    """
    if path is not None:
        if not os.path.exists(path):
            raise ValueError(f"drift_table {path!r} does not exist.")
        return Table.read(path, format="ascii.ecsv"), str(path)
    attached = model.instance.get("drift_table")
    if attached is not None and len(attached) > 0:
        table = Table(np.asarray(attached))
        static = model.instance.get("meta", {}).get("wavelength_drift")
        if static:
            table.meta.update(dict(static))
        return table, "attached to input"
    candidate = beside_input(input_data, model, "drift", input_dir)
    if candidate is None:
        return None, None
    return Table.read(candidate, format="ascii.ecsv"), candidate


def product_table_meta(model):
    """
    Descriptive metadata of the product (as jwst's white_light table carries).

    Parameters
    ----------
    model : datamodel
        The x1dints product.

    Returns
    -------
    dict
        ``instrument, exp_type, subarray, filter, pupil, target_name`` and
        ``crds_context`` (the CRDS context whose references calibrated it).
    """
    meta = {}
    for key, attr in (
        ("instrument", "instrument.name"),
        ("exp_type", "exposure.type"),
        ("subarray", "subarray.name"),
        ("filter", "instrument.filter"),
        ("pupil", "instrument.pupil"),
        ("target_name", "target.catalog_name"),
        ("crds_context", "ref_file.crds.context_used"),
    ):
        obj = model.meta
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        meta[key] = obj
    return meta
