"""
Find a transit or eclipse in a light curve that still carries its systematics.

This is the box least-squares search of Kovacs, Zucker & Mazeh (2002) as
`astropy.timeseries.BoxLeastSquares` implements it, with one difference that MIRI
needs: BLS fits a box against a *constant* baseline, and the MIRI response ramp (a
fraction of a percent over the first tens of minutes, as deep as a hot Jupiter's
transit) then wins as a "transit" at the start of the exposure. Here each trial box
is fitted jointly with a small systematics basis (offset, slope and two exponential
ramps), all linear, so the trial depths and their significance come from one
Schur complement per box, for every box at once (cumulative sums, no loop over
points). A single event is searched (the exposure covers at most one transit).

:func:`search_phase_curve` searches a full-orbit phase curve of known period: each
trial epoch places a box on every transit and one on every eclipse the exposure
covers (half an orbit later on a circular orbit), fitted jointly with the same basis
plus sinusoids at the period and half the period (the planet's phase variation), so
one search finds the transit and both eclipses.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["search_transit", "search_phase_curve", "MIN_SEARCH_POINTS"]

#: Fewer usable points than this and no search is attempted.
MIN_SEARCH_POINTS = 12

#: Exponential-ramp timescales of the search basis, as fractions of the exposure.
RAMP_FRACTIONS = (0.03, 0.15)


def _basis(time):
    """Systematics basis (n, m): offset, slope and exponential ramps."""
    start = time[0]
    span = max(time[-1] - start, np.finfo(float).tiny)
    columns = [np.ones_like(time), 2.0 * (time - start) / span - 1.0]
    columns += [np.exp(-(time - start) / (fraction * span)) for fraction in RAMP_FRACTIONS]
    return np.stack(columns, axis=1)


def _usable_points(time, flux, error, mask):
    """Finite, unmasked points sorted in time: times, flux / its median and weights."""
    time = np.asarray(time, float)
    flux = np.asarray(flux, float)
    error = np.asarray(error, float)
    use = np.isfinite(time) & np.isfinite(flux) & np.isfinite(error) & (error > 0)
    if mask is not None:
        use &= np.asarray(mask, bool)
    order = np.argsort(time[use])
    level = np.median(flux[use]) if use.any() else 1.0
    return (time[use][order], flux[use][order] / level,
            (level / error[use][order]) ** 2)


def _too_few(count):
    return f"only {count} usable points (a search needs {MIN_SEARCH_POINTS})"


def search_transit(
    time, flux, error, mask=None, *, min_duration=None, max_duration=None, n_durations=40,
    max_starts=2000, t0=None, min_snr=5.0,
):
    """
    Locate the strongest dip (transit or eclipse) in a light curve with systematics.

    Parameters
    ----------
    time, flux, error : ndarray (n,)
        Times (days, increasing), flux and 1-sigma error.
    mask : ndarray of bool (n,), optional
        Points to use (default: every finite point).
    min_duration, max_duration : float, optional
        Shortest and longest box (days). Default: three cadences and 80 % of the
        exposure.
    n_durations : int
        Number of trial durations, spaced geometrically.
    max_starts : int
        Most trial start times per duration (every point when fewer).
    t0 : float, optional
        Known mid-event time: only boxes centred within two cadences (or 2 % of the
        exposure) of it are tried.
    min_snr : float
        Depth significance (depth / its error) for a detection.

    Returns
    -------
    dict
        ``found`` (bool), ``t0``, ``duration`` (box length, days), ``depth`` (fraction
        of the median flux), ``depth_err``, ``snr`` and ``n_in_box`` of the best box;
        ``reason`` (str) when nothing was found. Boxes leave at least two points on
        each side, so a ramp at the start is not mistaken for an event.
    """
    empty = {"found": False, "t0": t0, "duration": None, "depth": None, "depth_err": None,
             "snr": 0.0, "n_in_box": 0}
    t, f, w = _usable_points(time, flux, error, mask)
    if t.size < MIN_SEARCH_POINTS:
        return dict(empty, reason=_too_few(t.size))
    n = t.size
    span = t[-1] - t[0]
    cadence = float(np.median(np.diff(t)))
    min_duration = 3.0 * cadence if min_duration is None else float(min_duration)
    max_duration = 0.8 * span if max_duration is None else float(max_duration)
    if not 0 < min_duration < max_duration:
        return dict(empty, reason=f"no room for a box between {min_duration:.3g} and "
                                  f"{max_duration:.3g} d")

    basis = _basis(t)
    weighted = basis * w[:, None]
    gram_inv = np.linalg.pinv(basis.T @ weighted)
    projection = basis.T @ (w * f)
    zero = np.zeros((1, basis.shape[1]))
    cum_basis = np.concatenate([zero, np.cumsum(weighted, axis=0)])
    cum_w = np.concatenate([[0.0], np.cumsum(w)])
    cum_wf = np.concatenate([[0.0], np.cumsum(w * f)])

    step = max(1, n // max_starts)
    starts_all = np.arange(2, n - 3, step)
    best = None
    for duration in np.geomspace(min_duration, max_duration, n_durations):
        ends = np.searchsorted(t, t[starts_all] + duration - 0.5 * cadence, side="right")
        ok = (ends <= n - 2) & (ends - starts_all >= 1)
        s, e = starts_all[ok], ends[ok]
        if t0 is not None:
            centre = 0.5 * (t[s] + t[e - 1])
            near = np.abs(centre - t0) <= max(2.0 * cadence, 0.02 * span)
            s, e = s[near], e[near]
        if s.size == 0:
            continue
        cross = cum_basis[e] - cum_basis[s]  # basis^T W box, (k, m)
        box_weight = cum_w[e] - cum_w[s]
        box_flux = cum_wf[e] - cum_wf[s]
        solved = cross @ gram_inv
        information = box_weight - np.einsum("km,km->k", solved, cross)
        valid = information > 1e-12 * box_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            depth = -(box_flux - solved @ projection) / information
            snr = depth * np.sqrt(information)
        snr = np.where(valid & (depth > 0), snr, -np.inf)
        k = int(np.argmax(snr))
        if best is None or snr[k] > best["snr"]:
            best = {
                "snr": float(snr[k]),
                "depth": float(depth[k]),
                "depth_err": float(1.0 / np.sqrt(information[k])),
                "t0": float(0.5 * (t[s[k]] + t[e[k] - 1])),
                "duration": float(t[e[k] - 1] - t[s[k]] + cadence),
                "n_in_box": int(e[k] - s[k]),
            }
    if best is None or not np.isfinite(best["snr"]):
        return dict(empty, reason="no box with a dip fits in the exposure")
    best["found"] = best["snr"] >= min_snr
    if not best["found"]:
        best["reason"] = (f"the deepest dip has S/N {best['snr']:.1f}, below the detection "
                          f"threshold {min_snr:g}")
    log.info("Transit search: best box at %.6f, %.4f d long, depth %.0f +/- %.0f ppm "
             "(S/N %.1f, %d points)", best["t0"], best["duration"], 1e6 * best["depth"],
             1e6 * best["depth_err"], best["snr"], best["n_in_box"])
    return best


def _box_sums(cumulative, t, centres, offsets, duration):
    """Sum of ``cumulative`` differences over boxes at ``centres[:, None] + offsets``.

    ``cumulative`` is (n + 1, ...) with a leading zero row; returns (k, ...) sums over
    the points of every box of each trial (boxes are disjoint).
    """
    lo = np.searchsorted(t, centres[:, None] + offsets - 0.5 * duration)
    hi = np.searchsorted(t, centres[:, None] + offsets + 0.5 * duration, side="right")
    lo = np.maximum(lo, 2)  # boxes leave two points at the start to the ramp
    hi = np.maximum(hi, lo)
    return (cumulative[hi] - cumulative[lo]).sum(axis=1), (hi - lo).sum(axis=1)


def search_phase_curve(
    time, flux, error, period, mask=None, *, eclipse_phase=0.5, min_duration=None,
    max_duration=None, n_durations=20, n_epochs=2000, min_snr=5.0,
):
    """
    Locate the transit and the eclipses of a phase curve of known period.

    Parameters
    ----------
    time, flux, error : ndarray (n,)
        Times (days), flux and 1-sigma error.
    period : float
        Orbital period (days).
    mask : ndarray of bool (n,), optional
        Points to use (default: every finite point).
    eclipse_phase : float
        Phase of mid-eclipse after mid-transit (0.5 on a circular orbit).
    min_duration, max_duration : float, optional
        Shortest and longest box (days). Default: three cadences and 20 % of the
        period.
    n_durations : int
        Number of trial durations, spaced geometrically.
    n_epochs : int
        Trial epochs over one period.
    min_snr : float
        Transit-depth significance for a detection.

    Returns
    -------
    dict
        ``found`` (bool), ``t0`` (the mid-transit closest to the middle of the data),
        ``t_secondary`` (the mid-eclipse after it), ``duration`` (box length), ``depth``
        and ``depth_err`` (transit), ``eclipse_depth`` and ``eclipse_depth_err``,
        ``snr`` and ``eclipse_snr``, ``n_in_transit`` and ``n_in_eclipse``; ``reason``
        when nothing was found. Of the two dips, the deeper is the transit.

    Raises
    ------
    ValueError
        If the period is not positive or not longer than the cadence.
    """
    empty = {"found": False, "t0": None, "t_secondary": None, "duration": None,
             "depth": None, "depth_err": None, "eclipse_depth": None,
             "eclipse_depth_err": None, "snr": 0.0, "eclipse_snr": 0.0,
             "n_in_transit": 0, "n_in_eclipse": 0}
    t, f, w = _usable_points(time, flux, error, mask)
    if t.size < MIN_SEARCH_POINTS:
        return dict(empty, reason=_too_few(t.size))
    cadence = float(np.median(np.diff(t)))
    if not (period is not None and period > cadence):
        raise ValueError(f"The period ({period} d) must be longer than the cadence "
                         f"({cadence:.3g} d) to search a phase curve.")
    min_duration = 3.0 * cadence if min_duration is None else float(min_duration)
    max_duration = 0.2 * period if max_duration is None else float(max_duration)
    if not 0 < min_duration < max_duration:
        return dict(empty, reason=f"no room for a box between {min_duration:.3g} and "
                                  f"{max_duration:.3g} d")

    phase = 2 * np.pi * (t - t[0]) / period
    basis = np.column_stack([_basis(t), np.cos(phase), np.sin(phase), np.cos(2 * phase),
                             np.sin(2 * phase)])
    weighted = basis * w[:, None]
    gram_inv = np.linalg.pinv(basis.T @ weighted)
    projection = basis.T @ (w * f)
    cumulative = np.concatenate([np.zeros((1, basis.shape[1] + 2)),
                                 np.cumsum(np.column_stack([weighted, w, w * f]), axis=0)])

    epochs = t[0] + period * np.arange(n_epochs) / n_epochs
    first = np.floor((t[0] - epochs[-1]) / period) - 1
    last = np.ceil((t[-1] - epochs[0]) / period) + 1
    transits = period * np.arange(first, last + 1)
    eclipses = transits + eclipse_phase * period
    best = None
    for duration in np.geomspace(min_duration, max_duration, n_durations):
        sums_t, count_t = _box_sums(cumulative, t, epochs, transits, duration)
        sums_e, count_e = _box_sums(cumulative, t, epochs, eclipses, duration)
        # per trial: box^T W basis (k, m), box^T W box and box^T W f, for both boxes
        cross = np.stack([sums_t[:, :-2], sums_e[:, :-2]], axis=1)  # (k, 2, m)
        box_weight = np.stack([sums_t[:, -2], sums_e[:, -2]], axis=1)
        box_flux = np.stack([sums_t[:, -1], sums_e[:, -1]], axis=1)
        solved = cross @ gram_inv  # (k, 2, m)
        information = -np.einsum("kim,kjm->kij", solved, cross)
        information[:, 0, 0] += box_weight[:, 0]
        information[:, 1, 1] += box_weight[:, 1]
        residual = box_flux - solved @ projection  # (k, 2)
        # a box with no points (or none independent of the basis) has no depth
        present = np.diagonal(information, axis1=1, axis2=2) > 1e-9 * np.maximum(box_weight, 1e-300)
        information = np.where(present[:, :, None] & present[:, None, :], information,
                               np.eye(2)[None] * 1.0)
        residual = np.where(present, residual, 0.0)
        inverse = np.linalg.inv(information)
        depth = -np.einsum("kij,kj->ki", inverse, residual)
        variance = np.diagonal(inverse, axis1=1, axis2=2)
        gain = np.einsum("ki,ki->k", residual, np.einsum("kij,kj->ki", inverse, residual))
        # the transit is the deeper dip, and is under way in the data
        ok = present[:, 0] & (depth[:, 0] > 0) & (depth[:, 0] >= depth[:, 1])
        gain = np.where(ok, gain, -np.inf)
        k = int(np.argmax(gain))
        if np.isfinite(gain[k]) and (best is None or gain[k] > best["gain"]):
            best = {
                "gain": float(gain[k]), "epoch": float(epochs[k]), "duration": float(duration),
                "depth": float(depth[k, 0]), "depth_err": float(np.sqrt(variance[k, 0])),
                "eclipse_depth": float(depth[k, 1]) if present[k, 1] else None,
                "eclipse_depth_err": (float(np.sqrt(variance[k, 1])) if present[k, 1]
                                      else None),
                "n_in_transit": int(count_t[k]), "n_in_eclipse": int(count_e[k]),
            }
    if best is None:
        return dict(empty, reason="no transit-like dip in the exposure")
    # the transit nearest the middle of the data, and the eclipse after it
    middle = 0.5 * (t[0] + t[-1])
    t0 = best.pop("epoch")
    t0 += period * np.round((middle - t0) / period)
    best.pop("gain")
    best["t0"] = float(t0)
    best["t_secondary"] = float(t0 + eclipse_phase * period)
    best["snr"] = best["depth"] / best["depth_err"]
    best["eclipse_snr"] = (best["eclipse_depth"] / best["eclipse_depth_err"]
                           if best["eclipse_depth"] is not None else 0.0)
    best["found"] = best["snr"] >= min_snr
    if not best["found"]:
        best["reason"] = (f"the deepest dip has S/N {best['snr']:.1f}, below the detection "
                          f"threshold {min_snr:g}")
    eclipse = ("no eclipse in the data" if best["eclipse_depth"] is None else
               f"eclipse depth {1e6 * best['eclipse_depth']:.0f} +/- "
               f"{1e6 * best['eclipse_depth_err']:.0f} ppm ({best['n_in_eclipse']} points)")
    log.info("Phase-curve search: transit at %.6f, %.4f d long, depth %.0f +/- %.0f ppm "
             "(S/N %.1f, %d points); %s", best["t0"], best["duration"], 1e6 * best["depth"],
             1e6 * best["depth_err"], best["snr"], best["n_in_transit"], eclipse)
    return best
