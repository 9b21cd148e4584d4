"""Injection-recovery benchmark of the white-light fit on scenes it was not tuned to.

Scenes come from :mod:`jwst_tso_ext.simulate.check_scenes` (trapezoids, boxes,
exponential ramps, smoothed random-walk drifts; no batman, no simulator transit code),
with photon + read noise, and are fitted with ``detrended_white_light``'s defaults and
no orbit: the transit search finds the event, BIC chooses the systematics model.

The true depth of a trapezoid or box is its flat-bottom depth. The fit's model is
limb-darkened (u1 = u2 = 0.1 by default), so ``rp**2`` is not the depth it draws; the
fit is compared through the *fitted model's mean depth over the scene's flat bottom*
(its error: the fit's covariance propagated to that mean). ``rp**2`` pulls are listed
too. Eclipses are compared through ``fp`` (flat-bottomed in the model too).

Per case: mean and standard deviation of the pull, largest |pull|, mean residual rms
over the expected noise, and the depth error over that of the same data fitted with
no regressors (regressor cost), plus how often a regressor was kept.

Usage::

    python benchmarks/white_light_recovery.py                # 50 realisations per case
    python benchmarks/white_light_recovery.py --realisations 10 --cases box

Writes ``benchmarks/results/white_light_recovery_<UTC time>.md`` and ``.ecsv``.
"""

import argparse
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy.table import Table

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import (
    DetrendedWhiteLightStep,
)
from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.simulate.check_scenes import (
    LightCurveScene,
    flat_bottom_depth,
    make_spectra,
)

RESULTS = Path(__file__).parent / "results"

#: name -> (scene, astrophysical kind, description)
CASES = {
    "trapezoid_ing05": (LightCurveScene(ingress=0.05, duration=0.3), "transit",
                        "trapezoid, ingress 5 % of T14, T14 30 %, centred"),
    "issue_scene": (LightCurveScene(ingress=0.13, duration=0.3, y_event_coupling=-0.03,
                                    x_step=0.05, x_step_time=0.7),
                    "transit", "ingress 13 %, T14 30 %, y dips in transit, x step after "
                               "egress (the issue's scene)"),
    "trapezoid_ing30_long_late": (LightCurveScene(ingress=0.3, duration=0.5, t0=0.62),
                                  "transit", "ingress 30 %, T14 50 %, t0 at 62 %"),
    "box_short_early": (LightCurveScene(ingress=0.0, duration=0.15, t0=0.3), "transit",
                        "box, T14 15 %, t0 at 30 %"),
    "trapezoid_y_anticorrelated": (LightCurveScene(ingress=0.1, duration=0.4, t0=0.45,
                                                   y_event_coupling=0.04,
                                                   x_event_coupling=-0.03, slope=0.002),
                                   "transit", "ingress 10 %, T14 40 %, y rises and x dips "
                                              "in transit, 0.2 % slope"),
    "eclipse": (LightCurveScene(depth=0.002, ingress=0.08, duration=0.35, t0=0.55,
                                nints=400, y_event_coupling=-0.02), "eclipse",
                "secondary eclipse 2000 ppm, ingress 8 %, T14 35 %, 400 integrations"),
    "flux_depends_on_x": (LightCurveScene(ingress=0.1, duration=0.3, flux_per_px_x=0.02,
                                          drift_rms=0.05, x_event_coupling=0.03),
                          "transit", "flux changes 2 %/px of x shift; x rises in transit "
                                     "(the regressor is needed)"),
}


def step_defaults(kind):
    """The step's default options for ``make_detrended_light_curve`` (no orbit given)."""
    return DetrendedWhiteLightStep(astrophysical=kind).light_curve_options()


def measure(table, result, truth, kind):
    """Fitted depth compared with the truth: (depth, error, rp2 depth, rp2 error)."""
    meta = table.meta
    if kind == "eclipse":
        return meta["fp"], meta["fp_err"], meta["fp"], meta["fp_err"]
    depth, error = flat_bottom_depth(result, truth)
    return depth, error, meta["transit_depth"], meta["transit_depth_err"]


def run_case(name, realisations, seed0=1000):
    """Fit every realisation of one case; returns a row of summary figures."""
    scene, kind, description = CASES[name]
    options = step_defaults(kind)
    pulls, pulls_rp2, rms_ratio, error_ratio, kept, found = [], [], [], [], [], []
    for k in range(realisations):
        spectra, regressors, truth = make_spectra(scene, seed0 + k)
        table, result = make_detrended_light_curve(spectra, regressors=regressors, **options)
        meta = table.meta
        if meta["astrophysical"] != kind:
            found.append(False)
            continue
        found.append(True)
        depth, error, depth_rp2, error_rp2 = measure(table, result, truth, kind)
        pulls.append((depth - truth["depth"]) / error)
        pulls_rp2.append((depth_rp2 - truth["depth"]) / error_rp2)
        rms_ratio.append(meta["rms_ppm"] / (1e6 * truth["expected_noise"]))
        kept.append(len(meta["regressors"]) > 0)
        bare, bare_result = make_detrended_light_curve(spectra, regressors=None, **options)
        if bare.meta["astrophysical"] == kind:
            _, bare_error, _, _ = measure(bare, bare_result, truth, kind)
            error_ratio.append(error / bare_error)
    pulls = np.array(pulls)
    return {
        "case": name,
        "description": description,
        "realisations": realisations,
        "found": int(np.sum(found)),
        "mean_pull": float(np.mean(pulls)) if pulls.size else np.nan,
        "std_pull": float(np.std(pulls, ddof=1)) if pulls.size > 1 else np.nan,
        "max_abs_pull": float(np.max(np.abs(pulls))) if pulls.size else np.nan,
        "mean_pull_rp2": float(np.mean(pulls_rp2)) if pulls_rp2 else np.nan,
        "rms_to_expected": float(np.mean(rms_ratio)) if rms_ratio else np.nan,
        "error_vs_no_regressors": float(np.median(error_ratio)) if error_ratio else np.nan,
        "regressor_kept_fraction": float(np.mean(kept)) if kept else np.nan,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realisations", type=int, default=50)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    rows = []
    for name in args.cases:
        t = time.monotonic()
        row = run_case(name, args.realisations)
        row["seconds"] = round(time.monotonic() - t, 1)
        rows.append(row)
        print(f"{name:28s} found {row['found']}/{row['realisations']}  pull "  # noqa: T201
              f"{row['mean_pull']:+.2f} +/- {row['std_pull']:.2f} (max {row['max_abs_pull']:.2f}"
              f"; rp2 {row['mean_pull_rp2']:+.2f})  rms/exp {row['rms_to_expected']:.3f}  "
              f"err/no-reg {row['error_vs_no_regressors']:.2f}  reg kept "
              f"{row['regressor_kept_fraction']:.2f}  {row['seconds']} s", flush=True)
    table = Table(rows=rows)
    if args.no_write:
        return 0
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%MZ")
    RESULTS.mkdir(exist_ok=True)
    table.write(RESULTS / f"white_light_recovery_{stamp}.ecsv", format="ascii.ecsv")
    lines = [
        f"# White-light injection-recovery, {stamp}",
        "",
        f"`python benchmarks/white_light_recovery.py --realisations {args.realisations}` "
        f"({time.monotonic() - started:.0f} s). Step defaults, no orbit given.",
        "Pull = (fitted - true) / sigma; depth = fitted model's mean depth over the flat "
        "bottom (transits), fp (eclipse). Scene parameters: `jwst_tso_ext/simulate/"
        "check_scenes.py` and `CASES` in the script.",
        "",
        "| case | scene | found | mean pull | pull std | max abs pull | mean pull (rp^2) "
        "| rms / expected | depth error / no-regressor fit | regressor kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['description']} | {row['found']}/{row['realisations']} "
            f"| {row['mean_pull']:+.2f} | {row['std_pull']:.2f} | {row['max_abs_pull']:.2f} "
            f"| {row['mean_pull_rp2']:+.2f} | {row['rms_to_expected']:.3f} "
            f"| {row['error_vs_no_regressors']:.2f} | {row['regressor_kept_fraction']:.2f} |")
    (RESULTS / f"white_light_recovery_{stamp}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / f'white_light_recovery_{stamp}.md'}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["CASES", "run_case", "step_defaults", "measure", "main"]
