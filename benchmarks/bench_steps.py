"""Time each jwst_tso_ext step alone, in-process, on one large MIRI LRS slitless cube.

Usage::

    python benchmarks/bench_steps.py [--nints 10000] [--chunk 500] [--results DIR]

Builds in memory a flat-fielded rateints/calints-like CubeModel (data, err, dq,
var_poisson, var_rnoise) of ``nints`` integrations with ``simulate.scene.scene_rate``
in chunks, driven by the simulator's truth (``simulate.make_truth``: transit, ramp,
pointing drift and jitter, 10 groups) plus photon and read noise; attaches the
LRS slitless WCS with ``jwst.assign_wcs.load_wcs`` from the synthetic distortion and
specwcs references (as tests/test_wavelength_drift_step.py does). Then times, one
after the other, each step's ``.call``:

1. ``WavelengthDriftStep`` (drift measurement + flux-conserving resampling),
2. ``TsoExtract1dStep`` on its output (synthetic EXTRACT1D / APCORR references),
3. ``DetrendedWhiteLightStep`` on the x1dints with the drift table and the simulated
   planet's orbit (free t0, rp; as ``jwst-tso-ext demo``).

Wall time (``perf_counter``), CPU time of the process (``process_time``: all threads,
user + sys) and peak resident memory during the step (Linux: VmHWM reset through
``/proc/self/clear_refs`` before the step; the resident memory before the step, which
holds the input, is given too). No CRDS access: step parameters from CRDS are disabled
and the references are given as overrides. Results go to
``<results>/steps_<UTC date-time>.md`` (and printed).
"""

import argparse
import datetime
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

os.environ["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
os.environ.setdefault("MPLBACKEND", "Agg")

from jwst.assign_wcs.assign_wcs import load_wcs  # noqa: E402
from stdatamodels.jwst import datamodels  # noqa: E402
from stpipe import crds_client  # noqa: E402

from jwst_tso_ext.crds_cache import references  # noqa: E402
from jwst_tso_ext.miri_lrs import geometry  # noqa: E402
from jwst_tso_ext.simulate import SimulationConfig, make_truth  # noqa: E402
from jwst_tso_ext.simulate.rates import noisy_slopes  # noqa: E402
from jwst_tso_ext.steps import (  # noqa: E402
    DetrendedWhiteLightStep,
    TsoExtract1dStep,
    WavelengthDriftStep,
)

sys.path.insert(0, str(Path(__file__).parent))
from run_chain_benchmark import machine_description  # noqa: E402

NGROUPS = 10


def _status(key):
    """Value (kB) of ``key`` in /proc/self/status, NaN where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _reset_peak():
    """Reset the process's peak RSS (VmHWM); False if the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def timed(label, function):
    """Run ``function()``; its result and a row of wall, CPU, RSS before / peak, load."""
    rss_before = _status("VmRSS") / 1024
    resettable = _reset_peak()
    load_start = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = function()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    load_end = os.getloadavg()[0]
    peak = _status("VmHWM") / 1024
    row = {
        "step": label,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "peak_is_per_step": resettable,
        "load1_start": load_start,
        "load1_end": load_end,
    }
    print(  # noqa: T201
        f"{label:45s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  rss {rss_before:6.0f} -> peak "
        f"{peak:6.0f} MB  load {load_start:.2f}->{load_end:.2f}",
        flush=True,
    )
    return result, row


def make_cube(nints, chunk, seed):
    """Flat-fielded rates of the simulated exposure with noise and the LRS WCS; truth."""
    config = SimulationConfig(nints=nints, ngroups=NGROUPS, seed=seed, x_offset=0.0, y_offset=0.0)
    truth = make_truth(config)[0]
    tint = NGROUPS * geometry.FRAME_TIME
    shape = (nints, geometry.N_ROWS, geometry.N_COLUMNS)
    data = np.empty(shape, np.float32)
    err = np.empty(shape, np.float32)
    var_p = np.empty(shape, np.float32)
    var_r = np.empty(shape, np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, nints, chunk):
        sl = slice(start, min(start + chunk, nints))
        data[sl], err[sl], var_p[sl], var_r[sl] = noisy_slopes(
            truth["x_shift"][sl], truth["y_shift"][sl], NGROUPS, rng, scale=truth["flux_scale"][sl]
        )
    model = datamodels.CubeModel(
        data=data, err=err, dq=np.zeros(shape, np.uint32), var_poisson=var_p, var_rnoise=var_r
    )
    del data, err, var_p, var_r
    meta = model.meta
    meta.filename = "jw09999001001_01101_00001_mirimage_calints.fits"
    meta.instrument.name, meta.instrument.detector = "MIRI", "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.exposure.type = "MIR_LRS-SLITLESS"
    meta.exposure.nints = nints
    meta.exposure.integration_start, meta.exposure.integration_end = 1, nints
    meta.exposure.ngroups = NGROUPS
    meta.exposure.frame_time = meta.exposure.group_time = geometry.FRAME_TIME
    meta.observation.date, meta.observation.time = "2024-01-01", "06:00:00"
    meta.visit.tsovisit = True
    meta.subarray.name = "SLITLESSPRISM"
    meta.subarray.xstart, meta.subarray.ystart = geometry.SUBSTRT1, geometry.SUBSTRT2
    meta.subarray.xsize, meta.subarray.ysize = geometry.N_COLUMNS, geometry.N_ROWS
    meta.target.ra, meta.target.dec = 10.0, -20.0
    meta.target.source_type = "POINT"
    w = meta.wcsinfo
    w.ra_ref, w.dec_ref, w.roll_ref = 10.0, -20.0, 0.0
    w.v2_ref, w.v3_ref, w.v3yangle, w.vparity = -378.6, -344.9, 4.45, -1
    meta.photometry.pixelarea_steradians = geometry.PIXEL_AREA_SR
    meta.cal_step.flat_field = meta.cal_step.photom = "COMPLETE"
    columns = [f"int_{w}_{s}" for s in ("MJD_UTC", "BJD_TDB") for w in ("start", "mid", "end")]
    times = np.zeros(nints, dtype=[("integration_number", "<i4")] + [(c, "<f8") for c in columns])
    times["integration_number"] = np.arange(1, nints + 1)
    mid = np.asarray(truth["MJD_UTC"], float)
    half = tint / 2 / 86400
    for scale in ("MJD_UTC", "BJD_TDB"):  # BJD = MJD here: a benchmark, not an ephemeris
        times[f"int_start_{scale}"] = mid - half
        times[f"int_mid_{scale}"] = mid
        times[f"int_end_{scale}"] = mid + half
    model.int_times = times
    return model, truth


def orbit_kwargs(truth):
    """DetrendedWhiteLightStep parameters of the simulated planet (as the demo)."""
    meta = truth.meta
    u1, u2 = meta["limb_darkening"]
    return {
        "period": float(meta["orbital_period_days"]),
        "a": float(meta["a_rs"]),
        "inc": float(meta["inclination_deg"]),
        "u1": float(u1),
        "u2": float(u2),
        "free_params": ["t0", "rp"],
        "time_column": "MJD_UTC",
    }


def write_markdown(rows, args, machine, setup, stamp, results_dir):
    """steps_<stamp>.md with the machine, the set-up and one row per step."""
    md = [
        f"# Step benchmark {stamp}",
        "",
        f"{args.nints} integrations x 416 x 72 (10 groups), built in chunks of {args.chunk}; "
        "each step's `.call` timed in-process, one after the other, no CRDS access. "
        "CPU = process CPU time (all threads) during the step; peak RSS = VmHWM during the "
        "step (reset before it), which includes the input already held in memory "
        "(RSS before).",
        "",
    ]
    md += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine.items()]
    md += [
        "",
        f"Building the input cube: {setup['wall_s']:.1f} s, RSS {setup['rss_mb']:.0f} MB.",
        "",
    ]
    md += [
        "| step | wall (s) | CPU (s) | RSS before (MB) | peak RSS (MB) | load start -> end |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['step']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
            f"{r['load1_start']:.2f} -> {r['load1_end']:.2f} |"
        )
    total = sum(r["wall_s"] for r in rows)
    md += ["", f"Together: {total:.1f} s wall, {sum(r['cpu_s'] for r in rows):.1f} s CPU."]
    if not rows[0]["peak_is_per_step"]:
        md += ["", "/proc/self/clear_refs was not writable: peak RSS is since process start."]
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"steps_{stamp}.md"
    path.write_text("\n".join(md) + "\n")
    Table(rows=rows, names=list(rows[0]), meta={"machine": machine, "nints": args.nints}).write(
        path.with_suffix(".ecsv"), format="ascii.ecsv", overwrite=True
    )
    return path


def main(argv=None):
    """Build the cube, run the three steps, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    crds_client.get_context_used = lambda observatory: "jwst_offline.pmap"
    machine = machine_description()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        refs = {}
        for name in ("distortion", "specwcs", "apcorr"):
            suffix = ".asdf" if name == "distortion" else ".fits"
            refs[name] = str(tmp / f"{name}{suffix}")
            getattr(references, name)().save(refs[name])
        refs["extract1d"] = str(tmp / "extract1d.json")

        Path(refs["extract1d"]).write_text(json.dumps(references.extract1d()))

        t0 = time.perf_counter()
        model, truth = make_cube(args.nints, args.chunk, args.seed)
        model = load_wcs(model, {"distortion": refs["distortion"], "specwcs": refs["specwcs"]})
        setup = {"wall_s": time.perf_counter() - t0, "rss_mb": _status("VmRSS") / 1024}
        print(  # noqa: T201
            f"input cube built in {setup['wall_s']:.1f} s, RSS {setup['rss_mb']:.0f} MB",
            flush=True,
        )

        drifted, row = timed(
            "wavelength_drift (measure + resample)",
            functools.partial(WavelengthDriftStep.call, model),
        )
        rows.append(row)
        drift_path = tmp / "drift.ecsv"
        Table(np.asarray(drifted.drift_table)).write(drift_path, format="ascii.ecsv")
        model.close()
        del model

        x1d, row = timed(
            "tso_extract_1d (box, median background)",
            functools.partial(
                TsoExtract1dStep.call,
                drifted,
                override_extract1d=refs["extract1d"],
                override_apcorr=refs["apcorr"],
            ),
        )
        rows.append(row)
        drifted.close()
        del drifted

        table, row = timed(
            "detrended_white_light (transit + ramp + drift fit)",
            lambda: DetrendedWhiteLightStep.call(
                x1d, drift_table=str(drift_path), **orbit_kwargs(truth)
            ),
        )
        rows.append(row)
        rp = table.meta.get("rp", None) if hasattr(table, "meta") else None
        print(f"white-light fit: {len(table)} points; rp {rp}", flush=True)  # noqa: T201

    path = write_markdown(rows, args, machine, setup, stamp, args.results)
    print(f"results: {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
