"""Diagnostic figure for the detrended white-light curve (matplotlib, Agg backend)."""

import logging

import numpy as np

from jwst_tso_ext.lightcurve.noise import binned_rms

log = logging.getLogger(__name__)

__all__ = ["plot_diagnostics"]


def plot_diagnostics(table, output_path, regressor_names=(), time_column="BJD_TDB"):
    """
    Write a PNG with raw curve + model, detrended curve, residuals, binned rms, regressors.

    For a phase curve (``meta['astrophysical'] == 'phase_curve'``) the phase-curve
    figure (`~jwst_tso_ext.detrended_white_light.phase_curve_plotting.plot_phase_curve`)
    is written beside it, as ``<output stem>_phase.png``.

    Parameters
    ----------
    table : `~astropy.table.QTable`
        Output table of the detrended_white_light step.
    output_path : str
        Path of the PNG to write.
    regressor_names : sequence of str
        Columns of ``table`` plotted in the regressor panel.
    time_column : str
        Time column for the x axis.

    Returns
    -------
    str
        ``output_path``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter, NullFormatter

    t = np.asarray(table[time_column], dtype=float)
    if not np.isfinite(t).any():
        t = np.asarray(table["MJD_UTC"], dtype=float)
    t = (t - np.nanmin(t)) * 24.0
    flux = np.asarray(getattr(table["whitelight_flux"], "value", table["whitelight_flux"]), float)
    sysm = np.asarray(getattr(table["systematics_model"], "value", table["systematics_model"]),
                      float)
    astro = np.asarray(table["astrophysical_model"], float)
    det = np.asarray(table["detrended_flux"], float)
    res = np.asarray(table["residual"], float)
    used = np.asarray(table["used_in_fit"], bool)
    clipped = np.asarray(table["clipped"], bool)

    # a plain Figure (no pyplot state), fixed margins and no mathtext: the figure is
    # written for every light curve, so it should cost a fraction of a second
    fig = Figure(figsize=(8, 14))
    axes = fig.subplots(5, 1)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.04, top=0.98, hspace=0.3)
    ax = axes[0]
    ax.plot(t[~clipped], flux[~clipped], ".", ms=2, color="0.5", label="white light")
    ax.plot(t[clipped], flux[clipped], "x", color="r", label="clipped")
    ax.plot(t, sysm * astro, "-", color="C0", label="full model")
    ax.plot(t, sysm, "--", color="C1", label="systematics")
    ax.set_ylabel("flux")
    ax.legend(fontsize="small")
    ax = axes[1]
    ax.plot(t[used], det[used], ".", ms=2, color="0.5", label="detrended")
    ax.plot(t, astro, "-", color="C3", label="astrophysical model")
    ax.set_ylabel("relative flux")
    ax.legend(fontsize="small")
    ax = axes[2]
    ax.plot(t[used], 1e6 * res[used], ".", ms=2, color="0.3")
    ax.axhline(0, color="C3")
    ax.set_ylabel("residual (ppm)")
    ax.set_xlabel("time since start (h)")
    ax = axes[3]
    sizes, rms, expected = binned_rms(res[used])
    if sizes.size:
        ax.loglog(sizes, 1e6 * rms, "o-", label="binned rms")
        ax.loglog(sizes, 1e6 * expected, "k--", label="white noise \u221d 1/\u221aN")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(LogFormatter())
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("points per bin")
    ax.set_ylabel("rms (ppm)")
    ax.legend(fontsize="small")
    ax = axes[4]
    for k, name in enumerate(n for n in regressor_names if n in table.colnames):
        values = np.asarray(table[name], float)
        std = np.nanstd(values)
        z = (values - np.nanmean(values)) / (std if std > 0 else 1.0)
        ax.plot(t, z + 5.0 * k, ".", ms=2, label=f"{name} (+{5 * k})")
    ax.set_xlabel("time since start (h)")
    ax.set_ylabel("standardized regressor")
    if regressor_names:
        ax.legend(fontsize="small")
    fig.savefig(output_path, dpi=100)
    log.info(f"Saved diagnostic plot {output_path}")
    if table.meta.get("astrophysical") == "phase_curve":
        from jwst_tso_ext.detrended_white_light.phase_curve_plotting import plot_phase_curve

        stem, dot, ext = str(output_path).rpartition(".")
        plot_phase_curve(table, f"{stem}_phase.{ext}" if dot else f"{output_path}_phase",
                         time_column=time_column)
    return output_path
