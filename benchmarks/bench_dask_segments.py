"""Segments in parallel: ``lrs_tso`` serially against ``--scheduler=local:N``, whole processes.

Usage::

    python benchmarks/bench_dask_segments.py [--segments 4 8] [--nints-per-segment 500]
        [--workers 2] [--serial-for 4] [--repeats 1] [--workdir DIR] [--crds-cache DIR]

For the largest segment count S, one MIRISim-like exposure of S segments of
``--nints-per-segment`` integrations of 10 groups (seed 2024) is simulated into
``<workdir>/sim`` (reused when complete); smaller counts use its first segments (an
association of segments 1..s). Each run is one ``strun lrs_tso <asn>`` process with the
simulated planet's orbit, its products written to a fresh directory (removed after the
run, tables kept), against the offline CRDS cache.

While a run goes, the peak resident set size (RSS) of the ``strun`` process and of
each of its child processes (the Dask workers; multiprocessing's resource tracker is
left out) is read every 0.5 s from the kernel's high-water mark (``VmHWM``).
Reported: wall time; the serial process's peak RSS over the whole run and while the
segments are processed (until the last ``segment S/S: stages 1 and 2 done`` line;
the white-light and spectral fits come after); each worker's peak RSS; the client
process's peak RSS in the Dask runs; the 1-minute load average before and after; the
CPU time the hypervisor gave to other guests during the run (``steal`` in
``/proc/stat``, all cores: a slow spell of a shared machine shows there).

With ``--repeats R`` every run is made R times, serial and Dask alternating, and each
Dask run is compared with the serial run of its own repeat: the machine's slow and fast
spells (other jobs, memory bandwidth) fall on both members of a pair. The ratio of every
repeat is reported, with their median and maximum.

Results go to ``<results>/dask_segments_<UTC date-time>.md``.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from jwst_tso_ext.crds_cache import build_cache, offline_crds_env
from jwst_tso_ext.crds_cache.environment import REDIRECTING_VARIABLES
from jwst_tso_ext.simulate import SimulationConfig, output_paths, simulate_exposure

sys.path.insert(0, str(Path(__file__).parent))
from run_chain_benchmark import machine_description, write_asn  # noqa: E402

NGROUPS = 10
SEED = 2024
_DONE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*segment (\d+)/(\d+): stages 1 and 2 done"
)


def _say(text):
    print(text, flush=True)  # noqa: T201


def simulation(segments, per_segment, workdir):
    """Simulate (or reuse) the exposure; uncal paths and truth path."""
    config = SimulationConfig(
        nints=segments * per_segment,
        ngroups=NGROUPS,
        segment_size=per_segment,
        seed=SEED,
        root="dasksegs",
    )
    simdir = Path(workdir) / f"sim_{segments}x{per_segment}"
    uncal, truth = output_paths(config, simdir)
    done = simdir / ".complete"
    if not (done.exists() and all(p.exists() for p in uncal + truth)):
        _say(f"simulating {segments} x {per_segment} integrations x {NGROUPS} groups in {simdir}")
        simulate_exposure(config, simdir, overwrite=True)
        done.write_text("ok\n")
    return sorted(uncal), truth[0]


def _high_water_mark(pid):
    """The kernel's record of a process's peak resident set size (VmHWM), bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise psutil.NoSuchProcess(pid)


class RssSampler:
    """Peak RSS of a process and of each of its children, read until stopped.

    The peak is the kernel's own high-water mark (``VmHWM`` in ``/proc/<pid>/status``),
    exact whatever the reading rate; it is read every ``interval`` seconds (the last
    reading before a process ends is kept), and the list of child processes is renewed
    at the same rate. The sampler itself uses well under 1 % of a core: sampling RSS
    every 0.1 s with psutil (before 2026-11-30) used about 6 %, which a run with every
    core busy (the Dask workers) pays and a serial run, with a core to spare, does not.
    """

    def __init__(self, pid, interval=0.5):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peaks = {}  # pid -> (peak bytes, kind, first seen)
        self.timeline = []  # (time, root's peak so far)
        self._kinds = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _kind(self, process):
        if process.pid not in self._kinds:
            cmdline = " ".join(process.cmdline())
            # multiprocessing's resource tracker is not a worker
            self._kinds[process.pid] = None if "resource_tracker" in cmdline else "worker"
        return self._kinds[process.pid]

    def _run(self):
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in processes:
                try:
                    kind = "client" if process.pid == self.root.pid else self._kind(process)
                    if kind is None:
                        continue
                    peak = _high_water_mark(process.pid)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess,
                        FileNotFoundError, ProcessLookupError):
                    continue
                if kind == "client":
                    self.timeline.append((time.time(), peak))
                _, _, first = self.peaks.get(process.pid, (0, kind, time.time()))
                self.peaks[process.pid] = (peak, kind, first)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()


def _cpu_steal_seconds():
    """CPU time the hypervisor gave to others (``steal`` of ``/proc/stat``), all cores."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _load():
    return os.getloadavg()[0]


def run(label, asn, truth, out, env, scheduler=None, options=()):
    """One ``strun lrs_tso`` process; wall time and RSS peaks."""
    from jwst_tso_ext.cli.demo import orbit_arguments

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    strun = shutil.which("strun") or str(Path(sys.executable).with_name("strun"))
    command = [strun, "lrs_tso", str(asn), "--output_dir", str(out), *orbit_arguments(truth)]
    command += list(options)
    if scheduler:
        command.append(f"--scheduler={scheduler}")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load_before = _load()
    steal_before = _cpu_steal_seconds()
    _say(f"{label}: {' '.join(command[1:3])} scheduler={scheduler}  [{uptime}]")
    log_path = out.parent / f"{label}.log"
    started = time.time()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        sampler = RssSampler(process.pid)
        code = process.wait()
    wall = time.time() - started
    sampler.stop()
    load_after = _load()
    steal = _cpu_steal_seconds() - steal_before
    if code != 0:
        raise RuntimeError(f"{label} failed ({code}); see {log_path}")
    last_done = None
    for line in log_path.read_text().splitlines():
        match = _DONE_LINE.match(line)
        if match and match.group(2) == match.group(3):
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            last_done = stamp.timestamp()
    client = [rss for t, rss in sampler.timeline]
    client_segments = [rss for t, rss in sampler.timeline if last_done is None or t <= last_done]
    # Dask workers start with the run; child processes that appear once the segments are
    # done (the spectral fits' process pool, in serial and Dask runs alike) are not workers
    end = last_done if last_done is not None else float("inf")
    children = [(peak, first) for peak, kind, first in sampler.peaks.values() if kind == "worker"]
    workers = sorted((peak for peak, first in children if first <= end), reverse=True)
    others = [peak for peak, first in children if first > end]
    result = {
        "label": label,
        "scheduler": scheduler or "None (serial)",
        "wall_s": round(wall, 1),
        "client_peak_gb": round(max(client) / 1e9, 3),
        "client_peak_segments_gb": round(max(client_segments) / 1e9, 3),
        "worker_peaks_gb": [round(p / 1e9, 3) for p in workers],
        "later_children_peak_gb": round(max(others, default=0) / 1e9, 3),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
        "cpu_steal_s": round(steal, 1),
        "uptime_before": uptime,
    }
    _say(json.dumps(result))
    for product in out.glob("*.fits"):  # keep the tables and the log, free the disk
        product.unlink()
    return result


def write_results(results, machine, args, path):
    # each Dask run is compared with the serial run of the same size and repeat (else
    # with the smallest serial run of that repeat, scaled by the segment count)
    serial = {
        (r["segments"], r["repeat"]): r for r in results if r["scheduler"].startswith("None")
    }
    lines = [
        f"# lrs_tso segments on Dask: serial against local:{args.workers}",
        "",
        f"Run {path.stem.split('_', 2)[-1]} by `python benchmarks/bench_dask_segments.py "
        + " ".join(sys.argv[1:])
        + "`.",
        "",
        f"Exposure: segments of {args.nints_per_segment} integrations x {NGROUPS} groups "
        f"(MIRISim-like, seed {SEED}), whole `strun lrs_tso` processes, defaults plus the "
        "simulated orbit; peak RSS from the kernel's high-water mark (VmHWM), read every 0.5 s; "
        "CPU steal from /proc/stat.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        "| segments | repeat | scheduler | wall (s) | wall / serial | client peak RSS (GB) | "
        "client peak while segments run (GB) | worker peak RSS (GB) | max worker / serial "
        "per-segment peak | load before / after | CPU steal (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratios = {}  # segments -> the Dask / serial ratio of each repeat
    for r in results:
        base = serial.get((r["segments"], r["repeat"]))
        same_repeat = [key for key in serial if key[1] == r["repeat"]]
        reference = serial[min(same_repeat)] if same_repeat else None
        if base is None and reference is not None:
            # no serial run of this size: scale the smaller serial run by segments
            scaled = reference["wall_s"] * r["segments"] / reference["segments"]
            ratio = f"{r['wall_s'] / scaled:.3f} (vs {scaled:.0f} s = serial x {r['segments']}" \
                f"/{reference['segments']})"
            ratios.setdefault(r["segments"], []).append(r["wall_s"] / scaled)
        elif base is not None and base is not r:
            ratio = f"{r['wall_s'] / base['wall_s']:.3f}"
            ratios.setdefault(r["segments"], []).append(r["wall_s"] / base["wall_s"])
        else:
            ratio = "1"
        peak_ref = (base or reference or r)["client_peak_segments_gb"]
        workers = r["worker_peaks_gb"]
        memory_ratio = f"{max(workers) / peak_ref:.3f}" if workers else ""
        lines.append(
            f"| {r['segments']} | {r['repeat']} | {r['scheduler']} | {r['wall_s']} | {ratio} | "
            f"{r['client_peak_gb']} | {r['client_peak_segments_gb']} | "
            f"{', '.join(map(str, workers)) or '-'} | {memory_ratio} | "
            f"{r['load_before']} / {r['load_after']} | {r.get('cpu_steal_s', '')} |"
        )
    lines += ["", "Wall ratio local / serial per repeat:", ""]
    lines += [
        f"- {segments} segments: {', '.join(f'{x:.3f}' for x in values)} (median "
        f"{statistics.median(values):.3f}, max {max(values):.3f})"
        for segments, values in sorted(ratios.items())
    ]
    lines += ["", "uptime before each run:", ""]
    lines += [f"- {r['label']}: `{r['uptime_before']}`" for r in results]
    lines += ["", "Child processes started after the segments (the spectral fits' pool; not "
              "Dask workers), peak RSS:", ""]
    lines += [f"- {r['label']}: {r['later_children_peak_gb']} GB" for r in results]
    lines += ["", "Notes:", ""] + [f"- {note}" for note in args.note]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    _say(f"results in {path}")


def main(argv=None):
    """Simulate, run serially and on a local cluster, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--nints-per-segment", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--serial-for", type=int, nargs="*", default=[4], help="segment counts also run serially"
    )
    parser.add_argument(
        "--workdir",
        default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "jwst_tso_ext_dask_benchmark"),
    )
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="run each (segments, scheduler) this many times, serial and Dask alternating",
    )
    parser.add_argument("--crds-cache", default=None)
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--note", action="append", default=[])
    parser.add_argument(
        "--strun-option",
        action="append",
        default=None,
        help="option for every strun run (repeat); default: --save_rateints=false "
        "--steps.tso_outlier_detection.save_results=false (products on disk: calints, "
        "x1dints and the tables)",
    )
    args = parser.parse_args(argv)

    from jwst_tso_ext.cli.demo import default_cache_dir

    machine = machine_description()
    machine.pop("timer", None)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    cache = build_cache(Path(args.crds_cache) if args.crds_cache else default_cache_dir())
    env = {k: v for k, v in os.environ.items() if k not in REDIRECTING_VARIABLES}
    env.update(offline_crds_env(cache))
    env.setdefault("MPLBACKEND", "Agg")
    if args.strun_option is None:
        args.strun_option = [
            "--save_rateints=false",
            "--steps.tso_outlier_detection.save_results=false",
        ]
    args.note.append("strun options of every run: " + " ".join(args.strun_option))
    workdir = Path(args.workdir)
    # the scratch directory of lrs_tso (and any temporary file) next to the data
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(workdir / "tmp")
    args.note.append(f"TMPDIR (lrs_tso's scratch) = {workdir / 'tmp'}")
    uncal, truth = simulation(max(args.segments), args.nints_per_segment, workdir)
    results = []
    for segments in sorted(args.segments):
        members = uncal[:segments]
        asn = write_asn(members[0].parent, members, "dasksegs", f"dasksegs_{segments}_asn.json")
        runs = [("serial", None)] if segments in args.serial_for else []
        runs.append((f"local{args.workers}", f"local:{args.workers}"))
        # serial and Dask runs alternate, so that a slow spell of the machine falls on
        # both members of a pair rather than on one scheduler's runs
        for repeat in range(1, args.repeats + 1):
            for name, scheduler in runs:
                label = f"{segments}seg_{name}" + (f"_r{repeat}" if args.repeats > 1 else "")
                result = run(label, asn, truth, workdir / label, env, scheduler,
                             args.strun_option)
                result["segments"] = segments
                result["repeat"] = repeat
                results.append(result)
    write_results(results, machine, args, Path(args.results) / f"dask_segments_{stamp}.md")


if __name__ == "__main__":
    main()
