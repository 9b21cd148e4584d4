"""
The planet's flux over its orbit: the phase function of ``astrophysical='phase_curve'``.

Model
-----
The astrophysical model of a phase curve (star = 1) is

``A(t) = T(t) + Fp(psi) * V(t)``

with ``T`` the batman transit (1 out of transit), ``V`` the visible fraction of the
planet's disk from batman's secondary-eclipse model (1 out of eclipse, 0 in full
eclipse) and ``Fp`` the planet-to-star flux as a function of the orbital phase
``psi``: 0 at mid-transit and 0.5 at mid-eclipse (``psi = (t - t0) / P`` on a circular
orbit; on an eccentric one ``psi`` is shifted so that the eclipse falls at 0.5).
``Fp`` is a sinusoid of the first order, plus one of the second order when chosen by
the BIC, written so that its two headline values are parameters of the fit::

    Fp(psi) = fp_night (1 + cos 2 pi psi) / 2 + fp_day (1 - cos 2 pi psi) / 2
              + phase_sin1 sin 2 pi psi
              + phase_cos2 (cos 4 pi psi - 1) + phase_sin2 sin 4 pi psi

Every term is linear in its coefficient and the last three vanish at ``psi = 0`` and
0.5, so ``fp_day = Fp(0.5)`` (the eclipse depth) and ``fp_night = Fp(0)`` whatever the
other terms, and their errors come straight from the fit's covariance.

Derived quantities
------------------
* ``phase_amplitude``: half the peak-to-trough variation, ``(max Fp - min Fp) / 2``
  (the semi-amplitude of the sinusoid when the second order is absent);
* ``phase_offset_deg``: ``360 (0.5 - psi_max)`` wrapped to (-180, 180], with
  ``psi_max`` the phase of the flux maximum. Positive (east) when the peak comes
  before the eclipse, i.e. the hotspot is shifted eastward, as for most hot Jupiters;
  ``phase_sin1 > 0`` gives a positive offset;
* their errors propagate the covariance of the five coefficients through the
  Jacobian of these functions (central differences; the maximum and minimum are
  located on a grid and polished by Newton steps on the analytic derivatives, so the
  functions are smooth in the coefficients).

Sign of the nightside
---------------------
The coefficients are not bounded: ``fp_night`` (and ``Fp`` anywhere) may come out
negative. A fitted nightside is a measurement with an error; a cold nightside measured
with noise scatters around zero, and bounding it at zero would bias the estimate up
and leave an error that is not a standard deviation. A value more than three sigma
below zero is not physical and points to unmodelled systematics: it is logged as a
WARNING.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "PHASE_PARAMS", "SECOND_ORDER_PARAMS", "PHASE_DERIVED", "planet_flux",
    "phase_curve_quantities", "phase_curve_summary", "eclipse_phase",
]

#: Coefficients of the phase function (all linear in the model's planet flux).
PHASE_PARAMS = ("fp_day", "fp_night", "phase_sin1", "phase_cos2", "phase_sin2")

#: The second-order coefficients, fitted when the BIC (or the user) asks for them.
SECOND_ORDER_PARAMS = ("phase_cos2", "phase_sin2")

#: What :func:`phase_curve_summary` reports.
PHASE_DERIVED = ("fp_day", "fp_night", "phase_amplitude", "phase_offset_deg")

_GRID = np.linspace(0.0, 1.0, 721)[:-1]  # 0.5 degree steps; Newton polishes


def _terms(psi):
    """Basis of the phase function, (5, n) for phases ``psi`` (n,)."""
    psi = np.asarray(psi, float)
    c1, s1 = np.cos(2 * np.pi * psi), np.sin(2 * np.pi * psi)
    c2, s2 = np.cos(4 * np.pi * psi), np.sin(4 * np.pi * psi)
    return np.stack([0.5 * (1.0 - c1), 0.5 * (1.0 + c1), s1, c2 - 1.0, s2])


def planet_flux(psi, coefficients):
    """
    Planet-to-star flux ``Fp(psi)``.

    Parameters
    ----------
    psi : ndarray (n,)
        Orbital phase (0 at transit, 0.5 at eclipse).
    coefficients : sequence of float (5,) or ndarray (k, 5)
        ``fp_day, fp_night, phase_sin1, phase_cos2, phase_sin2`` (one set per row).

    Returns
    -------
    ndarray (n,) or (k, n)
        The planet's flux relative to the star.
    """
    return np.asarray(coefficients, float) @ _terms(psi)


def _derivatives(psi, coefficients):
    """First and second derivatives of Fp in psi, (k,) each, at one phase per set."""
    w = 2 * np.pi
    psi = np.asarray(psi, float)
    d, n, s1, c2, s2 = np.asarray(coefficients, float).T
    first = (w * 0.5 * (d - n) * np.sin(w * psi) + w * s1 * np.cos(w * psi)
             - 2 * w * c2 * np.sin(2 * w * psi) + 2 * w * s2 * np.cos(2 * w * psi))
    second = (w**2 * 0.5 * (d - n) * np.cos(w * psi) - w**2 * s1 * np.sin(w * psi)
              - 4 * w**2 * c2 * np.cos(2 * w * psi) - 4 * w**2 * s2 * np.sin(2 * w * psi))
    return first, second


def _extremum(coefficients, sign):
    """Phase (k,) of the maximum (sign=1) or minimum (sign=-1) of each set's Fp."""
    values = sign * planet_flux(_GRID, coefficients)
    psi = _GRID[np.argmax(values, axis=1)]
    step = _GRID[1]
    for _ in range(6):
        first, second = _derivatives(psi, coefficients)
        ok = sign * second < 0
        delta = np.where(ok, -first / np.where(ok, second, 1.0), 0.0)
        psi = psi + np.clip(delta, -step, step)
    return psi


def phase_curve_quantities(coefficients):
    """
    ``fp_day``, ``fp_night``, ``phase_amplitude`` and ``phase_offset_deg``.

    Parameters
    ----------
    coefficients : sequence of float (5,) or ndarray (k, 5)
        ``fp_day, fp_night, phase_sin1, phase_cos2, phase_sin2``.

    Returns
    -------
    ndarray (4,) or (k, 4)
        The quantities of :data:`PHASE_DERIVED`, in that order (see the module
        docstring for their definitions).
    """
    c = np.asarray(coefficients, float)
    single = c.ndim == 1
    c = np.atleast_2d(c)
    peak, trough = _extremum(c, 1.0), _extremum(c, -1.0)
    high = np.einsum("kn,nk->k", c, _terms(peak))
    low = np.einsum("kn,nk->k", c, _terms(trough))
    offset = (0.5 - peak) * 360.0
    offset = (offset + 180.0) % 360.0 - 180.0
    offset = np.where(offset == -180.0, 180.0, offset)
    out = np.stack([c[:, 0], c[:, 1], 0.5 * (high - low), offset], axis=1)
    return out[0] if single else out


def phase_curve_summary(values, covariance):
    """
    The derived phase-curve quantities and their errors from the coefficients' covariance.

    Parameters
    ----------
    values : sequence of float (5,)
        The fitted ``fp_day, fp_night, phase_sin1, phase_cos2, phase_sin2`` (a coefficient
        not fitted is 0 with zero covariance).
    covariance : ndarray (5, 5)
        Their covariance.

    Returns
    -------
    dict
        Name (:data:`PHASE_DERIVED`) to ``(value, error)``; the errors are those of a
        linearized propagation ``J C J^T``.
    """
    values = np.asarray(values, float)
    covariance = np.asarray(covariance, float)
    sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    scale = max(float(np.max(np.abs(values[:3]))), 1e-12)
    h = np.where(sigma > 0, 1e-4 * sigma, 1e-6 * scale)
    shifted = np.concatenate([values + np.diag(h), values - np.diag(h)])
    derived = phase_curve_quantities(np.vstack([values, shifted]))
    central, plus, minus = derived[0], derived[1:6], derived[6:]
    difference = plus - minus
    # the offset wraps at +/-180 degrees
    difference[:, 3] = (difference[:, 3] + 180.0) % 360.0 - 180.0
    jacobian = (difference / (2.0 * h[:, None])).T  # (4, 5)
    errors = np.sqrt(np.clip(np.diag(jacobian @ covariance @ jacobian.T), 0.0, None))
    return {name: (float(v), float(e))
            for name, v, e in zip(PHASE_DERIVED, central, errors, strict=True)}


def eclipse_phase(period, ecc=0.0, w=90.0):
    """
    Orbital phase of mid-eclipse after mid-transit (0.5 on a circular orbit).

    Parameters
    ----------
    period : float
        Orbital period (days).
    ecc, w : float
        Eccentricity and argument of periastron (degrees).

    Returns
    -------
    float
        ``((t_secondary - t0) / P) mod 1``, with batman's ``t_secondary``.
    """
    if not ecc:
        return 0.5
    import batman

    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a, params.inc = 0.0, period, 0.1, 10.0, 90.0
    params.ecc, params.w, params.u, params.limb_dark, params.fp = ecc, w, [], "uniform", 0.0
    t_secondary = batman.TransitModel(params, np.zeros(1)).get_t_secondary(params)
    return float((t_secondary / period) % 1.0)
