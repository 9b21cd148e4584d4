"""Instrument response and wavelength solution from the references, for the static offset fit.

jwst's ``photom`` multiplies count rates (DN/s) by ``photmjsr * relresponse(lambda)`` to
get MJy/sr, so the detected count rate per unit F_nu is proportional to
``1 / (photmjsr * relresponse(lambda))``. The fit of the static dispersion offset
(`jwst_tso_ext.wavelength_drift.wavelength_solution.fit_static_y_offset`) needs only
its shape, which this module takes from the ``phot_table`` of the photom reference
that CRDS selects for the exposure (a plain structured array: no datamodels here).
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["InstrumentResponse", "response_from_phot_table", "wavelength_of_row_from_wavetable"]


def _text(value):
    """A table string cell (bytes or str) as stripped upper-case text."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip().upper()


class InstrumentResponse:
    """Relative detected count rate per unit F_nu, tabulated in wavelength.

    Calling it interpolates linearly; beyond the tabulated range the end values are
    held (the calibrated wavelength range of the specwcs may extend a little past
    the photom table).

    Parameters
    ----------
    wavelength : array_like
        Wavelengths in micron, increasing.
    response : array_like
        Relative response (peak 1) at those wavelengths.
    source : str, optional
        Where the curve comes from (for logs and metadata).
    """

    def __init__(self, wavelength, response, source=""):
        self.wavelength = np.asarray(wavelength, dtype=float)
        self.response = np.asarray(response, dtype=float)
        self.source = source

    def __call__(self, wavelength):
        """Relative response at ``wavelength`` (micron)."""
        return np.interp(np.asarray(wavelength, dtype=float), self.wavelength, self.response)


def response_from_phot_table(phot_table, filter_name="P750L", subarray="SLITLESSPRISM"):
    """Instrument response from the row of an LRS photom table matching filter and subarray.

    Parameters
    ----------
    phot_table : numpy.ndarray
        Structured array with the columns of a ``MirLrsPhotomModel.phot_table``
        (``filter``, ``subarray``, ``photmjsr``, ``wavelength``, ``relresponse`` and,
        optionally, ``nelem``).
    filter_name, subarray : str, optional
        Values to match; a row with subarray ``GENERIC`` is used when no row matches
        the subarray (as jwst's photom step does).

    Returns
    -------
    response : InstrumentResponse

    Raises
    ------
    ValueError
        If the table lacks the columns, no row matches, or the row holds fewer than two
        usable (finite, positive) relative responses.
    """
    table = np.asarray(phot_table)
    names = table.dtype.names or ()
    needed = ("filter", "subarray", "wavelength", "relresponse")
    missing = [name for name in needed if name not in names]
    if missing:
        raise ValueError(
            f"photom table lacks the column(s) {', '.join(missing)}: not an LRS photom reference"
        )
    filters = np.array([_text(value) for value in table["filter"]])
    subarrays = np.array([_text(value) for value in table["subarray"]])
    wanted = _text(filter_name)
    row = None
    for candidate in (_text(subarray), "GENERIC"):
        match = np.flatnonzero((filters == wanted) & (subarrays == candidate))
        if match.size:
            row = table[match[0]]
            break
    if row is None:
        raise ValueError(
            f"photom table has no row for filter {wanted} and subarray {_text(subarray)} "
            "(nor GENERIC)"
        )
    wave = np.atleast_1d(np.asarray(row["wavelength"], dtype=float))
    relresponse = np.atleast_1d(np.asarray(row["relresponse"], dtype=float))
    if "nelem" in names and int(row["nelem"]) > 0:
        nelem = int(row["nelem"])
        wave, relresponse = wave[:nelem], relresponse[:nelem]
    if wave.size and 0.0 < np.nanmax(wave) < 1.0e-4:
        wave = wave * 1.0e6  # metres to micron, as jwst's photom step accepts
    photmjsr = float(row["photmjsr"]) if "photmjsr" in names else 1.0
    if not np.isfinite(photmjsr) or photmjsr <= 0:
        photmjsr = 1.0  # only the shape matters
    usable = np.isfinite(wave) & np.isfinite(relresponse) & (relresponse > 0) & (wave > 0)
    if usable.sum() < 2:
        raise ValueError(
            f"photom row for {wanted}/{_text(subarray)} has fewer than two usable "
            "(finite, positive) relresponse values"
        )
    wave, relresponse = wave[usable], relresponse[usable]
    order = np.argsort(wave)
    wave, relresponse = wave[order], relresponse[order]
    keep = np.concatenate([[True], np.diff(wave) > 0])
    response = 1.0 / (photmjsr * relresponse[keep])
    return InstrumentResponse(wave[keep], response / response.max(), source="photom")


def wavelength_of_row_from_wavetable(wavetable, y_ref_slitless, ystart):
    """Nominal wavelength at a subarray row from a slitless specwcs ``wavetable``.

    The table's wavelengths are interpolated linearly in row (they are the calibration
    at its nodes; jwst's ``assign_wcs`` smooths them with a spline instead, which
    departs from the nodes by up to ~0.025 micron below 5 micron). Only the part where
    the wavelength increases with decreasing row, from the first table entry on, is
    used (the blue end of the LRS table folds back).

    Parameters
    ----------
    wavetable : numpy.ndarray
        Structured array with ``y_center`` (rows relative to the slitless reference
        point) and ``wavelength`` (micron) columns.
    y_ref_slitless : float
        Slitless reference row (full frame, 1-indexed), the specwcs ``IMYSLTL``.
    ystart : int
        First row of the subarray in the full frame (1-indexed, ``SUBSTRT2``).

    Returns
    -------
    wavelength_of_row : callable
        Maps 0-indexed subarray row coordinates to wavelengths (micron), NaN outside
        the table.

    Raises
    ------
    ValueError
        If the table has fewer than two usable rows.
    """
    table = np.asarray(wavetable)
    try:
        y_center = np.asarray(table["y_center"], dtype=float)
        wave = np.asarray(table["wavelength"], dtype=float)
    except (KeyError, ValueError, IndexError) as error:
        raise ValueError(
            f"specwcs wavetable lacks y_center / wavelength columns ({error})"
        ) from error
    rows = y_center + float(y_ref_slitless) - float(ystart)
    order = np.argsort(-rows, kind="stable")
    rows, wave = rows[order], wave[order]
    finite = np.isfinite(rows) & np.isfinite(wave)
    rows, wave = rows[finite], wave[finite]
    keep = np.zeros(wave.size, dtype=bool)
    highest = -np.inf
    for index, value in enumerate(wave):  # a few hundred table rows
        if value > highest:
            keep[index] = True
            highest = value
    rows, wave = rows[keep], wave[keep]
    if rows.size < 2:
        raise ValueError("specwcs wavetable has fewer than two usable rows")

    def wavelength_of_row(row):
        return np.interp(
            np.asarray(row, dtype=float), rows[::-1], wave[::-1], left=np.nan, right=np.nan
        )

    return wavelength_of_row
