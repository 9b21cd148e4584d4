"""
Light-curve tables as input of the light-curve steps (plain astropy and numpy).

A light curve from another reduction (an Eureka! stage-4/5 table, ExoTiC-MIRI, an
archive release) or our own ``_whtlt.ecsv`` / ``_speclc.ecsv`` is read here into the
arrays the fits take, and checked: a bad table is one `ValueError` naming the problem,
raised before any fit or product.

* Columns are found by the names in common use (case-insensitive; see `TIME_NAMES`,
  `FLUX_NAMES`, `ERROR_NAMES`) or named by the caller.
* The time scale is read from the column's name (``BJD_TDB``, ``MJD_UTC``, ...) or
  from an astropy `~astropy.time.Time` column; a name that does not say (``time``) is
  taken as barycentric TDB, as Eureka! writes it (BMJD_TDB), and the assumption is
  logged and recorded. Times are kept as given (MJD or JD form): ``t0`` is in the
  table's own days.
* Masked or non-finite rows are skipped (logged with counts).
* A white-light table holds one row per integration; the long form (one row per time
  and wavelength bin, as ``spectral_light_curves`` writes its ``_speclc.ecsv``) is
  read into a (time x bin) grid.
"""

import logging
import os

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

log = logging.getLogger(__name__)

__all__ = [
    "ERROR_NAMES",
    "FLUX_NAMES",
    "TABLE_EXTENSIONS",
    "TIME_NAMES",
    "check_not_overwritten",
    "check_period",
    "is_light_curve_table",
    "is_table_file",
    "read_light_curve",
    "read_long_form",
]

#: Time column names in common use (lower case), in order of preference, with the
#: scale each says (BJD_TDB: barycentric TDB; MJD_UTC: UTC at the observatory).
TIME_NAMES = (
    ("bjd_tdb", "BJD_TDB"), ("bmjd_tdb", "BJD_TDB"), ("int_mid_bjd_tdb", "BJD_TDB"),
    ("tdb-mid", "BJD_TDB"), ("bjd", "BJD_TDB"), ("bmjd", "BJD_TDB"),
    ("mjd_utc", "MJD_UTC"), ("int_mid_mjd_utc", "MJD_UTC"), ("mjd-avg", "MJD_UTC"),
    ("mjd", "MJD_UTC"), ("time", "BJD_TDB"),
)
#: Flux column names in common use (lower case), in order of preference.
FLUX_NAMES = ("flux", "whitelight_flux", "lcdata", "white_flux", "rel_flux")
#: Flux-error column names in common use (lower case), in order of preference.
ERROR_NAMES = ("flux_err", "whitelight_flux_err", "lcerr", "flux_error", "flux_unc",
               "err", "error")
#: Wavelength column names of the long form (lower case).
WAVELENGTH_NAMES = ("wavelength", "wave")
#: File name endings read as light-curve tables (a FITS file is one when it holds a
#: table and no ASDF extension, see `is_table_file`).
TABLE_EXTENSIONS = (".ecsv", ".csv", ".txt", ".dat")
_FITS_EXTENSIONS = (".fits", ".fit", ".fits.gz")
_ASSUMED_SCALE = ("BMJD_TDB assumed: the column name {name!r} does not say (Eureka! and "
                  "most transit tools write barycentric TDB)")


def is_table_file(path):
    """
    Whether a path names a light-curve table rather than a JWST product.

    Parameters
    ----------
    path : str or os.PathLike
        A file name.

    Returns
    -------
    bool
        True for ``.ecsv``, ``.csv``, ``.txt`` and ``.dat`` files, and for a FITS file
        that holds a table and no ASDF extension (a JWST product always has one); False
        otherwise, also for a FITS file that cannot be opened (the product checks then
        report it).
    """
    name = os.fspath(path).lower()
    if name.endswith(TABLE_EXTENSIONS):
        return True
    if not name.endswith(_FITS_EXTENSIONS) or not os.path.isfile(path):
        return False
    try:
        with fits.open(path) as hdul:
            names = [hdu.name for hdu in hdul]
            has_table = any(isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) for hdu in hdul)
    except (OSError, ValueError):
        return False
    return has_table and "ASDF" not in names


def is_light_curve_table(obj):
    """
    Whether a step input is a light-curve table (an astropy Table or a table file).

    Parameters
    ----------
    obj : object
        What a step was given.

    Returns
    -------
    bool
        True for a `~astropy.table.Table` (or `~astropy.table.QTable`) or a path for
        which `is_table_file` holds.
    """
    if isinstance(obj, Table):
        return True
    return isinstance(obj, (str, os.PathLike)) and is_table_file(obj)


def _load(source):
    """The table and a description of where it came from (path or 'given table')."""
    if isinstance(source, Table):
        return source, "given table"
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"light-curve table not found: {path}")
    name = path.lower()
    fmt = ("ascii.ecsv" if name.endswith(".ecsv") else "ascii.csv" if name.endswith(".csv")
           else "fits" if name.endswith(_FITS_EXTENSIONS) else "ascii")
    try:
        table = Table.read(path, format=fmt)
    except Exception as error:  # astropy's readers raise many types; name the file
        raise ValueError(f"{path}: cannot be read as a light-curve table ({fmt}): "
                         f"{type(error).__name__}: {error}") from error
    return table, path


def _has_finite(column):
    """Whether a column holds any finite value (a Time column always does)."""
    if isinstance(column, Time):
        return True
    data = np.ma.filled(np.ma.asarray(getattr(column, "value", column)), np.nan)
    return data.dtype.kind not in "fiub" or bool(np.isfinite(data.astype(float)).any())


def _column(table, wanted, candidates, what, parameter, origin):
    """
    The name of a column: the caller's (must exist), else the first candidate present.

    A candidate without any finite value is passed over for a later one (our own
    ``_whtlt.ecsv`` holds a NaN ``BJD_TDB`` when only ``MJD_UTC`` was known).
    """
    if wanted:
        if wanted not in table.colnames:
            raise ValueError(f"{origin}: {parameter}={wanted!r} is not a column of the table "
                             f"(columns: {table.colnames}).")
        return wanted
    lower = {name.lower(): name for name in reversed(table.colnames)}
    present = [lower[candidate] for candidate in candidates if candidate in lower]
    filled = [name for name in present if _has_finite(table[name])]
    if present:
        return (filled or present)[0]
    raise ValueError(f"{origin}: no {what} column found: none of {list(candidates)} "
                     f"(any case) is among the columns {table.colnames}; name it with "
                     f"{parameter}.")


def _numeric(table, name, origin):
    """A column as float values and its mask (True: masked)."""
    column = table[name]
    if isinstance(column, Time):
        return column, np.zeros(len(table), bool)
    mask = np.ma.getmaskarray(column)
    data = np.ma.getdata(getattr(column, "value", column))
    if data.ndim != 1 or data.dtype.kind not in "fiub":
        raise ValueError(f"{origin}: column {name!r} is not a numeric column "
                         f"(dtype {data.dtype}, shape {data.shape}).")
    return np.array(data, dtype=float), mask


def _time_scale(name, column):
    """Scale (BJD_TDB or MJD_UTC), float values and the note of an assumption, if any."""
    if isinstance(column, Time):
        if column.scale == "tdb":
            return "BJD_TDB", np.array(column.mjd, float), (
                f"time column {name!r} is a TDB Time: barycentric assumed")
        return "MJD_UTC", np.array(column.utc.mjd, float), None
    lower = name.lower()
    if "tdb" in lower or "bjd" in lower or "bmjd" in lower:
        return "BJD_TDB", None, None
    if "utc" in lower:
        return "MJD_UTC", None, None
    if "mjd" in lower:
        return "MJD_UTC", None, f"UTC assumed: the column name {name!r} gives no scale"
    return "BJD_TDB", None, _ASSUMED_SCALE.format(name=name)


def _time_candidates(prefer):
    """`TIME_NAMES` with the preferred scale's own name first (our tables hold both)."""
    first = tuple(entry for entry in TIME_NAMES if entry[0] == prefer.lower())
    return tuple(name for name, _ in first + tuple(e for e in TIME_NAMES if e not in first))


def _columns(table, origin, time_column, flux_column, error_column, prefer):
    """Find the time, flux and error columns; read them with their masks."""
    names = {
        "time": _column(table, time_column, _time_candidates(prefer), "time",
                        "table_time_column", origin),
        "flux": _column(table, flux_column, FLUX_NAMES, "flux", "table_flux_column", origin),
        "error": _column(table, error_column, ERROR_NAMES, "flux-error",
                         "table_error_column", origin),
    }
    values = {key: _numeric(table, name, origin) for key, name in names.items()}
    scale, time_values, note = _time_scale(names["time"], table[names["time"]])
    declared = table.meta.get("time_column")
    if note and time_column is None and declared in ("BJD_TDB", "MJD_UTC"):
        # our own _speclc.ecsv: a 'time' column whose scale its metadata gives
        scale, note = declared, None
    if time_values is not None:
        values["time"] = (time_values, values["time"][1])
    if note:
        log.info(f"{origin}: {note}.")
    unit = getattr(table[names["flux"]], "unit", None)
    return names, values, scale, note, None if unit is None else str(unit)


def _regressors(table, names, origin, exclude):
    """The requested regressor columns present in the table, as float arrays."""
    names = [name for name in (names or []) if name]
    present = [name for name in names if name in table.colnames]
    missing = [name for name in names if name not in table.colnames]
    numeric = [name for name in table.colnames if name not in exclude
               and not isinstance(table[name], Time)
               and np.asarray(table[name]).dtype.kind in "fiu"
               and np.asarray(table[name]).ndim == 1]
    if missing and not present:
        log.info(f"{origin}: none of the regressors {missing} is a column of the table; no "
                 f"regressors used (numeric columns that can be named: {numeric}).")
    elif missing:
        log.warning(f"{origin}: regressors {missing} are not columns of the table; skipped "
                    f"(numeric columns that can be named: {numeric}).")
    out = {}
    for name in present:
        if name in exclude:
            raise ValueError(f"{origin}: regressor {name!r} is the light curve's own "
                             "time, flux or error column.")
        out[name] = _numeric(table, name, origin)
    return out


def _skip_rows(values, regressors, names, origin):
    """Rows with every needed value present and finite; log what is skipped and why."""
    n = len(values["time"][0])
    keep = np.ones(n, bool)
    counts = []
    for key, (data, mask) in list(values.items()) + list(regressors.items()):
        bad = mask | ~np.isfinite(data)
        label = names.get(key, key)
        if bad.all() and n:
            raise ValueError(f"{origin}: column {label!r} has no finite, unmasked value.")
        if bad.any():
            counts.append(f"{label!r} ({int(bad.sum())})")
        keep &= ~bad
    if counts:
        log.info(f"{origin}: {int((~keep).sum())} of {n} rows skipped: masked or non-finite "
                 f"{', '.join(counts)}.")
    if keep.sum() < 2:
        raise ValueError(f"{origin}: {int(keep.sum())} of {n} rows hold a finite time, flux "
                         "and error: a light curve needs at least two.")
    return keep


def _check_errors(error, rows, name, origin):
    """Every error positive."""
    bad = np.flatnonzero(error <= 0)
    if bad.size:
        listed = ", ".join(str(row) for row in rows[bad[:5]]) + (", ..." if bad.size > 5 else "")
        count = "1 row has" if bad.size == 1 else f"{bad.size} rows have"
        raise ValueError(f"{origin}: {count} a zero or negative {name!r} (rows {listed}; "
                         "counted from 0): errors must be positive.")


def _check_increasing(time, rows, name, origin, where=""):
    """Times strictly increasing (no repeats)."""
    step = np.diff(time)
    if (step > 0).all():
        return
    i = int(np.flatnonzero(step <= 0)[0])
    kind = "repeats" if step[i] == 0 else "is before"
    raise ValueError(f"{origin}: times must increase{where}: {name!r} of row {rows[i + 1]} "
                     f"({float(time[i + 1])!r}) {kind} that of row {rows[i]} "
                     f"({float(time[i])!r}) (rows counted from 0).")


def _int_num(table, rows):
    """Integration numbers: the table's ``int_num`` column, else the row number + 1."""
    if "int_num" in table.colnames:
        return np.asarray(table["int_num"], int)[rows]
    return rows + 1


def _time_slots(scale, time):
    """``mjd_utc`` and ``bjd_tdb`` arrays, the scale's filled and the other NaN."""
    empty = np.full(time.size, np.nan)
    return {"mjd_utc": time if scale == "MJD_UTC" else empty,
            "bjd_tdb": time if scale == "BJD_TDB" else empty.copy()}


def _source_meta(origin, names, scale, note, skipped):
    """What was read, for the product's metadata."""
    return {"input_table": origin, "input_time_column": names["time"],
            "input_flux_column": names["flux"], "input_error_column": names["error"],
            "input_time_scale": note or scale, "n_rows_skipped": int(skipped)}


def _wavelength_column(table, wanted, origin):
    """The wavelength column's name, or None."""
    if wanted:
        return _column(table, wanted, WAVELENGTH_NAMES, "wavelength",
                       "table_wavelength_column", origin)
    lower = {name.lower(): name for name in table.colnames}
    return next((lower[n] for n in WAVELENGTH_NAMES if n in lower), None)


def read_light_curve(source, *, time_column=None, flux_column=None, error_column=None,
                     regressors=(), prefer_time="BJD_TDB"):
    """
    Read and check a white-light (one row per integration) light-curve table.

    Parameters
    ----------
    source : `~astropy.table.Table` or str or os.PathLike
        The table, or an ECSV, CSV or FITS table file. A given table is not modified.
    time_column, flux_column, error_column : str, optional
        Column names; None: the first of `TIME_NAMES`, `FLUX_NAMES`, `ERROR_NAMES`
        present (any case).
    regressors : sequence of str
        Columns wanted as decorrelation regressors; those absent are skipped (logged).
    prefer_time : {'BJD_TDB', 'MJD_UTC'}
        Column name preferred when the table holds both (as our ``_whtlt.ecsv`` does).

    Returns
    -------
    dict
        ``int_num``, ``mjd_utc``, ``bjd_tdb`` (the time in the slot of its scale, the
        other NaN), ``time_scale`` (``BJD_TDB`` or ``MJD_UTC``), ``flux``, ``error``
        (n,), ``flux_unit`` (str or None), ``regressors`` (dict of name to (n,)
        arrays) and ``meta`` (the input table, the columns read, the time scale or the
        assumption made, the rows skipped), for the rows kept.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be read, a column is not found or not numeric, the table is
        in long form (several wavelengths), a column has no finite value, fewer than two
        rows remain, times do not strictly increase, or an error is zero or negative.
    """
    table, origin = _load(source)
    names, values, scale, note, unit = _columns(table, origin, time_column, flux_column,
                                                error_column, prefer_time)
    wave_name = _wavelength_column(table, None, origin)
    if wave_name is not None:
        waves = np.unique(np.asarray(table[wave_name], float))
        if waves.size > 1:
            raise ValueError(f"{origin}: the table holds {waves.size} wavelengths in "
                             f"{wave_name!r} (long form, one row per time and bin): "
                             "spectral_light_curves reads it; detrended_white_light needs "
                             "one light curve.")
    extra = _regressors(table, regressors, origin, exclude=set(names.values()))
    keep = _skip_rows(values, extra, names, origin)
    rows = np.flatnonzero(keep)
    time, flux, error = (values[key][0][keep] for key in ("time", "flux", "error"))
    _check_increasing(time, rows, names["time"], origin)
    _check_errors(error, rows, names["error"], origin)
    log.info(f"{origin}: {rows.size} integrations read (time {names['time']!r} as {scale}, "
             f"flux {names['flux']!r}, error {names['error']!r}).")
    return dict(
        _time_slots(scale, time), time_scale=scale, int_num=_int_num(table, rows), flux=flux,
        error=error,
        flux_unit=unit, regressors={name: data[keep] for name, (data, _) in extra.items()},
        meta=_source_meta(origin, names, scale, note, keep.size - rows.size),
    )


def read_long_form(source, *, time_column=None, flux_column=None, error_column=None,
                   wavelength_column=None, regressors=(), prefer_time="BJD_TDB"):
    """
    Read and check a long-form table of spectroscopic light curves.

    One row per time and wavelength bin, as ``spectral_light_curves`` writes its
    ``_speclc.ecsv`` (``wavelength``, ``time``, ``flux``, ``flux_err``, ...). Every
    bin becomes one column of a (time x bin) grid; a bin without a row at a time, or
    with a skipped row, is a bad entry there (NaN), which the bin fit excludes.

    Parameters
    ----------
    source : `~astropy.table.Table` or str or os.PathLike
        The table or its file. A given table is not modified.
    time_column, flux_column, error_column : str, optional
        As for `read_light_curve`.
    wavelength_column : str, optional
        Bin centre (micron); None: ``wavelength`` or ``wave``.
    regressors : sequence of str
        Columns wanted as regressors (one value per time: the first bin's is used).
    prefer_time : {'BJD_TDB', 'MJD_UTC'}
        Column name preferred when the table holds both.

    Returns
    -------
    dict
        As `~jwst_tso_ext.lightcurve.binning.spectra_from_model` returns (``int_num``,
        ``mjd_utc``, ``bjd_tdb``, ``wavelength`` (nbins,), ``flux`` and ``error``
        (ntimes, nbins), ``dq`` (zeros), ``flux_unit``), plus ``time_scale``,
        ``regressors`` and ``meta``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        As `read_light_curve`, and for no wavelength column, a non-finite wavelength,
        or times that do not strictly increase within a bin.
    """
    table, origin = _load(source)
    names, values, scale, note, unit = _columns(table, origin, time_column, flux_column,
                                                error_column, prefer_time)
    wave_name = _wavelength_column(table, wavelength_column, origin)
    if wave_name is None:
        raise ValueError(f"{origin}: no wavelength column ({list(WAVELENGTH_NAMES)}) in "
                         f"{table.colnames}: the long form has one row per time and bin.")
    wave, wave_mask = _numeric(table, wave_name, origin)
    if (wave_mask | ~np.isfinite(wave)).any():
        raise ValueError(f"{origin}: column {wave_name!r} has masked or non-finite values.")
    extra = _regressors(table, regressors, origin, exclude={*names.values(), wave_name})
    time, time_mask = values["time"]
    if (time_mask | ~np.isfinite(time)).any():
        log.info(f"{origin}: {int((time_mask | ~np.isfinite(time)).sum())} rows without a "
                 "finite time; skipped.")
    has_time = ~time_mask & np.isfinite(time)
    # flux, error and regressor checks on the rows with a time
    kept = {key: (data[has_time], mask[has_time]) for key, (data, mask) in values.items()}
    extra_kept = {key: (data[has_time], mask[has_time]) for key, (data, mask) in extra.items()}
    keep = _skip_rows(kept, extra_kept, names, origin)
    rows = np.flatnonzero(has_time)
    wave, time = wave[has_time], time[has_time]
    centers, bin_index = np.unique(wave, return_inverse=True)
    for j in range(centers.size):
        member = bin_index == j
        _check_increasing(time[member], rows[member], names["time"], origin,
                          where=f" within the bin at {centers[j]:g}")
    _check_errors(kept["error"][0][keep], rows[keep], names["error"], origin)
    times, time_index = np.unique(time, return_inverse=True)
    flux = np.full((times.size, centers.size), np.nan)
    error = np.full((times.size, centers.size), np.nan)
    flux[time_index[keep], bin_index[keep]] = kept["flux"][0][keep]
    error[time_index[keep], bin_index[keep]] = kept["error"][0][keep]
    # one value per time: the first row of each time
    first = np.unique(time_index, return_index=True)[1]
    int_num = (_int_num(table, rows)[first] if "int_num" in table.colnames
               else np.arange(times.size) + 1)
    holes = int(np.isnan(flux).sum())
    log.info(f"{origin}: {centers.size} wavelength bins x {times.size} times read (time "
             f"{names['time']!r} as {scale}, flux {names['flux']!r}, error "
             f"{names['error']!r}){f'; {holes} entries missing or skipped' if holes else ''}.")
    meta = _source_meta(origin, names, scale, note, int((~has_time).sum() + (~keep).sum()))
    meta["input_wavelength_column"] = wave_name
    return dict(
        _time_slots(scale, times), time_scale=scale, int_num=int_num, wavelength=centers,
        flux=flux,
        error=error, dq=np.zeros(flux.shape, np.uint32), flux_unit=unit,
        regressors={name: data[first] for name, (data, _) in extra_kept.items()},
        meta=meta,
    )


def check_period(time, period):
    """
    Check that an orbital period is positive and longer than the cadence.

    Parameters
    ----------
    time : ndarray (n,)
        Times of the light curve (days).
    period : float or None
        Orbital period (days); None is not checked.

    Raises
    ------
    ValueError
        If the period is not positive or not longer than the median time step.
    """
    if period is None:
        return
    time = np.asarray(time, float)
    time = time[np.isfinite(time)]
    cadence = float(np.median(np.diff(time))) if time.size > 1 else 0.0
    if not period > 0 or period <= cadence:
        raise ValueError(f"period={period!r} d is not longer than the data's cadence "
                         f"({cadence:.6g} d = {86400 * cadence:.1f} s): give the orbital "
                         "period in days.")


def check_not_overwritten(input_path, output_path):
    """
    Refuse a product path that is the input table itself (a refit of our own table).

    Parameters
    ----------
    input_path, output_path : str or os.PathLike
        The table read and the product to write.

    Raises
    ------
    ValueError
        If both name the same file.
    """
    same = os.path.abspath(os.fspath(input_path)) == os.path.abspath(os.fspath(output_path))
    if same or (os.path.exists(output_path) and os.path.samefile(input_path, output_path)):
        raise ValueError(f"The product {output_path} would overwrite the input table: give "
                         "output_dir or output_file, so that the table read stays as it is.")
