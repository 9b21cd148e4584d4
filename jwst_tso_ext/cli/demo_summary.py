"""Compare the demo's pipeline products with the simulator's injected truth."""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

log = logging.getLogger(__name__)

__all__ = ["summarize", "format_summary", "relative_shift_error", "stock_white_light"]


def relative_shift_error(measured, injected):
    """RMS (px) of measured minus injected shifts after removing their mean offset.

    The drift table measures shifts relative to a reference frame, the truth gives
    absolute offsets; their difference is a constant plus the measurement error.
    """
    difference = np.asarray(measured, float) - np.asarray(injected, float)
    good = np.isfinite(difference)
    if not np.any(good):
        return np.nan
    return float(np.std(difference[good] - np.mean(difference[good])))


def stock_white_light(x1dints_path, min_wavelength, max_wavelength):
    """jwst's own ``white_light`` on the same x1dints product (the bare sum)."""
    from jwst.white_light.white_light import white_light
    from stdatamodels.jwst import datamodels

    with datamodels.open(x1dints_path) as model:
        table = white_light(model, min_wave=min_wavelength, max_wave=max_wavelength)
    return table


def _naive_depth(flux, in_transit):
    """Depth from medians in and out of transit, with no detrending."""
    flux = np.asarray(flux, float)
    out_level = np.nanmedian(flux[~in_transit])
    return float(1.0 - np.nanmedian(flux[in_transit]) / out_level)


def _point_to_point_ppm(flux):
    flux = np.asarray(flux, float)
    flux = flux[np.isfinite(flux)]
    return float(1e6 * np.std(np.diff(flux)) / np.sqrt(2.0) / np.median(flux))


def summarize(outdir, root):
    """Recovered against injected values for the demo exposure ``root`` in ``outdir``.

    Returns
    -------
    summary : dict
        Drift errors (px), transit depth (fitted, error, injected), white-light rms,
        expected noise and beta, and the stock white light's scatter and naive depth.
    """
    outdir = Path(outdir)
    truth = Table.read(outdir / f"{root}_truth.ecsv", format="ascii.ecsv")
    whtlt = Table.read(outdir / f"{root}_whtlt.ecsv", format="ascii.ecsv")
    summary = {"nints": len(truth)}

    drift_path = outdir / f"{root}_drift.ecsv"
    if drift_path.exists():
        drift = Table.read(drift_path, format="ascii.ecsv")
        rows = np.searchsorted(truth["int_num"], drift["int_num"])
        summary["x_shift_rms_error_px"] = relative_shift_error(
            drift["x_shift"], truth["x_shift"][rows]
        )
        summary["y_shift_rms_error_px"] = relative_shift_error(
            drift["y_shift"], truth["y_shift"][rows]
        )
        summary["x_drift_range_px"] = float(np.ptp(truth["x_shift"]))
        summary["y_drift_range_px"] = float(np.ptp(truth["y_shift"]))

    meta = whtlt.meta
    summary["depth_injected"] = float(truth.meta.get("transit_depth", np.nan))
    summary["depth_fitted"] = float(meta.get("transit_depth", np.nan))
    summary["depth_error"] = float(meta.get("transit_depth_err", np.nan))
    summary["rms_ppm"] = float(meta.get("rms_ppm", np.nan))
    summary["expected_noise_ppm"] = float(meta.get("expected_noise_ppm", np.nan))
    summary["beta"] = float(meta.get("beta", np.nan))

    x1dints = outdir / f"{root}_x1dints.fits"
    if x1dints.exists():
        stock = stock_white_light(
            x1dints, float(meta.get("min_wavelength", 5.0)), float(meta.get("max_wavelength", 12.0))
        )
        flux = np.asarray(stock["whitelight_flux"], float)
        in_transit = (
            np.asarray(truth["transit"], float)[: len(flux)] < 1.0 - 0.5 * summary["depth_injected"]
        )
        summary["stock_rows"] = len(stock)
        summary["stock_scatter_ppm"] = _point_to_point_ppm(flux)
        summary["stock_naive_depth"] = _naive_depth(flux, in_transit)
    return summary


def format_summary(summary):
    """Human-readable table of `summarize`'s result."""
    lines = [f"  integrations                  {summary['nints']}"]
    if "x_shift_rms_error_px" in summary:
        lines += [
            f"  drift x: injected range {summary['x_drift_range_px']:.3f} px, "
            f"rms error {summary['x_shift_rms_error_px']:.4f} px",
            f"  drift y: injected range {summary['y_drift_range_px']:.3f} px, "
            f"rms error {summary['y_shift_rms_error_px']:.4f} px",
        ]
    depth, error, injected = (
        summary["depth_fitted"],
        summary["depth_error"],
        summary["depth_injected"],
    )
    pull = (depth - injected) / error if error > 0 else np.nan
    lines += [
        f"  transit depth: fitted {1e6 * depth:.0f} +/- {1e6 * error:.0f} ppm, "
        f"injected {1e6 * injected:.0f} ppm ({pull:+.2f} sigma)",
        f"  white-light rms {summary['rms_ppm']:.0f} ppm, "
        f"expected {summary['expected_noise_ppm']:.0f} ppm "
        f"(ratio {summary['rms_ppm'] / summary['expected_noise_ppm']:.2f}), "
        f"beta {summary['beta']:.2f}",
    ]
    if "stock_scatter_ppm" in summary:
        lines.append(
            f"  jwst white_light (bare sum): scatter {summary['stock_scatter_ppm']:.0f} ppm, "
            f"naive depth {1e6 * summary['stock_naive_depth']:.0f} ppm"
        )
    return "\n".join(lines)


def plot_summary(outdir, root, summary):
    """Write ``<root>_demo_summary.png``; see `jwst_tso_ext.cli.demo_plots`."""
    from jwst_tso_ext.cli.demo_plots import plot_demo_summary

    return plot_demo_summary(Path(outdir), root, summary)
