"""Segments on a Dask cluster: the ``scheduler`` parameter of ``lrs_tso``.

The distributed runs use a 2-worker `distributed.LocalCluster` on a 4-segment
exposure of 10 integrations of 5 groups (offline: the workers inherit the session's
CRDS cache). The serial run and the cluster runs must give bit-identical products.
"""

import builtins
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.cli.demo import orbit_arguments
from jwst_tso_ext.pipeline import executor
from jwst_tso_ext.pipeline.products import atomic_write
from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure
from jwst_tso_ext.tso_outlier_detection import rolling

ROOT = "dask4"

#: Worker preload (dask's ``distributed.worker.preload``) that kills a worker while it
#: saves a product: the fault injection of these tests, kept out of the package.
KILL_PRELOAD = Path(__file__).with_name("dask_kill_worker.py")


# --- plain functions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, ("serial", None)),
        ("None", ("serial", None)),
        ("local:2", ("local", 2)),
        (" local:16 ", ("local", 16)),
        ("tcp://10.0.0.5:8786", ("address", "tcp://10.0.0.5:8786")),
    ],
)
def test_scheduler_values(text, expected):
    assert executor.parse_scheduler(text) == expected


@pytest.mark.parametrize("text", ["local:0", "local:two", "slurm", "no_such_file.json"])
def test_bad_scheduler_values_are_named(text):
    with pytest.raises(ValueError, match="scheduler"):
        executor.parse_scheduler(text)


def test_scheduler_file_is_recognised(tmp_path):
    path = tmp_path / "scheduler.json"
    path.write_text("{}")
    assert executor.parse_scheduler(str(path)) == ("scheduler_file", str(path))


def test_without_dask_a_scheduler_fails_with_a_clear_message(monkeypatch):
    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ValueError, match=r"jwst-tso-ext\[dask\]"):
        with executor.open_executor("local:2"):
            pass
    with executor.open_executor(None) as serial:  # no dask needed
        assert serial.name == "serial"


def test_serial_executor_runs_each_task_once_when_needed():
    calls = []

    def task(name, *inputs):
        calls.append(name)
        flat = [x for item in inputs for x in (item if isinstance(item, list) else [item])]
        return name + "".join(flat)

    run = executor.SerialExecutor()
    a = run.submit(task, "a")
    b = run.submit(task, "b", a)
    c = run.submit(task, "c", [a, b])  # lists of tasks are resolved too
    assert calls == []
    assert run.result(b) == "ba"
    assert calls == ["a", "b"]
    assert run.result(c) == "caba"
    assert calls == ["a", "b", "c"]


def test_worker_environment_has_crds_and_stpipe_settings_only():
    env = {"CRDS_PATH": "/c", "CRDS_SERVER_URL": "https://x", "STPIPE_DISABLE_CRDS_STEPPARS": "1",
           "HOME": "/root", "AWS_SECRET": "s"}
    assert executor.environment_for_workers(env) == {
        "CRDS_PATH": "/c", "CRDS_SERVER_URL": "https://x", "STPIPE_DISABLE_CRDS_STEPPARS": "1"
    }


@pytest.mark.dask
def test_maximum_cores_all_on_a_worker_means_its_threads_not_the_machines_cores():
    # a segment task must not start a thread per core of the machine: the other
    # workers use those cores
    distributed = pytest.importorskip("distributed")
    from jwst_tso_ext.parallel import available_cores, thread_count

    machine = available_cores()  # here, in no worker: the process's cores
    assert machine == len(os.sched_getaffinity(0))
    threads = machine + 1  # differs from the machine's count, whatever it is
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=threads, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_worker = client.submit(thread_count, "all", 100).result()
        half = client.submit(thread_count, "half", 100).result()
    assert on_worker == threads
    assert half == max(1, threads // 2)
    assert available_cores() == machine  # the client is no worker


def _worker_settings(dask_worker):
    return {
        "profiler": "profile" in dask_worker.periodic_callbacks,
        "tick_s": dask_worker._tick_interval,
        "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
    }


@pytest.mark.dask
def test_local_cluster_workers_run_without_profiler_and_with_a_slow_tick(monkeypatch):
    # segment tasks last tens of seconds and every core runs one: the workers'
    # profiler (the running task's stack every 10 ms) and the 20 ms tick monitors
    # only take CPU from them; glibc's adaptive mmap threshold stays on
    pytest.importorskip("distributed")
    import dask
    import distributed

    # a nanny writes its pre-spawn variables into this process's environment; set
    # then delete each through monkeypatch, which restores (or removes) them after
    # the test, so that later tests' processes do not inherit them
    for name in [*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED"]:
        monkeypatch.setenv(name.upper(), "")
        monkeypatch.delenv(name.upper())

    with executor.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        (settings,) = client.run(_worker_settings).values()
        scheduler_tick = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler._tick_interval
        )
    assert settings == {"profiler": False, "tick_s": 1.0, "malloc_trim": None}
    assert scheduler_tick == 1.0
    # a cluster started by anyone else keeps dask's own settings
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None
        ) as other,
        distributed.Client(other) as client,
    ):
        (settings,) = client.run(_worker_settings).values()
    assert settings["profiler"] is True and settings["tick_s"] == 0.02


@pytest.mark.dask
def test_local_cluster_keeps_dask_info_lines_out_of_the_log_and_restores_levels(caplog):
    # a root logger at INFO (jwst-tso-ext run, a notebook) got dask's connection and
    # worker-registration lines from the scheduler and nannies running in this process
    pytest.importorskip("distributed")
    import logging

    dask_logger = logging.getLogger("distributed")
    before = dask_logger.level
    with caplog.at_level(logging.INFO), executor.local_cluster(1):
        pass
    names = {record.name.split(".")[0] for record in caplog.records}
    assert "jwst_tso_ext" in names  # "Started a local dask cluster ..."
    assert "distributed" not in names
    assert dask_logger.level == before


@pytest.mark.parametrize("window", [0, 1, 5, 8])
def test_context_from_saved_tails_equals_one_context_carried_through(window):
    """Segments of 3, 2, 6, 4 (after a gap) and 5 integrations: the context chained from
    each earlier segment's saved end gives the flags of the carried context."""
    rng = np.random.default_rng(1)
    lengths, starts = [3, 2, 6, 4, 5], [1, 4, 6, 20, 24]
    carried = rolling.SegmentContext()
    tails = []
    for length, first in zip(lengths, starts):
        data = rng.normal(100, 1, (length, 4, 3)).astype(np.float32)
        data[rng.random(data.shape) < 0.05] += 50
        err = np.ones_like(data)
        good = rng.random(data.shape) > 0.1
        chained = rolling.chain_context(tails, window)
        for context in (carried, chained):  # as the step does
            if context.data is not None and not context.usable_for(first, (4, 3)):
                context.data = None
        if carried.data is None:
            assert chained.data is None
        else:
            np.testing.assert_array_equal(chained.data, carried.data)
            assert chained.last_int_num == carried.last_int_num
        expected = rolling.detect_outliers(data, err, good, snr=3, window=window, context=carried)
        got = rolling.detect_outliers(
            data, err, good, snr=3, window=window,
            context=chained if chained.data is not None else None,
        )
        np.testing.assert_array_equal(got, expected)
        carried.last_int_num = first + length - 1
        tail = rolling.segment_tail(data, good, 0.7, window)
        tails.append(None if tail is None else (tail, first, first + length - 1))


def test_atomic_write_leaves_nothing_under_the_final_name_when_writing_fails(tmp_path):
    target = tmp_path / "x_calints.fits"

    def fails(staged):
        Path(staged).write_bytes(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails)
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, lambda staged: Path(staged).write_text("whole"))
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["x_calints.fits"]


# --- runs on a 2-worker local cluster ----------------------------------------------


@pytest.fixture(scope="module")
def exposure(tmp_path_factory, offline_crds_cache, association):
    directory = tmp_path_factory.mktemp("dask_exposure")
    config = SimulationConfig(nints=40, ngroups=5, segment_size=10, seed=3, root=ROOT)
    paths = simulate_exposure(config, directory)
    uncal = sorted(p.name for p in paths if p.name.endswith("_uncal.fits"))
    assert len(uncal) == 4
    path = association(directory, uncal, ROOT)
    return directory, path, orbit_arguments(directory / f"{ROOT}_truth.ecsv")


#: A rolling window shorter than two segments (the default, 25, is longer): the
#: outlier context of each segment is then used by the rolling median; and a
#: parameter whose effect the workers' log shows.
WINDOW = "--steps.tso_outlier_detection.rolling_window_width=7"


def _run(strun, exposure, out, *options, check=True, kill=None):
    """``strun lrs_tso`` on the exposure; ``kill``: the `KILL_PRELOAD` spec, if any."""
    directory, asn, orbit = exposure
    out.mkdir()
    env = None
    if kill is not None:
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__WORKER__PRELOAD": json.dumps([str(KILL_PRELOAD)]),
            "JWST_TSO_EXT_TEST_KILL_WORKER": kill,
        }
    return strun(
        "lrs_tso", asn, "--output_dir", out, *orbit, WINDOW, *options, cwd=out, check=check,
        timeout=900, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def serial_run(exposure, tmp_path_factory, strun):
    out = tmp_path_factory.mktemp("serial") / "out"
    _run(strun, exposure, out)
    return out


def _assert_bit_identical(first, second):
    names = [f"{ROOT}_drift.ecsv", f"{ROOT}_whtlt.ecsv"]
    names += [f"{ROOT}_seg{k:03d}_drift.ecsv" for k in range(1, 5)]
    for name in names:
        expected = Table.read(first / name, format="ascii.ecsv")
        got = Table.read(second / name, format="ascii.ecsv")
        assert expected.colnames == got.colnames, name
        assert len(got) == len(expected) > 0, name
        for column in expected.colnames:
            a, b = np.asarray(expected[column]), np.asarray(got[column])
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (name, column)
    with (
        datamodels.open(first / f"{ROOT}_x1dints.fits") as expected,
        datamodels.open(second / f"{ROOT}_x1dints.fits") as got,
    ):
        assert len(got.spec) == len(expected.spec) > 0
        for a, b in zip(expected.spec, got.spec):
            for column in ("WAVELENGTH", "FLUX", "FLUX_ERROR", "SURF_BRIGHT"):
                assert np.array_equal(
                    a.spec_table[column], b.spec_table[column], equal_nan=True
                ), column
            assert np.isfinite(a.spec_table["FLUX"]).any()


class _RecordingExecutor(executor.SerialExecutor):
    """This process's executor, with ``in_flight`` segments allowed at once; it records
    each phase as it runs, as ``<phase><segment>`` (``a1``, ``reference1``, ...)."""

    def __init__(self, in_flight):
        self.in_flight = in_flight
        self.order = []

    def segments_in_flight(self):
        return self.in_flight

    def submit(self, function, *args, label=None, priority=0, kind=None):
        def recorded(*arguments):
            segment = label.split()[1].split("/")[0]  # "segment 2/4"
            self.order.append(kind.removeprefix("phase_") + segment)
            return function(*arguments)

        return super().submit(recorded, *args, label=label, priority=priority, kind=kind)


@pytest.mark.parametrize(
    "in_flight, expected",
    [
        # one segment at a time: each segment finished before the next starts (the
        # serial run's order; slow set, as the default suite runs serially throughout)
        pytest.param(1, "a1 reference1 b1 c1 a2 b2 c2 a3 b3 c3 a4 b4 c4", marks=pytest.mark.slow),
        # two in flight (as twice one worker): the reference first, then the long
        # phases (A) before the short ones, and no third A before segment 1 is done
        (2, "a1 reference1 a2 b1 b2 c1 a3 b3 c2 a4 b4 c3 c4"),
    ],
)
def test_phases_run_longest_first_within_the_segments_in_flight(
    exposure, tmp_path, monkeypatch, in_flight, expected
):
    from jwst_tso_ext.pipeline.lrs_tso import LrsTsoPipeline

    recording = _RecordingExecutor(in_flight)
    monkeypatch.setattr(
        executor, "open_executor", lambda *a, **k: contextlib.nullcontext(recording)
    )
    directory, asn, _ = exposure
    LrsTsoPipeline.call(
        str(asn),
        output_dir=str(tmp_path),
        save_results=True,
        steps={
            "tso_outlier_detection": {"rolling_window_width": 7},
            "detrended_white_light": {"skip": True},
            "spectral_light_curves": {"skip": True},
        },
    )
    assert " ".join(recording.order) == expected
    assert sorted(p.name for p in tmp_path.glob("*_seg00?_x1dints.fits")) == [
        f"{ROOT}_seg{k:03d}_x1dints.fits" for k in range(1, 5)
    ]


@pytest.mark.dask
@pytest.mark.subprocess
def test_local_cluster_with_a_killed_worker_gives_the_serial_products(
    exposure, serial_run, tmp_path, strun
):
    """'local:2', with the worker saving segment 2's calints killed once (SIGKILL) just
    before the file is renamed into place: the phase is rerun on a fresh worker and
    every product is bit-identical to the serial run's; no partial file is left under a
    product name."""
    marker = tmp_path / "killed_once"
    out = tmp_path / "local2"
    result = _run(strun, exposure, out, "--scheduler=local:2",
                  kill=f"{ROOT}_seg002_calints|{marker}")
    assert marker.exists()  # the worker was killed
    log = result.stdout + result.stderr
    assert "[segment 2/4]" in log and "[segment 4/4]" in log  # workers' lines, labelled
    assert "Starting lrs_tso" in log
    # the step parameter reached the workers: 7 // 2 = 3 integrations of context
    assert (
        "[segment 2/4] Integrations 8-10 of the previous segment are the context of this one"
        in log
    )
    assert "segment 4/4: stages 1 and 2 done in" in log
    _assert_bit_identical(serial_run, out)
    for product in out.glob("*.fits"):  # every final name holds a whole product
        with datamodels.open(product) as model:
            assert model.meta.filename == product.name
    assert not list(out.glob(".lrs_tso_scratch_*"))


@pytest.mark.dask
@pytest.mark.subprocess
def test_a_segment_whose_worker_always_dies_fails_naming_the_segment(exposure, tmp_path, strun):
    out = tmp_path / "dies"
    result = _run(
        strun, exposure, out, "--scheduler=local:2", "--segment_retries=0", check=False,
        kill=f"{ROOT}_seg003_rateints",
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "segment 3/4: the dask worker running it died" in log
    assert not (out / f"{ROOT}_seg003_rateints.fits").exists()
    assert not (out / f"{ROOT}_x1dints.fits").exists()


@pytest.mark.dask
@pytest.mark.subprocess
def test_local_cluster_gives_the_serial_products(exposure, serial_run, tmp_path, strun):
    out = tmp_path / "local2"
    _run(strun, exposure, out, "--scheduler=local:2")
    _assert_bit_identical(serial_run, out)


# --- jwst-tso-ext run: several exposures on one cluster -----------------------------


def test_step_options_are_passed_on_as_strun_takes_them():
    from jwst_tso_ext.cli.run import step_options

    assert step_options(
        ["--steps.detrended_white_light.free_params=t0,rp", "--save_calints=false"]
    ) == {
        "steps": {"detrended_white_light": {"free_params": ["t0", "rp"]}},
        "save_calints": "false",
    }
    with pytest.raises(ValueError, match="--NAME=VALUE"):
        step_options(["--steps.jump"])


@pytest.mark.dask
@pytest.mark.subprocess
def test_run_command_takes_several_exposures_on_one_local_cluster(
    exposure, serial_run, tmp_path, association
):
    """Two exposures (the serial run's x1dints segments, under two product names) on
    one 'local:2' cluster: both white lights are those of the serial run, and the
    progress counts the 8 segments."""
    _, _, orbit = exposure
    inputs = []
    for name in ("expa", "expb"):
        directory = tmp_path / name
        directory.mkdir()
        members = []
        for k in range(1, 5):
            member = f"{name}_seg{k:03d}_x1dints.fits"
            shutil.copy(serial_run / f"{ROOT}_seg{k:03d}_x1dints.fits", directory / member)
            members.append(member)
        inputs.append(association(directory, members, name))
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "jwst_tso_ext.cli.main", "run", *map(str, inputs),
               "--output-dir", str(out), "--scheduler", "local:2", *orbit]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if line.startswith("segments: ")]
    assert [line.split()[1] for line in progress] == [f"{k}/8" for k in range(1, 9)]
    expected = Table.read(serial_run / f"{ROOT}_whtlt.ecsv", format="ascii.ecsv")
    for name in ("expa", "expb"):
        got = Table.read(out / f"{name}_whtlt.ecsv", format="ascii.ecsv")
        np.testing.assert_array_equal(got["whitelight_flux"], expected["whitelight_flux"])
        np.testing.assert_array_equal(got["detrended_flux"], expected["detrended_flux"])
