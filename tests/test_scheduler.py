"""The phase graph of lrs_tso (`jwst_tso_ext.pipeline.scheduler`) with fake phases.

No jwst, no files: each fake phase records that it ran and hands back what the real
one would (a `PhaseResult` saying whether the segment needs ``wavelength_drift``, a
reference path, a `SegmentResult`).
"""

import pickle

import pytest

from jwst_tso_ext.pipeline import executor
from jwst_tso_ext.pipeline.scheduler import (
    Phase,
    PhaseResult,
    SegmentPhases,
    SegmentResult,
    run_phase,
    run_segments,
)


def _fake_phase(phase, index, inputs, phases):
    """What the real phase would hand back; ``phases.record`` gets (phase, index, inputs)."""
    phases.record.append((phase, index, inputs))
    if phase is Phase.A:
        needs_drift, reused = inputs
        return PhaseResult(index, f"seg{index}", needs_drift=needs_drift, drift_reused=reused)
    if phase is Phase.REFERENCE:
        return f"driftref_from_{index}.fits"
    if phase is Phase.B:
        return PhaseResult(index, f"seg{index}")
    return SegmentResult(None, name=f"seg{index}")


class FakePhases(SegmentPhases):
    """Segments that need the drift step (``needs``) or were corrected earlier (``reused``)."""

    def __init__(self, count, needs=None, reused=(), earlier=None):
        self.needs = set(range(count)) if needs is None else set(needs)
        self.reused = set(reused)
        self.earlier = earlier
        self.record = []  # as the phases run
        self.finished = []  # as the client hears of them
        self.asked_earlier = []

    def task(self, phase, index, *inputs):
        if phase is Phase.A:
            inputs = (index in self.needs, index in self.reused)
        return _fake_phase, (phase, index + 1, inputs, self)

    def earlier_reference(self, index):
        self.asked_earlier.append(index)
        return self.earlier

    def done(self, phase, index, value):
        self.finished.append(f"{phase.value}{index + 1}")

    def order(self):
        return " ".join(f"{phase.value}{index}" for phase, index, _ in self.record)

    def inputs_of(self, phase):
        return {index: inputs for p, index, inputs in self.record if p is phase}


class InFlight(executor.SerialExecutor):
    """This process's executor with ``n`` segments allowed at once (as n/2 workers)."""

    def __init__(self, n):
        self.n = n

    def segments_in_flight(self):
        return self.n


def test_serially_one_segment_after_another_and_the_reference_after_the_first_a():
    phases = FakePhases(3)
    results = run_segments(executor.SerialExecutor(), 3, phases)
    assert phases.order() == "a1 reference1 b1 c1 a2 b2 c2 a3 b3 c3"
    assert phases.finished == phases.order().split()
    assert [r.name for r in results] == ["seg1", "seg2", "seg3"]


def test_with_two_in_flight_the_long_phases_run_first_and_no_third_a_before_a_c():
    phases = FakePhases(4)
    run_segments(InFlight(2), 4, phases)
    assert phases.order() == "a1 reference1 a2 b1 b2 c1 a3 b3 c2 a4 b4 c3 c4"


def test_every_b_waits_for_the_one_shared_reference():
    # the first segment that needs the step (the second) makes the reference
    phases = FakePhases(3, needs={1, 2})
    run_segments(InFlight(6), 3, phases)
    order = phases.order().split()
    assert order.count("reference2") == 1
    assert all(order.index(b) > order.index("reference2") for b in ("b1", "b2", "b3"))
    assert all(order.index(f"a{k}") < order.index("reference2") for k in (1, 2))
    references = {index: inputs[1] for index, inputs in phases.inputs_of(Phase.B).items()}
    assert references == {1: "driftref_from_2.fits", 2: "driftref_from_2.fits",
                          3: "driftref_from_2.fits"}  # fmt: skip
    assert phases.inputs_of(Phase.REFERENCE)[2][0].index == 2  # its phase-A result


def test_a_reference_chosen_by_the_user_means_no_reference_phase():
    phases = FakePhases(2)
    run_segments(executor.SerialExecutor(), 2, phases, shared_reference=False)
    assert phases.order() == "a1 b1 c1 a2 b2 c2"
    assert {inputs[1] for inputs in phases.inputs_of(Phase.B).values()} == {None}


def test_a_segment_corrected_by_an_earlier_run_gives_that_runs_reference():
    phases = FakePhases(3, needs={1, 2}, reused={0}, earlier="old_driftref.fits")
    run_segments(executor.SerialExecutor(), 3, phases)
    assert "reference" not in phases.order()
    assert phases.asked_earlier == [0]
    assert {inputs[1] for inputs in phases.inputs_of(Phase.B).values()} == {"old_driftref.fits"}


def test_when_the_earlier_reference_is_lost_the_next_segment_makes_one():
    # serially, the next segment is started although the first is not done (the run
    # used to end here with the segments unfinished)
    phases = FakePhases(2, needs={1}, reused={0}, earlier=None)
    run_segments(executor.SerialExecutor(), 2, phases)
    assert phases.order() == "a1 a2 reference2 b1 b2 c1 c2"


def test_no_segment_needing_the_drift_step_gives_no_reference():
    # (each segment's A says it does not decide, so the next one is started; the run
    # used to end after the first A)
    phases = FakePhases(2, needs=set())
    results = run_segments(executor.SerialExecutor(), 2, phases)
    assert phases.order() == "a1 a2 b1 b2 c1 c2"
    assert [r.name for r in results] == ["seg1", "seg2"]
    assert {inputs[1] for inputs in phases.inputs_of(Phase.B).values()} == {None}


def test_phase_c_gets_the_earlier_segments_b_results_in_order():
    phases = FakePhases(3)
    run_segments(InFlight(4), 3, phases)
    previous = {index: [b.index for b in inputs[1]] for index, inputs in
                phases.inputs_of(Phase.C).items()}  # fmt: skip
    assert previous == {1: [], 2: [1], 3: [1, 2]}


def test_priorities_put_the_reference_first_and_c_last():
    assert sorted(Phase, key=lambda p: -p.priority) == [
        Phase.REFERENCE, Phase.A, Phase.B, Phase.C
    ]  # fmt: skip


def test_a_phase_that_fails_names_its_segment_and_logs_with_its_label(caplog):
    import logging

    def fails():
        logging.getLogger("jwst_tso_ext.test").warning("about to fail")
        raise ValueError("no spectra")

    with caplog.at_level(logging.WARNING), pytest.raises(ValueError) as info:
        run_phase(fails, None, "segment 2/3")
    assert info.value.lrs_tso_segment == "segment 2/3"
    assert "[segment 2/3] about to fail" in caplog.messages


def test_phases_and_results_pickle_for_dask():
    for phase in Phase:
        assert pickle.loads(pickle.dumps(phase)) is phase
    result = PhaseResult(1, "seg1", cube="a.fits", needs_drift=True)
    assert pickle.loads(pickle.dumps(result)) == result


def test_the_scheduler_parameter_is_read_once():
    read = executor.parse_scheduler(" local:2 ")
    assert read == ("local", 2) and read.kind == "local" and read.value == 2
    assert executor.parse_scheduler(read) is read  # open_executor takes it as read
