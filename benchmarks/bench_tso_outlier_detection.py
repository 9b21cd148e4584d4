"""Time tso_outlier_detection (and jwst's outlier_detection in TSO mode) on one cube.

Usage::

    python benchmarks/bench_tso_outlier_detection.py [--nints 1000] [--repeat 3]
        [--pipeline-seconds 76] [--official]

Builds in memory a calints-like cube of the LRS slitless subarray (416 x 72, data, err,
dq, three variances) with noise, 0.1 % outliers and 0.3 % DO_NOT_USE pixels, and times
``TsoOutlierDetectionStep().run`` (best of ``--repeat``), as a fraction of the
pipeline's wall time at that size (``--pipeline-seconds``: ``LrsTsoPipeline`` at 1000
integrations x 10 groups took ~76 s alone in benchmarks/results/chain_*). With
``--official`` it also times jwst's ``OutlierDetectionStep`` (TSO mode) on the same cube
and checks that its DQ equals ours with ``ignore_nan_in_window=False`` (the default,
True, also flags in windows holding a bad pixel). Prints a Markdown summary.
"""

import argparse
import os
import platform
import time

import numpy as np
from stdatamodels.jwst import datamodels

os.environ.setdefault("STPIPE_DISABLE_CRDS_STEPPARS", "1")


def make_cube(nints, seed=0):
    """A calints-like CubeModel of the SLITLESSPRISM subarray."""
    rng = np.random.default_rng(seed)
    shape = (nints, 416, 72)
    data = (100.0 + rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    hits = rng.random(shape) < 1e-3
    data[hits] += 20.0
    dq = np.zeros(shape, np.uint32)
    dq[rng.random(shape) < 3e-3] = 1
    model = datamodels.CubeModel(data=data, err=np.ones(shape, np.float32), dq=dq)
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        setattr(model, name, np.full(shape, 1.0 / 3.0, np.float32))
    model.meta.instrument.name = "MIRI"
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.exposure.nints = nints
    model.meta.visit.tsovisit = True
    return model


def best_time(run, model, repeat):
    """Best wall time of ``run(model.copy())`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        copy = model.copy()
        start = time.perf_counter()
        result = run(copy)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pipeline-seconds", type=float, default=76.0)
    parser.add_argument("--official", action="store_true")
    args = parser.parse_args(argv)

    from jwst_tso_ext.steps import TsoOutlierDetectionStep

    model = make_cube(args.nints)
    load = os.getloadavg()[0]
    ours, result = best_time(lambda m: TsoOutlierDetectionStep().run(m), model, args.repeat)
    lines = [
        f"# tso_outlier_detection, {args.nints} integrations x 416 x 72",
        "",
        f"machine: {platform.node()}, nproc {os.cpu_count()}, load {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end",
        "",
        f"* tso_outlier_detection: {ours:.2f} s (best of {args.repeat}), "
        f"{100 * ours / args.pipeline_seconds:.1f} % of a {args.pipeline_seconds:.0f} s pipeline",
        f"* flagged: {int(((result.dq & 16) > 0).sum())} pixels",
    ]
    if args.official:
        from jwst.outlier_detection import OutlierDetectionStep

        official, reference = best_time(lambda m: OutlierDetectionStep().run(m), model, 1)
        jwst_mode = TsoOutlierDetectionStep(ignore_nan_in_window=False).run(model.copy())
        equal = np.array_equal(reference.dq, jwst_mode.dq)
        extra = int(((result.dq & 16) > 0).sum() - ((reference.dq & 16) > 0).sum())
        lines.append(
            f"* jwst outlier_detection (TSO mode): {official:.2f} s; DQ equal to ours with "
            f"ignore_nan_in_window=False: {equal}; the default flags {extra} more"
        )
    print("\n".join(lines))  # noqa: T201 - script output


if __name__ == "__main__":
    main()
