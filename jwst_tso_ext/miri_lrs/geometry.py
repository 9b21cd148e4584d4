"""Geometry and wavelength solution of MIRI LRS slitless (P750L, SLITLESSPRISM).

Numbers are flight values: the wavelength table is that of the public CRDS file
``jwst_miri_specwcs_0006`` (see the header of
``jwst_tso_ext/data/miri_lrs_slitless_wavelength_table.csv`` for provenance).
Pixel coordinates are 0-indexed subarray coordinates (x = column, y = row)
unless stated otherwise.
"""

from functools import lru_cache
from importlib.resources import files

import numpy as np

__all__ = [
    "N_ROWS",
    "N_COLUMNS",
    "N_REFERENCE_COLUMNS",
    "FRAME_TIME",
    "SUBSTRT1",
    "SUBSTRT2",
    "SUBARRAY_META",
    "NOMINAL_X",
    "NOMINAL_Y",
    "IMXSLTL",
    "IMYSLTL",
    "PIXEL_SCALE_ARCSEC",
    "PIXEL_AREA_SR",
    "wavelength_table",
    "wavelength_at_row",
    "row_at_wavelength",
    "trace_x_offset_at_row",
]

#: SLITLESSPRISM subarray size (rows, columns).
N_ROWS = 416
N_COLUMNS = 72
#: Columns 0..3 of the subarray are reference pixels (never illuminated).
N_REFERENCE_COLUMNS = 4
#: Frame time of SLITLESSPRISM in seconds.
FRAME_TIME = 0.15904
#: Subarray origin in the full frame (1-indexed), as in the FITS keywords.
SUBSTRT1 = 1
SUBSTRT2 = 529
#: Slitless reference point in the full frame (1-indexed), from the specwcs header.
IMXSLTL = 38.5
IMYSLTL = 829.0
#: Nominal star position in subarray coordinates (0-indexed).
NOMINAL_X = IMXSLTL - SUBSTRT1  # 37.5
NOMINAL_Y = IMYSLTL - SUBSTRT2  # 300.0
#: ``meta.subarray`` values of a SLITLESSPRISM product (SUBARRAY, SUBSTRT1/2, SUBSIZE1/2,
#: FASTAXIS, SLOWAXIS).
SUBARRAY_META = {
    "name": "SLITLESSPRISM",
    "xstart": SUBSTRT1,
    "ystart": SUBSTRT2,
    "xsize": N_COLUMNS,
    "ysize": N_ROWS,
    "fastaxis": 1,
    "slowaxis": 2,
}
#: Imager pixel scale and solid angle.
PIXEL_SCALE_ARCSEC = 0.11
PIXEL_AREA_SR = (PIXEL_SCALE_ARCSEC / 206264.80624709636) ** 2


@lru_cache(maxsize=1)
def wavelength_table():
    """Return the flight slitless wavelength table.

    Returns
    -------
    table : numpy.ndarray
        Structured array with the columns of the specwcs WAVETABLE
        (``x_center``, ``y_center``, ``wavelength``, ``x0`` ... ``y3``), ordered as in
        the flight file (``y_center`` decreasing, wavelength increasing).
    """
    path = files("jwst_tso_ext") / "data" / "miri_lrs_slitless_wavelength_table.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    table = np.genfromtxt(lines, delimiter=",", names=True)
    table.flags.writeable = False
    return table


def _monotonic_part():
    """Rows of the table where wavelength increases strictly with decreasing row."""
    table = wavelength_table()
    rows = NOMINAL_Y + table["y_center"]
    waves = table["wavelength"]
    keep = np.concatenate([[True], np.diff(waves) > 0])
    return rows[keep], waves[keep], table["x_center"][keep]


def wavelength_at_row(row, y_offset=0.0):
    """Wavelength (micron) that lands at subarray ``row`` for a star displaced by ``y_offset``.

    Parameters
    ----------
    row : float or array_like
        Subarray row coordinate (0-indexed, pixel centres at integers).
    y_offset : float or array_like, optional
        Displacement of the star along the rows from its nominal position, in pixels
        (positive toward higher row numbers). The spectrum moves with the star, so
        the wavelength at ``row`` is the nominal wavelength at ``row - y_offset``.

    Returns
    -------
    wavelength : numpy.ndarray
        Wavelength in micron; NaN outside the calibrated table.
    """
    rows, waves, _ = _monotonic_part()
    position = np.asarray(row, dtype=float) - np.asarray(y_offset, dtype=float)
    # np.interp needs increasing abscissae: the table has decreasing rows.
    return np.interp(position, rows[::-1], waves[::-1], left=np.nan, right=np.nan)


def row_at_wavelength(wavelength, y_offset=0.0):
    """Subarray row (0-indexed) where ``wavelength`` (micron) lands; see `wavelength_at_row`."""
    rows, waves, _ = _monotonic_part()
    nominal = np.interp(np.asarray(wavelength, dtype=float), waves, rows, left=np.nan, right=np.nan)
    return nominal + np.asarray(y_offset, dtype=float)


def trace_x_offset_at_row(row, y_offset=0.0):
    """Trace x offset (pixels) from ``NOMINAL_X`` at subarray ``row`` (flight trace curvature).

    Outside the table the end values are held constant.
    """
    rows, _, x_center = _monotonic_part()
    position = np.asarray(row, dtype=float) - np.asarray(y_offset, dtype=float)
    return np.interp(position, rows[::-1], x_center[::-1])
