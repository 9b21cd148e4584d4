"""Summary figure of the offline demo (kept apart from the numbers)."""

from pathlib import Path

import numpy as np
from astropy.table import Table

__all__ = ["plot_demo_summary"]


def plot_demo_summary(outdir, root, summary):
    """Plot drift (measured vs injected) and the white light (raw, model, detrended).

    Returns
    -------
    path : pathlib.Path
        The PNG written, ``<outdir>/<root>_demo_summary.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    truth = Table.read(outdir / f"{root}_truth.ecsv", format="ascii.ecsv")
    whtlt = Table.read(outdir / f"{root}_whtlt.ecsv", format="ascii.ecsv")
    drift_path = outdir / f"{root}_drift.ecsv"

    fig, axes = plt.subplots(3, 1, figsize=(9, 10), constrained_layout=True)
    time_s = truth["time_mid_s"]
    if drift_path.exists():
        drift = Table.read(drift_path, format="ascii.ecsv")
        rows = np.searchsorted(truth["int_num"], drift["int_num"])
        for axis, colour in (("x", "C0"), ("y", "C1")):
            measured = np.asarray(drift[f"{axis}_shift"], float)
            injected = np.asarray(truth[f"{axis}_shift"], float)[rows]
            offset = np.nanmean(measured - injected)
            axes[0].plot(
                time_s[rows], measured - offset, ".", ms=3, color=colour, label=f"{axis} measured"
            )
            axes[0].plot(time_s[rows], injected, "-", color="k", lw=0.8)
        axes[0].set_ylabel("shift (px)")
        axes[0].set_title("Pointing drift: measured (points) and injected (lines)")
        axes[0].legend()

    flux = np.asarray(whtlt["whitelight_flux"], float)
    norm = np.nanmedian(flux)
    axes[1].plot(time_s[: len(flux)], flux / norm, ".", ms=3, label="white light")
    model = np.asarray(whtlt["systematics_model"], float) * np.asarray(
        whtlt["astrophysical_model"], float
    )
    axes[1].plot(time_s[: len(flux)], model / np.nanmedian(model), "-", color="C3", label="model")
    axes[1].set_ylabel("relative flux")
    axes[1].legend()

    axes[2].plot(time_s[: len(flux)], whtlt["detrended_flux"], ".", ms=3, label="detrended")
    axes[2].plot(time_s, truth["transit"], "-", color="k", lw=0.8, label="injected transit")
    axes[2].set_xlabel("time from exposure start (s)")
    axes[2].set_ylabel("relative flux")
    axes[2].set_title(
        f"depth {1e6 * summary['depth_fitted']:.0f} +/- {1e6 * summary['depth_error']:.0f} ppm "
        f"(injected {1e6 * summary['depth_injected']:.0f} ppm)"
    )
    axes[2].legend()
    path = outdir / f"{root}_demo_summary.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
