"""
Systematics + astrophysical light-curve model and its fit (plain numpy, no datamodels).

Model
-----
``F(t) = F0 * S(t) * A(t)`` with

* systematics ``S(t) = P(t) * R(t) * D(t)``:

  - ``P = 1 + sum_k c_k tau**k`` (k = 1..``poly_order``), ``tau`` the time scaled to
    [-1, 1] over the observation;
  - MIRI ramp ``R = 1 + a1 exp(-(t - t_start) / tau1) [+ a2 exp(-(t - t_start) / tau2)]``
    (``ramp`` = ``none``, ``single`` or ``double``; timescales in days, bounded to
    [one cadence, a quarter of the observation] so that the ramp is not degenerate with
    one point or with the polynomial);
  - linear decorrelation ``D = 1 + sum_k d_k z_k`` against standardized regressors
    ``z_k`` (e.g. ``x_shift``, ``y_shift``, ``trace_width`` from the drift table);

* astrophysical ``A(t)``: a batman quadratic-limb-darkened transit, a batman secondary
  eclipse (normalized to 1 out of eclipse), a phase curve (the transit plus the planet's
  phase-varying flux behind batman's secondary eclipse, star = 1:
  :mod:`~jwst_tso_ext.lightcurve.phase_curve`), or 1 (``out_of_transit``: only points
  outside the given windows are fitted; ``none``: no astrophysical signal, every point
  fitted).

The transit shape is varied as its total duration ``duration`` (T14, days) and impact
parameter ``b`` rather than as ``a`` and ``inc``: the two are nearly orthogonal for a
single transit, while ``a`` and ``inc`` at a fixed period are strongly correlated
(:mod:`jwst_tso_ext.lightcurve.orbit` converts). Naming ``a`` or ``inc`` as free means
``duration`` or ``b``; both are reported.

A physical transit's ingress lasts at least ``rp / (1 + rp)`` of ``T14``. With
``rp_shape`` free the ingress and egress are those of a planet of radius ratio
``rp_shape`` while the depth stays that of ``rp`` (the batman dip of ``rp_shape``
scaled by ``(rp / rp_shape)**2``); ``rp_shape = rp`` is the physical transit. This
lets the fit follow a sharper (or slower) ingress than the default limb darkening and
geometry allow, without biasing the depth. Model selection
(:func:`~jwst_tso_ext.lightcurve.fit_selection.detrend`) fits it on a central chord
over a uniform disk: a flat-bottomed dip.

With ``depth`` free (and ``rp_shape`` fixed) the transit is the batman dip of
``rp_shape`` scaled by ``depth / rp_shape**2``: the depth enters linearly and may be
negative, so a noisy wavelength bin's depth is unbiased and its error finite even near
zero (a free ``rp`` is bounded at 0, where the depth's error vanishes). The
spectroscopic bins fit this, with the white light's shape (a phase curve's transit
too, with ``fp_day`` and ``fp_night`` free beside it).

Fit
---
Weighted least squares (:func:`scipy.optimize.least_squares`, ``trf`` with bounds) on
the points not clipped (and outside the windows for ``out_of_transit``).  Parameter
covariance ``(J^T J)^-1`` from the Jacobian of the weighted residuals; when the reduced
chi-square exceeds 1 the covariance is multiplied by it (``scale_by_chi2``), so errors
account for noise beyond the propagated errors but never shrink below them. A
limb-darkening ``q1``/``q2`` that ends on its bound (0 or 1) is held there for the
covariance (its error NaN, a warning returned): its column made the linear errors of
the others meaningless. ``q1 = 0`` is a uniform disc whatever ``q2``, so ``q2`` is
then held too. The time axis (ramp start, polynomial scale, ramp timescale bounds) is
that of the points fitted.  Optionally
emcee samples the posterior (uniform priors inside the bounds, Gaussian likelihood with
the same, possibly chi2-scaled, errors).
"""

import logging

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from jwst_tso_ext.lightcurve.orbit import default_period, orbit_from_shape, shape_from_orbit
from jwst_tso_ext.lightcurve.phase_curve import PHASE_PARAMS, eclipse_phase, planet_flux

log = logging.getLogger(__name__)

__all__ = [
    "ASTRO_PARAMS", "USER_PARAMS", "ASTROPHYSICAL_KINDS", "LightCurveModel", "fit_light_curve",
]

#: Kinds of astrophysical signal the model knows.
ASTROPHYSICAL_KINDS = ("transit", "eclipse", "out_of_transit", "none", "phase_curve")

#: Kinds with a transit or eclipse geometry (batman).
EVENT_KINDS = ("transit", "eclipse", "phase_curve")

#: Astrophysical parameters, their default initial value and bounds (None: set from
#: the data or the other parameters).
ASTRO_PARAMS = {
    "t0": (None, (-np.inf, np.inf)),
    "period": (None, (1e-3, np.inf)),
    "rp": (0.1, (0.0, 0.5)),
    "a": (None, (1.0, 1e3)),
    "inc": (None, (0.0, 90.0)),
    "duration": (None, (0.0, np.inf)),
    "b": (0.3, (0.0, 1.0)),
    "rp_shape": (None, (0.01, 0.5)),
    "ecc": (0.0, (0.0, 0.99)),
    "w": (90.0, (-360.0, 360.0)),
    "u1": (0.1, (-1.0, 2.0)),
    "u2": (0.1, (-1.0, 2.0)),
    "fp": (1e-3, (0.0, 0.5)),
    "q1": (None, (0.0, 1.0)),
    "q2": (None, (0.0, 1.0)),
    "depth": (None, (-0.5, 0.5)),
    # phase curve (lightcurve.phase_curve): unbounded in sign, see its docstring
    "fp_day": (1e-3, (-0.5, 0.5)),
    "fp_night": (0.0, (-0.5, 0.5)),
    "phase_sin1": (0.0, (-0.5, 0.5)),
    "phase_cos2": (0.0, (-0.5, 0.5)),
    "phase_sin2": (0.0, (-0.5, 0.5)),
}

#: The parameters a user gives; q1, q2 (Kipping's limb darkening) are how a free
#: u1, u2 is fitted; ``depth`` is the transit depth of a fixed shape (see the module
#: docstring), as the spectroscopic bins fit it; the phase-curve coefficients start
#: from the search.
USER_PARAMS = tuple(name for name in ASTRO_PARAMS
                    if name not in ("q1", "q2", "depth") + PHASE_PARAMS)


class LightCurveModel:
    """
    Parametrized systematics x astrophysical model on a fixed time grid.

    Parameters
    ----------
    time : ndarray (n,)
        Times (days), e.g. BJD_TDB as MJD.
    poly_order : int
        Order of the multiplicative polynomial in time (0 = none beyond ``F0``).
    ramp : {'none', 'single', 'double'}
        Number of exponential ramp terms.
    ramp_tau : float or sequence of float
        Initial ramp timescale(s) in days.
    fit_ramp_tau : bool
        Fit the ramp timescales; False holds them at ``ramp_tau`` (e.g. another fit's:
        the spectral bins keep the white light's) and fits only the amplitudes.
    regressors : dict of str to ndarray, optional
        Raw regressors; standardized (zero mean, unit std over ``fit_mask``) inside.
    astrophysical : {'transit', 'eclipse', 'phase_curve', 'out_of_transit', 'none'}
        Astrophysical part.
    astro_params : dict, optional
        Initial / fixed values of :data:`ASTRO_PARAMS`.
    free_params : sequence of str
        Astrophysical parameters fitted; the others are held fixed.
    fit_mask : ndarray of bool (n,), optional
        Points used for standardizing regressors (default all).
    """

    def __init__(
        self, time, poly_order=1, ramp="single", ramp_tau=0.01, regressors=None,
        astrophysical="transit", astro_params=None, free_params=("t0", "rp"), fit_mask=None,
        fit_ramp_tau=True,
    ):
        self.time = np.asarray(time, dtype=float)
        n = self.time.size
        fit_mask = np.ones(n, bool) if fit_mask is None else np.asarray(fit_mask, bool)
        # the time axis (start, span, cadence) of the points fitted: a row left out of
        # the fit (a table's fill value, time 0) must not stretch it
        axis = np.isfinite(self.time) & fit_mask
        axis_time = self.time[axis] if axis.any() else self.time[np.isfinite(self.time)]
        self.t_start = np.min(axis_time)
        span = np.max(axis_time) - self.t_start
        self.span = span if span > 0 else 1.0
        self.tau = 2.0 * (self.time - self.t_start) / self.span - 1.0
        self.poly_order = int(poly_order)
        if ramp not in ("none", "single", "double"):
            raise ValueError(f"ramp must be 'none', 'single' or 'double', not {ramp!r}")
        self.n_ramp = {"none": 0, "single": 1, "double": 2}[ramp]
        taus = np.atleast_1d(np.asarray(ramp_tau, dtype=float))
        if taus.size < self.n_ramp:
            extra = taus[-1] * 5.0 ** np.arange(1, self.n_ramp - taus.size + 1)
            taus = np.concatenate([taus, extra])
        self.ramp_tau = taus[: self.n_ramp]
        self.fit_ramp_tau = bool(fit_ramp_tau)
        # A ramp faster than one integration or slower than a quarter of the observation
        # is degenerate with a single point or with the polynomial: bound the timescales.
        steps = np.diff(np.sort(axis_time))
        cadence = np.median(steps) if steps.size else self.span
        self.tau_min = max(cadence, 1e-6)
        self.tau_max = max(self.span / 4.0, 2.0 * self.tau_min)

        self.regressor_names = []
        self.regressor_raw = {}
        z = []
        for name, values in (regressors or {}).items():
            values = np.asarray(values, dtype=float)
            ok = fit_mask & np.isfinite(values)
            std = np.std(values[ok]) if ok.any() else 0.0
            if not std > 0:
                log.warning(f"Regressor {name} is constant or undefined; not used.")
                continue
            self.regressor_names.append(name)
            self.regressor_raw[name] = values
            zk = (values - np.mean(values[ok])) / std
            z.append(np.where(np.isfinite(zk), zk, 0.0))
        self.z = np.array(z).reshape(len(z), n)

        if astrophysical not in ASTROPHYSICAL_KINDS:
            raise ValueError(f"astrophysical must be one of {ASTROPHYSICAL_KINDS}, "
                             f"not {astrophysical!r}")
        self.astrophysical = astrophysical
        unknown = set(astro_params or {}) - set(ASTRO_PARAMS)
        if unknown:
            raise ValueError(f"Unknown astrophysical parameters: {sorted(unknown)}")
        values = {k: v[0] for k, v in ASTRO_PARAMS.items()}
        values.update({k: v for k, v in (astro_params or {}).items() if v is not None})
        if values["period"] is None:
            values["period"] = default_period(self.span)
        self.astro_values = values
        if astrophysical in ("out_of_transit", "none"):
            self.free_astro = []
        else:
            free = []
            for name in free_params or []:
                if name not in ASTRO_PARAMS:
                    raise ValueError(f"Unknown free parameter {name!r}; choose from "
                                     f"{list(ASTRO_PARAMS)}")
                # the orbit is varied through the transit shape (see module docstring)
                name = {"a": "duration", "inc": "b", "u1": "q1", "u2": "q2"}.get(name, name)
                if astrophysical == "phase_curve" and name == "fp":
                    name = "fp_day"  # the eclipse depth
                # a transit has no planet flux, only a phase curve a phase function
                ignored = ((astrophysical == "transit" and name == "fp")
                           or (astrophysical != "phase_curve" and name in PHASE_PARAMS))
                if name not in free and not ignored:
                    free.append(name)
            self.free_astro = free
            if "depth" in free and (astrophysical not in ("transit", "phase_curve")
                                    or values["rp_shape"] is None
                                    or "rp_shape" in free):
                raise ValueError("A free depth needs a transit of fixed shape: give rp_shape "
                                 "(the radius ratio of the shape) and keep it fixed.")
            # the shape comes from (duration, b) unless a fixed orbit (a, inc) is given
            self.shape_free = bool({"duration", "b"} & set(free))
            if not self.shape_free and values["a"] is not None and values["inc"] is not None:
                values["duration"], values["b"] = shape_from_orbit(
                    values["a"], values["inc"], values["rp"], values["period"], values["ecc"],
                    values["w"])
            elif values["duration"] is None:
                if values["a"] is None or values["inc"] is None:
                    raise ValueError("The transit shape is unknown: give duration (and b) or "
                                     "a and inc.")
                values["duration"], values["b"] = shape_from_orbit(
                    values["a"], values["inc"], values["rp"], values["period"], values["ecc"],
                    values["w"])
        self._batman = None
        self._batman_eclipse = None
        #: orbital phase of the eclipse after the transit (0.5 on a circular orbit)
        self.eclipse_phase = eclipse_phase(values["period"], values["ecc"], values["w"])
        # a transit cannot be shorter than two integrations nor outlast half an orbit
        self.duration_bounds = (
            2.0 * self.tau_min,
            min(2.0 * self.span, 0.49 * values["period"]),
        )

        names = ["F0"] + [f"c{k}" for k in range(1, self.poly_order + 1)]
        for k in range(1, self.n_ramp + 1):
            names += [f"ramp_amp{k}"] + ([f"ramp_tau{k}"] if self.fit_ramp_tau else [])
        names += [f"d_{r}" for r in self.regressor_names]
        self.n_sys = len(names)
        self.names = names + self.free_astro

    # ------------------------------------------------------------------ helpers
    def _batman_model(self, p):
        import batman

        params = batman.TransitParams()
        params.t0 = p["t0"]
        params.per = p["period"]
        params.rp = p["rp_shape"]
        params.a = p["a"]
        params.inc = p["inc"]
        params.ecc = p["ecc"]
        params.w = p["w"]
        params.limb_dark = "quadratic"
        params.u = [p["u1"], p["u2"]]
        params.fp = p["fp"]
        params.t_secondary = p["t0"]
        if self.astrophysical == "eclipse":
            params.t0 = p["t0"] - 0.5 * p["period"]
        if self._batman is None:
            kind = "secondary" if self.astrophysical == "eclipse" else "primary"
            self._batman = batman.TransitModel(params, self.time, transittype=kind)
        return params

    def _phase_curve_parts(self, p):
        """Transit (1 out of transit) and the planet's visible fraction (0..1), batman."""
        import batman

        params = batman.TransitParams()
        params.t0, params.per, params.rp = p["t0"], p["period"], p["rp_shape"]
        params.a, params.inc, params.ecc, params.w = p["a"], p["inc"], p["ecc"], p["w"]
        params.limb_dark, params.u, params.fp = "quadratic", [p["u1"], p["u2"]], 1.0
        params.t_secondary = p["t0"] + self.eclipse_phase * p["period"]
        if self._batman is None:
            self._batman = batman.TransitModel(params, self.time)
            self._batman_eclipse = batman.TransitModel(params, self.time,
                                                       transittype="secondary")
        transit = self._batman.light_curve(params)
        # batman's secondary eclipse is 1 + fp * (visible fraction), here with fp = 1
        visible = self._batman_eclipse.light_curve(params) - 1.0
        return transit, visible

    def orbital_phase(self, p):
        """
        Phase of the phase function: 0 at mid-transit, 0.5 at mid-eclipse.

        Parameters
        ----------
        p : dict
            Astrophysical parameters (``t0``, ``period``, ``ecc``, ``w``).

        Returns
        -------
        ndarray (n,)
            ``(t - t0) / P``, shifted on an eccentric orbit so that the eclipse is at 0.5.
        """
        return (self.time - p["t0"]) / p["period"] - (self.eclipse_phase - 0.5)

    def out_of_events(self, theta):
        """
        Points outside the transit and the eclipse (phase curve), or outside the event.

        Parameters
        ----------
        theta : ndarray
            Parameter vector.

        Returns
        -------
        ndarray of bool (n,)
            True where neither the transit nor the eclipse is under way.
        """
        if self.astrophysical != "phase_curve":
            return self.astrophysical_model(theta) >= 1.0 - 1e-12
        transit, visible = self._phase_curve_parts(self.astro_dict(theta))
        return (transit >= 1.0 - 1e-12) & (visible >= 1.0 - 1e-12)

    def astro_dict(self, theta):
        """
        Full astrophysical parameter dictionary for a parameter vector.

        Parameters
        ----------
        theta : ndarray
            Parameter vector ordered as :attr:`names`.

        Returns
        -------
        dict
            All :data:`ASTRO_PARAMS` values.
        """
        p = dict(self.astro_values)
        for name, value in zip(self.free_astro, theta[self.n_sys:], strict=True):
            p[name] = value
        if "depth" in self.free_astro:
            p["rp"] = float(np.sqrt(max(p["depth"], 0.0)))
        if "rp_shape" not in self.free_astro and p["rp_shape"] is None:
            # physical ingress; a given, fixed rp_shape keeps another fit's ingress
            p["rp_shape"] = p["rp"]
        if "q1" in self.free_astro or "q2" in self.free_astro:
            # Kipping (2013): any q1, q2 in [0, 1] is a physical quadratic law
            q1, q2 = np.clip(p["q1"], 0.0, 1.0), np.clip(p["q2"], 0.0, 1.0)
            p["u1"], p["u2"] = 2.0 * np.sqrt(q1) * q2, np.sqrt(q1) * (1.0 - 2.0 * q2)
        if self.astrophysical in EVENT_KINDS and (
            self.shape_free or p["a"] is None or p["inc"] is None
        ):
            p["a"], p["inc"] = orbit_from_shape(p["duration"], p["b"], p["rp_shape"],
                                                p["period"], p["ecc"], p["w"])
        return p

    def astrophysical_model(self, theta):
        """
        Normalized astrophysical model (1 out of transit / eclipse).

        Parameters
        ----------
        theta : ndarray
            Parameter vector.

        Returns
        -------
        ndarray (n,)
            The model.
        """
        if self.astrophysical in ("out_of_transit", "none"):
            return np.ones_like(self.time)
        p = self.astro_dict(theta)
        if self.astrophysical == "phase_curve":
            transit, visible = self._phase_curve_parts(p)
            transit = self._scaled_transit(transit, p)
            coefficients = [p[name] for name in PHASE_PARAMS]
            return transit + planet_flux(self.orbital_phase(p), coefficients) * visible
        params = self._batman_model(p)
        lc = self._batman.light_curve(params)
        if self.astrophysical == "eclipse":
            return lc / (1.0 + p["fp"])
        return self._scaled_transit(lc, p)

    def _scaled_transit(self, lc, p):
        """The batman dip of ``rp_shape`` scaled to the depth (see the module docstring)."""
        if "depth" in self.free_astro:
            return 1.0 - p["depth"] / p["rp_shape"] ** 2 * (1.0 - lc)
        if p["rp_shape"] != p["rp"] and p["rp_shape"] > 0:
            return 1.0 - (p["rp"] / p["rp_shape"]) ** 2 * (1.0 - lc)
        return lc

    def systematics_model(self, theta):
        """
        Systematics model including the normalization ``F0`` (flux units).

        Parameters
        ----------
        theta : ndarray
            Parameter vector.

        Returns
        -------
        ndarray (n,)
            ``F0 * P * R * D``.
        """
        i = 0
        f0 = theta[i]
        i += 1
        poly = np.ones_like(self.time)
        for k in range(1, self.poly_order + 1):
            poly += theta[i] * self.tau**k
            i += 1
        ramp = np.ones_like(self.time)
        dt = self.time - self.t_start
        for k in range(self.n_ramp):
            tau = theta[i + 1] if self.fit_ramp_tau else self.ramp_tau[k]
            # a row left out of the fit may lie long before its start: inf there
            with np.errstate(over="ignore"):
                ramp += theta[i] * np.exp(-dt / tau)
            i += 2 if self.fit_ramp_tau else 1
        decor = np.ones_like(self.time)
        for k in range(len(self.regressor_names)):
            decor += theta[i] * self.z[k]
            i += 1
        return f0 * poly * ramp * decor

    def evaluate(self, theta):
        """
        Full model ``F0 * S * A``.

        Parameters
        ----------
        theta : ndarray
            Parameter vector.

        Returns
        -------
        ndarray (n,)
            The model flux.
        """
        return self.systematics_model(theta) * self.astrophysical_model(theta)

    def initial_guess(self, flux, fit_mask):
        """
        Starting parameter vector and bounds from the data.

        Parameters
        ----------
        flux : ndarray (n,)
            White-light flux.
        fit_mask : ndarray of bool (n,)
            Points to be fitted.

        Returns
        -------
        x0, lower, upper : ndarray
            Initial vector and bounds.
        """
        f = np.asarray(flux, float)
        good = fit_mask & np.isfinite(f)
        late = good & (self.time > self.t_start + 0.5 * self.span)
        f0 = np.median(f[late]) if late.sum() > 3 else np.median(f[good])
        x0, lo, hi = [f0], [0.0 if f0 > 0 else -np.inf], [np.inf]
        x0 += [0.0] * self.poly_order
        lo += [-np.inf] * self.poly_order
        hi += [np.inf] * self.poly_order
        first = np.nonzero(good)[0][:5]
        amp0 = np.median(f[first]) / f0 - 1.0 if first.size else 0.0
        for k in range(self.n_ramp):
            amp = amp0 if k == 0 else 0.1 * amp0
            if abs(amp) < 1e-5:
                amp = 1e-4
            x0 += [amp]
            lo += [-1.0]
            hi += [1.0]
            if self.fit_ramp_tau:
                x0 += [self.ramp_tau[k]]
                lo += [self.tau_min]
                hi += [self.tau_max]
        nr = len(self.regressor_names)
        x0 += [0.0] * nr
        lo += [-np.inf] * nr
        hi += [np.inf] * nr
        for name in self.free_astro:
            value = self.astro_values[name]
            if name == "rp_shape" and value is None:
                value = self.astro_values["rp"]
            if name == "depth" and value is None:
                value = self.astro_values["rp"] ** 2
            if name in ("q1", "q2") and value is None:
                value = _kipping_q(self.astro_values["u1"], self.astro_values["u2"])[name]
            if value is None:
                raise ValueError(f"No starting value for the free parameter {name!r}.")
            x0.append(value)
            if name == "t0":
                lo.append(value - 0.5 * self.span - 1.0)
                hi.append(value + 0.5 * self.span + 1.0)
            elif name == "duration":
                lo.append(self.duration_bounds[0])
                hi.append(self.duration_bounds[1])
            else:
                lo.append(ASTRO_PARAMS[name][1][0])
                hi.append(ASTRO_PARAMS[name][1][1])
        x0, lo, hi = (np.array(v, dtype=float) for v in (x0, lo, hi))
        x0 = np.clip(x0, np.nextafter(lo, hi), np.nextafter(hi, lo))
        return x0, lo, hi


def _kipping_q(u1, u2):
    """Kipping (2013) q1, q2 of a quadratic limb-darkening law (clipped to [0, 1])."""
    total = u1 + u2
    q1 = float(np.clip(total**2, 0.0, 1.0))
    q2 = float(np.clip(u1 / (2.0 * total), 0.0, 1.0)) if total > 0 else 0.5
    return {"q1": q1, "q2": q2}


def _ramp_starts(model, x0, lo, hi):
    """Starting vectors: the initial guess, and ramp timescales spread over their bounds.

    The exponential ramp makes the chi2 surface multi-modal (a short timescale fitting
    the first points, a long one degenerate with the polynomial): the fit is started
    from the configured timescale and from 1/50, 1/10 and 1/4 of the time span, and the
    lowest chi2 wins.
    """
    taus = [i for i, name in enumerate(model.names) if name.startswith("ramp_tau")]
    starts = [x0]
    if not taus:
        return starts
    for fraction in (0.02, 0.1, 0.25):
        start = x0.copy()
        for i in taus:
            start[i] = fraction * model.span
        starts.append(np.clip(start, np.nextafter(lo, hi), np.nextafter(hi, lo)))
    return starts


def _at_bounds(model, values, lo, hi):
    """Warnings for the ramp timescales that end on their bounds."""
    return [
        f"{name} ended at its bound ({values[i]:.3g} d): the ramp is poorly constrained; "
        "consider ramp='none' or a longer baseline"
        for i, name in enumerate(model.names)
        if name.startswith("ramp_tau") and (
            np.isclose(values[i], lo[i], rtol=1e-6) or np.isclose(values[i], hi[i], rtol=1e-6))
    ]


def fit_light_curve(
    model, flux, error, fit_mask, scale_by_chi2=True, mcmc=False, nwalkers=32, nsteps=2000,
    burn_fraction=0.5, seed=None, starts=None,
):
    """
    Fit a :class:`LightCurveModel` to a white-light curve.

    Parameters
    ----------
    model : LightCurveModel
        The model (its time grid matches ``flux``).
    flux, error : ndarray (n,)
        White-light flux and 1-sigma error.
    fit_mask : ndarray of bool (n,)
        Points to fit (unclipped, and outside windows for ``out_of_transit``).
    scale_by_chi2 : bool
        Multiply the covariance by the reduced chi-square when it exceeds 1.
    mcmc : bool
        Also sample the posterior with emcee.
    nwalkers, nsteps : int
        emcee walkers and steps.
    burn_fraction : float
        Fraction of each chain discarded as burn-in.
    seed : int, optional
        Random seed for the walker initialization.
    starts : list of dict, optional
        Starting values by parameter name (others from the model's initial guess); the
        fit is run from each and the lowest chi-square wins. Default: the initial guess
        with the ramp timescales spread over their bounds.

    Returns
    -------
    dict
        ``names``, ``values``, ``errors``, ``covariance``, ``chi2``, ``reduced_chi2``,
        ``n_points``, ``n_free``, ``success``, ``message``, ``systematics``,
        ``astrophysical``, ``model``, ``start`` (the winning start, by name),
        ``warnings`` (list of str: ramp timescales at their bounds, no convergence,
        degenerate parameters; for the caller to log) and ``mcmc`` (dict of name to
        (median, lower error, upper error) or None).

    Raises
    ------
    ValueError
        If there are fewer fit points than free parameters + 1.
    """
    flux = np.asarray(flux, float)
    error = np.asarray(error, float)
    fit_mask = np.asarray(fit_mask, bool) & np.isfinite(flux) & np.isfinite(error) & (error > 0)
    n_free = len(model.names)
    n_fit = int(fit_mask.sum())
    if n_fit <= n_free:
        raise ValueError(f"Only {n_fit} usable points for a model with {n_free} free parameters.")
    x0, lo, hi = model.initial_guess(flux, fit_mask)
    f, e = flux[fit_mask], error[fit_mask]

    def residuals(theta):
        return (f - model.evaluate(theta)[fit_mask]) / e

    if starts is None:
        vectors = _ramp_starts(model, x0, lo, hi)
    else:
        vectors = []
        for values in starts:
            vector = x0.copy()
            for i, name in enumerate(model.names):
                if values.get(name) is not None:
                    vector[i] = values[name]
            vectors.append(np.clip(vector, np.nextafter(lo, hi), np.nextafter(hi, lo)))
    res, winner = None, 0
    # the trust-region solver decomposes a tall, narrow Jacobian (n points x ~10
    # parameters) every iteration; threaded BLAS makes that 20-50x slower, not faster
    with threadpool_limits(limits=1, user_api="blas"):
        for index, start in enumerate(vectors):
            trial = least_squares(residuals, start, bounds=(lo, hi), x_scale="jac",
                                  method="trf", max_nfev=2000 * n_free)
            if res is None or trial.cost < res.cost:
                res, winner = trial, index
    # warnings are returned, not logged: model selection fits many candidates and only
    # the chosen one's matter
    warnings = _at_bounds(model, res.x, lo, hi)
    if not res.success:
        warnings.append(f"Least-squares fit did not converge: {res.message}")
    chi2 = float(np.sum(res.fun**2))
    dof = max(n_fit - n_free, 1)
    red = chi2 / dof
    # Covariance from the column-normalized Jacobian (F0 is ~1e5 times larger than the
    # other parameters); a huge condition number means degenerate parameters.
    norms = np.linalg.norm(res.jac, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    # A limb-darkening q that ends on its bound (0 or 1) has no linear error, and its
    # column (u ~ sqrt(q1)) makes the others' errors meaningless (a trapezoid's depth
    # error came out 3.5x its scatter): the covariance is that of the other
    # parameters with it held there (its row and column zero), its own error NaN.
    held = [i for i, name in enumerate(model.names) if name in ("q1", "q2")
            and min(res.x[i] - lo[i], hi[i] - res.x[i]) < 1e-6]
    for i in held:
        warnings.append(f"{model.names[i]} ended at its bound ({res.x[i]:.3g}): the limb "
                        "darkening is held there for the errors (no error of its own).")
    # q1 = 0 is a uniform disc whatever q2 (u1 = 2 sqrt(q1) q2, u2 = sqrt(q1) (1 - 2 q2)):
    # q2's column is then numerical noise, and left in it made the depth error depend on
    # the parameterisation (a trapezoid's rp error 4x its value when the ramp's start moved)
    q1_at_zero = any(model.names[i] == "q1" and res.x[i] - lo[i] < 1e-6 for i in held)
    if q1_at_zero and "q2" in model.names and model.names.index("q2") not in held:
        held.append(model.names.index("q2"))
        warnings.append("q1 ended at 0 (no limb darkening): q2 has no effect there and is "
                        "held for the errors (no error of its own).")
    keep = np.setdiff1d(np.arange(n_free), held)
    jn = res.jac[:, keep] / norms[keep]
    singular = np.linalg.svd(jn, compute_uv=False)
    cond = singular[0] / singular[-1] if singular[-1] > 0 else np.inf
    if cond > 1e8:
        warnings.append(f"Fit Jacobian is nearly singular (condition number {cond:.1e}): some "
                    "parameters are degenerate (e.g. a long ramp timescale and the polynomial); "
                    "their errors are unreliable.")
    cov = np.zeros((n_free, n_free))  # a held q: no variance, no covariance
    cov[np.ix_(keep, keep)] = np.linalg.pinv(jn.T @ jn) / np.outer(norms[keep], norms[keep])
    if scale_by_chi2 and red > 1.0:
        cov = cov * red
    errors = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    errors[held] = np.nan
    out = {
        "names": list(model.names),
        "values": res.x.copy(),
        "errors": errors,
        "covariance": cov,
        "chi2": chi2,
        "reduced_chi2": red,
        "n_points": n_fit,
        "n_free": n_free,
        "success": bool(res.success),
        "message": str(res.message),
        "systematics": model.systematics_model(res.x),
        "astrophysical": model.astrophysical_model(res.x),
        "mcmc": None,
        "start": dict(zip(model.names, vectors[winner], strict=True)),
        "warnings": warnings,
    }
    out["model"] = out["systematics"] * out["astrophysical"]
    if mcmc:
        err_scale = np.sqrt(red) if (scale_by_chi2 and red > 1.0) else 1.0
        out["mcmc"] = _run_emcee(residuals, res.x, errors, lo, hi, err_scale, nwalkers, nsteps,
                                 burn_fraction, seed, model.names)
    return out


def _run_emcee(residuals, best, errors, lo, hi, err_scale, nwalkers, nsteps, burn, seed, names):
    """Sample the posterior with emcee; return name -> (median, minus, plus)."""
    import emcee

    ndim = best.size
    nwalkers = max(int(nwalkers), 2 * ndim + 2)
    rng = np.random.default_rng(seed)
    step = np.where(errors > 0, errors, 1e-6 * np.maximum(np.abs(best), 1.0))
    p0 = best + 0.1 * step * rng.standard_normal((nwalkers, ndim))
    p0 = np.clip(p0, np.nextafter(lo, hi), np.nextafter(hi, lo))

    def log_prob(theta):
        if np.any(theta <= lo) or np.any(theta >= hi):
            return -np.inf
        r = residuals(theta) / err_scale
        value = -0.5 * np.dot(r, r)
        return value if np.isfinite(value) else -np.inf

    sampler = emcee.EnsembleSampler(nwalkers, ndim, log_prob)
    sampler.run_mcmc(p0, int(nsteps), progress=False)
    chain = sampler.get_chain(discard=int(burn * nsteps), flat=True)
    q16, q50, q84 = np.percentile(chain, [16, 50, 84], axis=0)
    log.info(f"emcee: {nwalkers} walkers x {nsteps} steps, mean acceptance "
             f"{np.mean(sampler.acceptance_fraction):.2f}")
    return {n: (float(m), float(m - lo_), float(hi_ - m))
            for n, m, lo_, hi_ in zip(names, q50, q16, q84, strict=True)}


def regressors_from_drift_table(drift, int_num, names):
    """
    Align drift-table columns to the integrations of the light curve.

    Parameters
    ----------
    drift : `~astropy.table.Table`
        Output of the ``wavelength_drift`` step (``int_num``, ``x_shift``, ...).
    int_num : ndarray of int (n,)
        Integration numbers of the light-curve points.
    names : sequence of str
        Regressor columns wanted; missing ones are skipped with a warning.

    Returns
    -------
    dict of str to ndarray (n,)
        Regressors, NaN where the drift table has no row for an integration.
    """
    out = {}
    if drift is None:
        return out
    if "int_num" in drift.colnames:
        rows = {int(n): i for i, n in enumerate(np.asarray(drift["int_num"]))}
        index = np.array([rows.get(int(n), -1) for n in int_num])
    elif len(drift) == len(int_num):
        index = np.arange(len(int_num))
    else:
        log.warning("Drift table has no int_num column and a different length; not used.")
        return out
    for name in names:
        if name not in drift.colnames:
            log.warning(f"Regressor {name!r} not in the drift table; skipped.")
            continue
        col = np.asarray(drift[name], dtype=float)
        values = np.where(index >= 0, col[np.clip(index, 0, None)], np.nan)
        if np.isnan(values).any():
            log.warning(f"Regressor {name!r}: {int(np.isnan(values).sum())} integrations have no "
                        "drift value; set to the mean.")
        out[name] = values
    return out


def in_windows(time, windows):
    """
    Flag times inside any of the given windows.

    Parameters
    ----------
    time : ndarray (n,)
        Times.
    windows : sequence of float or None
        Flat list ``[start1, end1, start2, end2, ...]`` in the units of ``time``.

    Returns
    -------
    ndarray of bool (n,)
        True inside a window.

    Raises
    ------
    ValueError
        If the list has an odd length or a window with start >= end.
    """
    time = np.asarray(time, float)
    inside = np.zeros(time.size, bool)
    if not windows:
        return inside
    w = np.asarray(windows, dtype=float)
    if w.size % 2:
        raise ValueError(f"Windows must be pairs (start, end); got {w.size} values.")
    for start, end in w.reshape(-1, 2):
        if not start < end:
            raise ValueError(f"Window start {start} is not before its end {end}.")
        inside |= (time >= start) & (time <= end)
    return inside
