"""Time series injected into a simulated exposure: timing, transit, response ramp, pointing.

Plain functions on numpy arrays; times in seconds from the exposure start on the true
clock (FASTR1: each integration lasts ``(ngroups + 1) * frame_time``).
"""

import logging

import batman
import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "integration_times",
    "orbital_period",
    "transit_duration",
    "transit_model",
    "response_ramp",
    "pointing_drift",
]


def integration_times(nints, ngroups, frame_time):
    """Start, mid and end of the light collection of every integration (s from exposure start).

    FASTR1 timing, as `jwst_tso_ext.tsovisit_fix` reconstructs it: integration ``i``
    (0-based) starts at ``i * (ngroups + 1) * frame_time`` (one reset frame between
    integrations) and collects light for ``ngroups * frame_time`` (reads at 1 ..
    ``ngroups`` frame times after its start).

    Returns
    -------
    start, mid, end : numpy.ndarray
        Arrays of length ``nints``.
    """
    start = np.arange(nints, dtype=float) * (ngroups + 1) * frame_time
    end = start + ngroups * frame_time
    return start, 0.5 * (start + end), end


def orbital_period(duration, depth, a_rs, impact_parameter):
    """Period of a circular orbit giving a first-to-fourth contact ``duration``."""
    rp = np.sqrt(depth)
    inclination = np.arccos(impact_parameter / a_rs)
    chord = np.sqrt((1.0 + rp) ** 2 - impact_parameter**2) / (a_rs * np.sin(inclination))
    if chord >= 1.0:
        raise ValueError("a_rs too small for this impact parameter and radius ratio")
    return np.pi * duration / np.arcsin(chord)


def transit_duration(period, depth, a_rs, impact_parameter):
    """First-to-fourth contact duration of a circular orbit of ``period`` (inverse of
    `orbital_period`)."""
    rp = np.sqrt(depth)
    inclination = np.arccos(impact_parameter / a_rs)
    chord = np.sqrt((1.0 + rp) ** 2 - impact_parameter**2) / (a_rs * np.sin(inclination))
    if chord >= 1.0:
        raise ValueError("a_rs too small for this impact parameter and radius ratio")
    return period * np.arcsin(chord) / np.pi


def transit_model(
    times, depth, t0, duration, a_rs=8.0, impact_parameter=0.0, u=(0.1, 0.05), period=None
):
    """Relative flux of a limb-darkened transit (batman, quadratic law).

    Parameters
    ----------
    times : array_like
        Times (s).
    depth : float
        (Rp/Rs)**2; 0 returns ones.
    t0, duration : float
        Mid-transit time and first-to-fourth contact duration (s).
    a_rs, impact_parameter : float
        Orbit geometry (circular); the period follows from the duration.
    u : tuple of float
        Quadratic limb-darkening coefficients.
    period : float, optional
        Orbital period (s); default the one that gives ``duration`` for this depth
        (pass it to keep one orbit for several depths, e.g. per wavelength).

    Returns
    -------
    flux : numpy.ndarray
        Relative flux, 1 out of transit.
    """
    times = np.asarray(times, dtype=float)
    if depth == 0:
        return np.ones_like(times)
    params = batman.TransitParams()
    params.t0 = float(t0)
    if period is None:
        period = orbital_period(duration, depth, a_rs, impact_parameter)
    params.per = float(period)
    params.rp = float(np.sqrt(depth))
    params.a = float(a_rs)
    params.inc = float(np.degrees(np.arccos(impact_parameter / a_rs)))
    params.ecc = 0.0
    params.w = 90.0
    params.limb_dark = "quadratic"
    params.u = [float(u[0]), float(u[1])]
    model = batman.TransitModel(params, times)
    return np.asarray(model.light_curve(params), dtype=float)


def response_ramp(times, amplitude, timescale):
    """Detector response ramp ``1 - amplitude * exp(-t / timescale)``."""
    times = np.asarray(times, dtype=float)
    return 1.0 - amplitude * np.exp(-times / timescale)


def pointing_drift(
    times,
    exposure_duration,
    rng,
    drift=(0.0, 0.0),
    quadratic=(0.0, 0.0),
    jitter_rms=0.0,
    step_time=None,
    step=(0.0, 0.0),
):
    """Time-variable part of the star position (px) in x and y.

    Parameters
    ----------
    times : array_like
        Integration mid times (s).
    exposure_duration : float
        Length of the exposure (s); the trends are ``drift * t / T`` and
        ``quadratic * (t / T)**2``.
    rng : numpy.random.Generator
        Source of the jitter (drawn for both axes even when ``jitter_rms`` is 0, so the
        other draws do not depend on it).
    drift, quadratic, step : tuple of float
        (x, y) linear drift over the exposure, quadratic term, and step size.
    jitter_rms : float
        Gaussian jitter per integration and axis (px rms).
    step_time : float or None
        Time of the step (s); integrations whose mid time is at or after it are moved.

    Returns
    -------
    x, y : dict of numpy.ndarray
        For each axis the components ``trend``, ``jitter``, ``step`` and their ``total``.
    """
    times = np.asarray(times, dtype=float)
    phase = times / exposure_duration
    noise = rng.standard_normal((2, times.size))
    out = []
    for axis in range(2):
        trend = drift[axis] * phase + quadratic[axis] * phase**2
        jitter = jitter_rms * noise[axis]
        jump = np.zeros_like(times)
        if step_time is not None:
            jump[times >= step_time] = step[axis]
        out.append({"trend": trend, "jitter": jitter, "step": jump, "total": trend + jitter + jump})
    return out[0], out[1]
