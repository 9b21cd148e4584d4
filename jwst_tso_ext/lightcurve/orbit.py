"""
Transit geometry: total duration and impact parameter <-> scaled semi-major axis and inclination.

A single transit constrains its shape (total duration ``T14``, impact parameter ``b``,
radius ratio ``k``) far better than the orbit (``a/Rs``, inclination) that batman takes:
at a fixed period, ``a/Rs`` and ``inc`` are strongly correlated and a least-squares fit
started far from the truth wanders to grazing inclinations. The white-light fit
therefore varies ``T14`` and ``b`` and converts them to ``a/Rs`` and ``inc`` with the
relations of Winn (2010, eqs. 7 and 14-16)::

    b     = a cos(i) (1 - e^2) / (1 + e sin w)
    T14   = P / pi * asin( sqrt((1 + k)^2 - b^2) / (a sin i) ) * sqrt(1 - e^2) / (1 + e sin w)
"""

import numpy as np

__all__ = ["orbit_from_shape", "shape_from_orbit", "default_period"]


def _eccentricity_factors(ecc, w_deg):
    """``(1 - e^2) / (1 + e sin w)`` (impact) and ``sqrt(1 - e^2) / (1 + e sin w)`` (duration)."""
    esinw = ecc * np.sin(np.radians(w_deg))
    return (1.0 - ecc**2) / (1.0 + esinw), np.sqrt(1.0 - ecc**2) / (1.0 + esinw)


def orbit_from_shape(duration, impact, rp, period, ecc=0.0, w=90.0):
    """
    Scaled semi-major axis and inclination of an orbit with the given transit shape.

    Parameters
    ----------
    duration : float
        First-to-fourth contact duration ``T14`` (same unit as ``period``).
    impact : float
        Impact parameter ``b`` (stellar radii), ``0 <= b < 1 + rp``.
    rp : float
        Planet-to-star radius ratio.
    period : float
        Orbital period.
    ecc, w : float
        Eccentricity and argument of periastron (degrees).

    Returns
    -------
    a : float
        Semi-major axis in stellar radii.
    inc : float
        Inclination in degrees.
    """
    impact_factor, duration_factor = _eccentricity_factors(ecc, w)
    # a chord shorter than the planet's own size cannot be crossed: keep it positive
    chord = np.sqrt(max((1.0 + rp) ** 2 - impact**2, 1e-12))
    phase = np.pi * duration / (period * duration_factor)
    phase = min(phase, 0.5 * np.pi * (1.0 - 1e-9))
    a_sin_i = chord / np.sin(phase)
    a_cos_i = impact / impact_factor
    return float(np.hypot(a_sin_i, a_cos_i)), float(np.degrees(np.arctan2(a_sin_i, a_cos_i)))


def shape_from_orbit(a, inc, rp, period, ecc=0.0, w=90.0):
    """
    Total duration and impact parameter of a transit on the given orbit.

    Parameters
    ----------
    a : float
        Semi-major axis in stellar radii.
    inc : float
        Inclination in degrees.
    rp, period, ecc, w : float
        As for :func:`orbit_from_shape`.

    Returns
    -------
    duration : float
        ``T14`` in the unit of ``period``; 0 when the planet misses the star.
    impact : float
        Impact parameter.
    """
    impact_factor, duration_factor = _eccentricity_factors(ecc, w)
    inc_rad = np.radians(inc)
    impact = a * np.cos(inc_rad) * impact_factor
    chord2 = (1.0 + rp) ** 2 - impact**2
    if chord2 <= 0:
        return 0.0, float(impact)
    ratio = min(np.sqrt(chord2) / (a * np.sin(inc_rad)), 1.0)
    return float(period / np.pi * np.arcsin(ratio) * duration_factor), float(impact)


def default_period(span):
    """
    Period assumed when none is given: long against the exposure.

    A single transit constrains the period only through the curvature of the chord,
    which is negligible when ``P >> T14``; 1 day, or 20 exposures if longer.

    Parameters
    ----------
    span : float
        Length of the exposure (days).

    Returns
    -------
    float
        Period in days.
    """
    return float(max(1.0, 20.0 * span))
