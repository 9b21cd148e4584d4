"""What `LrsTsoPipeline` does with the outlier flags: per-integration counts and 1-D bins.

Plain functions on tables and arrays (the x1dints adapter takes the model).
"""

import logging

import numpy as np
from stdatamodels.jwst.datamodels import dqflags

log = logging.getLogger(__name__)

__all__ = ["add_outlier_counts", "flag_incomplete_bins", "incomplete_bins", "log_summary"]

#: The ``DO_NOT_USE`` bit of the JWST DQ flags.
DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]


def add_outlier_counts(drift_table, model):
    """Add the ``n_outliers`` column of ``model.outlier_counts`` to a drift table.

    Parameters
    ----------
    drift_table : astropy.table.Table or None
        The segment's drift table (``int_num`` column), or None.
    model : `~stdatamodels.jwst.datamodels.CubeModel`
        Output of ``tso_outlier_detection``; without ``outlier_counts`` (step skipped)
        the table is returned unchanged.

    Returns
    -------
    astropy.table.Table or None
        ``drift_table`` with ``n_outliers`` (0 for integrations the counts do not
        cover), or None when there is no drift table (the counts are then only logged).
    """
    counts = getattr(model, "outlier_counts", None)
    if counts is None or drift_table is None:
        return drift_table
    counts = np.asarray(counts)
    lookup = dict(zip(counts["int_num"].tolist(), counts["n_outliers"].tolist(), strict=True))
    merged = drift_table.copy()
    merged["n_outliers"] = np.array(
        [lookup.get(int(n), 0) for n in np.asarray(drift_table["int_num"])], dtype=np.int32
    )
    merged["n_outliers"].description = "pixels flagged by tso_outlier_detection"
    return merged


def incomplete_bins(npixels, tolerance=1e-6):
    """Spectral bins whose aperture sum lost pixels in some integrations.

    Parameters
    ----------
    npixels : numpy.ndarray
        ``(nints, nwave)`` summed aperture weights of the valid pixels (``NPIXELS``).
    tolerance : float
        Weight difference below which two sums count as equal.

    Returns
    -------
    numpy.ndarray of bool
        ``(nints, nwave)``, True where a bin has fewer valid pixels than its most
        complete integration.
    """
    npixels = np.asarray(npixels, dtype=float)
    with np.errstate(invalid="ignore"):
        full = np.nanmax(np.where(np.isfinite(npixels), npixels, -np.inf), axis=0)
        return npixels < full - tolerance


def flag_incomplete_bins(x1d):
    """Mark x1dints bins whose box sum misses pixels as ``DO_NOT_USE``.

    A box extraction sums the valid pixels only, so a pixel flagged in one integration
    lowers that bin's flux by the pixel's whole signal; the flag tells
    ``detrended_white_light`` (and any spectroscopic light curve) to treat the bin as
    bad in that integration rather than as a drop in flux. Fluxes are not changed.

    Parameters
    ----------
    x1d : `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
        One segment's extraction product (changed in place).

    Returns
    -------
    int
        Number of (integration, bin) entries newly marked.
    """
    marked = 0
    for spec in x1d.spec:
        table = spec.spec_table
        names = table.dtype.names
        if "NPIXELS" not in names or "DQ" not in names:
            continue
        npixels = np.asarray(table["NPIXELS"])
        dq = np.asarray(table["DQ"])
        if npixels.ndim != 2:
            continue
        missing = incomplete_bins(npixels) & ((dq & DO_NOT_USE) == 0)
        if missing.any():
            table["DQ"] = dq | np.where(missing, DO_NOT_USE, 0).astype(dq.dtype)
            marked += int(missing.sum())
    if marked:
        log.info(
            "%d spectral bins miss flagged pixels in their aperture: marked DO_NOT_USE", marked
        )
    return marked


def log_summary(drift_table):
    """Log the exposure's outlier counts (nothing if the table has no ``n_outliers``)."""
    if drift_table is None or "n_outliers" not in drift_table.colnames:
        return
    counts = np.asarray(drift_table["n_outliers"])
    if counts.size == 0:
        return
    worst = int(np.argmax(counts))
    log.info(
        "tso_outlier_detection: %d pixels flagged in %d of %d integrations "
        "(median %.1f per integration, at most %d, in integration %d)",
        int(counts.sum()),
        int(np.count_nonzero(counts)),
        counts.size,
        float(np.median(counts)),
        int(counts[worst]),
        int(drift_table["int_num"][worst]),
    )
