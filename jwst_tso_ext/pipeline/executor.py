"""Where the segment phases of `LrsTsoPipeline` run: here, one after another, or on Dask.

One graph, two executors. The pipeline submits the same functions with the same
arguments to either:

`SerialExecutor`
    ``scheduler=None``: nothing runs until asked for; `SerialExecutor.first_done`
    then runs the pending task of highest priority in this process (the pipeline
    gives a segment's later phases the higher priorities, so segments run one after
    another, as before).
`DaskExecutor`
    ``'local:N'`` (a `distributed.LocalCluster` of N single-threaded worker
    processes, started and stopped here), ``'tcp://host:port'`` or the path of a
    scheduler file (an existing ``dask.distributed`` cluster): tasks become
    ``client.submit`` futures and run as soon as their inputs exist.

A task that raises re-raises on the client. A task whose worker dies is rerun on
another worker by the scheduler, up to ``distributed.scheduler.allowed-failures``
times; after that `DaskExecutor.result` raises a `SegmentWorkerError` naming the task
(its label says which segment).

dask is an optional dependency (``pip install "jwst-tso-ext[dask]"``): it is imported
only when a scheduler other than None is asked for.
"""

import contextlib
import logging
import os
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

__all__ = [
    "DaskExecutor",
    "SegmentWorkerError",
    "SerialExecutor",
    "environment_for_workers",
    "local_cluster",
    "setup_worker_process",
    "open_executor",
    "parse_scheduler",
    "Scheduler",
]

#: Prefixes of the environment variables handed to every worker (CRDS cache, server
#: and mode; stpipe's switches such as STPIPE_DISABLE_CRDS_STEPPARS).
FORWARDED_ENVIRONMENT = ("CRDS_", "STPIPE_")

#: Loggers whose records carry the segment label while a segment task runs.
DASK_LOGGERS = ("distributed", "tornado", "bokeh", "asyncio")


class SegmentWorkerError(RuntimeError):
    """A segment task was lost with its worker more often than the scheduler allows."""


class Scheduler(NamedTuple):
    """A ``scheduler`` parameter, read: where the segments run."""

    #: ``"serial"``, ``"local"``, ``"address"`` or ``"scheduler_file"``.
    kind: str
    #: None, the number of local workers, the address, or the scheduler file's path.
    value: object


def parse_scheduler(scheduler):
    """Read the ``scheduler`` parameter (the one place it is parsed).

    Parameters
    ----------
    scheduler : str, None or Scheduler
        None (or ``''``, ``'none'``): in this process. ``'local:N'``: a local cluster of
        N worker processes. ``'tcp://...'`` (or another ``scheme://`` address) or
        the path of an existing scheduler file: an existing cluster. A `Scheduler`
        (already read) is returned as it is.

    Returns
    -------
    Scheduler
        ``("serial", None)``, ``("local", N)``, ``("address", text)`` or
        ``("scheduler_file", path)``.

    Raises
    ------
    ValueError
        If the text is none of these (e.g. ``'local:0'``, ``'local:two'`` or a
        scheduler file that does not exist).
    """
    if isinstance(scheduler, Scheduler):
        return scheduler
    if scheduler is None:
        return Scheduler("serial", None)
    text = str(scheduler).strip()
    if text.lower() in ("", "none"):
        return Scheduler("serial", None)
    if text.lower().startswith("local"):
        _, _, count = text.partition(":")
        count = count.strip() or str(os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"scheduler {scheduler!r}: expected 'local:N' with N a whole number of "
                "worker processes >= 1"
            )
        return Scheduler("local", int(count))
    if "://" in text:
        return Scheduler("address", text)
    if Path(text).is_file():
        return Scheduler("scheduler_file", text)
    raise ValueError(
        f"scheduler {scheduler!r} is none of: None (in this process), 'local:N' (a local "
        "dask cluster of N worker processes), a scheduler address such as "
        "'tcp://host:8786', or an existing dask scheduler file"
    )


def environment_for_workers(environ=None):
    """The variables every worker must see: CRDS and stpipe settings of this process.

    Parameters
    ----------
    environ : mapping, optional
        Default ``os.environ``.

    Returns
    -------
    dict of str to str
    """
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED_ENVIRONMENT)}


class _Deferred:
    """A task of `SerialExecutor`: runs (once) when its result is first asked for."""

    __slots__ = ("function", "args", "label", "priority", "_done", "_value")

    def __init__(self, function, args, label, priority=0):
        self.function = function
        self.args = args
        self.label = label
        self.priority = priority
        self._done = False
        self._value = None

    def result(self):
        if not self._done:
            args = [_resolve(arg) for arg in self.args]
            self._value = self.function(*args)
            self._done = True
            self.function = self.args = None  # let inputs go
        return self._value


def _resolve(arg):
    if isinstance(arg, _Deferred):
        return arg.result()
    if isinstance(arg, list):
        return [_resolve(item) for item in arg]
    return arg


class SerialExecutor:
    """Run submitted tasks in this process, lazily and in the order results are needed."""

    name = "serial"
    worker_setup = None

    def submit(self, function, *args, label=None, priority=0, kind=None):
        """Record ``function(*args)``; arguments that are tasks are replaced by their results.

        ``priority`` orders `first_done`; ``label`` and ``kind`` are kept for the
        interface's sake.

        Returns
        -------
        object
            A handle to pass to `first_done`, `result` or later tasks.
        """
        return _Deferred(function, args, label, priority)

    def segments_in_flight(self):
        """Segments the pipeline may have started and not finished: one at a time here."""
        return 1

    def first_done(self, tasks):
        """Run the task of highest priority (the first submitted among equals); return it."""
        task = max(tasks, key=lambda t: t.priority)  # max keeps the first of equals
        task.result()
        return task

    def result(self, task):
        """The task's return value (running it and what it needs now)."""
        return task.result()


class DaskExecutor:
    """Submit tasks to a ``dask.distributed`` client; results come back on demand.

    Tasks get ``worker_setup`` (`setup_worker_process` arguments: the client's CRDS /
    stpipe environment and log level) so that they run on any worker as here.
    """

    name = "dask"

    def __init__(self, client):
        self.client = client
        self.worker_setup = (environment_for_workers(), client_log_level())
        self._labels = {}  # task key -> label, for errors

    def submit(self, function, *args, label=None, priority=0, kind=None):
        """``client.submit(function, *args)``; task arguments become dependencies.

        ``kind`` names the task's key (``lrs_tso_<kind>-<random>``): tasks of one kind
        share a dask task prefix, so the scheduler learns their duration from the first
        one done and the dashboard groups them. ``label`` is named in errors; tasks of
        higher ``priority`` run first when workers are busy.
        """
        key = f"lrs_tso_{kind or 'task'}-{os.urandom(6).hex()}"
        self._labels[key] = label or "task"
        return self.client.submit(function, *args, key=key, pure=False, priority=priority)

    def segments_in_flight(self):
        """Segments the pipeline may have started and not finished: twice the threads.

        Asked again as segments finish, so workers that join later (an adaptive
        cluster) are counted; at least 2 while no worker has joined yet.
        """
        return 2 * max(1, sum(self.client.nthreads().values()))

    def first_done(self, futures):
        """A finished future of ``futures`` (waits for one)."""
        from distributed import wait

        done, _ = wait(futures, return_when="FIRST_COMPLETED")
        return next(future for future in futures if future in done)

    def result(self, future):
        """The task's return value; its exception if it raised.

        Raises
        ------
        SegmentWorkerError
            When the task's worker died more often than the scheduler's
            ``allowed-failures``.
        """
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as error:
            label = self._labels.get(future.key, str(future.key))
            raise SegmentWorkerError(
                f"{label}: the dask worker running it died (killed, or out of memory) "
                f"and so did every retry ({error}); nothing of that phase was saved under "
                "a product name. Give each worker the memory of about one segment, or "
                "raise distributed.scheduler.allowed-failures."
            ) from None


def client_log_level():
    """The lowest level this process logs the pipeline's records at.

    stpipe sets the levels of its own loggers (``stpipe``, ``jwst`` ...) rather than
    the root's, so the root's level alone would hide the workers' INFO lines.
    """
    names = ("", "stpipe", "jwst", "jwst_tso_ext", "stcal")
    return min(logging.getLogger(name).getEffectiveLevel() for name in names)


def _import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise ValueError(
            "scheduler other than None needs dask.distributed, which is not installed: "
            'pip install "jwst-tso-ext[dask]" (or pip install "dask[distributed]")'
        ) from error
    return distributed


def setup_worker_process(environment, level):
    """Make a worker process ready for a segment task (done by each task, as it starts).

    Parameters
    ----------
    environment : dict of str to str
        The client's CRDS and stpipe variables (`environment_for_workers`).
    level : int
        The client's log level: records at or above it are forwarded to the client
        (``Client.forward_logging``), which prints them.
    """
    os.environ.update(environment)
    logging.getLogger().setLevel(int(level))
    _quiet_dask_loggers()


def _quiet_dask_loggers():
    """Raise dask's loggers that would pass INFO records to WARNING.

    Their INFO records (connections, workers registering and closing) say nothing about
    the segments and would fill a log whose root logger prints INFO (distributed sets
    its own logger to INFO).

    Returns
    -------
    list of (logging.Logger, int)
        The loggers raised, with their previous levels.
    """
    quieted = []
    for name in DASK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            quieted.append((logger, logger.level))
            logger.setLevel(logging.WARNING)
    return quieted


# Periodic work of dask's servers, tuned for many short tasks, slows tasks of tens of
# seconds on a machine whose cores are all busy with them. Measured on 2 cores, 2 idle
# workers: the client process (scheduler, nannies) used 3.5 % of a core and each worker
# 3.5 %; with these, 0.7 % and 0.3 %. The workers' profiler (every 10 ms it takes the GIL
# to walk the running task's stack) is the worker's share; the 20 ms event-loop tick
# monitor is most of the client's.
_QUIET_LOCAL_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@contextlib.contextmanager
def local_cluster(n_workers, dashboard=False, allowed_failures=1):
    """A `distributed.LocalCluster` of single-threaded worker processes, on 127.0.0.1.

    Set for segment tasks of tens of seconds (`_QUIET_LOCAL_CLUSTER`): no worker
    profiler (unless ``dashboard``), 1 s tick and memory monitors, 5 s system monitor,
    and no ``MALLOC_TRIM_THRESHOLD_`` in the workers.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    dashboard : bool, optional
        Serve the dashboard on 127.0.0.1:8787 (default: no dashboard).
    allowed_failures : int, optional
        How often a task may lose its worker before it fails.

    Yields
    ------
    distributed.LocalCluster
    """
    distributed = _import_distributed()
    import dask

    settings = {
        "distributed.scheduler.allowed-failures": int(allowed_failures),
        # dask sets MALLOC_TRIM_THRESHOLD_ in its workers (to give memory back sooner);
        # setting it turns off glibc's adaptive mmap threshold, so every numpy temporary
        # above 128 kB is mapped and faulted in anew: ramp steps (jump) ran ~20 % slower
        # than in a plain process. A segment task frees its cube when it ends anyway.
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        **_QUIET_LOCAL_CLUSTER,
    }
    if dashboard:  # the dashboard's Profile page needs the workers' profiler
        settings.pop("distributed.worker.profile.enabled")
    # the scheduler and the nannies run in this process: their loggers are quieted
    # while the cluster lives (silence_logs does it in the workers), then restored
    quieted = _quiet_dask_loggers()
    try:
        with (
            dask.config.set(settings),
            distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:8787" if dashboard else None,
                silence_logs=logging.WARNING,
            ) as cluster,
        ):
            log.info("Started a local dask cluster of %d worker processes", n_workers)
            if dashboard:
                log.info("Dask dashboard at %s", cluster.dashboard_link)
            yield cluster
    finally:
        for logger, level in quieted:
            logger.setLevel(level)


@contextlib.contextmanager
def open_executor(scheduler, dashboard=False, allowed_failures=1):
    """The executor for a ``scheduler`` value, with its cluster and client while in use.

    Parameters
    ----------
    scheduler : str, None or Scheduler
        As in `parse_scheduler` (read there once).
    dashboard : bool, optional
        ``'local:N'`` only: serve the dask dashboard on localhost:8787 (off by default:
        no port but the local scheduler's is opened).
    allowed_failures : int, optional
        ``'local:N'`` only: how often a task may lose its worker before it fails (the
        scheduler of an existing cluster keeps its own setting).

    Yields
    ------
    SerialExecutor or DaskExecutor

    Raises
    ------
    ValueError
        If ``scheduler`` is not understood, or dask.distributed is not installed.
    """
    kind, value = parse_scheduler(scheduler)
    if kind == "serial":
        yield SerialExecutor()
        return
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cluster = stack.enter_context(
                local_cluster(value, dashboard=dashboard, allowed_failures=allowed_failures)
            )
            client = stack.enter_context(distributed.Client(cluster))
        elif kind == "address":
            client = stack.enter_context(distributed.Client(value))
        else:
            client = stack.enter_context(distributed.Client(scheduler_file=value))
        if kind != "local":
            log.info("Using the dask cluster at %s", client.scheduler.address)
        client.forward_logging(level=client_log_level())
        yield DaskExecutor(client)
