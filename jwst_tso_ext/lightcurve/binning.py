"""
Summation over one common set of wavelength bins, with gap filling.

Everything here works on plain numpy arrays (``nints x nwave``); the only function that
knows about datamodels is :func:`spectra_from_model`, the adapter used by the step.

Gap-filling strategy
--------------------
The white light curve must be a sum over the *same* wavelength bins in every
integration, otherwise a bin that drops out of one integration makes a fake dip.

1. A bin is *bad* in an integration when its flux or error is not finite, its error is
   not positive, or its DQ has ``DO_NOT_USE`` set.
2. A bin bad in more than ``max_bad_fraction`` of the integrations is excluded from the
   sum in every integration (logged).
3. Every other bad (integration, bin) entry is filled with a prediction:
   ``fill = s_i * m_ij``, where ``s_i`` is the relative brightness of integration ``i``
   (median over its good bins of flux divided by that bin's median in time; this
   carries transit, ramp and drift) and ``m_ij`` is the median of the scale-free
   values ``flux / s`` of the same bin over the good integrations within
   ``fill_window`` integrations of ``i`` (its neighbours in time).  For a spectrum that
   factorizes into (time) x (wavelength) this is exact, so the white-light value of the
   integration is essentially unchanged.
4. The error of a filled entry is ``sqrt(sigma_j**2 + sigma_pred**2)``: ``sigma_j`` is
   the median reported error of the bin (the noise the lost measurement would have
   carried, which no prediction can know) and ``sigma_pred`` the error of the median
   prediction, ``sqrt(pi/2) * max(sigma_j, scatter_j) / sqrt(n_neighbours)``.  So only
   that integration's error bar grows.
"""

import logging

import numpy as np
from stdatamodels.jwst.datamodels import dqflags

log = logging.getLogger(__name__)

__all__ = [
    "spectra_from_model",
    "time_axis",
    "bad_bin_mask",
    "fill_bad_bins",
    "sum_white_light",
    "sum_bins",
    "bin_edges",
]

#: DQ bit of a bin not to be used.
DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]


def spectra_from_model(model):
    """
    Unpack an x1dints model into arrays of time, wavelength, flux, error and DQ.

    Two layouts are supported:

    * jwst >= 1.17 / 3.x ``TSOMultiSpecModel``: ``model.spec[0].spec_table`` has one row
      per integration with vector columns ``WAVELENGTH``, ``FLUX``, ``FLUX_ERROR``,
      ``DQ`` and scalar time columns ``MJD-AVG`` and ``TDB-MID``;
    * older ``MultiSpecModel``: one ``spec`` per integration, each a table with one row
      per wavelength; times from ``int_times`` (``int_mid_MJD_UTC``,
      ``int_mid_BJD_TDB``) when present, else from the spec's own metadata.

    Only the first spectral order / detector is used (MIRI LRS has one).

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.TSOMultiSpecModel` or `~stdatamodels.jwst.datamodels.MultiSpecModel`
        The x1dints product.

    Returns
    -------
    dict
        Keys ``int_num`` (nints,), ``mjd_utc`` (nints,), ``bjd_tdb`` (nints,),
        ``wavelength`` (nints, nwave), ``flux``, ``error``, ``dq`` (nints, nwave) and
        ``flux_unit`` (str or None).  All arrays are fresh copies.
    """  # noqa: E501
    spec0 = model.spec[0]
    table = spec0.spec_table
    names = [n.upper() for n in table.dtype.names]
    if table["WAVELENGTH"].ndim == 2:
        # TSOMultiSpecModel: one row per integration, vector columns
        nints = len(table)
        wave = np.array(table["WAVELENGTH"], dtype=float)
        flux = np.array(table["FLUX"], dtype=float)
        err = np.array(table["FLUX_ERROR"], dtype=float)
        dq = np.array(table["DQ"], dtype=np.uint32) if "DQ" in names else np.zeros(flux.shape, "u4")
        nan = np.full(nints, np.nan)
        int_num = np.array(table["INT_NUM"], int) if "INT_NUM" in names else np.arange(nints) + 1
        mjd = np.array(table["MJD-AVG"], dtype=float) if "MJD-AVG" in names else nan.copy()
        bjd = np.array(table["TDB-MID"], dtype=float) if "TDB-MID" in names else nan.copy()
        unit = _flux_unit(table)
    else:
        # Older MultiSpecModel: one spec per integration
        specs = list(model.spec)
        nints = len(specs)
        nwave = max(len(s.spec_table) for s in specs)
        wave = np.full((nints, nwave), np.nan)
        flux = np.full((nints, nwave), np.nan)
        err = np.full((nints, nwave), np.nan)
        dq = np.zeros((nints, nwave), dtype=np.uint32)
        for i, s in enumerate(specs):
            n = len(s.spec_table)
            wave[i, :n] = s.spec_table["WAVELENGTH"]
            flux[i, :n] = s.spec_table["FLUX"]
            err[i, :n] = s.spec_table["FLUX_ERROR"]
            dq[i, :n] = s.spec_table["DQ"]
        int_num = np.array([getattr(s, "int_num", None) or i + 1 for i, s in enumerate(specs)])
        mjd = np.full(nints, np.nan)
        bjd = np.full(nints, np.nan)
        int_times = getattr(model, "int_times", None)
        if int_times is not None and len(int_times) > 0:
            lookup = {int(r["integration_number"]): r for r in int_times}
            for i, n in enumerate(int_num):
                if int(n) in lookup:
                    mjd[i] = lookup[int(n)]["int_mid_MJD_UTC"]
                    bjd[i] = lookup[int(n)]["int_mid_BJD_TDB"]
        unit = _flux_unit(specs[0].spec_table)
    return {
        "int_num": int_num,
        "mjd_utc": mjd,
        "bjd_tdb": bjd,
        "wavelength": wave,
        "flux": flux,
        "error": err,
        "dq": dq,
        "flux_unit": None if unit is None else str(unit),
    }


def time_axis(spectra, time_column="BJD_TDB"):
    """
    The time axis of a light-curve fit, from the spectra's integration times.

    Parameters
    ----------
    spectra : dict
        As returned by :func:`spectra_from_model`.
    time_column : {'BJD_TDB', 'MJD_UTC'}
        Wanted axis; BJD_TDB falls back to MJD_UTC when any BJD_TDB time is missing,
        and either falls back to the integration number when no time is known.

    Returns
    -------
    time : ndarray (nints,)
        Times (days, or integration numbers).
    time_column : str
        The axis used: ``BJD_TDB``, ``MJD_UTC`` or ``INT_NUM``.
    """
    mjd = np.asarray(spectra["mjd_utc"], float)
    bjd = np.asarray(spectra["bjd_tdb"], float)
    if time_column == "BJD_TDB" and np.isfinite(bjd).all():
        time = bjd
    else:
        if time_column == "BJD_TDB":
            log.warning("BJD_TDB times missing; fitting against MJD_UTC.")
        time_column = "MJD_UTC"
        time = mjd
    if not np.isfinite(time).any():
        log.warning("No integration times in the input; using integration number as time.")
        time = np.asarray(spectra["int_num"], float)
        time_column = "INT_NUM"
    return time, time_column


def _flux_unit(table):
    """FLUX column unit of a FITS_rec spec table, or None for a plain array."""
    columns = getattr(table, "columns", None)
    try:
        return columns["FLUX"].unit if columns is not None else None
    except (KeyError, AttributeError):
        return None


def bad_bin_mask(flux, error, dq=None):
    """
    Flag unusable (integration, bin) entries.

    Parameters
    ----------
    flux, error : ndarray (nints, nwave)
        Flux and its 1-sigma error.
    dq : ndarray (nints, nwave), optional
        DQ flags; entries with ``DO_NOT_USE`` are bad.

    Returns
    -------
    ndarray of bool (nints, nwave)
        True where the entry is bad.
    """
    bad = ~np.isfinite(flux) | ~np.isfinite(error) | ~(error > 0)
    if dq is not None:
        bad |= (np.asarray(dq).astype(np.uint32) & DO_NOT_USE) != 0
    return bad


def fill_bad_bins(flux, error, bad, fill_window=10):
    """
    Fill bad entries with a time-local, brightness-scaled median (see module docstring).

    Parameters
    ----------
    flux, error : ndarray (nints, nwave)
        Flux and error of the bins to be summed (already restricted in wavelength and
        to bins that are kept).  Not modified.
    bad : ndarray of bool (nints, nwave)
        Entries to fill.
    fill_window : int
        Half-width, in integrations, of the neighbourhood used for the median.

    Returns
    -------
    flux_filled, error_filled : ndarray (nints, nwave)
        Copies with bad entries replaced.
    """
    flux_f = np.array(flux, dtype=float)
    err_f = np.array(error, dtype=float)
    if not bad.any():
        return flux_f, err_f
    good_flux = np.where(bad, np.nan, flux_f)
    bin_level = np.nanmedian(good_flux, axis=0)  # (nwave,)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.nanmedian(good_flux / bin_level, axis=1)  # (nints,)
        scale = np.where(np.isfinite(scale), scale, np.nanmedian(scale))
        scale_free = good_flux / scale[:, None]
    sigma_bin = np.nanmedian(np.where(bad, np.nan, err_f), axis=0)
    resid = scale_free - bin_level
    scatter = 1.4826 * np.nanmedian(np.abs(resid - np.nanmedian(resid, axis=0)), axis=0)
    nints = flux_f.shape[0]
    for i, j in zip(*np.nonzero(bad), strict=True):
        lo, hi = max(0, i - fill_window), min(nints, i + fill_window + 1)
        neigh = scale_free[lo:hi, j]
        neigh = neigh[np.isfinite(neigh)]
        if neigh.size == 0:
            neigh = scale_free[np.isfinite(scale_free[:, j]), j]
        level = np.median(neigh)
        flux_f[i, j] = scale[i] * level
        sig = sigma_bin[j] * scale[i]
        sig_pred = np.sqrt(np.pi / 2) * max(sig, scatter[j] * scale[i]) / np.sqrt(neigh.size)
        err_f[i, j] = np.hypot(sig, sig_pred)
    return flux_f, err_f


def bin_edges(min_wave=5.0, max_wave=12.0, width=None, resolving_power=None, edges=None):
    """
    Wavelength bin edges: given, of constant width, or of constant resolving power.

    Parameters
    ----------
    min_wave, max_wave : float
        Range (micron) covered by the bins when ``edges`` is not given.
    width : float, optional
        Constant bin width (micron); the last bin ends at or below ``max_wave``.
    resolving_power : float, optional
        Constant ``R = lambda / delta lambda`` (bin centre over bin width): edges grow
        geometrically by ``(2R + 1) / (2R - 1)`` from ``min_wave``.
    edges : sequence of float, optional
        Explicit, strictly increasing edges (micron); wins over the others.

    Returns
    -------
    ndarray (nbins + 1,)
        Increasing edges.

    Raises
    ------
    ValueError
        If no or several ways are given, a value is not positive, the edges are not
        increasing, or the range holds no bin.
    """
    if edges is not None and len(edges) > 0:
        out = np.asarray(edges, dtype=float)
        if out.ndim != 1 or out.size < 2 or not np.all(np.isfinite(out)):
            raise ValueError(f"Bin edges must be at least two finite values, got {edges!r}.")
        if not np.all(np.diff(out) > 0):
            raise ValueError(f"Bin edges must increase strictly, got {list(out)}.")
        return out
    if min_wave is None or max_wave is None or not 0 < min_wave < max_wave:
        raise ValueError(f"Invalid wavelength range [{min_wave}, {max_wave}] micron: "
                         "min_wavelength must be positive and smaller than max_wavelength.")
    if (width is None) == (resolving_power is None):
        raise ValueError("Give exactly one of bin_width and resolving_power (or the edges).")
    if width is not None:
        if not width > 0:
            raise ValueError(f"bin_width must be positive, got {width}.")
        n = int(np.floor((max_wave - min_wave) / width + 1e-9))
        if n < 1:
            raise ValueError(f"bin_width {width} um is wider than [{min_wave}, {max_wave}] um.")
        return min_wave + width * np.arange(n + 1)
    if not resolving_power > 0.5:
        raise ValueError(f"resolving_power must exceed 0.5, got {resolving_power}.")
    ratio = (2.0 * resolving_power + 1.0) / (2.0 * resolving_power - 1.0)
    n = int(np.floor(np.log(max_wave / min_wave) / np.log(ratio) + 1e-9))
    if n < 1:
        raise ValueError(f"resolving_power {resolving_power} gives no bin in "
                         f"[{min_wave}, {max_wave}] um.")
    return min_wave * ratio ** np.arange(n + 1)


def _column_wavelengths(wavelength):
    """Per-column wavelength: a 2-D (nints, nwave) grid reduced to its median in time."""
    wave = np.asarray(wavelength, dtype=float)
    if wave.ndim == 2:
        with np.errstate(invalid="ignore"):
            wave = np.nanmedian(np.where(np.isfinite(wave) & (wave > 0), wave, np.nan), axis=0)
    return wave


def sum_bins(
    wavelength, flux, error, dq=None, *, edges, max_bad_fraction=0.5, fill_window=10,
):
    """
    Sum flux in wavelength bins, on one common set of good columns for all integrations.

    A column (extracted wavelength element) belongs to the bin ``[lo, hi)`` that holds its
    wavelength (the last bin includes its upper edge). Columns bad in more than
    ``max_bad_fraction`` of the integrations are excluded everywhere; the other bad
    entries are filled (see the module docstring), so that no bin jumps when a pixel
    goes bad. The white light is the one-bin case (:func:`sum_white_light`).

    Parameters
    ----------
    wavelength : ndarray (nwave,) or (nints, nwave)
        Wavelength of each column (micron); a 2-D grid is reduced to its median in time.
    flux, error : ndarray (nints, nwave)
        Flux and 1-sigma error.  Not modified.
    dq : ndarray (nints, nwave), optional
        DQ flags.
    edges : ndarray (nbins + 1,)
        Increasing bin edges (micron), e.g. from :func:`bin_edges`.
    max_bad_fraction : float
        Columns bad in more than this fraction of integrations are excluded everywhere.
    fill_window : int
        Half-width (integrations) of the time neighbourhood used to fill bad entries.

    Returns
    -------
    binned_flux, binned_err : ndarray (nints, nbins)
        Summed flux and error (errors added in quadrature); NaN for a bin with no
        usable column.
    info : dict
        ``bin_index`` (nwave,: the bin of each column, -1 outside), ``bins_used``
        (indices of the summed columns), ``bins_excluded`` (in a bin but excluded),
        ``n_columns`` (nbins,: columns summed per bin), ``n_filled`` (nints, nbins:
        filled entries), ``wavelength`` (nwave,: the column wavelengths) and
        ``wavelength_mean`` (nbins,: mean wavelength of the summed columns).

    Raises
    ------
    ValueError
        If the arrays do not match, the data have no finite wavelength, or no column
        falls in any bin.
    """
    flux = np.asarray(flux, dtype=float)
    error = np.asarray(error, dtype=float)
    if flux.ndim != 2 or flux.shape != error.shape:
        raise ValueError(f"flux and error must be 2-D (nints, nwave) of equal shape, got "
                         f"{flux.shape} and {error.shape}")
    edges = np.asarray(edges, dtype=float)
    nbins = edges.size - 1
    wave = _column_wavelengths(wavelength)
    finite_wave = wave[np.isfinite(wave)]
    if finite_wave.size == 0:
        raise ValueError("The input spectra have no finite wavelengths.")
    index = np.full(wave.size, -1)
    finite = np.isfinite(wave)
    inside = finite & (wave >= edges[0]) & (wave <= edges[-1])
    index[inside] = np.clip(np.searchsorted(edges, wave[inside], side="right") - 1, 0, nbins - 1)
    if not inside.any():
        raise ValueError(
            f"Wavelength range [{edges[0]:g}, {edges[-1]:g}] micron is outside the data, which "
            f"cover [{finite_wave.min():.3f}, {finite_wave.max():.3f}] micron."
        )
    bad = bad_bin_mask(flux, error, dq)
    bad_frac = bad.mean(axis=0)
    keep = inside & (bad_frac <= max_bad_fraction)
    excluded = np.nonzero(inside & ~keep)[0]
    if excluded.size:
        log.info(f"{excluded.size} wavelength columns in range are bad in more than "
                 f"{100 * max_bad_fraction:.0f}% of integrations and are excluded everywhere.")
    idx = np.nonzero(keep)[0]
    nints = flux.shape[0]
    binned = np.full((nints, nbins), np.nan)
    binned_err = np.full((nints, nbins), np.nan)
    n_filled = np.zeros((nints, nbins), dtype=int)
    n_columns = np.zeros(nbins, dtype=int)
    wave_mean = np.full(nbins, np.nan)
    if idx.size:
        sub_bad = bad[:, idx]
        flux_f, err_f = fill_bad_bins(flux[:, idx], error[:, idx], sub_bad,
                                      fill_window=fill_window)
        if sub_bad.any():
            log.info(f"Filled {int(sub_bad.sum())} bad entries in "
                     f"{int(sub_bad.any(axis=1).sum())} integrations from scaled neighbouring "
                     "integrations.")
        # one matrix product per quantity: (nints, ncols) @ (ncols, nbins)
        member = np.zeros((idx.size, nbins))
        member[np.arange(idx.size), index[idx]] = 1.0
        binned = flux_f @ member
        binned_err = np.sqrt((err_f**2) @ member)
        n_filled = (sub_bad @ member).astype(int)
        n_columns = member.sum(axis=0).astype(int)
        with np.errstate(invalid="ignore", divide="ignore"):
            wave_mean = (wave[idx] @ member) / n_columns
        empty = n_columns == 0
        binned[:, empty] = np.nan
        binned_err[:, empty] = np.nan
    info = {
        "bin_index": index,
        "bins_used": idx,
        "bins_excluded": excluded,
        "n_columns": n_columns,
        "n_filled": n_filled,
        "wavelength": wave,
        "wavelength_mean": wave_mean,
    }
    return binned, binned_err, info


def sum_white_light(
    wavelength, flux, error, dq=None, *, min_wave=5.0, max_wave=12.0, max_bad_fraction=0.5,
    fill_window=10,
):
    """
    Sum flux over ``[min_wave, max_wave]`` on one common set of bins for all integrations.

    The one-bin case of :func:`sum_bins`.

    Parameters
    ----------
    wavelength : ndarray (nwave,) or (nints, nwave)
        Wavelength of each bin (micron).  A 2-D array is reduced to its per-bin median
        over time (the extraction grid is fixed for an x1dints product).
    flux, error : ndarray (nints, nwave)
        Flux and 1-sigma error.  Not modified.
    dq : ndarray (nints, nwave), optional
        DQ flags.
    min_wave, max_wave : float
        Wavelength limits (inclusive), micron.
    max_bad_fraction : float
        Bins bad in more than this fraction of integrations are excluded everywhere.
    fill_window : int
        Half-width (integrations) of the time neighbourhood used to fill bad entries.

    Returns
    -------
    white_flux, white_err : ndarray (nints,)
        Summed flux and error (errors added in quadrature).
    info : dict
        ``bins_used`` (indices into the wavelength axis), ``bins_excluded`` (in range but
        excluded), ``n_filled`` per integration (nints,), ``wavelength_used``.

    Raises
    ------
    ValueError
        If the wavelength range is empty, inverted, outside the data, or every bin in
        it is excluded.
    """
    if min_wave is None or max_wave is None or not min_wave < max_wave:
        raise ValueError(f"Invalid wavelength range [{min_wave}, {max_wave}] micron: "
                         "min_wavelength must be smaller than max_wavelength.")
    white, white_err, info = sum_bins(
        wavelength, flux, error, dq, edges=[min_wave, max_wave],
        max_bad_fraction=max_bad_fraction, fill_window=fill_window,
    )
    if info["n_columns"][0] == 0:
        raise ValueError(
            f"Every wavelength bin in [{min_wave}, {max_wave}] micron is bad in more than "
            f"{100 * max_bad_fraction:.0f}% of the integrations; nothing left to sum."
        )
    idx = info["bins_used"]
    return white[:, 0], white_err[:, 0], {
        "bins_used": idx,
        "bins_excluded": info["bins_excluded"],
        "n_filled": info["n_filled"][:, 0],
        "wavelength_used": info["wavelength"][idx],
    }
