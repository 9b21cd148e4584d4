"""
Spectroscopic light curves and the transmission / emission spectrum (plain numpy).

Orchestration of the per-bin fits: the spectra are summed into wavelength bins with
the white light's common-good-bin rule
(:func:`~jwst_tso_ext.lightcurve.binning.sum_bins`), every bin's light curve is
clipped, optionally divided by the white light's common mode, and fitted with the
white light's model family (:func:`~jwst_tso_ext.lightcurve.fit_selection.detrend`)
with the orbit held at the white-light fit: only the depth, the bin's own systematics
(chosen by BIC as for the white light) and, by default, the limb darkening are free
(a law that changes with wavelength, held at the white light's band average, biases
the bins at the band's ends the opposite ways:
``benchmarks/limb_darkening_recovery.py``).
A transit bin fits the depth of the white light's transit shape (the batman dip of the
white light's radius ratio, or of its free-ingress ``rp_shape``, scaled linearly), so
the depth may be negative in a noisy bin and its error stays finite; the ingress
duration is the white light's (a bin whose radius ratio differs by 5 % would have an
ingress 5 % longer or shorter: far below the noise of a bin). An eclipse bin fits
``fp``. Bins are fitted in parallel processes.

A phase-curve bin (the white light fitted ``astrophysical='phase_curve'``) shares the
white light's orbit (``t0``, period, duration and impact parameter, so ``a`` and
``inc``; ``ecc``, ``w``), its limb darkening (by ``limb_darkening``) and the order of
its phase function (first, or first and second: the white light's BIC choice). Free
per bin are the transit depth (through ``rp``, the ingress following it: a physical
transit) and every coefficient of the phase function of that order (``fp_day``,
``fp_night``, ``phase_sin1`` [, ``phase_cos2``, ``phase_sin2``]), all linear in the
model: the dayside and nightside emission spectra, and the amplitude and hotspot
offset per bin, each with its error from the bin's covariance. The offset is left free
per bin rather than held at the white light's: the planet's hotspot offset may vary
with wavelength (the pressure probed changes), and holding it would bias the
amplitude where it does; ``fp_day`` and ``fp_night`` are the phase function's values
at phases 0.5 and 0, where the offset's term vanishes, so they do not depend on this
choice on a full orbit.

No datamodels here: the step unpacks the x1dints product and the tables.
"""

import logging
import multiprocessing
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from astropy import units as u
from astropy.table import QTable

from jwst_tso_ext.lightcurve import noise
from jwst_tso_ext.lightcurve.binning import sum_bins, time_axis
from jwst_tso_ext.lightcurve.clipping import sigma_clip_series
from jwst_tso_ext.lightcurve.fit_selection import RAMP_LEVELS, detrend
from jwst_tso_ext.lightcurve.phase_curve import PHASE_PARAMS, SECOND_ORDER_PARAMS

log = logging.getLogger(__name__)

__all__ = [
    "COMMON_MODES",
    "LIMB_DARKENING_MODES",
    "PHASE_CURVE_COLUMNS",
    "SYSTEMATICS_SELECTIONS",
    "white_light_orbit",
    "white_light_systematics",
    "limb_darkening_per_bin",
    "fit_spectral_light_curves",
]

#: Common-mode corrections: none; divide every bin by the white light's systematics
#: model; divide every bin by the white light's residuals (1 + residual).
COMMON_MODES = ("none", "systematics", "residuals")
#: Limb darkening of the bins: the white light's (u1, u2), the user's, free (fitted
#: as Kipping q1, q2), or from a table per wavelength.
LIMB_DARKENING_MODES = ("white_light", "fixed", "free", "table")

#: Orbit parameters every bin shares with the white light.
ORBIT_KEYS = ("t0", "period", "duration", "b", "a", "inc", "ecc", "w")

#: Astrophysical kinds of white-light fit the bins can share.
SHARED_KINDS = ("transit", "eclipse", "phase_curve")

#: Per-bin columns of a phase curve's spectrum (each with ``_err``): the depth of the
#: transit, the day- and nightside emission spectra, the amplitude and offset.
PHASE_CURVE_COLUMNS = ("fp_day", "fp_night", "phase_amplitude", "phase_offset_deg")


def white_light_orbit(meta):
    """
    The shared orbit of the bins from the white-light table's metadata.

    Parameters
    ----------
    meta : dict
        ``meta`` of the ``detrended_white_light`` table (``<root>_whtlt.ecsv``).

    Returns
    -------
    kind : {'transit', 'eclipse', 'phase_curve'}
        What the white light fitted.
    orbit : dict
        ``t0, period, duration, b, a, inc, ecc, w`` (those present), ``u1, u2``, the
        white light's depth start (``rp``, ``fp``) and ``rp_shape``: the white light's
        ingress radius ratio when it chose a free ingress, else None (physical
        ingress of each bin's rp); for a phase curve also ``phase_order`` (1 or 2)
        and the white light's phase coefficients (``fp_day`` ...) as starts.

    Raises
    ------
    ValueError
        If the white light fitted no transit or eclipse, or its orbit is incomplete.
    """
    kind = meta.get("astrophysical")
    if kind not in SHARED_KINDS:
        raise ValueError(
            f"The white-light fit has astrophysical={kind!r}: the spectroscopic light curves "
            "need its transit, eclipse or phase curve (the shared orbit). Refit the white "
            "light with a transit (give t0 and the orbit if the search does not find it)."
        )
    missing = [k for k in ("t0", "period", "duration", "b") if meta.get(k) is None]
    if missing:
        raise ValueError(f"The white-light table's metadata lacks the orbit parameters {missing}.")
    orbit = {k: float(meta[k]) for k in ORBIT_KEYS if meta.get(k) is not None}
    for name, default in (("u1", 0.1), ("u2", 0.1), ("rp", 0.1), ("fp", 1e-3)):
        value = meta.get(name)
        orbit[name] = float(value) if value is not None else default
        if value is None and kind == "transit" and name in ("u1", "u2"):
            # rp and fp are only the bins' starting depths
            log.warning(f"The white-light table has no {name}: the package's {default:g} is "
                        "used instead (a model value, not this star's).")
    free_ingress = "rp_shape" in list(meta.get("free_parameters") or [])
    orbit["rp_shape"] = float(meta["rp_shape"]) if free_ingress else None
    if kind == "phase_curve":
        orbit["phase_order"] = int(meta.get("phase_order") or 1)
        for name in PHASE_PARAMS:
            value = meta.get(name)
            orbit[name] = float(value) if value is not None else 0.0
    return kind, orbit


#: Values of ``ramp_selection`` / ``poly_selection`` in the bins.
SYSTEMATICS_SELECTIONS = ("white_light", "bic", "fixed")


def white_light_systematics(meta, fit_options):
    """
    The bins' ramp and polynomial options, with 'white_light' resolved.

    A bin holds a few percent of the white light's photons: its own BIC cannot see a
    ramp or trend that the white light measured at high significance, and leaving the
    term out biases the depth of every bin alike (a 0.4 % ramp cost each bin of a
    simulated exposure -8 % of its depth). ``'white_light'`` therefore fits every
    bin with the terms the white light chose (at most ``ramp`` / ``poly_order``), their
    coefficients free per bin, the ramp timescales held at the white light's.

    Parameters
    ----------
    meta : dict
        The white-light table's metadata (``ramp_terms``, ``poly_order``,
        ``ramp_tau<k>``).
    fit_options : dict
        :func:`~jwst_tso_ext.lightcurve.fit_selection.detrend` options, with
        ``ramp_selection`` and ``poly_selection`` one of `SYSTEMATICS_SELECTIONS`.

    Returns
    -------
    dict
        The options with the selections 'bic' or 'fixed'.

    Raises
    ------
    ValueError
        For an unknown selection.
    """
    options = dict(fit_options)
    for key in ("ramp_selection", "poly_selection"):
        value = options.get(key, "bic")
        if value not in SYSTEMATICS_SELECTIONS:
            raise ValueError(f"{key} must be one of {SYSTEMATICS_SELECTIONS}, not {value!r}")
    if options.get("ramp_selection") == "white_light":
        if meta.get("ramp_terms") is None:
            log.info("The white light does not record its ramp terms: each bin chooses by BIC.")
            options["ramp_selection"] = "bic"
        else:
            most = RAMP_LEVELS.index(options.get("ramp", "double"))
            terms = min(int(meta["ramp_terms"]), most)
            options["ramp"], options["ramp_selection"] = RAMP_LEVELS[terms], "fixed"
            taus = [meta.get(f"ramp_tau{k}") for k in range(1, terms + 1)]
            if terms and all(tau is not None for tau in taus):
                # a detector timescale, held: free in a faint bin it trades with the
                # polynomial and the depth (a 0.25-um bin's depth error 1.5x its bound)
                options["ramp_tau"] = [float(tau) for tau in taus]
                options["ramp_tau_fixed"] = True
    if options.get("poly_selection") == "white_light":
        if meta.get("poly_order") is None:
            log.info("The white light does not record its polynomial order: each bin "
                     "chooses by BIC.")
            options["poly_selection"] = "bic"
        else:
            options["poly_order"] = min(int(meta["poly_order"]),
                                        int(options.get("poly_order", 1)))
            options["poly_selection"] = "fixed"
    return options


def limb_darkening_per_bin(mode, centers, orbit, u1=None, u2=None, table=None):
    """
    The (u1, u2) each bin starts from (or is held at), and whether they are fitted.

    Parameters
    ----------
    mode : str
        One of :data:`LIMB_DARKENING_MODES`.
    centers : ndarray (nbins,)
        Bin centres (micron).
    orbit : dict
        The white light's orbit (its ``u1``, ``u2``).
    u1, u2 : float, optional
        The user's coefficients (``fixed``; also the start of ``free``).
    table : dict, optional
        ``wavelength``, ``u1``, ``u2`` arrays (``table``), linearly interpolated at the
        bin centres (held at the end values outside).

    Returns
    -------
    u1, u2 : ndarray (nbins,)
        Coefficients per bin.
    free : bool
        True when they are fitted.

    Raises
    ------
    ValueError
        For an unknown mode, ``fixed`` without both coefficients, or a bad table.
    """
    n = len(centers)
    if mode not in LIMB_DARKENING_MODES:
        raise ValueError(f"limb_darkening must be one of {LIMB_DARKENING_MODES}, not {mode!r}")
    if mode == "table":
        if table is None:
            raise ValueError("limb_darkening='table' needs limb_darkening_table (an ECSV file "
                             "with columns wavelength, u1, u2).")
        wave = np.asarray(table["wavelength"], float)
        order = np.argsort(wave)
        if wave.size < 1 or not np.all(np.isfinite(wave)):
            raise ValueError("The limb-darkening table needs finite wavelengths.")
        c1 = np.interp(centers, wave[order], np.asarray(table["u1"], float)[order])
        c2 = np.interp(centers, wave[order], np.asarray(table["u2"], float)[order])
        return c1, c2, False
    if mode == "fixed":
        if u1 is None or u2 is None:
            raise ValueError("limb_darkening='fixed' needs both u1 and u2.")
        return np.full(n, float(u1)), np.full(n, float(u2)), False
    start1 = orbit["u1"] if u1 is None else float(u1)
    start2 = orbit["u2"] if u2 is None else float(u2)
    return np.full(n, start1), np.full(n, start2), mode == "free"


def _fit_bin(task):
    """Fit one bin's light curve (runs in a worker process); plain arrays out."""
    result = detrend(task["time"], task["flux"], task["error"], clip_mask=task["clip"],
                     regressors=task["regressors"], **task["options"])
    fit = result["fit"]
    model = result["model"]
    metrics = noise.fit_metrics(task["flux"], task["error"], fit["model"], result["fit_mask"])
    return {
        "parameters": result["parameters"],
        "mcmc": fit["mcmc"],
        "systematics": fit["systematics"],
        "astrophysical": fit["astrophysical"],
        "fit_mask": result["fit_mask"],
        "metrics": {k: v for k, v in metrics.items() if k != "relative_residual"},
        "astrophysical_kind": model.astrophysical,
        "ramp_terms": model.n_ramp,
        "poly_order": model.poly_order,
        "regressors": list(model.regressor_names),
        "reduced_chi2": fit["reduced_chi2"],
        "status": result["selection"]["status"],
        "dropped": list(result["selection"]["dropped"]),
    }


def _worker_count(n_workers, nbins):
    return max(1, min(int(n_workers), nbins))


def _map_bins(tasks, n_workers):
    """Fit the bins, in ``n_workers`` processes when more than one.

    Threads do not help: the least-squares loop and batman hold the GIL. Each task is
    one bin's light curve (a few arrays of nints), so memory stays O(nints x nbins).
    """
    if n_workers <= 1:
        return [_fit_bin(task) for task in tasks]
    methods = multiprocessing.get_all_start_methods()
    # fork: workers inherit the imported modules (no re-import); elsewhere spawn
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        return list(pool.map(_fit_bin, tasks, chunksize=1))


def fit_spectral_light_curves(
    spectra, white, edges, regressors=None, common_mode="none", limb_darkening="free",
    u1=None, u2=None, limb_darkening_table=None, max_bad_fraction=0.5, fill_window=10,
    clip_sigma=5.0, clip_window=21, clip_maxiter=5, n_workers=1, table_meta=None,
    **fit_options,
):
    """
    Bin the spectra, fit every bin with the white light's orbit, build the products.

    Parameters
    ----------
    spectra : dict
        As returned by :func:`~jwst_tso_ext.lightcurve.binning.spectra_from_model`.
    white : dict
        The white-light fit: ``meta`` (its table meta), and the columns ``int_num``,
        ``systematics_model``, ``residual`` and ``clipped`` (arrays aligned with its
        rows; only ``meta`` is needed when ``common_mode='none'``).
    edges : ndarray (nbins + 1,)
        Bin edges (micron).
    regressors : dict of str to ndarray, optional
        Candidate decorrelation regressors aligned with the integrations.
    common_mode : str
        One of :data:`COMMON_MODES`.
    limb_darkening, u1, u2, limb_darkening_table
        See :func:`limb_darkening_per_bin` (the table as a dict of arrays).
    max_bad_fraction, fill_window
        See :func:`~jwst_tso_ext.lightcurve.binning.sum_bins`.
    clip_sigma, clip_window, clip_maxiter
        Sigma clipping of each bin's light curve; points the white light clipped are
        excluded too.
    n_workers : int
        Processes fitting bins in parallel.
    table_meta : dict, optional
        Metadata copied first into both tables.
    **fit_options
        Systematics options of :func:`~jwst_tso_ext.lightcurve.fit_selection.detrend`
        (``poly_order``, ``ramp``, ``regressor_selection``, ``mcmc``, ...).

    Returns
    -------
    tspec : `~astropy.table.QTable`
        One row per bin: ``wavelength`` (centre), ``bin_width``, ``wave_low``,
        ``wave_high``, ``wavelength_mean`` (mean of the summed columns), ``n_columns``,
        ``depth`` and ``depth_err`` (``rp**2``; transit) or ``fp`` and ``fp_err``
        (eclipse), ``rp``, ``rp_err`` (transit, phase curve), for a phase curve also
        ``fp_day``, ``fp_night``, ``phase_amplitude``, ``phase_offset_deg`` and their
        ``_err`` (the day- and nightside emission spectra), ``u1``, ``u2``, ``rms_ppm``,
        ``expected_ppm``, ``rms_to_expected``, ``beta``, ``reduced_chi2``,
        ``ramp_terms``, ``poly_order``, ``regressors``, ``fit_status``.
    speclc : `~astropy.table.QTable`
        Long form, one row per (bin, integration): ``bin``, ``wavelength``,
        ``int_num``, ``time``, ``flux``, ``flux_err`` (raw bin sums), ``model`` and
        ``systematics_model`` (flux units, common mode included),
        ``astrophysical_model``, ``detrended_flux``, ``detrended_flux_err``,
        ``residual``, ``used_in_fit``, ``clipped`` and one column per candidate
        regressor.

    Raises
    ------
    ValueError
        For an unknown option, a white light without orbit, or no usable bin.
    """
    if common_mode not in COMMON_MODES:
        raise ValueError(f"common_mode must be one of {COMMON_MODES}, not {common_mode!r}")
    white_meta = dict(white["meta"])
    kind, orbit = white_light_orbit(white_meta)
    edges = np.asarray(edges, float)
    flux, error, info = sum_bins(spectra["wavelength"], spectra["flux"], spectra["error"],
                                 spectra.get("dq"), edges=edges,
                                 max_bad_fraction=max_bad_fraction, fill_window=fill_window)
    nints, nbins = flux.shape
    centers = 0.5 * (edges[1:] + edges[:-1])
    usable = info["n_columns"] > 0
    if not usable.any():
        raise ValueError("No wavelength bin holds a usable column.")
    if not usable.all():
        log.warning(f"{int((~usable).sum())} bins hold no usable column (centres "
                    f"{np.round(centers[~usable], 3).tolist()} um); reported as NaN.")
    time, time_column = time_axis(spectra, white_meta.get("time_column", "BJD_TDB"))
    if white_meta.get("time_column") not in (None, time_column):
        raise ValueError(f"The white light was fitted against {white_meta['time_column']}, "
                         f"but this input only has {time_column} times.")

    int_num = np.asarray(spectra["int_num"], int)
    white_clip, factor = _common_mode(white, int_num, common_mode)
    c1, c2, ld_free = limb_darkening_per_bin(limb_darkening, centers, orbit, u1, u2,
                                             limb_darkening_table)
    free, base, options = _bin_model(kind, orbit, ld_free, white_meta, fit_options)

    tasks = []
    clips = np.zeros((nints, nbins), bool)
    for j in np.flatnonzero(usable):
        f, e = flux[:, j] / factor, error[:, j] / factor
        clip = sigma_clip_series(f, window=clip_window, nsigma=clip_sigma, maxiter=clip_maxiter)
        clip |= white_clip | ~np.isfinite(time)
        clip |= info["n_filled"][:, j] > max_bad_fraction * info["n_columns"][j]
        clips[:, j] = clip
        astro = dict(base, u1=float(c1[j]), u2=float(c2[j]))
        tasks.append({"time": time, "flux": f, "error": e, "clip": clip,
                      "regressors": regressors,
                      "options": dict(options, astro_params=astro)})
    workers = _worker_count(n_workers, len(tasks))
    log.info(f"Fitting {len(tasks)} wavelength bins ({kind}, orbit fixed to the white light; "
             f"free: {', '.join(free)} and each bin's systematics) on {workers} process(es).")
    results = dict(zip(np.flatnonzero(usable), _map_bins(tasks, workers), strict=True))

    tspec = _spectrum_table(table_meta, kind, edges, centers, info, results, c1, c2)
    meta = tspec.meta
    meta["astrophysical"] = kind
    meta["orbit"] = {k: v for k, v in orbit.items() if k in ORBIT_KEYS and v is not None}
    if kind == "phase_curve":
        meta["phase_order"] = orbit["phase_order"]
        meta["transit_shape"] = "a physical transit of each bin's rp"
    else:
        meta["rp_shape"] = orbit["rp_shape"] or orbit["rp"]
        meta["transit_shape"] = ("the white light's free ingress" if orbit["rp_shape"]
                                 else "the white light's physical transit")
    meta["common_mode"] = common_mode
    if common_mode != "none":
        # dividing by the white light imprints its depth error on every bin alike: the
        # spectrum's shape keeps depth_err, its absolute level has this error in addition
        name = "eclipse_depth_err" if kind == "eclipse" else "transit_depth_err"
        meta["common_depth_err"] = white_meta.get(name)
        log.info("Common mode divided out: the depths share the white light's depth error "
                 f"({white_meta.get(name)}), which depth_err does not include.")
    meta["limb_darkening"] = limb_darkening
    meta["time_column"] = time_column
    meta["free_parameters"] = free
    meta["n_bins"] = int(nbins)
    meta["n_entries_filled"] = int(info["n_filled"].sum())
    meta["n_columns_excluded"] = int(info["bins_excluded"].size)
    speclc = _light_curve_table(table_meta, spectra, time, centers, flux, error, factor,
                                clips, results, time_column, regressors)
    return tspec, speclc


def _bin_model(kind, orbit, ld_free, white_meta, fit_options):
    """Free parameters, fixed/start values and detrend options of every bin's fit."""
    base = {k: v for k, v in orbit.items() if k not in ("a", "inc", "phase_order")}
    limb = ["u1", "u2"] if ld_free else []
    options = white_light_systematics(white_meta, fit_options)
    if kind == "phase_curve":
        # the white light's orbit and phase order; depth and phase coefficients per bin
        order = orbit["phase_order"]
        free = ["rp"] + [name for name in PHASE_PARAMS
                         if order == 2 or name not in SECOND_ORDER_PARAMS] + limb
        base["rp_shape"] = None  # physical transit of each bin's rp
        options.update(astrophysical=kind, free_params=free, phase_order=str(order),
                       limb_darkening="fixed")
        return free, base, options
    # transit: the depth of the white light's shape (linear, may be negative); eclipse: fp
    free = ["fp" if kind == "eclipse" else "depth"] + limb
    if kind == "transit":
        base["rp_shape"] = orbit["rp_shape"] or orbit["rp"]
        base["depth"] = orbit["rp"] ** 2
    # held at c1, c2 unless listed as free above
    options.update(astrophysical=kind, free_params=free, transit_shape="fixed",
                   limb_darkening="fixed")
    return free, base, options


def _common_mode(white, int_num, common_mode):
    """The white light's clipped mask and the common-mode divisor, aligned to int_num."""
    nints = int_num.size
    clipped = np.zeros(nints, bool)
    factor = np.ones(nints)
    if "int_num" not in white or white.get("int_num") is None:
        if common_mode != "none":
            raise ValueError(f"common_mode={common_mode!r} needs the white-light table's columns.")
        return clipped, factor
    rows = {int(n): i for i, n in enumerate(np.asarray(white["int_num"], int))}
    index = np.array([rows.get(int(n), -1) for n in int_num])
    present = index >= 0
    if not present.all():
        log.warning(f"{int((~present).sum())} integrations are not in the white-light table; "
                    "excluded from the fits.")
    take = np.clip(index, 0, None)
    if white.get("clipped") is not None:
        clipped = np.asarray(white["clipped"], bool)[take] | ~present
    else:
        clipped = ~present
    if common_mode == "systematics":
        sys_model = np.asarray(white["systematics_model"], float)
        level = np.nanmedian(sys_model)
        factor = np.where(present, sys_model[take] / level, 1.0)
    elif common_mode == "residuals":
        residual = np.asarray(white["residual"], float)[take]
        bad = ~np.isfinite(residual) | ~present
        clipped = clipped | bad
        factor = np.where(bad, 1.0, 1.0 + np.where(bad, 0.0, residual))
    return clipped, factor


def _spectrum_table(table_meta, kind, edges, centers, info, results, c1, c2):
    nbins = centers.size
    tspec = QTable(meta=OrderedDict(table_meta or {}))
    tspec["wavelength"] = centers * u.um
    tspec["bin_width"] = np.diff(edges) * u.um
    tspec["wave_low"] = edges[:-1] * u.um
    tspec["wave_high"] = edges[1:] * u.um
    tspec["wavelength_mean"] = info["wavelength_mean"] * u.um
    tspec["n_columns"] = info["n_columns"]

    def column(getter, default=np.nan):
        return np.array([getter(results[j]) if j in results else default for j in range(nbins)])

    def param(name, index):
        def get(r):
            value = r["parameters"].get(name, (np.nan, np.nan))[index]
            return np.nan if value is None else value
        return column(get)

    if kind == "eclipse":
        tspec["fp"] = param("fp", 0)
        tspec["fp_err"] = param("fp", 1)
    else:
        name = "transit_depth" if kind == "phase_curve" else "depth"
        depth, depth_err = param(name, 0), param(name, 1)
        tspec["depth"] = depth
        tspec["depth_err"] = depth_err
        with np.errstate(invalid="ignore", divide="ignore"):
            rp = np.sqrt(depth)  # NaN for a negative depth
            tspec["rp"] = rp
            tspec["rp_err"] = depth_err / (2.0 * rp)
    if kind == "phase_curve":
        for name in PHASE_CURVE_COLUMNS:
            tspec[name] = param(name, 0)
            tspec[f"{name}_err"] = param(name, 1)
    tspec["u1"] = column(lambda r: r["parameters"]["u1"][0], np.nan)
    tspec["u2"] = column(lambda r: r["parameters"]["u2"][0], np.nan)
    free_ld = any("q1" in results[j]["parameters"] for j in results)
    if not free_ld:
        tspec["u1"] = np.where(np.isfinite(tspec["u1"]), tspec["u1"], c1)
        tspec["u2"] = np.where(np.isfinite(tspec["u2"]), tspec["u2"], c2)
    tspec["rms_ppm"] = column(lambda r: r["metrics"]["rms_ppm"])
    tspec["expected_ppm"] = column(lambda r: r["metrics"]["expected_noise_ppm"])
    tspec["rms_to_expected"] = column(lambda r: r["metrics"]["rms_to_expected"])
    tspec["beta"] = column(lambda r: r["metrics"]["beta"])
    tspec["reduced_chi2"] = column(lambda r: r["reduced_chi2"])
    tspec["ramp_terms"] = column(lambda r: r["ramp_terms"], -1).astype(int)
    tspec["poly_order"] = column(lambda r: r["poly_order"], -1).astype(int)
    tspec["regressors"] = [",".join(results[j]["regressors"]) if j in results else ""
                           for j in range(nbins)]
    tspec["fit_status"] = [results[j]["status"] if j in results else "EMPTY"
                           for j in range(nbins)]
    if any(results[j]["mcmc"] for j in results):
        name = {"eclipse": "fp", "phase_curve": "fp_day"}.get(kind, "depth")
        for k, suffix in ((0, "mcmc"), (1, "mcmc_err_minus"), (2, "mcmc_err_plus")):
            tspec[f"{name}_{suffix}"] = column(
                lambda r, k=k: r["mcmc"][name][k] if r["mcmc"] else np.nan)
    return tspec


def _light_curve_table(table_meta, spectra, time, centers, flux, error, factor, clips,
                       results, time_column, regressors=None):
    nints, nbins = flux.shape
    sys_model = np.full((nints, nbins), np.nan)
    astro = np.full((nints, nbins), np.nan)
    used = np.zeros((nints, nbins), bool)
    for j, r in results.items():
        sys_model[:, j] = r["systematics"] * factor
        astro[:, j] = r["astrophysical"]
        used[:, j] = r["fit_mask"]
    with np.errstate(invalid="ignore", divide="ignore"):
        detrended = flux / sys_model
        detrended_err = error / sys_model
    unit = spectra.get("flux_unit")
    q = (lambda x: x << u.Unit(unit)) if unit else (lambda x: x)
    # long form, bin-major: rows j * nints ... (j + 1) * nints - 1 are bin j
    tbl = QTable(meta=OrderedDict(table_meta or {}))
    tbl["bin"] = np.repeat(np.arange(nbins), nints)
    tbl["wavelength"] = np.repeat(centers, nints) * u.um
    tbl["int_num"] = np.tile(np.asarray(spectra["int_num"], int), nbins)
    tbl["time"] = np.tile(time, nbins)
    tbl["flux"] = q(flux.T.ravel())
    tbl["flux_err"] = q(error.T.ravel())
    tbl["model"] = q((sys_model * astro).T.ravel())
    tbl["systematics_model"] = q(sys_model.T.ravel())
    tbl["astrophysical_model"] = astro.T.ravel()
    tbl["detrended_flux"] = detrended.T.ravel()
    tbl["detrended_flux_err"] = detrended_err.T.ravel()
    tbl["residual"] = (detrended - astro).T.ravel()
    tbl["used_in_fit"] = used.T.ravel()
    tbl["clipped"] = clips.T.ravel()
    for name, values in (regressors or {}).items():
        # every candidate, kept or not: a refit of this table finds them here
        tbl[name] = np.tile(np.asarray(values, float), nbins)
    tbl.meta["time_column"] = time_column
    return tbl

