"""Time jwst's Extract1dStep against TsoExtract1dStep on one MIRI LRS slitless cube.

Usage::

    python benchmarks/bench_extraction.py [--nints 1000] [--background median|none]

Builds an in-memory calibrated (photom) CubeModel with ``simulate.scene.scene_rate``
(generated in chunks), a WCS with the flight wavelength solution and an EXTRACT1D
JSON in a temporary directory, runs both steps on the same input (offline: CRDS
step parameters disabled, CRDS context stubbed), checks that the fluxes agree, and
prints a Markdown table row with the times, their ratio and the largest relative
difference of the flux, error, variance and background columns.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from jwst.extract_1d import Extract1dStep
from stdatamodels.jwst import datamodels
from stpipe import crds_client

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import scene
from jwst_tso_ext.simulate.wcs import describe_calibrated_lrs_cube
from jwst_tso_ext.tso_extract import TsoExtract1dStep
from jwst_tso_ext.tsovisit_fix.int_times import build_int_times


def make_cube(nints, chunk=100, seed=1):
    """Calibrated MIRI LRS slitless CubeModel (MJy/sr) with ``nints`` integrations."""
    rng = np.random.default_rng(seed)
    shape = (nints, geometry.N_ROWS, geometry.N_COLUMNS)
    data = np.empty(shape, np.float32)
    var_poisson = np.empty(shape, np.float32)
    to_mjysr = 2.5e-3
    for start in range(0, nints, chunk):
        stop = min(start + chunk, nints)
        n = stop - start
        rate = scene.scene_rate(rng.normal(0, 0.02, n), rng.normal(0, 0.02, n))
        noise = rng.normal(size=rate.shape) * np.sqrt(np.abs(rate) + 10.0)
        data[start:stop] = (rate + noise) * to_mjysr
        var_poisson[start:stop] = np.abs(rate) * to_mjysr**2
    model = datamodels.CubeModel(data=data)
    model.var_poisson = var_poisson
    model.var_rnoise = np.full(shape, 10.0 * to_mjysr**2, np.float32)
    model.var_flat = (1e-4 * data**2).astype(np.float32)
    model.err = np.sqrt(model.var_poisson + model.var_rnoise + model.var_flat)
    model.dq = np.zeros(shape, np.uint32)
    describe_calibrated_lrs_cube(model)
    model.int_times, _ = build_int_times(60000.0, 10.0, 10.0, 1, nints)
    return model


def write_extract1d(path, background):
    """EXTRACT1D JSON: 7.3-px aperture on the trace, two background regions of that width."""
    aperture = {
        "id": "MIR_LRS-SLITLESS",
        "region_type": "target",
        "xstart": 33.85,
        "xstop": 41.15,
        "use_source_posn": False,
    }
    if background != "none":
        aperture.update(bkg_coeff=[[11.5], [19.5], [55.5], [63.5]], bkg_fit=background)
    Path(path).write_text(json.dumps({"apertures": [aperture]}))
    return str(path)


def main(argv=None):
    """Run the benchmark and print a Markdown table row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=1000)
    parser.add_argument("--background", choices=["median", "poly", "none"], default="median")
    args = parser.parse_args(argv)

    os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    crds_client.get_context_used = lambda observatory: "jwst_offline.pmap"

    model = make_cube(args.nints)
    with tempfile.TemporaryDirectory() as tmp:
        ref = write_extract1d(Path(tmp) / "extract1d.json", args.background)
        kwargs = {"override_extract1d": ref, "override_apcorr": "N/A", "apply_apcorr": False}

        start = time.perf_counter()
        ours = TsoExtract1dStep.call(model, **kwargs)
        t_ours = time.perf_counter() - start

        start = time.perf_counter()
        theirs = Extract1dStep.call(model, override_psf="N/A", **kwargs)
        t_jwst = time.perf_counter() - start

    o, t = ours.spec[0].spec_table, theirs.spec[0].spec_table
    compared = ("FLUX", "FLUX_ERROR", "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "BACKGROUND")
    rel = {}
    for name in compared:
        ok = np.isfinite(t[name]) & (t[name] != 0)
        rel[name] = float(np.max(np.abs(o[name][ok] - t[name][ok]) / np.abs(t[name][ok])))
        rel[name] = max(rel[name], float(np.max(np.abs(o[name][~ok] - t[name][~ok]), initial=0)))
    header = "| nints | background | jwst extract_1d (s) | tso_extract_1d (s) | speed-up |"
    print(header + "".join(f" max rel. diff {n} |" for n in compared))  # noqa: T201
    print("|---|---|---|---|---|" + "---|" * len(compared))  # noqa: T201
    print(  # noqa: T201
        f"| {args.nints} | {args.background} | {t_jwst:.2f} | {t_ours:.2f} | "
        f"{t_jwst / t_ours:.1f}x |" + "".join(f" {rel[n]:.1e} |" for n in compared)
    )

if __name__ == "__main__":
    main()
