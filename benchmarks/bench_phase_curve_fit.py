"""Speed of the white-light phase-curve fit with model selection (issue 24).

A 10,000-integration phase curve (WASP-43 b-like orbit over ~1.25 orbits, the
injection-recovery benchmark's "strong" scene: grid-integrated occultations, ramp,
linear drift, photon noise, a gap) with two drift regressors, one of them carrying a
real systematic, is fitted as ``detrended_white_light`` fits it with
``astrophysical='phase_curve'`` and only the period: the phase-curve search, the
BIC choice of ramp, polynomial and phase-function order, and the forward selection
of the regressors. Acceptance: <= 30 s on this machine.

Usage::

    python benchmarks/bench_phase_curve_fit.py            # 10,000 integrations, 3 repeats

Writes ``benchmarks/results/phase_curve_fit_<UTC time>.md``.
"""

import argparse
import dataclasses
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from phase_curve_recovery import CASES, fit_options, occultations, realisation
from run_chain_benchmark import machine_description

from jwst_tso_ext.lightcurve.fit_selection import detrend

RESULTS = Path(__file__).parent / "results"


def make_light_curve(nints, seed=7):
    """Times, flux, error and regressors of the 'strong' scene with ``nints`` points."""
    scene = dataclasses.replace(CASES["strong"][0], noise_ppm=1000.0)
    orbit = scene.end_phase - scene.start_phase
    gap = scene.gap_phases[1] - scene.gap_phases[0]
    total = int(np.ceil(nints * orbit / (orbit - gap))) + 2  # nints left after the gap
    times = scene.t0 + scene.period * np.linspace(scene.start_phase, scene.end_phase, total)
    phase = (times - scene.t0) / scene.period
    times = times[(phase < scene.gap_phases[0]) | (phase > scene.gap_phases[1])][:nints]
    transit, visible, phi = occultations(scene, times)
    rng = np.random.default_rng(seed)
    flux, error = realisation(scene, transit + scene.planet_flux(phi) * visible, times, rng)
    x_shift = 0.02 * np.cumsum(rng.standard_normal(times.size)) / np.sqrt(times.size)
    y_shift = 0.01 * rng.standard_normal(times.size)
    flux = flux * (1.0 + 0.02 * x_shift)
    return scene, times, flux, error, {"x_shift": x_shift, "y_shift": y_shift}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    scene, times, flux, error, regressors = make_light_curve(args.nints)
    walls, cpus, loads = [], [], []
    for _ in range(args.repeats):
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        result = detrend(times, flux, error, regressors=regressors,
                         **fit_options(scene.period))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        loads.append((load, os.getloadavg()[0]))
    model = result["model"]
    p = result["parameters"]
    summary = (f"{times.size} integrations: wall {min(walls):.1f} s (best of {args.repeats}; "
               f"all {', '.join(f'{w:.1f}' for w in walls)}), CPU "
               f"{', '.join(f'{c:.1f}' for c in cpus)} s; "
               f"{len(result['selection']['candidates'])} models fitted; chosen ramp "
               f"{model.n_ramp}, poly {model.poly_order}, regressors {model.regressor_names}, "
               f"phase order {result['selection']['phase_order']}")
    print(summary)  # noqa: T201
    if args.no_write:
        return 0
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%MZ")
    machine = machine_description()
    lines = [
        f"# White-light phase-curve fit speed, {stamp}",
        "",
        f"`python benchmarks/bench_phase_curve_fit.py --nints {args.nints} --repeats "
        f"{args.repeats}`. Acceptance (issue 24): <= 30 s.",
        "",
        f"- {summary}",
        f"- verdict: {'PASS' if min(walls) <= 30.0 else 'FAIL'} (best wall time; the "
        "machine is shared: see the load)",
        f"- load average (1 min) at start / end of each repeat: "
        f"{', '.join(f'{a:.1f}/{b:.1f}' for a, b in loads)}",
        f"- fitted: fp_day {1e6 * p['fp_day'][0]:.0f} +/- {1e6 * p['fp_day'][1]:.0f} ppm, "
        f"fp_night {1e6 * p['fp_night'][0]:.0f} +/- {1e6 * p['fp_night'][1]:.0f} ppm, offset "
        f"{p['phase_offset_deg'][0]:.1f} +/- {p['phase_offset_deg'][1]:.1f} deg (truth "
        f"{', '.join(f'{k} {v:.4g}' for k, v in scene.truth().items())})",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        "| model | BIC |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v if isinstance(v, str) else f'{v:.1f}'} |"
              for k, v in result["selection"]["candidates"].items()]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"phase_curve_fit_{stamp}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
