"""Where the spectral band's red-edge bias comes from (issue 23, item 6).

The red-edge bin of the 1000 ppm band (7.50-7.75 um) of ``check_spectrum.py`` read
low in every noisy run but not in a noiseless one. This script splits the chain in two:

1. **the runs so far**: the band-edge bins' pulls read from every
   ``results/spectrum_seed*_*.md`` (and any extra result files given), one line per
   exposure and configuration, with the mean over independent noise realisations
   (the corrected and uncorrected offset runs share their data: averaged first);
2. **the light-curve stage alone**: a noiseless exposure (``jwst-tso-ext simulate
   --noiseless``, 300 integrations, the same band, through ``strun lrs_tso``) gets
   Gaussian noise added to its *extracted* spectra (the propagated errors scaled so
   a 0.25 um bin's depth error matches the noisy runs', ~95 ppm), and the white light
   and the bins are refitted as ``lrs_tso`` fits them (the star's limb darkening
   given to the white light, ``limb_darkening='white_light'`` in the bins as in those
   runs), ``--realisations`` times. The truth per bin is ``check_spectrum.py``'s.

3. **new independent noisy runs** (``--seeds N [N ...]``): for each seed, only the
   base exposure of ``check_spectrum.py`` (1,000 x 20, no offset; its ``prepare`` and
   ``evaluate``) in ``<workdir>/seed<N>``, and the band-edge bins' pulls per seed with
   the mean +/- standard error over the seeds of the red edge, the blue edge, both
   edges (each seed's mean of the two, then over the seeds) and all band bins (each
   seed's mean over the bins the truth puts in the band, then over the seeds). Unlike
   the offset exposures of seeds 14 and 15, which reuse the base's noise, every seed is
   an independent draw. Choose the seeds before looking at results.

If the light-curve stage recovers the edge bins without bias, the bias of the noisy
runs comes from upstream of the extracted spectra (the pixel-level processing of noisy
ramps), or from chance.

    python benchmarks/check_red_edge.py --workdir /tmp/red_edge --realisations 30
    python benchmarks/check_red_edge.py --workdir /tmp/red_edge --realisations 0 \\
        --seeds 17 18 19 20 21 22

``--realisations 0`` skips the light-curve stage alone, ``--skip-noiseless`` the
noiseless exposure (and with it that stage). Products already in the work directory
are reused, so a rerun only re-evaluates.

Needs the offline CRDS cache (``eval "$(jwst-tso-ext crds-cache <dir>)"``). Writes
``benchmarks/results/red_edge_<UTC time>.md`` and prints it.
"""

import argparse
import logging
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import (
    DetrendedWhiteLightStep,
)
from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.lightcurve.binning import spectra_from_model
from jwst_tso_ext.lightcurve.model import regressors_from_drift_table
from jwst_tso_ext.spectral_light_curves.spectral import fit_spectral_light_curves
from jwst_tso_ext.spectral_light_curves.spectral_light_curves_step import (
    SpectralLightCurvesStep,
)

sys.path.insert(0, str(Path(__file__).parent))
import check_spectrum  # noqa: E402

RESULTS = Path(__file__).parent / "results"
EDGE_BINS = {"6.875": "blue, outside", "7.125": "blue edge", "7.375": "centre",
             "7.625": "red edge", "7.875": "red, outside"}
EDGES = np.arange(6.5, 8.26, 0.25)
#: bin depth error of the noisy 1000 x 20 runs near 7.5 um (ppm)
TARGET_ERROR_PPM = 95.0
#: check_spectrum's segment size (noiseless_exposure changes the module's for its run)
NOISY_SEGMENT_SIZE = check_spectrum.SEGMENT_SIZE


def past_runs(paths):
    """Band-edge pulls per result file and section: list of (file, section, pulls)."""
    rows = []
    for path in paths:
        section = None
        for line in Path(path).read_text().splitlines():
            if line.startswith("### "):
                section = line[4:]
                pulls = {}
                rows.append((Path(path).name, section, pulls))
            match = re.match(r"\| (\d+\.\d+) \| (\d+) \| (\d+) \| (\d+) \| ([+-]\d+\.\d+) \|", line)
            if match and section is not None and match.group(1) in EDGE_BINS:
                pulls[match.group(1)] = float(match.group(5))
    return [r for r in rows if r[2]]


def noiseless_exposure(workdir, seed):
    """Simulate 300 noiseless integrations with the band and run lrs_tso on them."""
    check_spectrum.SEGMENT_SIZE = 300
    return check_spectrum.prepare(
        workdir, "noiseless",
        ["--nints", "300", "--ngroups", "5", "--segment-size", "300", "--noiseless"], seed)


def seed_runs(workdir, seeds):
    """Base exposure of check_spectrum per seed: (seed, centres, pulls, band mask, lines)."""
    check_spectrum.SEGMENT_SIZE = NOISY_SEGMENT_SIZE
    runs = []
    for seed in seeds:
        seed_dir = workdir / f"seed{seed}"
        seed_dir.mkdir(parents=True, exist_ok=True)
        directory = check_spectrum.prepare(seed_dir, "base", [], seed)
        detail = []
        result = check_spectrum.evaluate(directory / "out", "base", directory, detail,
                                         f"seed {seed}, base exposure (no offset)")
        tspec = Table.read(directory / "out" / "base_tspec.ecsv", format="ascii.ecsv")
        correction = tspec.meta.get("wavelength_correction")
        if not isinstance(correction, dict):  # as check_spectrum.evaluate reads it
            correction = dict(Table.read(directory / "out" / "base_drift.ecsv",
                                         format="ascii.ecsv").meta)
        wave, rows = check_spectrum.element_rows(
            directory / "out", "base", float(correction.get("static_y_offset", 0.0)))
        truth, _ = check_spectrum.bin_truth(
            tspec, wave, rows,
            Table.read(directory / "base_truth_depth_rows.ecsv", format="ascii.ecsv"))
        # check_spectrum's in-band bins: truth excess over the continuum > half the band
        band = truth - np.nanmin(truth) > 0.5e-6 * check_spectrum.BAND_PPM
        runs.append((seed, np.asarray(tspec["wavelength"], float), result["pull"], band,
                     detail))
    return runs


def seed_summary(runs):
    """Markdown lines: per-seed edge-bin pulls, then means +/- sem over the seeds."""
    lines = ["| seed | " + " | ".join(f"{w} ({d})" for w, d in EDGE_BINS.items())
             + " | band bins (mean) |", "| --- |" + " --- |" * (len(EDGE_BINS) + 1)]
    per_seed = {"red edge (7.625)": [], "blue edge (7.125)": [],
                "both edges (per-seed mean of the two)": [],
                "all band bins (per-seed mean)": []}
    band_names = set()
    for seed, centres, pull, band, _ in runs:
        keyed = {f"{c:.3f}": p for c, p in zip(centres, pull, strict=True)}
        band_pull = float(np.mean(pull[band]))
        band_names.update(f"{c:.3f}" for c in centres[band])
        lines.append(f"| {seed} | " + " | ".join(f"{keyed.get(w, np.nan):+.2f}"
                                                 for w in EDGE_BINS)
                     + f" | {band_pull:+.2f} |")
        per_seed["red edge (7.625)"].append(keyed["7.625"])
        per_seed["blue edge (7.125)"].append(keyed["7.125"])
        per_seed["both edges (per-seed mean of the two)"].append(
            0.5 * (keyed["7.625"] + keyed["7.125"]))
        per_seed["all band bins (per-seed mean)"].append(band_pull)
    n = len(runs)
    lines += ["", f"Band bins (truth excess > {0.5 * check_spectrum.BAND_PPM:.0f} ppm): "
              + ", ".join(sorted(band_names)) + ".", "",
              f"| quantity | mean pull over {n} seeds | +/- sem | std |",
              "| --- | --- | --- | --- |"]
    for label, values in per_seed.items():
        values = np.asarray(values, float)
        std = np.std(values, ddof=1) if n > 1 else np.nan
        lines.append(f"| {label} | {np.mean(values):+.2f} | {std / np.sqrt(n):.2f} "
                     f"| {std:.2f} |")
    return lines


def light_curve_stage(directory, realisations, seed=123):
    """Edge-bin pulls with noise added to the extracted noiseless spectra."""
    name, out = "noiseless", directory / "out"
    drift = Table.read(out / f"{name}_drift.ecsv", format="ascii.ecsv")
    with datamodels.open(out / f"{name}_x1dints.fits") as model:
        spectra = spectra_from_model(model)
    regressors = regressors_from_drift_table(drift, spectra["int_num"], ["x_shift", "y_shift"])
    truth_rows = Table.read(directory / f"{name}_truth_depth_rows.ecsv", format="ascii.ecsv")
    wave, rows = check_spectrum.element_rows(out, name, float(drift.meta.get("static_y_offset",
                                                                            0.0)))
    u1, u2 = Table.read(directory / f"{name}_truth.ecsv",
                        format="ascii.ecsv").meta["limb_darkening"]
    tspec = Table.read(out / f"{name}_tspec.ecsv", format="ascii.ecsv")
    at = int(np.argmin(np.abs(np.asarray(tspec["wavelength"]) - 7.625)))
    scale = 1e-6 * TARGET_ERROR_PPM / float(tspec["depth_err"][at])
    rng = np.random.default_rng(seed)
    step = SpectralLightCurvesStep(limb_darkening="white_light")
    pulls, errors = [], []
    for _ in range(realisations):
        noisy = dict(spectra)
        noisy["error"] = np.asarray(spectra["error"]) * scale
        noisy["flux"] = (np.asarray(spectra["flux"])
                         + noisy["error"] * rng.standard_normal(noisy["error"].shape))
        table, _ = make_detrended_light_curve(
            noisy, regressors=regressors,
            **DetrendedWhiteLightStep(u1=u1, u2=u2).light_curve_options())
        white = {"meta": dict(table.meta), "int_num": np.asarray(table["int_num"]),
                 "clipped": np.asarray(table["clipped"])}
        spectrum, _ = fit_spectral_light_curves(
            noisy, white, EDGES, regressors=regressors,
            **dict(step.fit_options(len(EDGES) - 1), n_workers=1))
        truth, _ = check_spectrum.bin_truth(spectrum, wave, rows, truth_rows)
        error = np.asarray(spectrum["depth_err"], float)
        pulls.append((np.asarray(spectrum["depth"], float) - truth) / error)
        errors.append(error)
    centres = 0.5 * (EDGES[1:] + EDGES[:-1])
    return centres, np.array(pulls), np.array(errors)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="red_edge_work")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--realisations", type=int, default=30,
                        help="light-curve-stage realisations (0: skip that section)")
    parser.add_argument("--skip-noiseless", action="store_true",
                        help="skip the noiseless exposure (sections 2 and 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[],
                        help="new independent noisy runs: check_spectrum's base exposure "
                             "per seed (section 4)")
    parser.add_argument("--extra-results", nargs="*", default=[],
                        help="more check_spectrum result files (e.g. a new seed's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if "CRDS_PATH" not in os.environ:
        raise SystemExit('Set up the offline CRDS cache first: eval "$(jwst-tso-ext crds-cache '
                         '<dir>)"')
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%MZ")
    command = (f"python benchmarks/check_red_edge.py --workdir <dir> --seed {args.seed} "
               f"--realisations {args.realisations}"
               + (" --skip-noiseless" if args.skip_noiseless else "")
               + (" --seeds " + " ".join(map(str, args.seeds)) if args.seeds else ""))
    lines = [f"# Band-edge bins: noisy runs and the light-curve stage alone ({stamp})", "",
             f"`{command}`; see the script's docstring.", "",
             "## 1. check_spectrum runs (pull of each bin against its truth)", "",
             "| file | exposure | " + " | ".join(f"{w} ({d})" for w, d in EDGE_BINS.items())
             + " |", "| --- | --- |" + " --- |" * len(EDGE_BINS)]
    files = sorted(RESULTS.glob("spectrum_seed*_*.md")) + [Path(p) for p in args.extra_results]
    for name, section, pulls in past_runs(files):
        lines.append(f"| {name} | {section} | "
                     + " | ".join(f"{pulls.get(w, np.nan):+.2f}" for w in EDGE_BINS) + " |")
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # the new noisy runs first: they are what --seeds is run for
    runs = seed_runs(workdir, args.seeds)
    if not args.skip_noiseless:
        lines += noiseless_sections(workdir, args.seed, args.realisations)
    if runs:
        lines += ["", f"## 4. New independent noisy runs: check_spectrum's base exposure, "
                      f"seeds {' '.join(map(str, args.seeds))} (pull of each bin)", ""]
        lines += seed_summary(runs)
        lines += ["", "### Per-seed detail (check_spectrum.evaluate)", ""]
        for *_, detail in runs:
            lines += ["#" + detail[0], *detail[1:]]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"red_edge_{stamp}.md").write_text(text)
    print(text)  # noqa: T201
    return 0


def noiseless_sections(workdir, seed, realisations):
    """Sections 2 (noiseless exposure) and 3 (light-curve stage alone, if realisations)."""
    lines = []
    directory = noiseless_exposure(workdir, seed)
    noiseless = Table.read(directory / "out" / "noiseless_tspec.ecsv", format="ascii.ecsv")
    wave_truth = check_spectrum.element_rows(
        directory / "out", "noiseless",
        float(noiseless.meta["wavelength_correction"].get("static_y_offset", 0.0)))
    truth, _ = check_spectrum.bin_truth(
        noiseless, *wave_truth,
        Table.read(directory / "noiseless_truth_depth_rows.ecsv", format="ascii.ecsv"))
    lines += ["", "## 2. Noiseless exposure through lrs_tso (depth - truth, ppm)", "",
              "| bin | truth (ppm) | depth - truth (ppm) |", "| --- | --- | --- |"]
    for j, centre in enumerate(np.asarray(noiseless["wavelength"], float)):
        if f"{centre:.3f}" in EDGE_BINS:
            lines.append(f"| {centre:.3f} | {1e6 * truth[j]:.0f} | "
                         f"{1e6 * (noiseless['depth'][j] - truth[j]):+.0f} |")
    if realisations <= 0:
        return lines
    centres, pulls, errors = light_curve_stage(directory, realisations)
    lines += ["", f"## 3. Light-curve stage alone: noise added to the noiseless extracted "
                  f"spectra, {realisations} realisations", "",
              "| bin | mean pull (+/- sem) | pull std | median depth_err (ppm) |",
              "| --- | --- | --- | --- |"]
    for j, centre in enumerate(centres):
        p = pulls[:, j]
        sem = np.std(p, ddof=1) / np.sqrt(p.size)
        lines.append(f"| {centre:.3f} | {np.mean(p):+.2f} (+/- {sem:.2f}) "
                     f"| {np.std(p, ddof=1):.2f} | {1e6 * np.median(errors[:, j]):.0f} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
