"""Speed of the per-bin fits: 1,000 integrations x 28 bins (0.25 um over 5-12 um), no emcee.

A synthetic x1dints-like scene (200 columns over 4.5-12.5 um, photon noise, a ramp, a
transit with a 1000 ppm band) is fitted first as a white light (not timed), then
``fit_spectral_light_curves`` is timed with the step's defaults (the white light's ramp
terms, timescales and polynomial order in every bin, regressors x_shift / y_shift
offered per bin)
on 1 process, on 2 processes (``maximum_cores='all'`` on this machine), and with the
bins in 2 threads instead of processes (to show whether threads help).

    python benchmarks/bench_spectral_fit.py [--nints 1000] [--repeat 2]

Writes ``benchmarks/results/spectral_fit_<UTC>.md`` and prints it.
"""

import argparse
import datetime
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import batman
import numpy as np

from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.lightcurve.binning import bin_edges
from jwst_tso_ext.spectral_light_curves import spectral

RESULTS = Path(__file__).parent / "results"


def scene(nints, seed=1):
    """Spectra (nints x 200 columns) with a transit, a 1000 ppm band at 7.35 um and a ramp."""
    rng = np.random.default_rng(seed)
    t = 60000.0 + np.arange(nints) * 10.0 / 86400.0
    wave = np.linspace(4.5, 12.5, 200)
    depth = 0.006 + 1e-3 * (np.abs(wave - 7.35) <= 0.35)
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t.mean(), 1.0, 0.08, 10.0, 88.0, 0.0, 90.0
    p.limb_dark, p.u = "quadratic", [0.1, 0.1]
    shape = (1.0 - batman.TransitModel(p, t).light_curve(p)) / 0.0064
    star = 2e4 * np.exp(-0.5 * ((wave - 7.0) / 3.0) ** 2)
    ramp = 1.0 - 0.003 * np.exp(-(t - t[0]) / 0.02)
    clean = star * (1.0 - depth[None, :] * shape[:, None]) * ramp[:, None]
    err = np.sqrt(clean)
    flux = clean + err * rng.standard_normal(clean.shape)
    regressors = {"x_shift": 0.01 * rng.standard_normal(nints),
                  "y_shift": 0.02 * rng.standard_normal(nints)}
    spectra = {"int_num": np.arange(1, nints + 1), "mjd_utc": t, "bjd_tdb": t,
               "wavelength": wave, "flux": flux, "error": err,
               "dq": np.zeros(flux.shape, np.uint32), "flux_unit": None}
    return spectra, regressors


def map_in_threads(tasks, n_workers):
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        return list(pool.map(spectral._fit_bin, tasks))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spectra, regressors = scene(args.nints)
    table, _ = make_detrended_light_curve(spectra, regressors=regressors, ramp_tau=[0.01, 0.05])
    white = {"meta": dict(table.meta), "int_num": np.asarray(table["int_num"])}
    edges = bin_edges(5.0, 12.0, width=0.25)
    process_map = spectral._map_bins
    rows = []
    for label, workers, mapper in (
        ("1 process", 1, process_map),
        ("2 processes (maximum_cores='all')", 2, process_map),
        ("2 threads", 2, map_in_threads),
    ):
        spectral._map_bins = mapper
        times = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            tspec, _ = spectral.fit_spectral_light_curves(
                spectra, white, edges, regressors=regressors, n_workers=workers,
                ramp_tau=[0.01, 0.05])
            times.append((time.perf_counter() - start, load))
        spectral._map_bins = process_map
        best = min(t for t, _ in times)
        loads = ", ".join(f"{lo:.1f}" for _, lo in times)
        rows.append(f"| {label} | {len(tspec)} | {best:.1f} | "
                    f"{', '.join(f'{t:.1f}' for t, _ in times)} | {loads} |")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    text = "\n".join([
        f"# Spectral light-curve fits: {args.nints} integrations x 28 bins ({stamp})",
        "",
        f"`python benchmarks/bench_spectral_fit.py --nints {args.nints} --repeat "
        f"{args.repeat}`; step defaults (the white light's ramp and polynomial order in "
        "every bin, x_shift/y_shift offered per bin), no emcee; wall-clock of "
        "`fit_spectral_light_curves` "
        f"(binning + 28 fits + tables) on {os.cpu_count()} cores shared with other users "
        "(1-min load average at the start of each run).",
        "",
        "| bins fitted on | bins | best (s) | runs (s) | load |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"spectral_fit_{stamp}.md").write_text(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
