"""Threads over chunks of integrations, with jwst's ``maximum_cores`` convention.

numpy and scipy release the GIL inside their array loops, so chunks of integrations
processed by plain numpy code run in parallel in threads, sharing the cube (extra
memory: one chunk per thread) instead of copying it into processes as jwst's
multiprocessing steps do.
"""

import os
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from stcal.multiprocessing import compute_num_cores

__all__ = ["MAXIMUM_CORES_CHOICES", "available_cores", "map_in_threads", "thread_count"]

#: Values of a ``maximum_cores`` parameter besides a number, as in jwst's steps.
MAXIMUM_CORES_CHOICES = ("none", "one", "quarter", "half", "all")


def available_cores():
    """Cores this code may use: its Dask worker's threads, else the process's CPU affinity.

    A segment task on a ``dask.distributed`` worker counts the worker's threads (one
    for the workers of ``lrs_tso``'s ``'local:N'``), not the machine's cores, which the
    other workers are using: ``maximum_cores='all'`` then means all of the worker's
    share, as dask's own convention for a task is.
    """
    worker_threads = _dask_worker_threads()
    if worker_threads is not None:
        return worker_threads
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def _dask_worker_threads():
    """Threads of the Dask worker running this task; None outside a worker."""
    distributed = sys.modules.get("distributed")  # not imported: not on a worker
    if distributed is None:
        return None
    try:
        return max(1, int(distributed.get_worker().state.nthreads))
    except ValueError:  # get_worker: "No worker found" (e.g. in the client)
        return None


def thread_count(maximum_cores, n_chunks):
    """
    Number of threads for ``maximum_cores`` (jwst's convention, via `stcal.multiprocessing`).

    Parameters
    ----------
    maximum_cores : str
        An integer, 'quarter', 'half', 'all', or 'none' / 'one' (no threads).
    n_chunks : int
        Chunks to process (never more threads than chunks).

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ValueError
        If ``maximum_cores`` is none of the accepted values.
    """
    text = str(maximum_cores).strip().lower()
    if not (text.isnumeric() or text in MAXIMUM_CORES_CHOICES):
        raise ValueError(
            f"maximum_cores must be an integer, 'quarter', 'half', 'all' or 'none', "
            f"not {maximum_cores!r}"
        )
    return max(1, compute_num_cores(text, max(int(n_chunks), 1), available_cores()))


def map_in_threads(function, items, n_threads):
    """
    ``map(function, items)`` on ``n_threads`` threads, results in order.

    At most ``n_threads + 1`` items are taken from ``items`` ahead of the results
    handed out, so a generator that prepares chunks is consumed as the work goes
    and memory stays a few chunks.

    Parameters
    ----------
    function : callable
        Applied to each item.
    items : iterable
        Items (e.g. chunk start indices or prepared chunks).
    n_threads : int
        Threads; 1 runs in the calling thread.

    Yields
    ------
    object
        ``function(item)`` for each item, in the order of ``items``.
    """
    if n_threads <= 1:
        for item in items:
            yield function(item)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > n_threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
