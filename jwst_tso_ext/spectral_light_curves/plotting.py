"""Spectrum figure: depth per bin with errors and a waterfall of the detrended light curves.

For a phase curve the figure has the transit-depth spectrum and, below it, the
dayside and nightside emission spectra (``fp_day``, ``fp_night`` per bin).
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["plot_spectrum"]


def plot_spectrum(tspec, speclc, output_path, max_points=400):
    """
    Write a PNG: the spectrum (left) and the detrended per-bin light curves (right).

    For a phase curve the left side holds the transit depth (top) and the dayside and
    nightside emission spectra (bottom).

    Parameters
    ----------
    tspec : `~astropy.table.QTable`
        The spectrum table of ``spectral_light_curves``.
    speclc : `~astropy.table.QTable`
        Its per-bin light curves (long form).
    output_path : str
        Path of the PNG to write.
    max_points : int
        Light curves longer than this are averaged in time bins for the waterfall.

    Returns
    -------
    str
        ``output_path``.
    """
    from matplotlib.figure import Figure

    eclipse = "fp" in tspec.colnames
    name = "fp" if eclipse else "depth"
    wave = np.asarray(getattr(tspec["wavelength"], "value", tspec["wavelength"]), float)
    width = np.asarray(getattr(tspec["bin_width"], "value", tspec["bin_width"]), float)
    depth = 1e6 * np.asarray(tspec[name], float)
    error = 1e6 * np.asarray(tspec[f"{name}_err"], float)

    phase_curve = "fp_day" in tspec.colnames
    fig = Figure(figsize=(12, 8 if phase_curve else 6), layout="constrained")
    if phase_curve:
        axes = fig.subplot_mosaic([["spec", "fall"], ["emission", "fall"]],
                                  width_ratios=[1.3, 1])
        ax_spec, ax_fall = axes["spec"], axes["fall"]
        _plot_emission(axes["emission"], tspec, wave, width)
    else:
        ax_spec, ax_fall = fig.subplots(1, 2, width_ratios=[1.3, 1])
    ax_spec.errorbar(wave, depth, xerr=0.5 * width, yerr=error, fmt="o", ms=4, color="k",
                     ecolor="0.4", capsize=0)
    ax_spec.set_xlabel("wavelength (micron)")
    ax_spec.set_ylabel("eclipse depth fp (ppm)" if eclipse else "transit depth (Rp/Rs)^2 (ppm)")
    offset = tspec.meta.get("wavelength_correction")
    note = ""
    if isinstance(offset, dict) and offset.get("static_y_offset") is not None:
        note = (f"; static y offset {offset['static_y_offset']:+.3f} "
                f"+/- {offset.get('static_y_offset_err', np.nan):.4f} px")
    ax_spec.set_title(f"common mode: {tspec.meta.get('common_mode', 'none')}{note}", fontsize=9)

    bins = np.asarray(speclc["bin"], int)
    time = np.asarray(speclc["time"], float)
    detrended = np.asarray(speclc["detrended_flux"], float)
    astro = np.asarray(speclc["astrophysical_model"], float)
    used = np.asarray(speclc["used_in_fit"], bool)
    t0 = np.nanmin(time)
    finite = np.isfinite(depth)
    spacing = 3.0 * np.nanmedian(1e-6 * np.asarray(tspec["rms_ppm"], float)[finite]) \
        if finite.any() else 0.01
    spacing = spacing if np.isfinite(spacing) and spacing > 0 else 0.01
    for j in range(len(tspec)):
        sel = (bins == j) & used
        if not sel.any() or not finite[j]:
            continue
        t = (time[sel] - t0) * 24.0
        f = detrended[sel]
        m = astro[sel]
        n = max(1, t.size // max_points)
        if n > 1:
            k = (t.size // n) * n
            t, f, m = (x[:k].reshape(-1, n).mean(axis=1) for x in (t, f, m))
        shift = -spacing * j
        ax_fall.plot(t, f + shift, ".", ms=2, color=f"C{j % 10}")
        ax_fall.plot(t, m + shift, "-", lw=0.8, color="k")
        ax_fall.text(t[-1], 1.0 + shift, f" {wave[j]:.2f}", fontsize=6, va="center")
    ax_fall.set_xlabel("time from start (h)")
    ax_fall.set_ylabel("detrended flux + offset")
    ax_fall.set_title("detrended light curves per bin (binned in time)", fontsize=9)
    fig.savefig(output_path, dpi=110)
    log.info(f"Saved {output_path}")
    return output_path


def _plot_emission(ax, tspec, wave, width):
    """Dayside and nightside emission spectra of a phase curve, in ppm."""
    for name, label, colour, shift in (("fp_day", "dayside fp_day (phase 0.5)", "C3", -0.1),
                                       ("fp_night", "nightside fp_night (phase 0)", "C0", 0.1)):
        ax.errorbar(wave + shift * width, 1e6 * np.asarray(tspec[name], float),
                    xerr=0.5 * width, yerr=1e6 * np.asarray(tspec[f"{name}_err"], float),
                    fmt="o", ms=4, color=colour, ecolor=colour, capsize=0, label=label)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("wavelength (micron)")
    ax.set_ylabel("planet-to-star flux (ppm)")
    ax.legend(fontsize="small")
