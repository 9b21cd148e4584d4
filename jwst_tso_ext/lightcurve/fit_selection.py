"""
The light-curve fit that finds its own start and its own model.

:func:`detrend` is what the white-light step calls. Given a light curve with its
systematics, it

1. **finds the event** when no mid-time is given: a box search with a systematics
   basis (:func:`~jwst_tso_ext.lightcurve.transit_search.search_transit`) gives the
   mid-time, duration and depth; the fit starts from a physically consistent orbit
   with that duration, from several impact parameters, and keeps the best. A
   user-given ``t0`` or orbit (``a`` and ``inc``) wins over the search. A dip the
   search finds is kept only if the event model lowers the BIC against the
   systematics alone. No event found: a WARNING, and the systematics alone are fitted;
2. **chooses the systematics model by BIC** (``chi2 + k ln N``): every ramp (none up
   to the requested number of exponentials) and polynomial order (0 up to the
   requested one) is fitted and the lowest BIC kept; then the drift regressors are
   added one at a time (forward selection), each only while it lowers the BIC by more
   than ``regressor_min_delta_bic`` (10: very strong evidence), so a
   regressor that carries no signal cannot soak up the transit or inflate the depth
   error;
3. **frees the limb darkening** of a transit (quadratic law, varied as Kipping's q1,
   q2 with uniform priors in [0, 1]) unless told otherwise: a law held at wrong
   values biases the depth (WASP-107 b's MIRI white light read 7 sigma low with
   u1 = u2 = 0.1 held), and its error ignores the limb darkening's. Given
   coefficients (a stellar model's) are held only where the data do not ask for
   more: ``limb_darkening='bic'`` refits the chosen model with them held and keeps
   that fit only if its BIC is lower; ``'fixed'`` holds them;
4. **degrades instead of failing** when the data cannot support the requested model
   (short exposures): models with more parameters than the points allow, or with too
   few points outside the event, are passed over; with no room for the event the
   systematics alone are fitted, down to a normalisation. What was dropped and why is
   logged as a WARNING and returned.

A phase curve (``astrophysical='phase_curve'``, see
:mod:`~jwst_tso_ext.lightcurve.phase_curve`) needs the period: with no ``t0`` the
phase-curve search (:func:`~jwst_tso_ext.lightcurve.transit_search.search_phase_curve`)
finds the transit and the eclipses together; the second order of the phase function
is kept when it lowers the BIC (chosen, like the transit shape, on the richest
systematics model).
"""

import logging

import numpy as np

from jwst_tso_ext.lightcurve import noise
from jwst_tso_ext.lightcurve.model import (
    EVENT_KINDS,
    LightCurveModel,
    fit_light_curve,
    in_windows,
)
from jwst_tso_ext.lightcurve.orbit import default_period, shape_from_orbit
from jwst_tso_ext.lightcurve.phase_curve import (
    PHASE_PARAMS,
    SECOND_ORDER_PARAMS,
    eclipse_phase,
    phase_curve_summary,
)
from jwst_tso_ext.lightcurve.transit_search import search_phase_curve, search_transit

log = logging.getLogger(__name__)

__all__ = ["detrend", "DEFAULT_IMPACT_STARTS", "LIMB_DARKENING_CHOICES", "RAMP_LEVELS"]

#: Impact parameters the fit is started from when the orbit is not given.
DEFAULT_IMPACT_STARTS = (0.1, 0.5, 0.8)
#: astrophysical parameters fitted when none are named, per kind of model (the
#: second-order phase coefficients join by BIC through ``phase_order``)
DEFAULT_FREE = {
    "transit": ["t0", "rp", "a", "inc"],
    "eclipse": ["t0", "fp", "a"],
    "phase_curve": ["t0", "rp", "a", "inc", "fp_day", "fp_night", "phase_sin1"],
    "out_of_transit": [],
    "none": [],
}

#: Ramp models, fewest terms first (``ramp`` options).
RAMP_LEVELS = ("none", "single", "double")
_SHAPES = ("bic", "physical", "free_ingress", "fixed")

#: Phase-function orders (``order1``: first-order sinusoid; ``order2``: plus the second).
_PHASE_SHAPES = ("order1", "order2")

#: ``phase_order`` options: the phase function's order chosen by BIC, or given.
PHASE_ORDERS = ("bic", "1", "2")

#: Limb darkening of a transit: fitted; held at the given u1, u2; or the given values
#: held only if that lowers the BIC against the fitted law (free when none are given).
LIMB_DARKENING_CHOICES = ("free", "fixed", "bic")
_LIMB_DARKENING_NAMES = ("u1", "u2", "q1", "q2")


def _limb_darkening_plan(limb_darkening, astrophysical, astro_params, free_params):
    """The free parameters with the limb darkening added if fitted, and whether to compare.

    Returns ``(free_params, plan)``; ``plan`` is 'free', 'fixed' (held at the given
    values), 'bic' (fitted, then compared with the given values held) or 'not used'
    (no transit: an eclipse or systematics only have no limb darkening to fit; a phase
    curve's transit has, and is treated as a transit's).
    """
    if limb_darkening not in LIMB_DARKENING_CHOICES:
        raise ValueError(f"limb_darkening must be one of {LIMB_DARKENING_CHOICES}, "
                         f"not {limb_darkening!r}")
    free = list(free_params or [])
    given = all((astro_params or {}).get(k) is not None for k in ("u1", "u2"))
    if astrophysical not in ("transit", "phase_curve"):
        return [p for p in free if p not in _LIMB_DARKENING_NAMES], "not used"
    if set(_LIMB_DARKENING_NAMES) & set(free):
        return free, "free"  # named as free parameters: fitted whatever the choice
    if limb_darkening == "fixed":
        if not given:
            raise ValueError("limb_darkening='fixed' needs the coefficients: give u1 and u2 "
                             "(e.g. from a stellar model), or fit them (limb_darkening='free').")
        return free, "fixed"
    plan = "bic" if (limb_darkening == "bic" and given) else "free"
    return free + ["u1", "u2"], plan


def _label(ramp, poly_order, regressors):
    parts = [f"ramp={ramp}", f"poly={poly_order}"]
    if regressors:
        parts.append("regressors=" + "+".join(regressors))
    return ", ".join(parts)


def _astro_start(time, flux, error, fit_mask, astrophysical, astro_params, free_params,
                 search_min_snr, impact_starts):
    """Starting astrophysical values, the impact parameters to start from, and the search."""
    given = {k: v for k, v in (astro_params or {}).items() if v is not None}
    values = dict(given)
    user_orbit = given.get("a") is not None and given.get("inc") is not None
    shape_given = user_orbit or given.get("duration") is not None
    search = None
    if given.get("t0") is None or not shape_given:
        durations = {}
        if shape_given:
            # a known orbit: only boxes between its flat bottom and its full duration
            durations = _box_durations(time, given)
        search = search_transit(time, flux, error, fit_mask, t0=given.get("t0"),
                                min_snr=search_min_snr, **durations)
        if search["t0"] is None or (not shape_given and given.get("t0") is None
                                    and not search["found"]):
            # (with a known orbit the planet transits: its best box is taken, however
            # weak)
            return None, None, search, "search"
        values.setdefault("t0", search["t0"])
        if not shape_given and search["duration"] is not None:
            values["duration"] = search["duration"]
        if search["depth"] is not None and search["depth"] > 0:
            depth_name = "fp" if astrophysical == "eclipse" else "rp"
            free = set(free_params or [])
            if depth_name in free or depth_name not in given:
                values[depth_name] = (float(search["depth"]) if depth_name == "fp"
                                      else float(np.sqrt(search["depth"])))
    origin = "user orbit" if user_orbit else ("search" if search is not None else "user")
    if shape_given:
        impacts = [None]  # the given orbit fixes the start
    else:
        impacts = list(impact_starts)
    return values, impacts, search, origin


def _phase_curve_start(time, flux, error, fit_mask, astro_params, free_params, search_min_snr,
                       impact_starts):
    """Start of a phase-curve fit: the given orbit, else the phase-curve search's."""
    given = {k: v for k, v in (astro_params or {}).items() if v is not None}
    period = given.get("period")
    finite = np.sort(time[fit_mask])
    cadence = float(np.median(np.diff(finite))) if finite.size > 1 else 0.0
    if period is None:
        raise ValueError("astrophysical='phase_curve' needs the orbital period: give period "
                         "(days).")
    if not period > cadence:
        raise ValueError(f"The period ({period} d) is not longer than the data's cadence "
                         f"({cadence:.3g} d).")
    values = dict(given)
    shape_given = (given.get("a") is not None and given.get("inc") is not None
                   or given.get("duration") is not None)
    impacts = [None] if shape_given else list(impact_starts)
    if given.get("t0") is not None and shape_given:
        return values, impacts, None, "user orbit" if "a" in given else "user"
    search = search_phase_curve(time, flux, error, period, fit_mask, min_snr=search_min_snr,
                                eclipse_phase=eclipse_phase(period, given.get("ecc", 0.0),
                                                            given.get("w", 90.0)))
    if given.get("t0") is None and not search["found"]:
        return None, None, search, "search"
    values.setdefault("t0", search["t0"])
    if not shape_given and search["duration"] is None:
        raise ValueError(f"The phase-curve search found no transit ({search['reason']}) to "
                         "take its duration from: give duration (or a and inc) with t0.")
    if not shape_given:
        values["duration"] = search["duration"]
    free = set(free_params or [])
    if search["depth"] is not None and search["depth"] > 0 and ("rp" in free
                                                                 or "rp" not in given):
        values["rp"] = float(np.sqrt(search["depth"]))
    if search["eclipse_depth"] is not None:
        values["fp_day"] = float(search["eclipse_depth"])
    return values, impacts, search, "search" if given.get("t0") is None else "user"


def _box_durations(time, given):
    """Search box lengths for a given orbit: from about its T23 to its T14."""
    finite = time[np.isfinite(time)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    period = given.get("period") or default_period(span)
    rp = given.get("rp", 0.1)
    if given.get("duration") is not None:
        t14 = float(given["duration"])
    else:
        t14, _ = shape_from_orbit(given["a"], given["inc"], rp, period,
                                  given.get("ecc", 0.0), given.get("w", 90.0))
    if not t14 > 0:
        return {}
    return {"min_duration": 0.5 * t14, "max_duration": t14, "n_durations": 10}


def _build(time, fit_mask, ramp, poly_order, ramp_tau, regressors, astrophysical, values,
           free_params, fit_ramp_tau=True):
    return LightCurveModel(
        time, poly_order=poly_order, ramp=ramp, ramp_tau=ramp_tau, regressors=regressors,
        astrophysical=astrophysical, astro_params=values, free_params=free_params,
        fit_mask=fit_mask, fit_ramp_tau=fit_ramp_tau,
    )


def _feasible(model, flux, fit_mask, min_out_of_transit):
    """None if the data can support ``model``, else the reason they cannot."""
    n_fit = int(fit_mask.sum())
    n_free = len(model.names)
    if n_fit <= n_free:
        return f"{n_free} parameters need more than the {n_fit} usable points"
    if model.astrophysical in EVENT_KINDS:
        x0, _, _ = model.initial_guess(flux, fit_mask)
        oot = model.out_of_events(x0)
        n_oot = int((oot & fit_mask).sum())
        needed = max(int(min_out_of_transit), model.n_sys + 1)
        if n_oot < needed:
            return (f"only {n_oot} usable points outside the {model.astrophysical}, the "
                    f"systematics ({model.n_sys} parameters) need {needed}")
    return None


def _starts(model, best_values, impacts):
    """Start dictionaries: the warm start, over impact parameters and ramp timescales."""
    base = dict(best_values or {})
    starts = []
    for impact in impacts or [None]:
        start = dict(base)
        if impact is not None and "b" in model.names:
            start["b"] = impact
        starts.append(start)
    # a second ramp timescale per start: the exponential makes chi2 multi-modal
    taus = [name for name in model.names if name.startswith("ramp_tau")]
    if taus:
        extra = []
        for start in starts:
            for fraction in (0.03, 0.15):
                alternative = dict(start)
                for k, name in enumerate(taus):
                    alternative[name] = fraction * model.span * 5.0**k
                extra.append(alternative)
        starts = starts + extra
    return starts


def _free_ingress_values(values, free):
    """Fixed values of the free-ingress shape: a central chord over a uniform disk.

    ``rp_shape`` and ``b`` both set the ingress: fitted together they are degenerate
    (the errors of ``b`` and of the depth blow up), so ``b`` is held at 0. The shape
    is the alternative to a limb-darkened planet: a flat bottom (``u1 = u2 = 0``,
    unless the limb darkening is fitted) with an ingress of its own.
    """
    fixed = dict(values, b=0.0)
    if not {"u1", "u2", "q1", "q2"} & set(free):
        fixed.update(u1=0.0, u2=0.0)
    return fixed


def _preferred_shape(bic_by_shape, min_delta_bic):
    """'free_ingress' if its BIC is lower than the physical shape's by ``min_delta_bic``."""
    physical = bic_by_shape.get("physical")
    free = bic_by_shape.get("free_ingress")
    if physical is None or (free is not None and free < physical - min_delta_bic):
        return "free_ingress" if free is not None else "physical"
    return "physical"


def _values_by_name(model, fit):
    return dict(zip(fit["names"], fit["values"], strict=True))


def detrend(
    time, flux, error, clip_mask=None, regressors=None, poly_order=1, poly_selection="bic",
    ramp="single", ramp_selection="bic", ramp_tau=(0.01, 0.05), ramp_tau_fixed=False,
    regressor_selection="bic",
    regressor_min_delta_bic=10.0,
    astrophysical="transit", astro_params=None, free_params=None,
    windows=None, min_out_of_transit=20, search_min_snr=5.0, transit_shape="bic",
    shape_min_delta_bic=10.0,
    impact_starts=DEFAULT_IMPACT_STARTS, limb_darkening="bic", scale_by_chi2=True,
    mcmc=False, nwalkers=32, nsteps=2000, burn_fraction=0.5, seed=None,
    phase_order="bic",
):
    """
    Fit systematics (+ astrophysics) to a light curve, choosing start and model from the data.

    Parameters
    ----------
    time, flux, error : ndarray (n,)
        Time (days), flux and 1-sigma error.
    clip_mask : ndarray of bool (n,), optional
        Points excluded from the fit (kept in the outputs).
    regressors : dict of str to ndarray, optional
        Candidate decorrelation regressors.
    poly_order : int
        Highest polynomial order in time.
    poly_selection : {'bic', 'fixed'}
        Choose the order in ``0..poly_order`` by BIC, or use ``poly_order``.
    ramp : {'none', 'single', 'double'}
        Most exponential ramp terms.
    ramp_selection : {'bic', 'fixed'}
        Choose the number of ramp terms up to ``ramp`` by BIC, or use ``ramp``.
    ramp_tau : sequence of float
        Initial ramp timescales (days).
    ramp_tau_fixed : bool
        Hold the ramp timescales at ``ramp_tau`` and fit only the amplitudes.
    regressor_selection : {'bic', 'all'}
        Forward selection of the regressors by BIC, or use them all.
    regressor_min_delta_bic : float
        A regressor is added only when it lowers the BIC by more than this. A drift
        that follows the transit shape is partly degenerate with the depth, and a
        small mismatch between the transit model and the data then lowers the BIC of
        such a regressor by chance far more often than the nominal ``ln N`` penalty
        implies; 10 is "very strong" evidence on the Kass & Raftery (1995) scale.
    astrophysical : {'transit', 'eclipse', 'phase_curve', 'out_of_transit', 'none'}
        Astrophysical part of the model (``phase_curve`` needs ``period``).
    astro_params : dict, optional
        Given values of :data:`~jwst_tso_ext.lightcurve.model.ASTRO_PARAMS`
        (None entries are unknown).
    free_params : sequence of str, optional
        Astrophysical parameters fitted (``a``/``inc`` mean the transit shape); None:
        :data:`DEFAULT_FREE` of ``astrophysical``.
    windows : sequence of float, optional
        For ``out_of_transit``: flat list of (start, end) times excluded from the fit.
    min_out_of_transit : int
        Fewest fitted points outside the event for an event to be fitted.
    search_min_snr : float
        Significance a dip needs in the search to be fitted; it is then kept only if
        the event model lowers the BIC against the systematics alone.
    transit_shape : {'bic', 'physical', 'free_ingress', 'fixed'}
        'physical': the limb-darkened planet, ingress from ``rp`` and the orbit;
        'free_ingress': a flat-bottomed dip (uniform disk, ``u1 = u2 = 0`` unless the
        limb darkening is fitted, central chord ``b = 0``) whose ingress has its own
        radius ratio ``rp_shape`` (see :mod:`~jwst_tso_ext.lightcurve.model`); 'bic':
        free_ingress only if it lowers the BIC by more than ``shape_min_delta_bic``,
        chosen on the richest systematics model; 'fixed': the ingress of the given
        ``rp_shape`` (another fit's, e.g. the white light's), held fixed.
    shape_min_delta_bic : float
        BIC drop the free ingress must bring over the physical transit to be chosen
        (one more parameter, partly degenerate with the depth: as for regressors, 10).
    impact_starts : sequence of float
        Impact parameters the fit starts from when the orbit is not given.
    limb_darkening : {'free', 'fixed', 'bic'}
        Limb darkening of a transit (quadratic law). 'free': fitted as Kipping's q1, q2
        (uniform in [0, 1], every law physical), from the given ``u1``, ``u2`` (else
        0.1, 0.1: a start only); 'fixed': held at the given ``u1``, ``u2`` (a
        ``ValueError`` if not given); 'bic': fitted, then the chosen model is refitted
        with the given values held, and that fit is kept only if its BIC is lower (no
        values given: 'free'). ``u1``/``u2`` named in ``free_params`` are fitted
        whatever this says. Ignored for an eclipse.
    scale_by_chi2, mcmc, nwalkers, nsteps, burn_fraction, seed
        See :func:`~jwst_tso_ext.lightcurve.model.fit_light_curve`.
    phase_order : {'bic', '1', '2'}
        Phase curve: the order of the phase function, chosen by BIC (the second order
        kept if it lowers the BIC) or given.

    Returns
    -------
    dict
        ``fit``, ``model``, ``fit_mask``, ``out_of_transit``, ``columns``
        (systematics_model, astrophysical_model, detrended_flux, detrended_flux_err,
        residual), ``parameters`` (name to (value, error or None)) and ``selection``:
        ``search`` (the search result or None), ``start`` (origin of the start),
        ``impact_start`` (the impact parameter of the winning start),
        ``candidates`` (label to BIC, or to the reason it was not fitted),
        ``regressors_dropped``, ``limb_darkening`` ('free', 'fixed' or 'not used'),
        ``limb_darkening_bic`` (for 'bic': the BIC with the law fitted and with the
        given values held), ``depth_correlation`` (kept regressor to the correlation
        of its coefficient with the depth), ``phase_order`` (phase curve: 1 or 2),
        ``dropped`` (what the requested model lost
        for lack of data, with why) and ``status`` (``COMPLETE``, or ``REDUCED`` when
        something was dropped for lack of data).

    Raises
    ------
    ValueError
        If fewer than two points can be fitted, or an argument is invalid.
    """
    time = np.asarray(time, float)
    flux = np.asarray(flux, float)
    error = np.asarray(error, float)
    n = time.size
    clip_mask = np.zeros(n, bool) if clip_mask is None else np.asarray(clip_mask, bool)
    fit_mask = (~clip_mask & np.isfinite(flux) & np.isfinite(error) & (error > 0)
                & np.isfinite(time))
    if fit_mask.sum() < 2:
        raise ValueError(f"Only {int(fit_mask.sum())} usable point(s): nothing to fit.")
    if ramp not in RAMP_LEVELS:
        raise ValueError(f"ramp must be one of {RAMP_LEVELS}, not {ramp!r}")
    dropped = []
    selection = {"search": None, "start": None, "impact_start": None, "dropped": dropped,
                 "transit_shape": None, "limb_darkening_bic": None}
    if str(phase_order) not in PHASE_ORDERS:
        raise ValueError(f"phase_order must be one of {PHASE_ORDERS}, not {phase_order!r}")
    if astrophysical not in DEFAULT_FREE:
        raise ValueError(f"astrophysical must be one of {tuple(DEFAULT_FREE)}, "
                         f"not {astrophysical!r}")
    if free_params is None:
        free_params = DEFAULT_FREE[astrophysical]
    free_params, ld_plan = _limb_darkening_plan(limb_darkening, astrophysical, astro_params,
                                                free_params)
    if astrophysical in ("transit", "eclipse") and (astro_params or {}).get("period") is None:
        span = float(np.ptp(time[fit_mask]))
        log.info(f"No period given: {default_period(span):g} d assumed (1 d or 20 exposures); "
                 "a/R* and inc depend on it, the depth and duration hardly.")

    if astrophysical == "out_of_transit":
        if not windows:
            log.warning("astrophysical='out_of_transit' without windows: fitting all points "
                        "with systematics only.")
        fit_mask &= ~in_windows(time, windows)
    values = dict(astro_params or {})
    impacts = [None]
    if astrophysical in EVENT_KINDS:
        if astrophysical == "phase_curve":
            start, impacts, search, origin = _phase_curve_start(
                time, flux, error, fit_mask, astro_params, free_params, search_min_snr,
                impact_starts)
        else:
            start, impacts, search, origin = _astro_start(
                time, flux, error, fit_mask, astrophysical, astro_params, free_params,
                search_min_snr, impact_starts)
        selection["search"] = search
        selection["start"] = origin
        if start is None:
            reason = search.get("reason", "no significant dip")
            log.warning(f"No {astrophysical} found by the search ({reason}); fitting "
                        "the systematics only. Give t0 (and the orbit) to fit it anyway.")
            dropped.append(f"{astrophysical}: not found by the search ({reason})")
            astrophysical = "none"
            impacts = [None]
        else:
            values = start

    ramps = (RAMP_LEVELS[: RAMP_LEVELS.index(ramp) + 1] if ramp_selection == "bic"
             else (ramp,))
    orders = range(int(poly_order) + 1) if poly_selection == "bic" else (int(poly_order),)
    candidates_all = dict(regressors or {})
    base_regressors = list(candidates_all) if regressor_selection == "all" else []

    def fit_structure(kind, ramp_level, order, names, warm, impact_list, free, shape):
        chosen = {name: candidates_all[name] for name in names}
        # a physical ingress follows rp; 'fixed' keeps the given rp_shape
        given = (dict(values, rp_shape=None) if shape in ("physical",) + _PHASE_SHAPES
                 else _free_ingress_values(values, free) if shape == "free_ingress"
                 else values)
        model = _build(time, fit_mask, ramp_level, order, ramp_tau, chosen, kind, given, free,
                       fit_ramp_tau=not ramp_tau_fixed)
        reason = _feasible(model, flux, fit_mask, min_out_of_transit)
        if reason is not None:
            return model, None, reason
        starts = _starts(model, warm, impact_list)
        if "rp_shape" in model.names and warm is not None and "rp_shape" not in warm:
            # from the physical transit, and from a sharper ingress
            starts = starts + [dict(start, rp_shape=0.3 * warm.get("rp", 0.1))
                               for start in starts]
        fit = fit_light_curve(model, flux, error, fit_mask, scale_by_chi2=scale_by_chi2,
                              starts=starts)
        return model, fit, None

    def bic_of(fit):
        return noise.bic(fit["chi2"], fit["n_free"], fit["n_points"])

    if transit_shape not in _SHAPES:
        raise ValueError(f"transit_shape must be one of {_SHAPES}, not {transit_shape!r}")
    candidates = {}

    def fit_kind(kind):
        """The lowest-BIC (ramp, polynomial[, shape]) structure of one kind, or None."""
        best = None
        warm, impact_list = None, impacts
        shapes = ["physical"]
        # a free ingress only where the transit shape is fitted (not for a given orbit)
        shape_fitted = bool({"a", "inc", "duration", "b"} & set(free_params or []))
        if kind == "phase_curve":
            # the phase function's order plays the part of the transit shape
            shapes = {"bic": list(_PHASE_SHAPES), "1": ["order1"],
                      "2": ["order2"]}[str(phase_order)]
        elif kind in ("transit", "eclipse") and transit_shape == "fixed":
            shapes = ["fixed"]  # another fit's ingress (rp_shape), held
        elif kind in ("transit", "eclipse") and transit_shape != "physical" and shape_fitted:
            shapes = (["physical", "free_ingress"] if transit_shape == "bic"
                      else ["free_ingress"])
        done = {}  # (ramp index, order, shape) -> (label, model, fit)

        def free_for(shape):
            if shape in _PHASE_SHAPES:
                first = [p for p in free_params or [] if p not in SECOND_ORDER_PARAMS]
                return first + (list(SECOND_ORDER_PARAMS) if shape == "order2" else [])
            if shape != "free_ingress":
                return list(free_params or [])
            # b is held (see _free_ingress_values)
            return [p for p in free_params or [] if p not in ("inc", "b")] + ["rp_shape"]

        # the richest structure first: its multi-start result warm-starts the others
        for ramp_level in reversed(ramps):
            for order in reversed(list(orders)):
                fitted = []
                for shape in shapes:
                    label = _label(ramp_level, order, base_regressors)
                    if shape in _PHASE_SHAPES:
                        label += f", phase_order={shape[-1]}"
                    elif len(shapes) > 1 or shape != "physical":
                        label += f", shape={shape}"
                    model, fit, reason = fit_structure(kind, ramp_level, order, base_regressors,
                                                       warm, impact_list, free_for(shape), shape)
                    if fit is None:
                        candidates[f"{kind}: {label}"] = reason
                        continue
                    done[(RAMP_LEVELS.index(ramp_level), order, shape)] = (label, model, fit)
                    fitted.append((bic_of(fit), shape))
                    if warm is None:
                        warm = _values_by_name(model, fit)
                        if impact_list != [None] and "b" in model.names:
                            selection["impact_start"] = fit["start"].get("b")
                        impact_list = [None]
                if fitted and len(shapes) > 1 and kind == "phase_curve":
                    shape = min(fitted)[1]
                    log.info(f"Phase-function order by BIC: {shape[-1]}")
                    shapes = [shape]
                elif fitted and len(shapes) > 1:
                    shape = _preferred_shape(dict((k, v) for v, k in fitted),
                                             shape_min_delta_bic)
                    log.info(f"Transit shape by BIC: {shape}")
                    shapes = [shape]
                    selection["transit_shape"] = shape
        # a model can only fit as well as any model nested in it: where a simpler model
        # reached a lower chi-square, refit the richer one from its solution
        for key in sorted(done, key=lambda k: (k[0] + k[1], k)):
            label, model, fit = done[key]
            for other, (_, sub_model, sub_fit) in done.items():
                nested = (other != key and other[0] <= key[0] and other[1] <= key[1]
                          and other[2] in (key[2], "physical", "order1"))
                if not nested or sub_fit["chi2"] >= fit["chi2"] - 1e-6:
                    continue
                start = _values_by_name(sub_model, sub_fit)
                start.update({name: 0.0 for name in model.names
                              if name.startswith("ramp_amp") and name not in start})
                refit = fit_light_curve(model, flux, error, fit_mask,
                                        scale_by_chi2=scale_by_chi2, starts=[start])
                if refit["chi2"] < fit["chi2"]:
                    fit = refit
            done[key] = (label, model, fit)
            candidates[f"{kind}: {label}"] = bic_of(fit)
            if key[2] != shapes[0]:
                # the shape was chosen above (with its own margin): the other one's fit
                # only warm-started; letting it win here by any BIC drop bypassed the
                # margin (a free ingress with b = 0 won by 0.1 and biased rp by -1 sigma)
                continue
            if best is None or bic_of(fit) < best[2]:
                best = (model, fit, bic_of(fit), RAMP_LEVELS[key[0]], key[1])
        return best

    best = fit_kind(astrophysical)
    if astrophysical in EVENT_KINDS:
        event = astrophysical
        if best is None:
            dropped.append(f"{event}: "
                           + "; ".join(f"{k.split(': ', 1)[1]} not fitted ({v})"
                                       for k, v in candidates.items() if k.startswith(event)))
            log.warning(f"The data cannot support a {event} model with any systematics "
                        f"({n} integrations, {int(fit_mask.sum())} usable); fitting the "
                        "systematics only.")
            best = fit_kind("none")
        elif selection["start"] == "search":
            # a dip found by the search is a detection only if it lowers the BIC
            bare = fit_kind("none")
            if bare is not None and bare[2] <= best[2]:
                log.warning(f"No {event} found: the search's best dip (S/N "
                            f"{selection['search']['snr']:.1f}) does not lower the BIC "
                            f"({best[2]:.1f} with it, {bare[2]:.1f} without); fitting the "
                            "systematics only. Give t0 (and the orbit) to fit it anyway.")
                dropped.append(f"{event}: the best dip does not lower the BIC")
                best = bare
    if best is None:
        model = _build(time, fit_mask, "none", 0, ramp_tau, {}, "none", values, free_params)
        fit = fit_light_curve(model, flux, error, fit_mask, scale_by_chi2=scale_by_chi2)
        best = (model, fit, bic_of(fit), "none", 0)
        candidates["none: " + _label("none", 0, [])] = best[2]
    model, fit, best_bic, ramp_level, order = best
    kind = model.astrophysical
    _log_unsupported(candidates, kind, ramps, orders, dropped)

    # forward selection of the regressors
    kept = list(base_regressors)
    remaining = [name for name in candidates_all if name not in kept]
    chosen_shape = ("free_ingress" if "rp_shape" in model.free_astro
                    else "fixed" if transit_shape == "fixed" else "physical")
    while regressor_selection == "bic" and remaining:
        trials = {}
        warm = _values_by_name(model, fit)
        # a regressor that drifts slowly carries a time trend: with it, the polynomial
        # order is chosen again (a drifting y_shift added to the order-0 baseline of a
        # phase curve imposed its drift as a trend and biased fp_night by -3 sigma)
        for name in remaining:
            for trial_order in (orders if poly_selection == "bic" else (order,)):
                trial_model, trial_fit, reason = fit_structure(
                    kind, ramp_level, trial_order, kept + [name], warm, [None],
                    [p for p in model.free_astro], chosen_shape)
                label = f"{kind}: " + _label(ramp_level, trial_order, kept + [name])
                candidates[label] = reason if trial_fit is None else bic_of(trial_fit)
                if trial_fit is not None:
                    trials[name, trial_order] = (trial_model, trial_fit, bic_of(trial_fit))
        if not trials:
            break
        name, trial_order = min(trials, key=lambda k: trials[k][2])
        if trials[name, trial_order][2] > best_bic - regressor_min_delta_bic:
            break
        model, fit, best_bic = trials[name, trial_order]
        order = trial_order
        kept.append(name)
        remaining.remove(name)
    selection["regressors_dropped"] = [n for n in candidates_all if n not in model.regressor_names]
    if selection["regressors_dropped"] and regressor_selection == "bic":
        log.info("Regressors not kept (they do not lower the BIC by more than %g): %s",
                 regressor_min_delta_bic,
                 ", ".join(selection["regressors_dropped"]))
    if ld_plan == "bic" and kind in ("transit", "phase_curve"):
        model, fit, best_bic = _limb_darkening_by_bic(
            fit_structure, bic_of, selection, model, fit, best_bic, ramp_level, order,
            chosen_shape)
    selection["limb_darkening"] = (
        "not used" if kind not in ("transit", "phase_curve")
        else "free" if {"q1", "q2"} & set(model.free_astro) else "fixed")
    log.info("Model chosen by BIC: %s, %s", kind,
             _label(RAMP_LEVELS[model.n_ramp], model.poly_order, model.regressor_names))
    selection["candidates"] = candidates
    selection["depth_correlation"] = _depth_correlation(fit, model)
    selection["status"] = "REDUCED" if dropped else "COMPLETE"

    for warning in fit["warnings"]:
        log.warning(warning)
    if mcmc:
        fit = fit_light_curve(model, flux, error, fit_mask, scale_by_chi2=scale_by_chi2,
                              mcmc=True, nwalkers=nwalkers, nsteps=nsteps,
                              burn_fraction=burn_fraction, seed=seed,
                              starts=[_values_by_name(model, fit)])
    return _result(model, fit, flux, error, fit_mask, selection)


def _limb_darkening_by_bic(fit_structure, bic_of, selection, model, fit, bic, ramp_level,
                           order, shape):
    """The chosen model with the given limb darkening held, kept if its BIC is lower."""
    held = [p for p in model.free_astro if p not in _LIMB_DARKENING_NAMES]
    warm = {k: v for k, v in _values_by_name(model, fit).items() if k not in ("q1", "q2")}
    fixed_model, fixed_fit, reason = fit_structure(
        model.astrophysical, ramp_level, order, list(model.regressor_names), warm, [None],
        held, shape)
    if fixed_fit is None:
        return model, fit, bic
    fixed_bic = bic_of(fixed_fit)
    selection["limb_darkening_bic"] = {"free": float(bic), "fixed": float(fixed_bic)}
    # (the free-ingress shape holds a flat bottom, u1 = u2 = 0, not the given values)
    u1, u2 = fixed_model.astro_values["u1"], fixed_model.astro_values["u2"]
    if fixed_bic < bic:
        log.info(f"Limb darkening held at the given u1 = {u1:.4g}, u2 = {u2:.4g}: BIC "
                 f"{fixed_bic:.1f} against {bic:.1f} with the law fitted.")
        return fixed_model, fixed_fit, fixed_bic
    fitted = model.astro_dict(fit["values"])
    log.info(f"Limb darkening fitted (u1 = {fitted['u1']:.3f}, u2 = {fitted['u2']:.3f}): BIC "
             f"{bic:.1f} against {fixed_bic:.1f} with the given u1 = {u1:.4g}, "
             f"u2 = {u2:.4g} held.")
    return model, fit, bic


def _log_unsupported(candidates, kind, ramps, orders, dropped):
    """WARN about requested terms of the chosen kind that the data could not support."""
    unsupported = [f"{k.split(': ', 1)[1]} ({v})" for k, v in candidates.items()
                   if k.startswith(f"{kind}: ") and isinstance(v, str)]
    if unsupported:
        message = "; ".join(unsupported)
        dropped.append(f"{kind}: not fitted for lack of data: {message}")
        log.warning(f"Models the data cannot support were not fitted: {message}")


def _depth_correlation(fit, model):
    """Correlation of the depth parameter with each kept regressor's coefficient."""
    names = fit["names"]
    depth = "fp" if model.astrophysical == "eclipse" else "rp"
    if depth not in names:
        return {}
    cov = fit["covariance"]
    i = names.index(depth)
    out = {}
    for regressor in model.regressor_names:
        j = names.index(f"d_{regressor}")
        denominator = np.sqrt(cov[i, i] * cov[j, j])
        out[regressor] = float(cov[i, j] / denominator) if denominator > 0 else float("nan")
    return out


def _result(model, fit, flux, error, fit_mask, selection):
    sys_model = fit["systematics"]
    astro = fit["astrophysical"]
    with np.errstate(invalid="ignore", divide="ignore"):
        detrended = flux / sys_model
        detrended_err = error / sys_model
    columns = {
        "systematics_model": sys_model,
        "astrophysical_model": astro,
        "detrended_flux": detrended,
        "detrended_flux_err": detrended_err,
        "residual": detrended - astro,
    }
    params = {}
    for name, value, err in zip(fit["names"], fit["values"], fit["errors"], strict=True):
        params[name] = (float(value), float(err))
    if model.astrophysical in EVENT_KINDS:
        for name, value in model.astro_dict(fit["values"]).items():
            # a phase curve's eclipse depth is fp_day, not batman's fp
            if value is not None and not (model.astrophysical == "phase_curve" and name == "fp"):
                params.setdefault(name, (float(value), None))
    if model.astrophysical == "phase_curve":
        params.update(_phase_curve_parameters(model, fit))
        selection["phase_order"] = 2 if SECOND_ORDER_PARAMS[0] in model.free_astro else 1
    oot = model.out_of_events(fit["values"])
    return {
        "fit": fit,
        "model": model,
        "fit_mask": fit_mask,
        "out_of_transit": oot,
        "columns": columns,
        "parameters": params,
        "selection": selection,
    }


def _phase_curve_parameters(model, fit):
    """Transit depth and the phase-curve quantities, with errors from the covariance."""
    names = fit["names"]
    p = model.astro_dict(fit["values"])
    index = [names.index(name) if name in names else None for name in PHASE_PARAMS]
    values = np.array([p[name] for name in PHASE_PARAMS], float)
    covariance = np.zeros((len(PHASE_PARAMS), len(PHASE_PARAMS)))
    fitted = [k for k, i in enumerate(index) if i is not None]
    rows = [index[k] for k in fitted]
    covariance[np.ix_(fitted, fitted)] = fit["covariance"][np.ix_(rows, rows)]
    out = phase_curve_summary(values, covariance)
    rp_err = fit["errors"][names.index("rp")] if "rp" in names else None
    out["transit_depth"] = (float(p["rp"] ** 2),
                            None if rp_err is None else float(2.0 * p["rp"] * rp_err))
    night, night_err = out["fp_night"]
    if night_err > 0 and night < -3.0 * night_err:
        log.warning(f"The nightside flux is {night / night_err:.1f} sigma below zero "
                    f"({1e6 * night:.0f} +/- {1e6 * night_err:.0f} ppm): not physical; "
                    "unmodelled systematics are likely.")
    log.info("Phase curve: dayside %.0f +/- %.0f ppm, nightside %.0f +/- %.0f ppm, "
             "amplitude %.0f +/- %.0f ppm, offset %.1f +/- %.1f deg (east positive)",
             *(1e6 * np.array(out["fp_day"])), *(1e6 * np.array(out["fp_night"])),
             *(1e6 * np.array(out["phase_amplitude"])), *out["phase_offset_deg"])
    return out
