"""Phase-curve figure of the detrended white light (matplotlib, no pyplot state)."""

import logging

import numpy as np

from jwst_tso_ext.lightcurve.phase_curve import PHASE_PARAMS, eclipse_phase, planet_flux

log = logging.getLogger(__name__)

__all__ = ["binned_in_phase", "plot_phase_curve", "unwrapped_phase"]


def unwrapped_phase(time, meta):
    """Orbital phase of the fit, not folded: 0 at the fitted transit, 0.5 at the eclipse.

    Parameters
    ----------
    time : array_like
        Times in the fit's time column (days).
    meta : dict
        The white-light table's metadata (``t0``, ``period``, ``ecc``, ``w``).

    Returns
    -------
    numpy.ndarray
        ``(t - t0) / P``, shifted on an eccentric orbit so that the eclipse is at 0.5.
    """
    period = float(meta["period"])
    shift = eclipse_phase(period, float(meta.get("ecc") or 0.0), float(meta.get("w") or 90.0))
    return (np.asarray(time, float) - float(meta["t0"])) / period - (shift - 0.5)


def binned_in_phase(phase, values, nbins):
    """Means of ``values`` in ``nbins`` equal phase bins over the covered range.

    Returns
    -------
    centres, means, errors : numpy.ndarray
        Bins holding at least two points; ``errors`` is the standard error of the mean.
    """
    phase, values = np.asarray(phase, float), np.asarray(values, float)
    good = np.isfinite(phase) & np.isfinite(values)
    phase, values = phase[good], values[good]
    if phase.size < 2:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    edges = np.linspace(phase.min(), phase.max() + 1e-12, nbins + 1)
    index = np.clip(np.searchsorted(edges, phase, side="right") - 1, 0, nbins - 1)
    count = np.bincount(index, minlength=nbins)
    total = np.bincount(index, values, minlength=nbins)
    squares = np.bincount(index, values**2, minlength=nbins)
    keep = count >= 2
    mean = total[keep] / count[keep]
    variance = np.clip(squares[keep] / count[keep] - mean**2, 0.0, None)
    error = np.sqrt(variance / (count[keep] - 1))
    return 0.5 * (edges[:-1] + edges[1:])[keep], mean, error


def plot_phase_curve(table, output_path, time_column="BJD_TDB", nbins=150):
    """
    Write a PNG of a phase-curve fit: binned curve and model, residuals, and Fp(phase).

    Panels, against the unwrapped orbital phase (0 at the transit, 0.5 at the eclipse):
    the detrended white light binned in phase with the astrophysical model; the binned
    residuals; and the planet's flux ``Fp`` (detrended flux - 1 binned, with the phase
    function of the fit and the model times the eclipse's visible fraction), the
    transits and eclipses shaded and ``fp_day`` / ``fp_night`` marked with their errors.

    Parameters
    ----------
    table : `~astropy.table.QTable`
        Output table of ``detrended_white_light`` with ``astrophysical='phase_curve'``.
    output_path : str
        Path of the PNG to write.
    time_column : str
        Time column the fit used.
    nbins : int
        Phase bins of the plotted data.

    Returns
    -------
    str
        ``output_path``.
    """
    from matplotlib.figure import Figure

    meta = table.meta
    time = np.asarray(table[time_column], float)
    phase = unwrapped_phase(time, meta)
    used = np.asarray(table["used_in_fit"], bool)
    detrended = np.asarray(table["detrended_flux"], float)
    astro = np.asarray(table["astrophysical_model"], float)
    residual = np.asarray(table["residual"], float)
    coefficients = [float(meta.get(name) or 0.0) for name in PHASE_PARAMS]
    grid = np.linspace(np.nanmin(phase), np.nanmax(phase), 2000)
    planet = planet_flux(grid, coefficients)
    duration = float(meta.get("duration") or 0.0) / float(meta["period"])

    fig = Figure(figsize=(9, 10))
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[2, 1, 2])
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.06, top=0.96, hspace=0.08)
    order = np.argsort(phase)

    ax = axes[0]
    centres, mean, error = binned_in_phase(phase[used], detrended[used], nbins)
    ax.errorbar(centres, mean, yerr=error, fmt=".", color="0.3", ms=3, label="detrended, binned")
    ax.plot(phase[order], astro[order], "-", color="C3", lw=1, label="model")
    ax.set_ylabel("relative flux")
    ax.legend(fontsize="small", loc="lower left")
    ax.set_title(
        f"fp_day {1e6 * meta.get('fp_day', np.nan):.0f} +/- "
        f"{1e6 * meta.get('fp_day_err', np.nan):.0f} ppm, fp_night "
        f"{1e6 * meta.get('fp_night', np.nan):.0f} +/- {1e6 * meta.get('fp_night_err', np.nan):.0f}"
        f" ppm, offset {meta.get('phase_offset_deg', np.nan):.1f} +/- "
        f"{meta.get('phase_offset_deg_err', np.nan):.1f} deg east",
        fontsize=9,
    )

    ax = axes[1]
    centres, mean, error = binned_in_phase(phase[used], residual[used], nbins)
    ax.errorbar(centres, 1e6 * mean, yerr=1e6 * error, fmt=".", color="0.3", ms=3)
    ax.axhline(0.0, color="C3", lw=1)
    ax.set_ylabel("residual (ppm)")

    ax = axes[2]
    centres, mean, error = binned_in_phase(phase[used], detrended[used] - 1.0, nbins)
    ax.errorbar(centres, 1e6 * mean, yerr=1e6 * error, fmt=".", color="0.3", ms=3,
                label="detrended flux - 1, binned")
    ax.plot(grid, 1e6 * planet, "-", color="C0", lw=1, label="Fp(phase), fitted")
    ax.plot(phase[order], 1e6 * (astro[order] - 1.0), "-", color="C3", lw=0.8,
            label="model - 1 (eclipse and transit)")
    low, high = np.floor(np.nanmin(phase) * 2.0) / 2.0, np.ceil(np.nanmax(phase) * 2.0) / 2.0
    for event in np.arange(low, high + 0.25, 0.5):
        if not np.nanmin(phase) - duration <= event <= np.nanmax(phase) + duration:
            continue
        transit = abs(event - round(event)) < 0.25
        for axis in axes:
            axis.axvspan(event - 0.5 * duration, event + 0.5 * duration, alpha=0.15,
                         color="C1" if transit else "C2", lw=0)
        ax.text(event, 0.98, "transit" if transit else "eclipse", ha="center", va="top",
                fontsize=8, transform=ax.get_xaxis_transform())
    for name, at, colour in (("fp_day", 0.5, "C2"), ("fp_night", 0.0, "C1")):
        value, err = meta.get(name), meta.get(f"{name}_err")
        if value is None:
            continue
        ticks = at + np.arange(np.floor(np.nanmin(phase)), np.ceil(np.nanmax(phase)) + 1)
        ticks = ticks[(ticks >= np.nanmin(phase)) & (ticks <= np.nanmax(phase))]
        ax.errorbar(ticks, np.full(ticks.size, 1e6 * value),
                    yerr=None if err is None else 1e6 * err, fmt="s", color=colour, ms=5,
                    label=f"{name} (phase {at})")
    ax.set_ylabel("planet-to-star flux (ppm)")
    ax.set_xlabel("orbital phase (0: transit, 0.5: eclipse)")
    ax.legend(fontsize="small", loc="lower right")
    fp_scale = max(abs(float(meta.get("fp_day") or 0.0)), abs(float(meta.get("fp_night") or 0.0)))
    if fp_scale > 0:
        ax.set_ylim(-1e6 * 1.5 * fp_scale, 1e6 * 2.0 * fp_scale)
    fig.savefig(output_path, dpi=100)
    log.info(f"Saved phase-curve plot {output_path}")
    return output_path
