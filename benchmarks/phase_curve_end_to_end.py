"""A simulated 9,000-integration phase curve in segments, end to end through ``strun lrs_tso``.

Issue 24's acceptance "End to end": the exposure (6 segments of 1,500 integrations x 5
groups, ``jwst-tso-ext simulate`` with a phase curve: flat-bottomed transit and two
eclipses on a 6,000 s orbit, blackbody day/night spectra) goes through
``strun lrs_tso`` with only the period given, serially and on ``--scheduler=local:2``.
Checked: every product is written; the white light's ``fp_day`` and ``fp_night``
against the injected truth over its wavelength band, in sigma; the spectral bins'
``fp_day`` / ``fp_night`` against the per-bin truth (pulls); wall time and peak memory
(``/usr/bin/time -v``); and whether the two runs' products are identical (every FITS
array and every ECSV column and numeric metadata value compared).

    python benchmarks/phase_curve_end_to_end.py WORKDIR [--skip-simulation]
        [--runs serial local2] [--crds-cache DIR] [--small]

``--small`` runs the same scene scaled down (1,500 integrations in 3 segments of 500,
a 1,000 s orbit): the same checks in a few minutes.

``WORKDIR/sim`` holds the simulation, ``WORKDIR/serial`` and ``WORKDIR/local2`` the
runs. Writes ``benchmarks/results/phase_curve_end_to_end_<UTC>.md`` and prints it.
4-17 min to simulate, 9-13 min serially and 4.5-9 min on ``local:2`` on two cores
(``results/phase_curve_end_to_end_2026-12-06T2041Z.md`` and ``T0643Z``); 7 GB of
uncal files and about 15 GB of products per run.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from jwst_tso_ext.simulate import SimulationConfig, phase_curve, simulate_exposure

RESULTS = Path(__file__).parent / "results"
ROOT = "phase"
#: The simulated exposure: 9,000 integrations of 5 groups (0.95 s) in 6 segments, around
#: a bright host (1 Jy at 2 micron, K ~ 6.5; ``--star-flux-mjy`` changes it: at the
#: simulator's default 20 mJy one integration's white light has 2.6 % of noise and the
#: search does not find the phase curve from the period alone). Segments of 1,500: one
#: of 3,000 peaked at 10.7 GiB in detector1, and two such on ``local:2`` do not fit in
#: this machine's 23.5 GiB.
CONFIG = dict(
    nints=9000, ngroups=5, segment_size=1500, seed=24, root=ROOT, star_flux_mjy=1000.0,
    orbital_period=6000.0,
    a_rs=4.9, impact_parameter=0.3, transit_depth=0.01, fp_day=0.003, fp_night=0.0008,
    phase_offset_deg=12.0, planet_day_temperature=1800.0, planet_night_temperature=1000.0,
)  # fmt: skip
#: The scaled-down scene of ``--small``.
SMALL = dict(nints=1500, segment_size=500, orbital_period=1000.0)


def strun_options(config):
    """strun options beyond the association: only the period (days) is given."""
    return [
        "--steps.detrended_white_light.astrophysical=phase_curve",
        f"--steps.detrended_white_light.period={config['orbital_period'] / 86400.0!r}",
    ]


#: Products every run must write.
PRODUCTS = [
    *(f"{ROOT}_seg{k:03d}_{kind}.fits" for k in (1, 2, 3) for kind in ("rateints", "calints")),
    f"{ROOT}_x1dints.fits", f"{ROOT}_drift.ecsv", f"{ROOT}_driftref.fits",
    f"{ROOT}_whtlt.ecsv", f"{ROOT}_whtlt.png", f"{ROOT}_whtlt_phase.png",
    f"{ROOT}_tspec.ecsv", f"{ROOT}_speclc.ecsv", f"{ROOT}_tspec.png",
]  # fmt: skip


def simulate(directory, config):
    """Simulate the exposure and write its association; returns the association path."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    paths = simulate_exposure(SimulationConfig(**config), directory, overwrite=True)
    members = [p.name for p in paths if p.name.endswith("_uncal.fits")]
    asn = asn_from_list(members, rule=DMS_Level3_Base, product_name=ROOT)
    path = Path(directory) / f"{ROOT}_asn.json"
    path.write_text(asn.dump(format="json")[1])
    return path


def run(asn, output_dir, crds_cache, options, scheduler=None):
    """One ``strun lrs_tso`` under ``/usr/bin/time -v``; returns (wall s, peak RSS GB)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    environment = subprocess.run(
        [sys.executable, "-m", "jwst_tso_ext.cli.main", "crds-cache", str(crds_cache)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    env = dict(os.environ, TMPDIR=str(output_dir / "tmp"))
    (output_dir / "tmp").mkdir(exist_ok=True)
    for line in environment.splitlines():
        match = re.match(r"export (\w+)=(.*)", line)
        if match:
            env[match[1]] = match[2].strip("'\"")
    strun = str(Path(sys.executable).with_name("strun"))
    command = ["/usr/bin/time", "-v", "-o", str(output_dir / "time.txt"), strun, "lrs_tso",
               str(asn), "--output_dir", str(output_dir), *options]
    if scheduler:
        command.append(f"--scheduler={scheduler}")
    with open(output_dir / "strun.log", "w") as log:
        subprocess.run(command, cwd=asn.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    return time_report(output_dir / "time.txt")


def time_report(path):
    """Wall time (s) and peak RSS (GB) from a ``/usr/bin/time -v`` report."""
    text = Path(path).read_text()
    clock = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text)[1].split(":")
    wall = sum(float(part) * 60**k for k, part in enumerate(reversed(clock)))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)[1])
    return wall, rss_kb / 1024**2


def truth_of(sim_dir, edges):
    """Injected fp_day and fp_night over wavelength bins (star-flux weighted per row)."""
    rows = Table.read(Path(sim_dir) / f"{ROOT}_truth_phase_curve_rows.ecsv", format="ascii.ecsv")
    return phase_curve.binned_truth(rows, edges)


def evaluate(sim_dir, output_dir, config):
    """White-light and per-bin phase-curve quantities against the truth."""
    white = Table.read(output_dir / f"{ROOT}_whtlt.ecsv", format="ascii.ecsv").meta
    band = [white["min_wavelength"], white["max_wavelength"]]
    day_truth, night_truth = (value[0] for value in truth_of(sim_dir, band))
    out = {"missing": [name for name in PRODUCTS if not (output_dir / name).is_file()],
           "white": {}, "band": band, "phase_order": white.get("phase_order")}
    out["astrophysical"] = white.get("astrophysical")
    for name, truth in (("fp_day", day_truth), ("fp_night", night_truth)):
        value, error = white.get(name, np.nan), white.get(f"{name}_err", np.nan)
        out["white"][name] = (value, error, truth, (value - truth) / error)
    out["white"]["phase_offset_deg"] = (white.get("phase_offset_deg", np.nan),
                                        white.get("phase_offset_deg_err", np.nan),
                                        config["phase_offset_deg"], None)
    out["white"]["transit_depth"] = (white.get("transit_depth", np.nan),
                                     white.get("transit_depth_err", np.nan),
                                     config["transit_depth"], None)
    out["bins"] = {}
    if not (output_dir / f"{ROOT}_tspec.ecsv").is_file():
        return out
    tspec = Table.read(output_dir / f"{ROOT}_tspec.ecsv", format="ascii.ecsv")
    edges = np.append(np.asarray(tspec["wave_low"]), np.asarray(tspec["wave_high"])[-1])
    day, night = truth_of(sim_dir, edges)
    for name, truth in (("fp_day", day), ("fp_night", night)):
        pull = (np.asarray(tspec[name]) - truth) / np.asarray(tspec[f"{name}_err"])
        out["bins"][name] = (pull, np.asarray(tspec[f"{name}_err"]))
    out["bins"]["depth"] = ((np.asarray(tspec["depth"]) - config["transit_depth"])
                            / np.asarray(tspec["depth_err"]), np.asarray(tspec["depth_err"]))
    return out


def _fits_differences(a, b):
    worst = 0.0
    with fits.open(a) as left, fits.open(b) as right:
        if len(left) != len(right):
            return np.inf
        for hdu_a, hdu_b in zip(left, right, strict=True):
            # the ASDF extension holds the history: dates, paths, the scheduler
            if hdu_a.data is None or hdu_b.data is None or hdu_a.name == "ASDF":
                continue
            if isinstance(hdu_a, fits.BinTableHDU):
                for name in hdu_a.columns.names:
                    worst = max(worst, _array_difference(hdu_a.data[name], hdu_b.data[name]))
            else:
                worst = max(worst, _array_difference(hdu_a.data, hdu_b.data))
    return worst


def _array_difference(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return np.inf
    if x.dtype.kind not in "fiu":
        return 0.0 if np.array_equal(x, y) else np.inf
    x, y = x.astype(float), y.astype(float)
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    return 0.0 if same.all() else float(np.nanmax(np.abs(x - y)[~same]))


def _ecsv_differences(a, b):
    left, right = Table.read(a, format="ascii.ecsv"), Table.read(b, format="ascii.ecsv")
    worst = 0.0 if left.colnames == right.colnames else np.inf
    for name in left.colnames:
        if name in right.colnames:
            worst = max(worst, _array_difference(left[name], right[name]))
    meta_a = {k: v for k, v in left.meta.items() if k not in ("date", "output_dir")}
    meta_b = {k: v for k, v in right.meta.items() if k not in ("date", "output_dir")}
    dumped = [json.dumps(m, sort_keys=True, default=str).replace(str(b.parent), str(a.parent))
              for m in (meta_a, meta_b)]
    return worst, dumped[0] == dumped[1]


def compare(serial, local):
    """Largest difference of every product common to both runs (0: identical)."""
    rows = []
    for path in sorted(serial.iterdir()):
        other = local / path.name
        if path.suffix == ".fits" and other.is_file():
            rows.append((path.name, _fits_differences(path, other), None))
        elif path.suffix == ".ecsv" and other.is_file():
            rows.append((path.name, *_ecsv_differences(path, other)))
    return rows


def report(config, runs, evaluations, comparison):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    lines = [
        f"# Simulated phase curve end to end through strun lrs_tso ({stamp})",
        "",
        f"`python benchmarks/phase_curve_end_to_end.py {' '.join(sys.argv[1:])}`",
        "",
        "Exposure (`jwst-tso-ext simulate`): " + ", ".join(f"{k}={v}" for k, v in config.items())
        + f". strun options: `{' '.join(strun_options(config))}` (only the period). Machine: "
        f"{os.cpu_count()} cores shared with other users, 1-min load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| run | wall (s) | peak RSS (GB) | products missing |",
        "| --- | --- | --- | --- |",
    ]
    for name, (wall, rss) in runs.items():
        lines.append(f"| {name} | {wall:.0f} | {rss:.2f} | "
                     f"{', '.join(evaluations[name]['missing']) or 'none'} |")
    for name, result in evaluations.items():
        lines += ["", f"## {name}: white light ({result['band'][0]}-{result['band'][1]} micron, "
                  f"astrophysical {result['astrophysical']}, phase order "
                  f"{result['phase_order']})", "",
                  "| quantity | fitted | error | truth | (fitted - truth) / error |",
                  "| --- | --- | --- | --- | --- |"]
        for quantity, (value, error, truth, pull) in result["white"].items():
            pull_text = "" if pull is None else f"{pull:+.2f}"
            lines.append(f"| {quantity} | {value:.6g} | {error:.3g} | {truth:.6g} | {pull_text} |")
        lines += ["", "Spectral bins against the per-bin truth:", "",
                  "| quantity | bins | mean pull | pull std | max abs pull | median error |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for quantity, (pull, error) in result["bins"].items():
            lines.append(f"| {quantity} | {np.isfinite(pull).sum()} | {np.nanmean(pull):+.2f} | "
                         f"{np.nanstd(pull):.2f} | {np.nanmax(np.abs(pull)):.2f} | "
                         f"{1e6 * np.nanmedian(error):.0f} ppm |")
    if comparison:
        lines += ["", "## serial against local:2", "",
                  "| product | largest difference | metadata equal |", "| --- | --- | --- |"]
        for name, difference, meta_equal in comparison:
            lines.append(f"| {name} | {difference:.3g} | "
                         f"{'' if meta_equal is None else meta_equal} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"phase_curve_end_to_end_{stamp}.md").write_text(text)
    print(text)  # noqa: T201


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--skip-simulation", action="store_true",
                        help="reuse WORKDIR/sim (simulated by an earlier run)")
    parser.add_argument("--runs", nargs="+", default=["serial", "local2"],
                        choices=["serial", "local2"])
    parser.add_argument("--skip-runs", action="store_true",
                        help="only evaluate the runs already in WORKDIR")
    parser.add_argument("--crds-cache", type=Path, default=None,
                        help="offline CRDS cache (default WORKDIR/crds)")
    parser.add_argument("--small", action="store_true",
                        help="1,500 integrations in 3 segments of 500, a 1,000 s orbit")
    parser.add_argument("--star-flux-mjy", type=float, default=CONFIG["star_flux_mjy"],
                        help="host flux density at 2 micron (mJy)")
    args = parser.parse_args()
    config = dict(CONFIG, **SMALL) if args.small else dict(CONFIG)
    config["star_flux_mjy"] = args.star_flux_mjy
    sim = args.workdir / "sim"
    asn = sim / f"{ROOT}_asn.json"
    if not args.skip_simulation and not args.skip_runs:
        asn = simulate(sim, config)
    crds_cache = args.crds_cache or args.workdir / "crds"
    runs, evaluations = {}, {}
    for name in args.runs:
        output_dir = args.workdir / name
        if args.skip_runs:
            runs[name] = time_report(output_dir / "time.txt")
        else:
            runs[name] = run(asn, output_dir, crds_cache, strun_options(config),
                             "local:2" if name == "local2" else None)
        evaluations[name] = evaluate(sim, output_dir, config)
    comparison = None
    if {"serial", "local2"} <= set(args.runs):
        comparison = compare(args.workdir / "serial", args.workdir / "local2")
    report(config, runs, evaluations, comparison)


if __name__ == "__main__":
    main()
