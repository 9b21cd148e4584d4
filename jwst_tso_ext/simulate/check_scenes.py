"""
Light-curve check scenes made without any transit model of this package.

The white-light fit uses batman light curves; validating it on scenes from the same
model family (or from the simulator, which also uses batman) would hide wrong minima
and model-family mismatches. These scenes are built from the simplest shapes: a
trapezoid (linear ingress and egress, flat bottom), a box, an exponential ramp, and
pointing drifts drawn as smoothed random walks, optionally correlated with the event,
with photon + read noise per wavelength bin. The truth is the flat-bottom depth.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["LightCurveScene", "trapezoid", "make_spectra", "flat_bottom_depth"]


@dataclass
class LightCurveScene:
    """One check scene; times are fractions of the exposure unless stated.

    Attributes
    ----------
    nints : int
        Integrations.
    cadence_s : float
        Seconds per integration.
    depth : float
        Flat-bottom depth (fraction).
    duration : float
        First-to-fourth contact duration, fraction of the exposure.
    ingress : float
        Ingress duration as a fraction of ``duration`` (0: a box).
    t0 : float
        Mid-event time, fraction of the exposure from its start.
    ramp_amplitude, ramp_timescale : float
        Flux multiplied by ``1 - A exp(-t / tau)``, tau a fraction of the exposure.
    slope : float
        Linear trend over the exposure (fractional change end minus start).
    drift_rms : float
        rms (px) of the smooth pointing wander of each axis.
    y_event_coupling, x_event_coupling : float
        px added to the y / x shift times the event's normalised shape
        (positive: the regressor rises during the event; negative: it dips).
    x_step, x_step_time : float
        A pointing step in x (px) at the given time (fraction of the exposure).
    flux_per_px_x : float
        Fractional flux change per px of x shift (0: flux ignores position).
    x_regressor_noise, y_regressor_noise : float
        Measurement noise (px rms) of the drift regressors; defaults from the
        precision of ``wavelength_drift`` on the seed notebook's star scaled to 20 s
        integrations (docs: 0.0024 px in x and 0.028 px in y at 1.6 s).
    electrons : float
        Electrons per integration in the whole white light.
    read_noise_e : float
        Read noise per wavelength bin and integration (electrons rms).
    nwave : int
        Wavelength bins.
    """

    nints: int = 200
    cadence_s: float = 20.0
    depth: float = 0.0062
    duration: float = 0.3
    ingress: float = 0.13
    t0: float = 0.5
    ramp_amplitude: float = 0.006
    ramp_timescale: float = 0.05
    slope: float = 0.0
    drift_rms: float = 0.02
    y_event_coupling: float = 0.0
    x_event_coupling: float = 0.0
    x_step: float = 0.0
    x_step_time: float = 0.8
    flux_per_px_x: float = 0.0
    x_regressor_noise: float = 0.001
    y_regressor_noise: float = 0.01
    electrons: float = 4e7
    read_noise_e: float = 2000.0
    nwave: int = 20


def trapezoid(phase, t0, duration, ingress, depth):
    """
    Flat-bottomed trapezoid dip (1 outside), linear ingress and egress.

    Parameters
    ----------
    phase : ndarray
        Times (any unit).
    t0, duration : float
        Mid-time and first-to-fourth contact duration (same unit).
    ingress : float
        Ingress duration as a fraction of ``duration`` (0: a box).
    depth : float
        Flat-bottom depth.

    Returns
    -------
    ndarray
        Relative flux.
    """
    half = 0.5 * duration
    edge = ingress * duration
    distance = np.abs(np.asarray(phase, float) - t0)
    if edge <= 0:
        shape = (distance <= half).astype(float)
    else:
        shape = np.clip((half - distance) / edge, 0.0, 1.0)
    return 1.0 - depth * shape


def _wander(rng, n, rms):
    """Smooth random walk with the given rms (a pointing wander)."""
    walk = np.cumsum(rng.standard_normal(n))
    kernel = np.ones(max(n // 20, 1)) / max(n // 20, 1)
    walk = np.convolve(walk - walk.mean(), kernel, mode="same")
    std = walk.std()
    return rms * walk / std if std > 0 else walk


def make_spectra(scene, seed):
    """
    Spectra (``spectra_from_model`` layout), regressors and truth of one realisation.

    Parameters
    ----------
    scene : LightCurveScene
        The scene.
    seed : int
        Random seed.

    Returns
    -------
    spectra : dict
        ``int_num``, ``mjd_utc``, ``bjd_tdb``, ``wavelength`` (nwave,), ``flux``,
        ``error``, ``dq`` (nints, nwave), ``flux_unit``.
    regressors : dict
        ``x_shift``, ``y_shift`` (px), as measured (with noise).
    truth : dict
        ``depth`` (flat bottom), ``t0`` and ``t_flat`` (start and end of the flat
        bottom, days, BJD-like), ``event`` (the noiseless relative event, nints),
        ``expected_noise`` (relative white-light noise per integration).
    """
    rng = np.random.default_rng(seed)
    n = scene.nints
    phase = (np.arange(n) + 0.5) / n
    days = scene.cadence_s * n / 86400.0
    time = 60400.0 + phase * days
    event = trapezoid(phase, scene.t0, scene.duration, scene.ingress, scene.depth)
    shape = (1.0 - event) / scene.depth if scene.depth > 0 else np.zeros(n)
    x_true = _wander(rng, n, scene.drift_rms) + scene.x_event_coupling * shape
    x_true = x_true + scene.x_step * (phase >= scene.x_step_time)
    y_true = _wander(rng, n, scene.drift_rms) + scene.y_event_coupling * shape
    systematics = (1.0 - scene.ramp_amplitude * np.exp(-phase / scene.ramp_timescale))
    systematics *= 1.0 + scene.slope * (phase - 0.5)
    systematics *= 1.0 + scene.flux_per_px_x * x_true
    relative = event * systematics

    wave = np.linspace(5.0, 12.0, scene.nwave)
    weights = np.exp(-0.5 * ((wave - 7.0) / 2.5) ** 2)
    weights /= weights.sum()
    expected_e = scene.electrons * relative[:, None] * weights[None, :]
    sigma_e = np.sqrt(expected_e + scene.read_noise_e**2)
    counts = expected_e + sigma_e * rng.standard_normal(expected_e.shape)
    to_mjy = 1e-5  # arbitrary flux unit per electron
    white_sigma = np.sqrt((sigma_e**2).sum(axis=1)) / (scene.electrons * relative)
    half_flat = 0.5 * scene.duration * (1.0 - 2.0 * scene.ingress)
    spectra = {
        "int_num": np.arange(1, n + 1),
        "mjd_utc": time - 0.0008,
        "bjd_tdb": time,
        "wavelength": wave,
        "flux": counts * to_mjy,
        "error": sigma_e * to_mjy,
        "dq": np.zeros(counts.shape, np.uint32),
        "flux_unit": "mJy",
    }
    regressors = {
        "x_shift": x_true + scene.x_regressor_noise * rng.standard_normal(n),
        "y_shift": y_true + scene.y_regressor_noise * rng.standard_normal(n),
    }
    truth = {
        "depth": scene.depth,
        "t0": 60400.0 + scene.t0 * days,
        "t_flat": (60400.0 + (scene.t0 - half_flat) * days,
                   60400.0 + (scene.t0 + half_flat) * days),
        "event": event,
        "expected_noise": float(np.median(white_sigma)),
    }
    return spectra, regressors, truth


def flat_bottom_depth(result, truth):
    """
    The fitted model's mean depth over the scene's flat bottom, and its error.

    A limb-darkened fit draws no flat bottom, so its ``rp**2`` is not the depth of a
    trapezoid; the mean of its model over the scene's flat bottom is. The error
    propagates the fit's covariance through the numerical derivative of that mean
    with respect to the astrophysical parameters.

    Parameters
    ----------
    result : dict
        A :func:`~jwst_tso_ext.lightcurve.fit_selection.detrend` result.
    truth : dict
        The scene's truth (``t_flat``).

    Returns
    -------
    depth, error : float
        The mean depth and its 1-sigma error.
    """
    model, fit = result["model"], result["fit"]
    times = model.time
    flat = (times > truth["t_flat"][0]) & (times < truth["t_flat"][1])

    def mean_depth(theta):
        return float(np.mean(1.0 - model.astrophysical_model(theta)[flat]))

    theta = np.asarray(fit["values"], float)
    gradient = np.zeros(theta.size)
    for i in range(model.n_sys, theta.size):
        # (a limb-darkening q held at its bound has a NaN error and no covariance)
        step = max(1e-3 * np.nan_to_num(fit["errors"][i]), 1e-9 * max(abs(theta[i]), 1.0))
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        gradient[i] = (mean_depth(up) - mean_depth(down)) / (2.0 * step)
    variance = gradient @ fit["covariance"] @ gradient
    return mean_depth(theta), float(np.sqrt(max(variance, 0.0)))
