"""Combine per-segment 1-D TSO products into one product with one row per integration."""

import copy
import logging
import re

import numpy as np
from astropy.table import Table, vstack
from stdatamodels.jwst import datamodels

log = logging.getLogger(__name__)

__all__ = ["combine_x1dints", "combine_tables", "exposure_root"]

_SEGMENT = re.compile(r"_seg\d{3}")


def exposure_root(filename):
    """Exposure root name with the ``_segNNN`` part and any pipeline suffix removed.

    ``jw01366004001_04101_00001-seg002_mirimage_uncal.fits`` style names keep their
    structure; only the ``_segNNN`` token (MIRISim / our simulator) is removed.
    """

    name = str(filename).rsplit("/", 1)[-1]
    for ext in (".fits", ".ecsv", ".asdf"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    name = _SEGMENT.sub("", name)
    parts = name.rsplit("_", 1)
    if len(parts) == 2 and parts[1] in {
        "uncal",
        "rate",
        "rateints",
        "calints",
        "x1dints",
        "ramp",
        "trapsfilled",
        "whtlt",
    }:
        name = parts[0]
    return name


def combine_x1dints(products):
    """Concatenate the spectra of several segments' x1dints products.

    Parameters
    ----------
    products : list of `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        One product per segment, in any order. Each holds one spectrum (``spec[0]``)
        whose table has one row per integration, and an ``int_times`` table.

    Returns
    -------
    combined : `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        One spectrum with one row per integration, sorted by integration number, and the
        concatenated ``int_times`` table. Metadata is taken from the first segment.

    Raises
    ------
    ValueError
        If no product is given, a product has no spectra, or integration numbers repeat.
    """
    if not products:
        raise ValueError("no x1dints products to combine")
    for product in products:
        if len(product.spec) == 0:
            raise ValueError(f"{product.meta.filename}: x1dints product holds no spectra")

    tables = [np.asarray(p.spec[0].spec_table) for p in products]
    int_numbers = np.concatenate([_integration_numbers(t) for t in tables])
    order = np.argsort(int_numbers, kind="stable")
    if np.unique(int_numbers).size != int_numbers.size:
        raise ValueError("segments overlap: the same integration number appears twice")

    combined = datamodels.TSOMultiSpecModel()
    combined.update(products[0], only="PRIMARY")
    combined.spec.append(combined.spec.item())
    spec = combined.spec[0]
    for key, value in products[0].spec[0].instance.items():
        if key != "spec_table":
            setattr(spec, key, copy.deepcopy(value))
    spec.spec_table = np.concatenate(tables)[order]

    int_times = [np.asarray(p.int_times) for p in products if p.int_times is not None]
    int_times = [t for t in int_times if t.size]
    if int_times:
        times = np.concatenate(int_times)
        combined.int_times = times[np.argsort(times["integration_number"], kind="stable")]
    combined.meta.exposure.integration_start = int(int_numbers.min())
    combined.meta.exposure.integration_end = int(int_numbers.max())
    log.info(
        "Combined %d segment(s) into %d integrations (%d..%d)",
        len(products),
        int_numbers.size,
        int_numbers.min(),
        int_numbers.max(),
    )
    return combined


def _integration_numbers(spec_table):
    names = spec_table.dtype.names
    for name in ("INT_NUM", "int_num"):
        if name in names:
            return np.asarray(spec_table[name], dtype=int)
    raise ValueError("x1dints spectrum table has no INT_NUM column")


def combine_tables(tables, key="int_num"):
    """Stack per-segment tables (e.g. drift tables) and sort them by ``key``."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return None
    stacked = vstack(tables, metadata_conflicts="silent")
    stacked.sort(key)
    return Table(stacked)
