"""Time the official jwst chain against LrsTsoPipeline, whole processes, on one machine.

Usage::

    python benchmarks/run_chain_benchmark.py [--sizes 100 1000 5000] [--workdir DIR]
        [--crds-cache DIR] [--results benchmarks/results] [--chains official ours]

For each size N the same MIRISim-like exposure (10 groups, seed 2024, segments of at
most 1000 integrations when N > 1000) is simulated into ``<workdir>/n<N>/sim`` (reused
when all its files exist), the offline CRDS cache is built (or reused), and then every
``strun`` is run as a separate process under ``/usr/bin/time -v`` (or, without it, a
small Python wrapper reporting ``getrusage(RUSAGE_CHILDREN)``), recording wall time,
CPU time (user + sys) and peak resident memory of each process:

official
    ``strun tsovisit_fix <uncal>`` (the official chain refuses MIRISim data without
    TSOVISIT / INT_TIMES; counted in the official chain's time), ``strun
    calwebb_detector1 --steps.refpix.skip=true`` on each fixed uncal, ``strun
    calwebb_spec2`` on each rateints, then ``strun calwebb_tso3`` on an association
    (``asn_from_list``, ``DMS_Level3_Base``) of the calints;
ours
    ``strun jwst_tso_ext.pipeline.LrsTsoPipeline <uncal or asn of segments>`` with the
    simulated planet's orbit (``jwst_tso_ext.cli.demo.orbit_arguments``).

The step times of LrsTsoPipeline are parsed from its log ("Step X running" / "Step X
done" timestamps). Results (per process, per chain, ratios ours / official measured in
the same run, machine description and load averages) go to
``<results>/chain_<UTC date-time>.md`` and ``.ecsv``.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from astropy.table import Table

from jwst_tso_ext.crds_cache import build_cache, offline_crds_env
from jwst_tso_ext.crds_cache.environment import REDIRECTING_VARIABLES
from jwst_tso_ext.simulate import SimulationConfig, output_paths, simulate_exposure

SEED = 2024
NGROUPS = 10
MAX_SEGMENT = 1000
TIME = "/usr/bin/time"

#: Fallback when GNU time is missing: run the command, report its rusage as JSON.
_WRAPPER = """
import json, resource, subprocess, sys, time
out = sys.argv[1]
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as f:
    json.dump({"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
               "maxrss_kb": ru.ru_maxrss}, f)
sys.exit(code)
"""


# --------------------------------------------------------------------------- machine


def machine_description():
    """nproc, CPU model, memory, OS, python / jwst / package versions."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass

    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "jwst": version("jwst"),
        "stpipe": version("stpipe"),
        "numpy": version("numpy"),
        "jwst_tso_ext": version("jwst-tso-ext"),
        "timer": TIME if Path(TIME).exists() else "python getrusage wrapper",
    }


# --------------------------------------------------------------------------- measuring


def _parse_gnu_time(text):
    values = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        values[key] = value
    wall = values.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", "0:0")
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return {
        "wall_s": seconds,
        "user_s": float(values.get("User time (seconds)", "nan")),
        "sys_s": float(values.get("System time (seconds)", "nan")),
        "maxrss_kb": float(values.get("Maximum resident set size (kbytes)", "nan")),
    }


def measure(command, env, cwd, log_path):
    """Run ``command`` as a whole process; wall, CPU and peak RSS, load averages."""
    usage_path = Path(log_path).with_suffix(".usage")
    if Path(TIME).exists():
        wrapped = [TIME, "-v", "-o", str(usage_path), *command]
    else:
        wrapped = [sys.executable, "-c", _WRAPPER, str(usage_path), *command]
    load_start = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.call(wrapped, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()
    text = usage_path.read_text() if usage_path.exists() else ""
    if Path(TIME).exists():
        usage = _parse_gnu_time(text)
    else:
        usage = json.loads(text) if text else {}
    row = {
        "started_utc": started.strftime("%H:%M:%S"),
        "wall_s": wall,
        "cpu_s": usage.get("user_s", np.nan) + usage.get("sys_s", np.nan),
        "peak_rss_mb": usage.get("maxrss_kb", np.nan) / 1024,
        "load1_start": load_start[0],
        "load1_end": load_end[0],
        "exit_code": code,
    }
    print(  # noqa: T201
        f"    {' '.join(Path(c).name if '/' in c else c for c in command[:3])[:70]:70s} "
        f"wall {wall:8.1f} s  cpu {row['cpu_s']:8.1f} s  "
        f"rss {row['peak_rss_mb']:7.0f} MB  load {load_start[0]:.2f}->{load_end[0]:.2f}"
        + ("" if code == 0 else f"  EXIT {code} (see {log_path})"),
        flush=True,
    )
    if code != 0:
        tail = Path(log_path).read_text().splitlines()[-20:]
        raise RuntimeError(f"{' '.join(command[:2])} failed (exit {code}):\n" + "\n".join(tail))
    return row


# --------------------------------------------------------------------------- inputs


def simulation(n, workdir):
    """Simulate (or reuse) the exposure of ``n`` integrations; uncal paths, truth path."""
    config = SimulationConfig(
        nints=n,
        ngroups=NGROUPS,
        segment_size=MAX_SEGMENT if n > MAX_SEGMENT else None,
        seed=SEED,
        root=f"bench_n{n}",
        x_offset=0.0,
        y_offset=0.0,
    )
    simdir = Path(workdir) / f"n{n}" / "sim"
    uncal, truth = output_paths(config, simdir)
    done = simdir / ".complete"
    if done.exists() and all(p.exists() for p in uncal + truth):
        print(f"  reusing simulation in {simdir}", flush=True)  # noqa: T201
        seconds = None
    else:
        print(f"  simulating {n} integrations x {NGROUPS} groups in {simdir}", flush=True)  # noqa: T201
        t0 = time.perf_counter()
        simulate_exposure(config, simdir, overwrite=True)
        seconds = time.perf_counter() - t0
        done.write_text("ok\n")
    return config, uncal, truth[0], seconds


def write_asn(directory, members, product_name, name):
    """Level-3 association (asn_from_list, DMS_Level3_Base) of ``members``."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    asn = asn_from_list(
        [Path(m).name for m in members], rule=DMS_Level3_Base, product_name=product_name
    )
    _, text = asn.dump(format="json")
    path = Path(directory) / name
    path.write_text(text)
    return path


def _fresh(directory):
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


# --------------------------------------------------------------------------- chains


def run_official(n, uncal, root, outdir, strun, env):
    """tsovisit_fix + calwebb_detector1 + calwebb_spec2 per segment, then calwebb_tso3."""
    rows = []
    logs = _fresh(Path(outdir) / "logs")
    fixed = []
    for k, path in enumerate(uncal, 1):
        row = measure(
            [strun, "tsovisit_fix", str(path), "--output_dir", str(outdir)],
            env,
            outdir,
            logs / f"tsovisit_fix_{k:03d}.log",
        )
        rows.append({"stage": "tsovisit_fix", "segment": k, **row})
        produced = sorted(set(Path(outdir).glob("*.fits")) - set(fixed))
        fixed.extend(produced)
    rateints = []
    for k, path in enumerate(fixed, 1):
        before = set(Path(outdir).glob("*_rateints.fits"))
        row = measure(
            [
                strun,
                "calwebb_detector1",
                str(path),
                "--steps.refpix.skip=true",
                "--output_dir",
                str(outdir),
            ],
            env,
            outdir,
            logs / f"calwebb_detector1_{k:03d}.log",
        )
        rows.append({"stage": "calwebb_detector1", "segment": k, **row})
        rateints.extend(sorted(set(Path(outdir).glob("*_rateints.fits")) - before))
    calints = []
    for k, path in enumerate(rateints, 1):
        before = set(Path(outdir).glob("*_calints.fits"))
        row = measure(
            [strun, "calwebb_spec2", str(path), "--output_dir", str(outdir)],
            env,
            outdir,
            logs / f"calwebb_spec2_{k:03d}.log",
        )
        rows.append({"stage": "calwebb_spec2", "segment": k, **row})
        calints.extend(sorted(set(Path(outdir).glob("*_calints.fits")) - before))
    asn = write_asn(outdir, calints, f"{root}_official", f"{root}_tso3_asn.json")
    row = measure(
        [strun, "calwebb_tso3", str(asn), "--output_dir", str(outdir)],
        env,
        outdir,
        logs / "calwebb_tso3.log",
    )
    rows.append({"stage": "calwebb_tso3", "segment": 0, **row})
    return rows


def run_ours(n, uncal, root, truth, outdir, strun, env):
    """strun jwst_tso_ext.pipeline.LrsTsoPipeline on the uncal (or asn of segments)."""
    from jwst_tso_ext.cli.demo import orbit_arguments

    logs = _fresh(Path(outdir) / "logs")
    if len(uncal) > 1:
        inputs = str(write_asn(Path(uncal[0]).parent, uncal, root, f"{root}_asn.json"))
    else:
        inputs = str(uncal[0])
    log_path = logs / "lrs_tso.log"
    row = measure(
        [
            strun,
            "jwst_tso_ext.pipeline.LrsTsoPipeline",
            inputs,
            "--output_dir",
            str(outdir),
            *orbit_arguments(truth),
        ],
        env,
        outdir,
        log_path,
    )
    return [{"stage": "LrsTsoPipeline", "segment": 0, **row}], log_path


# --------------------------------------------------------------------------- step log

_STEP = re.compile(
    r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+) - \S+ - \w+ - Step (\S+) (running|done)"
)


def step_times(log_path):
    """Summed seconds per step name from the stpipe "Step X running/done" lines."""
    open_steps = {}
    totals = defaultdict(float)
    counts = defaultdict(int)
    for line in Path(log_path).read_text().splitlines():
        match = _STEP.match(line)
        if not match:
            continue
        stamp, name, what = match.groups()
        t = datetime.datetime.strptime(
            stamp.replace(",", ".").replace("T", " "), "%Y-%m-%d %H:%M:%S.%f"
        ).timestamp()
        if what == "running":
            open_steps[name] = t
        elif name in open_steps:
            totals[name] += t - open_steps.pop(name)
            counts[name] += 1
    return dict(totals), dict(counts)


def our_step_names():
    """Step names of LrsTsoPipeline whose classes come from jwst_tso_ext."""
    from jwst_tso_ext.pipeline import LrsTsoPipeline

    return [
        name
        for name, cls in LrsTsoPipeline.step_defs.items()
        if cls.__module__.startswith("jwst_tso_ext")
    ]


# --------------------------------------------------------------------------- report


def _totals(rows, chain, n, stages=None):
    sel = [r for r in rows if r["chain"] == chain and r["nints"] == n]
    if stages is not None:
        sel = [r for r in sel if r["stage"] in stages]
    if not sel:
        return None
    return {
        "wall_s": sum(r["wall_s"] for r in sel),
        "cpu_s": sum(r["cpu_s"] for r in sel),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in sel),
        "processes": len(sel),
        "load1_start": sel[0]["load1_start"],
        "load1_end": sel[-1]["load1_end"],
    }


def write_results(rows, summaries, machine, results_dir, stamp, notes):
    """ECSV of every process and a Markdown report."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    table = Table(rows=rows, names=list(rows[0].keys()))
    for name in ("wall_s", "cpu_s", "peak_rss_mb", "load1_start", "load1_end"):
        table[name].info.format = ".2f"
    table.meta.update({"machine": machine, "summaries": summaries, "notes": notes})
    ecsv = results_dir / f"chain_{stamp}.ecsv"
    table.write(ecsv, format="ascii.ecsv", overwrite=True)

    md = [f"# Chain benchmark {stamp}", ""]
    md += [
        "Whole processes (`strun`), wall / CPU (user+sys) / peak RSS from "
        f"`{machine['timer']}`; load = 1-min load average at process start -> end.",
        "",
    ]
    md += ["| machine | |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in machine.items()]
    md += ["", "## Per chain", ""]
    md += [
        "| nints | chain | processes | wall (s) | CPU (s) | peak RSS (MB) | load start -> end |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for key, label in (
            ("official", "official (incl. tsovisit_fix)"),
            ("official_no_fix", "official (excl. tsovisit_fix)"),
            ("ours", "LrsTsoPipeline"),
        ):
            t = s.get(key)
            if t:
                md.append(
                    f"| {s['nints']} | {label} | {t['processes']} | {t['wall_s']:.1f} | "
                    f"{t['cpu_s']:.1f} | {t['peak_rss_mb']:.0f} | "
                    f"{t['load1_start']:.2f} -> {t['load1_end']:.2f} |"
                )
    md += ["", "## Ratios ours / official (same run)", ""]
    md += [
        "| nints | wall | wall vs official excl. fix | CPU | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for s in summaries:
        r = s.get("ratios")
        if r:
            md.append(
                f"| {s['nints']} | {r['wall']:.2f} | {r['wall_no_fix']:.2f} | {r['cpu']:.2f} | "
                f"{r['peak_rss']:.2f} |"
            )
    md += ["", "## Every process", ""]
    md += [
        "| nints | chain | stage | segment | start (UTC) | wall (s) | CPU (s) | peak RSS (MB) "
        "| load start -> end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['nints']} | {r['chain']} | {r['stage']} | {r['segment'] or '-'} | "
            f"{r['started_utc']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['load1_start']:.2f} -> {r['load1_end']:.2f} |"
        )
    for s in summaries:
        steps = s.get("ours_steps")
        if not steps:
            continue
        md += ["", f"## LrsTsoPipeline steps, {s['nints']} integrations (from its log)", ""]
        md += ["| step | runs | seconds | % of pipeline | ours |", "|---|---|---|---|---|"]
        for name, (sec, count, mine) in sorted(steps.items(), key=lambda kv: -kv[1][0]):
            md.append(
                f"| {name} | {count} | {sec:.2f} | {100 * sec / s['pipeline_s']:.2f} | "
                f"{'yes' if mine else ''} |"
            )
        md += [
            "",
            f"Pipeline (Step LrsTsoPipeline running -> done): {s['pipeline_s']:.1f} s; "
            f"jwst_tso_ext steps together: {s['ours_s']:.2f} s "
            f"({100 * s['ours_fraction']:.2f} %); of which wavelength_drift + "
            f"tso_extract_1d + detrended_white_light: {s['ours_core_s']:.2f} s "
            f"({100 * s['ours_core_fraction']:.2f} %); time outside any step "
            f"(opening inputs, saving products, combining segments): {s['outside_steps_s']:.2f} s.",
        ]
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    path = results_dir / f"chain_{stamp}.md"
    path.write_text("\n".join(md) + "\n")
    return path, ecsv


def main(argv=None):
    """Run the benchmark for every size and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument(
        "--workdir",
        default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "jwst_tso_ext_chain_benchmark"),
    )
    parser.add_argument("--crds-cache", default=None, help="offline CRDS cache directory")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"))
    parser.add_argument(
        "--chains", nargs="+", choices=["official", "ours"], default=["official", "ours"]
    )
    parser.add_argument("--note", action="append", default=[], help="note for the report")
    args = parser.parse_args(argv)

    from jwst_tso_ext.cli.demo import default_cache_dir

    machine = machine_description()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    cache = build_cache(Path(args.crds_cache) if args.crds_cache else default_cache_dir())
    env = {k: v for k, v in os.environ.items() if k not in REDIRECTING_VARIABLES}
    env.update(offline_crds_env(cache))
    env.setdefault("MPLBACKEND", "Agg")
    strun = shutil.which("strun") or str(Path(sys.executable).with_name("strun"))
    print(f"machine: {machine}", flush=True)  # noqa: T201

    rows, summaries = [], []
    notes = list(args.note) + [
        "tsovisit_fix is included in the official chain's time (the official chain refuses "
        "MIRISim data without TSOVISIT / INT_TIMES); the ratio without it is also given.",
        "calwebb_detector1 runs with --steps.refpix.skip=true (MIRISim data); "
        "LrsTsoPipeline uses its mirisim_refpix_guard for the same purpose.",
        "The official chain runs first, then LrsTsoPipeline, on the same simulated files; "
        "both read the uncal from the page cache after the first tsovisit_fix.",
    ]
    for n in args.sizes:
        print(f"== {n} integrations", flush=True)  # noqa: T201
        config, uncal, truth, sim_s = simulation(n, args.workdir)
        if sim_s is not None:
            notes.append(f"simulation of {n} integrations took {sim_s:.0f} s (not timed in chains)")
        base = Path(args.workdir) / f"n{n}"
        summary = {"nints": n, "segments": len(uncal)}
        if "official" in args.chains:
            print("  official chain", flush=True)  # noqa: T201
            outdir = _fresh(base / "official")
            for r in run_official(n, uncal, config.root, outdir, strun, env):
                rows.append({"nints": n, "chain": "official", **r})
            summary["official"] = _totals(rows, "official", n)
            summary["official_no_fix"] = _totals(
                rows, "official", n, {"calwebb_detector1", "calwebb_spec2", "calwebb_tso3"}
            )
        if "ours" in args.chains:
            print("  LrsTsoPipeline", flush=True)  # noqa: T201
            outdir = _fresh(base / "ours")
            ours_rows, log_path = run_ours(n, uncal, config.root, truth, outdir, strun, env)
            rows.extend({"nints": n, "chain": "ours", **r} for r in ours_rows)
            summary["ours"] = _totals(rows, "ours", n)
            totals, counts = step_times(log_path)
            mine = set(our_step_names())
            pipeline_s = totals.pop("LrsTsoPipeline", ours_rows[0]["wall_s"])
            counts.pop("LrsTsoPipeline", None)
            summary["pipeline_s"] = pipeline_s
            summary["ours_steps"] = {k: [v, counts[k], k in mine] for k, v in totals.items()}
            summary["ours_s"] = sum(v for k, v in totals.items() if k in mine)
            core = {"wavelength_drift", "tso_extract_1d", "detrended_white_light"}
            summary["ours_core_s"] = sum(v for k, v in totals.items() if k in core)
            summary["ours_fraction"] = summary["ours_s"] / pipeline_s
            summary["ours_core_fraction"] = summary["ours_core_s"] / pipeline_s
            summary["outside_steps_s"] = pipeline_s - sum(totals.values())
        if summary.get("official") and summary.get("ours"):
            o, u, f = summary["official"], summary["ours"], summary["official_no_fix"]
            summary["ratios"] = {
                "wall": u["wall_s"] / o["wall_s"],
                "wall_no_fix": u["wall_s"] / f["wall_s"],
                "cpu": u["cpu_s"] / o["cpu_s"],
                "peak_rss": u["peak_rss_mb"] / o["peak_rss_mb"],
            }
            print(f"  ratios ours/official: {summary['ratios']}", flush=True)  # noqa: T201
        summaries.append(summary)
        # write after every size so that a later, larger size cannot lose the results
        md, ecsv = write_results(rows, summaries, machine, args.results, stamp, notes)
    print(f"results: {md} and {ecsv}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
