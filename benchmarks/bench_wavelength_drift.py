"""Time the drift measurement of 10,000 MIRI LRS slitless integrations on one core.

Run with ``python benchmarks/bench_wavelength_drift.py [nints]``. The integrations
(416 x 72, default star, 10 groups, photon + read noise, random shifts) are generated
in chunks; only the measurement (reference frame from the first chunk, then
`measure_shifts` chunk by chunk) is timed. Target: <= 10 s for 10,000 integrations.
"""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from jwst_tso_ext.simulate.rates import noisy_slopes  # noqa: E402
from jwst_tso_ext.wavelength_drift import shift_estimator  # noqa: E402

NGROUPS = 10
CHUNK = 500


def make_chunk(rng, n):
    """Noisy flat-fielded rates, errors, DQ and the true shifts of ``n`` integrations."""
    xs, ys = rng.uniform(-0.05, 0.05, (2, n))
    data, err, _, _ = noisy_slopes(xs, ys, NGROUPS, rng)
    return data, err, np.zeros(data.shape, np.uint32), xs, ys


def main(nints=10_000):
    rng = np.random.default_rng(42)
    elapsed = 0.0
    reference = None
    errors_x, errors_y = [], []
    for start in range(0, nints, CHUNK):
        data, err, dq, xs, ys = make_chunk(rng, min(CHUNK, nints - start))
        t0 = time.perf_counter()
        if reference is None:
            reference = shift_estimator.make_reference(data, err, dq)
        result = shift_estimator.measure_shifts(data, err, dq, reference)
        elapsed += time.perf_counter() - t0
        errors_x.append(result["x_shift"] - xs)
        errors_y.append(result["y_shift"] - ys)
    ex = np.concatenate(errors_x)
    ey = np.concatenate(errors_y)
    print(f"measured {nints} integrations of 416 x 72 in {elapsed:.2f} s on one core")  # noqa: T201
    rms_x = np.std(ex - np.median(ex))
    rms_y = np.std(ey - np.median(ey))
    print(f"x rms error {rms_x:.5f} px, y rms error {rms_y:.4f} px")  # noqa: T201
    return elapsed


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
