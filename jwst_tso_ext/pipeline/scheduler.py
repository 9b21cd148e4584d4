"""The phase graph of ``lrs_tso``: which phase of which segment runs when.

Each segment of an exposure goes through four phases (`Phase`):

``A``
    stage 1, ``assign_wcs``, ``srctype``, ``flat_field`` (about 80 % of a segment's cost);
``REFERENCE``
    once per exposure: the drift reference frame, from the first segment that still
    needs ``wavelength_drift`` (its phase-A cube);
``B``
    ``wavelength_drift`` against that frame, ``photom``; calints saved;
``C``
    ``tso_outlier_detection`` with the end of the earlier segments as context,
    extraction; x1dints saved.

`run_segments` submits a phase to an executor (`~jwst_tso_ext.pipeline.executor`) as
soon as the results it needs are back on the client (paths and small tables, never
cubes), so a worker that dies loses only the task it was running. No B starts before
the shared drift reference is known (the barrier: every segment measures its drift
against one frame). Which function runs a phase, with which arguments, is the
caller's (a `SegmentPhases`); this module imports no jwst and is tested with fake
phases.
"""

import contextlib
import enum
import logging
import time
from dataclasses import dataclass, field

from jwst_tso_ext.pipeline.executor import DASK_LOGGERS, setup_worker_process

log = logging.getLogger(__name__)

__all__ = ["Phase", "PhaseResult", "SegmentPhases", "SegmentResult", "run_phase", "run_segments"]


class Phase(enum.Enum):
    """A phase of a segment (see the module's docstring)."""

    A = "a"
    REFERENCE = "reference"
    B = "b"
    C = "c"

    @property
    def priority(self):
        """Order in which ready phases run when the workers are busy (higher first).

        The shared drift reference first (every B waits for it), then the long phases
        (A) before the short ones, so that the last tasks of a run are short and no
        worker idles while another finishes a whole phase A. (Serially only one segment
        is in flight, so the order is A, reference, B, C of one segment, then the next.)
        """
        return {"reference": 3, "a": 2, "b": 1, "c": 0}[self.value]


@dataclass
class PhaseResult:
    """What a phase of one segment hands to the next (paths and small tables only).

    Attributes
    ----------
    index : int
        The segment's number (1-based).
    name : str
        The segment's input (path or model name).
    cube : str or None
        The cube this phase wrote (a scratch file, or the saved calints).
    written : list of str
        Products saved so far for this segment.
    needs_drift : bool
        ``wavelength_drift`` is still to run on this segment.
    drift_reused : bool
        The segment's drift had been corrected before this run.
    drift_table : `~astropy.table.Table` or None
        The segment's drift table.
    tail : tuple or None
        The saved end of the segment, the next segment's outlier context.
    scratch : list of str
        Scratch files to remove once the segment is done.
    final : SegmentResult or None
        Set when the segment needs no more phases (an x1dints input).
    seconds : float
        Time spent on the segment's phases so far.
    """

    index: int
    name: str
    cube: str | None = None
    written: list = field(default_factory=list)
    needs_drift: bool = False
    drift_reused: bool = False
    drift_table: object = None
    tail: tuple | None = None
    scratch: list = field(default_factory=list)
    final: object = None
    seconds: float = 0.0


@dataclass
class SegmentResult:
    """What the last phase of a segment hands back.

    Attributes
    ----------
    x1dints : `~stdatamodels.jwst.datamodels.TSOMultiSpecModel` or None
        The segment's spectra, when held in memory.
    drift_table : `~astropy.table.Table` or None
        The segment's drift table.
    drift_reference : str or None
        Path of the drift reference frame the segment was measured against.
    written : list of str
        Products saved while processing the segment, in order.
    x1dints_path : str or None
        Where the x1dints was saved (a product or a scratch file).
    drift_reused : bool
        The segment's drift had been corrected before this run (its table reused).
    name : str or None
        The segment's input (path or model name).
    seconds : float
        Time spent on the segment's phases (wherever they ran).
    """

    x1dints: object
    drift_table: object = None
    drift_reference: str | None = None
    written: list = field(default_factory=list)
    x1dints_path: str | None = None
    drift_reused: bool = False
    name: str | None = None
    seconds: float = 0.0


class SegmentPhases:
    """What `run_segments` asks of its caller: the phases' functions and bookkeeping.

    A subclass says which function runs each phase and what is done with each result;
    the inputs a phase gets from earlier phases are given by `run_segments`.
    """

    def task(self, phase, index, *inputs):
        """The function that runs ``phase`` of segment ``index`` (0-based), and its arguments.

        ``inputs`` are, for `Phase.A`: none; `Phase.REFERENCE`: the segment's phase-A
        result; `Phase.B`: the phase-A result and the drift reference (a path or None);
        `Phase.C`: the phase-B result and the phase-B results of the earlier segments.

        Returns
        -------
        function : callable
            Picklable (a module function or a bound method), for Dask.
        arguments : tuple
        """
        raise NotImplementedError

    def earlier_reference(self, index):
        """The drift reference of the earlier run that corrected segment ``index``, or None."""
        return None

    def done(self, phase, index, value):
        """Called on the client with each phase's result, as phases finish."""


class _Barrier(enum.Enum):
    """States of the shared drift reference while it is not known yet."""

    UNDECIDED = "no segment has said yet"
    SUBMIT = "the reference phase is to be submitted"
    WAITING = "the reference phase is running"


def run_segments(executor, count, phases, shared_reference=True):
    """Run every phase of ``count`` segments on ``executor``; the segments' last results.

    Parameters
    ----------
    executor : `~jwst_tso_ext.pipeline.executor.SerialExecutor` or ``DaskExecutor``
        Where the phases run.
    count : int
        Number of segments.
    phases : SegmentPhases
        The phases' functions and bookkeeping.
    shared_reference : bool, optional
        Every segment measures its drift against one reference frame, made by
        `Phase.REFERENCE` from the first segment that needs it (or the earlier run's,
        `SegmentPhases.earlier_reference`). False: no reference phase; B gets None.

    Returns
    -------
    list
        The value of each segment's `Phase.C`, in segment order.
    """
    labels = [f"segment {index}/{count}" for index in range(1, count + 1)]
    submitted = {}  # task -> (phase, segment index)

    def submit(phase, index, *inputs):
        function, arguments = phases.task(phase, index, *inputs)
        task = executor.submit(
            run_phase,
            function,
            executor.worker_setup,
            labels[index],
            *arguments,
            label=labels[index],
            priority=phase.priority,
            kind=f"phase_{phase.value}",
        )
        submitted[task] = (phase, index)
        return task

    done_a, done_b, results = [None] * count, [None] * count, [None] * count
    reference = _Barrier.UNDECIDED if shared_reference else None
    next_a = next_b = next_c = 0  # phases are submitted in segment order
    pending = []

    def start_segments():
        # segments in flight (phase A submitted, C not done) are limited, which bounds
        # the cubes in scratch: one at a time serially, twice the workers on a cluster
        nonlocal next_a
        finished = sum(result is not None for result in results)
        while next_a < count and next_a - finished < executor.segments_in_flight():
            pending.append(submit(Phase.A, next_a))
            next_a += 1

    start_segments()
    while pending:
        task = executor.first_done(pending)
        pending.remove(task)
        phase, index = submitted.pop(task)
        value = executor.result(task)
        if phase is Phase.A:
            done_a[index] = value
        elif phase is Phase.REFERENCE:
            reference = value
        elif phase is Phase.B:
            done_b[index] = value
        else:
            results[index] = value
        phases.done(phase, index, value)
        if phase is Phase.C:
            start_segments()
        if reference is _Barrier.UNDECIDED:
            reference = _decide_reference(done_a, phases)
            if reference is _Barrier.SUBMIT:
                first = next(i for i, a in enumerate(done_a) if a is not None and a.needs_drift)
                pending.append(submit(Phase.REFERENCE, first, done_a[first]))
                reference = _Barrier.WAITING
        if not isinstance(reference, _Barrier):
            while next_b < count and done_a[next_b] is not None:
                pending.append(submit(Phase.B, next_b, done_a[next_b], reference))
                next_b += 1
        while next_c < count and done_b[next_c] is not None:
            pending.append(submit(Phase.C, next_c, done_b[next_c], done_b[:next_c]))
            next_c += 1
        if not pending and next_a < count:
            # nothing runs and the reference waits for a segment not started yet (the
            # segments in flight were corrected by a run whose reference was not found)
            pending.append(submit(Phase.A, next_a))
            next_a += 1
    return results


def _decide_reference(done_a, phases):
    """What every segment measures its drift against, once phase A says.

    In segment order: the first segment that still needs ``wavelength_drift`` gives the
    frame (``SUBMIT``: `Phase.REFERENCE` makes it from that segment's phase-A cube); a
    segment corrected by an earlier run gives that run's reference if it is found. None
    when no segment needs the step; ``UNDECIDED`` while the deciding segment's phase A
    is running.
    """
    for index, info in enumerate(done_a):
        if info is None:
            return _Barrier.UNDECIDED
        if info.needs_drift:
            return _Barrier.SUBMIT
        if info.drift_reused:
            # later segments that still need wavelength_drift must share the zero
            # point of the run that corrected this one
            path = phases.earlier_reference(index)
            if path is not None:
                return path
    return None


def run_phase(function, worker_setup, label, *arguments):
    """Run one phase of a segment, here or on a Dask worker: ``function(*arguments)``.

    The only function the executors run: on a worker, ``worker_setup`` (the client's
    CRDS / stpipe environment and log level) is applied first; log lines carry
    ``label``; an exception is marked with it (``lrs_tso_segment``); the time taken is
    added to a result's ``seconds``.
    """
    if worker_setup is not None:
        setup_worker_process(*worker_setup)
    started = time.monotonic()
    with _log_prefix(label):
        try:
            value = function(*arguments)
            if hasattr(value, "seconds"):
                value.seconds += time.monotonic() - started
            return value
        except Exception as error:
            if not hasattr(error, "lrs_tso_segment"):
                error.lrs_tso_segment = label
            raise


@contextlib.contextmanager
def _log_prefix(label):
    """Prefix ``[label]`` to the log records made while a segment task runs."""
    factory = logging.getLogRecordFactory()

    def make_record(*args, **kwargs):
        record = factory(*args, **kwargs)
        if not record.name.startswith(DASK_LOGGERS):
            record.msg = f"[{label}] {record.msg}"
        return record

    logging.setLogRecordFactory(make_record)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
