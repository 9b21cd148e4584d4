"""WASP-107 b MIRI LRS white light (real flight data) against its published reduction.

The Eureka! stage-5 table vendored in ``tests/data/realdata/`` (JWST program 1280;
source and licence in the README there) is fitted through
:func:`jwst_tso_ext.lightcurve.fit_selection.detrend` with the white-light step's
default options and only the period given, as a user with a light-curve table would
(the step's own table route, `DetrendedWhiteLightStep.white_light`, without products):
the transit search finds the event, BIC chooses the systematics and the regressors,
the limb darkening is the step's default. The light curve is sigma-clipped with the
step's clipping options first. Each fit is run with the table's ``ypos`` and
``ywidth`` offered as regressors and without regressors, and with the limb
darkening free (the default) and held at the former default u1 = u2 = 0.1.

Reference: that reduction's emcee fit with free quadratic limb darkening,
rp = 0.14324 +/- 0.00010 (``wasp107b_miri_lrs_white_eureka_fitparams.csv``).
Acceptance: the default fit within 1 sigma of it (errors combined in quadrature).

    python benchmarks/check_wasp107b.py

Writes ``benchmarks/results/wasp107b_<UTC time>.md`` and prints it.
"""

import argparse
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import (
    DetrendedWhiteLightStep,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TABLE = ROOT / "tests/data/realdata/wasp107b_miri_lrs_white_eureka_s5.ecsv"
PERIOD = 5.7214742
REFERENCE_RP, REFERENCE_RP_ERR = 0.14324, 0.00010


def fit(regressors, **step_parameters):
    """The step's default fit of the table (period given); returns detrend's result.

    `DetrendedWhiteLightStep.white_light` is the step's own route for a table (its
    reader, which skips the masked row, its sigma clipping, then ``detrend``), without
    writing products.
    """
    step = DetrendedWhiteLightStep(period=PERIOD, regressors=list(regressors),
                                   **step_parameters)
    _, result = step.white_light(str(TABLE))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    cases = [
        ("default (limb darkening free), ypos + ywidth offered", ("ypos", "ywidth"), {}),
        ("default (limb darkening free), no regressors", (), {}),
        ("former default: u1 = u2 = 0.1 held, ypos + ywidth offered", ("ypos", "ywidth"),
         {"limb_darkening": "fixed", "u1": 0.1, "u2": 0.1}),
        ("u1 = u2 = 0.1 given, limb_darkening='bic' (step default)", ("ypos", "ywidth"),
         {"u1": 0.1, "u2": 0.1}),
    ]
    lines = [
        f"# WASP-107 b white light vs Eureka! ({datetime.now(timezone.utc):%Y-%m-%dT%H%MZ})",
        "",
        "`python benchmarks/check_wasp107b.py`: the vendored Eureka! table (4096 "
        "integrations, one masked row skipped by the step's table reader) through "
        "`DetrendedWhiteLightStep(period=5.7214742).white_light` (its reader, sigma "
        "clipping and `detrend`); reference rp = "
        f"{REFERENCE_RP} +/- {REFERENCE_RP_ERR} (Eureka! emcee, free quadratic limb "
        "darkening).",
        "",
        "| fit | rp | rp_err | pull vs Eureka! (combined) | u1 | u2 | b | limb darkening "
        "| regressors kept | ramp, poly | reduced chi2 | s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, regressors, parameters in cases:
        started = time.monotonic()
        result = fit(regressors, **parameters)
        seconds = time.monotonic() - started
        p = result["parameters"]
        rp, rp_err = p["rp"]
        pull = (rp - REFERENCE_RP) / np.hypot(rp_err, REFERENCE_RP_ERR)
        model = result["model"]
        lines.append(
            f"| {label} | {rp:.5f} | {rp_err:.5f} | {pull:+.2f} | {p['u1'][0]:.3f} | "
            f"{p['u2'][0]:.3f} | {p['b'][0]:.3f} | {result['selection']['limb_darkening']} | "
            f"{', '.join(model.regressor_names) or '-'} | {model.n_ramp}, {model.poly_order} "
            f"| {result['fit']['reduced_chi2']:.3f} | {seconds:.0f} |")
        print(lines[-1], flush=True)  # noqa: T201
    text = "\n".join(lines) + "\n"
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"wasp107b_{datetime.now(timezone.utc):%Y-%m-%dT%H%MZ}.md"
        path.write_text(text)
        print(f"Wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
