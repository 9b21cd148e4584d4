"""Spectra products of older jwst versions in today's layout.

Until jwst 1.18 an ``x1dints`` product was a ``MultiSpecModel`` with one spectrum
(``EXTRACT1D`` extension) per integration, the integration number and times in each
extension's header (``INT_NUM``, ``MJD-AVG``, ``TDB-MID`` ...). Today it is a
``TSOMultiSpecModel`` with one spectrum per order whose table has one row per
integration. `tso_spectra` turns the first into the second so that the rest of the
package reads one layout.
"""

import logging

import numpy as np
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from stdatamodels.jwst import datamodels

__all__ = ["spectra_count", "tso_spectra"]

log = logging.getLogger(__name__)

#: Spectrum-level time attributes of the old layout -> columns of the TSO table.
_TIME_ATTRIBUTES = {
    "start_time_mjd": "MJD-BEG",
    "mid_time_mjd": "MJD-AVG",
    "end_time_mjd": "MJD-END",
    "start_tdb": "TDB-BEG",
    "mid_tdb": "TDB-MID",
    "end_tdb": "TDB-END",
}


def spectra_count(model):
    """Integrations held by a spectra product (rows of a TSO table, or spectra).

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.MultiSpecModel` or `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        An x1dints product of any jwst version.

    Returns
    -------
    int
    """  # noqa: E501
    if len(model.spec) == 0:
        return 0
    if isinstance(model, datamodels.TSOMultiSpecModel):
        return len(model.spec[0].spec_table)
    return len(model.spec)


def tso_spectra(model, name):
    """An x1dints product in today's layout (``TSOMultiSpecModel``).

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.MultiSpecModel` or `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        The product as read. Not modified.
    name : str
        Its name, for the log.

    Returns
    -------
    `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        ``model`` itself when already in today's layout, else a new model holding one
        spectrum whose table has one row per integration (``INT_NUM`` and times taken
        from each old spectrum; where an old spectrum has no integration number, its
        position in the file is assumed, and logged).

    Raises
    ------
    ValueError
        If the product holds no spectra, or spectra of several orders or sources (not
        an LRS slitless time series).
    """  # noqa: E501
    if isinstance(model, datamodels.TSOMultiSpecModel):
        return model
    spectra = list(model.spec)
    if not spectra:
        raise ValueError(f"{name}: the x1dints product holds no spectra")
    orders = {getattr(spec, "spectral_order", None) for spec in spectra}
    if len(orders) > 1:
        raise ValueError(f"{name}: spectra of several orders ({sorted(map(str, orders))})")
    log.info(
        "%s: x1dints of an older jwst version (one spectrum per integration, %d spectra): "
        "converted to one table with a row per integration",
        name,
        len(spectra),
    )
    tso_spec = make_tso_specmodel(spectra)
    table = tso_spec.spec_table
    numbers = [getattr(spec, "int_num", None) for spec in spectra]
    if any(number is None for number in numbers):
        start = model.meta.exposure.integration_start
        start = 1 if start is None else int(start)
        log.info(
            "%s: INT_NUM missing on some spectra: integration numbers assumed to follow the "
            "order of the spectra from INTSTART=%d",
            name,
            start,
        )
        numbers = [start + index for index in range(len(spectra))]
    table["INT_NUM"] = np.asarray(numbers, dtype=int)
    for attribute, column in _TIME_ATTRIBUTES.items():
        values = [getattr(spec, attribute, None) for spec in spectra]
        table[column] = np.array([np.nan if v is None else v for v in values], dtype=float)

    result = datamodels.TSOMultiSpecModel()
    result.update(model, only="PRIMARY")
    result.spec.append(tso_spec)
    if model.hasattr("int_times") and model.int_times is not None and len(model.int_times):
        result.int_times = model.int_times
    return result
