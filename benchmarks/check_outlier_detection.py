"""Acceptance figures of tso_outlier_detection on simulated exposures with known outliers.

Usage::

    python benchmarks/check_outlier_detection.py [--nints 1000] [--workdir DIR]

Simulates (seed 2024, 10 groups) one exposure with outliers that ``jump`` cannot see
(``--outlier-integrations`` raised pixels, ``--telegraph`` telegraph pixels,
``--last-group`` last-group hits, 10-50 sigma) and the same exposure without them, and
runs ``LrsTsoPipeline`` in-process against the offline CRDS cache with the simulated
orbit: (a) outliers, step on; (b) outliers, step skipped; (c) clean, step on. Reports

* per kind: injected, flagged OUTLIER by the step, flagged JUMP_DET by ``jump``;
* other aperture pixels flagged (aperture = the x1dints extraction box), also without
  the pixels hit by a simulated cosmic ray;
* the white light's residual rms against its expected noise (``whtlt`` meta), for each
  run, and the wall time of each run and of the step.
"""

import argparse
import logging
import re
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.crds_cache import build_cache, offline_crds
from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure

OUTLIER, JUMP_DET = 16, 4


def orbit(truth_meta):
    """detrended_white_light parameters of the simulated planet (as the demo)."""
    u1, u2 = truth_meta["limb_darkening"]
    return dict(
        period=truth_meta["orbital_period_days"], a=truth_meta["a_rs"],
        inc=truth_meta["inclination_deg"], u1=u1, u2=u2, free_params=["t0", "rp"],
    )  # fmt: skip


class _StepTimer(logging.Handler):
    """Collects the stpipe 'Step X running / done' times of one step."""

    def __init__(self, name):
        super().__init__()
        self.name_, self.start, self.total = name, None, 0.0

    def emit(self, record):
        message = record.getMessage()
        if re.match(rf"Step {self.name_} running", message):
            self.start = record.created
        elif re.match(rf"Step {self.name_} done", message) and self.start is not None:
            self.total += record.created - self.start
            self.start = None


def run_pipeline(uncal, outdir, truth_meta, skip):
    from jwst_tso_ext.pipeline import LrsTsoPipeline

    outdir.mkdir(parents=True, exist_ok=True)
    timer = _StepTimer("tso_outlier_detection")
    logging.getLogger("stpipe").addHandler(timer)
    steps = {
        "detrended_white_light": orbit(truth_meta),
        "tso_outlier_detection": {"skip": skip, "save_results": not skip},
    }
    start = time.perf_counter()
    try:
        LrsTsoPipeline.call(str(uncal), output_dir=str(outdir), save_results=True, steps=steps)
    finally:
        logging.getLogger("stpipe").removeHandler(timer)
    return time.perf_counter() - start, timer.total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=Path("outlier_check"))
    parser.add_argument("--outlier-integrations", type=int, default=60)
    parser.add_argument("--telegraph", type=int, default=3)
    parser.add_argument("--last-group", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = args.workdir
    base = dict(nints=args.nints, ngroups=10, seed=2024)
    configs = {
        "out": SimulationConfig(
            **base, root="out", outlier_integrations=args.outlier_integrations,
            outlier_telegraph_pixels=args.telegraph, outlier_last_group_hits=args.last_group,
        ),
        "clean": SimulationConfig(**base, root="clean"),
    }  # fmt: skip
    for name, config in configs.items():
        if not (work / "sim" / f"{name}_uncal.fits").exists():
            simulate_exposure(config, work / "sim", overwrite=True)
    truth_meta = Table.read(work / "sim" / "out_truth.ecsv").meta
    cache = build_cache(work / "crds_cache")
    results = {}
    with offline_crds(cache):
        for label, root, skip in [("on", "out", False), ("skipped", "out", True),
                                  ("clean", "clean", False)]:  # fmt: skip
            wall, step = run_pipeline(work / "sim" / f"{root}_uncal.fits", work / label,
                                      truth_meta, skip)  # fmt: skip
            meta = Table.read(work / label / f"{root}_whtlt.ecsv", format="ascii.ecsv").meta
            results[label] = (wall, step, meta["rms_ppm"], meta["expected_noise_ppm"])

    truth = Table.read(work / "sim" / "out_truth_outliers.ecsv")
    cosmic = Table.read(work / "sim" / "out_truth_cosmic_rays.ecsv")
    with datamodels.open(work / "on" / "out_crfints.fits") as model:
        flagged = (model.dq & OUTLIER) > 0
    with datamodels.open(work / "on" / "out_rateints.fits") as model:
        jumped = (model.dq & JUMP_DET) > 0
    with datamodels.open(work / "on" / "out_x1dints.fits") as model:
        spec = model.spec[0]
        box = (int(round(spec.extraction_ystart)), int(round(spec.extraction_ystop)),
               int(round(spec.extraction_xstart)), int(round(spec.extraction_xstop)))  # fmt: skip
    index = (truth["int_num"] - 1, truth["row"], truth["column"])
    hit, seen = flagged[index], jumped[index]
    lines = [f"# tso_outlier_detection check, {args.nints} integrations x 10 groups", ""]
    lines.append("| kind | injected | flagged by the step | JUMP_DET set | "
                 "flagged, of those jump did not flag |")  # fmt: skip
    lines.append("| --- | --- | --- | --- | --- |")
    for kind in ("integration", "telegraph", "last_group", "all"):
        sel = np.ones(len(truth), bool) if kind == "all" else np.asarray(truth["kind"] == kind)
        unseen = sel & ~seen
        frac = hit[unseen].mean() if unseen.any() else float("nan")
        lines.append(f"| {kind} | {sel.sum()} | {hit[sel].sum()} ({100 * hit[sel].mean():.1f} %) "
                     f"| {seen[sel].sum()} | {hit[unseen].sum()} of {unseen.sum()} "
                     f"({100 * frac:.1f} %) |")  # fmt: skip
    aperture = np.zeros(flagged.shape[1:], bool)
    aperture[box[0] : box[1] + 1, box[2] : box[3] + 1] = True
    others = flagged.copy()
    others[index] = False
    n_other = flagged.shape[0] * aperture.sum() - np.count_nonzero(
        aperture[truth["row"], truth["column"]]
    )
    crs = np.zeros_like(flagged)
    crs[cosmic["int_num"] - 1, cosmic["row"], cosmic["column"]] = True
    false_all = int(others[:, aperture].sum())
    false_nocr = int((others & ~crs)[:, aperture].sum())
    lines += [
        "",
        f"aperture rows {box[0]}-{box[1]}, columns {box[2]}-{box[3]}: "
        f"{n_other} other pixel-integrations; "
        f"flagged {false_all} ({100 * false_all / n_other:.5f} %), "
        f"{false_nocr} ({100 * false_nocr / n_other:.5f} %) without pixels hit by a "
        "simulated cosmic ray",
        "",
        "| run | wall s | tso_outlier_detection s | white-light rms ppm | expected ppm | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for label, (wall, step, rms, expected) in results.items():
        lines.append(f"| {label} | {wall:.1f} | {step:.2f} | {rms:.0f} | {expected:.0f} | "
                     f"{rms / expected:.3f} |")  # fmt: skip
    text = "\n".join(lines)
    (work / "report.md").write_text(text + "\n")
    print(text)  # noqa: T201 - script output


if __name__ == "__main__":
    main()
