"""Speed of the spectral phase-curve fits: 28 bins (0.25 um over 5-12 um) of a long exposure.

Issue 24's goal: 28 spectral phase-curve bins in <= 2 min on this machine's two cores.
A synthetic x1dints-like scene (200 columns over 4.5-12.5 um, ``--nints`` integrations
of 10.3 s covering 1.3 orbits, as WASP-43 b's ERS phase curve: a transit, two
eclipses, day- and nightside fluxes rising to the red, a 12 degree hotspot offset, a
ramp, a linear drift and jitter regressors, photon noise) is fitted first as a white
light with ``astrophysical='phase_curve'`` and only the period (not timed); then
``fit_spectral_light_curves`` is timed with the step's defaults (the white light's
orbit, phase order, ramp terms, timescales and polynomial order; x_shift / y_shift
offered per bin) on ``--workers`` processes. Every bin's dayside and nightside flux is
compared with the injected truth (pulls), so a fast but wrong fit shows.

    python benchmarks/bench_spectral_phase_curve.py [--nints 9216] [--workers 2] [--repeat 1]

Writes ``benchmarks/results/spectral_phase_curve_<UTC>.md`` and prints it.
"""

import argparse
import datetime
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np

from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.lightcurve.binning import bin_edges
from jwst_tso_ext.lightcurve.fit_selection import DEFAULT_FREE
from jwst_tso_ext.simulate import phase_curve as injected
from jwst_tso_ext.spectral_light_curves import spectral

RESULTS = Path(__file__).parent / "results"
CADENCE = 10.3 / 86400.0
PERIOD = 0.8134749  # WASP-43 b (days)


def scene(nints, seed=1):
    """Spectra (nints x 200 columns) of 1.3 orbits, drawn with the simulator's phase function.

    Returns the spectra, the regressors and the per-column truth (star, fp_day, fp_night).
    """
    rng = np.random.default_rng(seed)
    t = 60000.0 + np.arange(nints) * CADENCE
    wave = np.linspace(4.5, 12.5, 200)
    wave = np.linspace(4.5, 12.5, 200)
    fp_day = 2e-3 + 4e-3 * (wave - 5.0) / 7.0
    fp_night = 2e-4 + 1.2e-3 * (wave - 5.0) / 7.0
    relative = injected.relative_flux(t, t[nints // 2], PERIOD, 4.9, 0.66, 0.16, 12.0, fp_day,
                                      fp_night)
    star = 2e6 * np.exp(-0.5 * ((wave - 7.0) / 3.0) ** 2)
    x_shift = 0.01 * rng.standard_normal(nints)
    y_shift = 0.02 * rng.standard_normal(nints)
    tau = (t - t[0]) / (t[-1] - t[0])
    systematics = (1.0 - 0.003 * np.exp(-(t - t[0]) / 0.02)) * (1.0 + 2e-4 * tau)
    clean = star * relative * systematics[:, None]
    err = np.sqrt(clean)
    flux = clean + err * rng.standard_normal(clean.shape)
    spectra = {"int_num": np.arange(1, nints + 1), "mjd_utc": t, "bjd_tdb": t,
               "wavelength": wave, "flux": flux, "error": err,
               "dq": np.zeros(flux.shape, np.uint32), "flux_unit": None}
    return spectra, {"x_shift": x_shift, "y_shift": y_shift}, (wave, star, fp_day, fp_night)


def truth_per_bin(wave, star, values, edges):
    """Star-weighted mean of the columns' values in each bin."""
    index = np.searchsorted(edges, wave, side="right") - 1
    return np.array([np.sum(star[index == j] * values[index == j]) / np.sum(star[index == j])
                     for j in range(edges.size - 1)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=9216)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spectra, regressors, (wave, star, fp_day, fp_night) = scene(args.nints)
    start = time.perf_counter()
    table, _ = make_detrended_light_curve(spectra, regressors=regressors,
                                          astrophysical="phase_curve",
                                          free_params=DEFAULT_FREE["phase_curve"],
                                          astro_params={"period": PERIOD})
    white_seconds = time.perf_counter() - start
    white = {"meta": dict(table.meta), "int_num": np.asarray(table["int_num"])}
    edges = bin_edges(5.0, 12.0, width=0.25)
    runs = []
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        tspec, _ = spectral.fit_spectral_light_curves(
            spectra, white, edges, regressors=regressors, n_workers=args.workers)
        wall = time.perf_counter() - start
        cpu = sum(getattr(resource.getrusage(who), f) - getattr(before, f)
                  for who, before in ((resource.RUSAGE_CHILDREN, children),
                                      (resource.RUSAGE_SELF, own))
                  for f in ("ru_utime", "ru_stime"))
        runs.append((wall, cpu, load))
    pulls = {}
    for name, truth in (("fp_day", fp_day), ("fp_night", fp_night)):
        expected = truth_per_bin(wave, star, truth, edges)
        pulls[name] = (np.asarray(tspec[name]) - expected) / np.asarray(tspec[f"{name}_err"])
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    rows = [f"| {args.workers} | {len(tspec)} | {wall:.1f} | {cpu:.1f} | {load:.1f} |"
            for wall, cpu, load in runs]
    pull_rows = [f"| {name} | {np.mean(p):+.2f} | {np.std(p):.2f} | {np.max(np.abs(p)):.2f} | "
                 f"{1e6 * np.median(tspec[f'{name}_err']):.0f} |" for name, p in pulls.items()]
    text = "\n".join([
        f"# Spectral phase-curve fits: {args.nints} integrations x {len(tspec)} bins ({stamp})",
        "",
        f"`python benchmarks/bench_spectral_phase_curve.py --nints {args.nints} --workers "
        f"{args.workers} --repeat {args.repeat}`: a synthetic 1.3-orbit phase curve (10.3 s "
        "cadence, ramp, linear trend, x/y jitter regressors, photon noise); white light "
        f"fitted with astrophysical='phase_curve' and only the period in {white_seconds:.1f} s "
        f"(phase order {table.meta.get('phase_order')}, not timed); then "
        "`fit_spectral_light_curves` with the step's defaults (bins share the white light's "
        "orbit and phase order, fit rp, fp_day, fp_night, phase_sin1 [+ second order] and "
        "their own systematics), no emcee. Goal: <= 120 s on the 2 cores. Wall clock, CPU "
        "seconds of this process and its workers, and the 1-min load average at the start "
        f"(the cores are shared with other users); machine: {os.cpu_count()} cores.",
        "",
        "| processes | bins | wall (s) | CPU (s) | load |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Per-bin pulls against the injected truth (flux-weighted per bin):",
        "",
        "| quantity | mean pull | pull std | max abs pull | median error (ppm) |",
        "| --- | --- | --- | --- | --- |",
        *pull_rows,
        "",
    ])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"spectral_phase_curve_{stamp}.md").write_text(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
