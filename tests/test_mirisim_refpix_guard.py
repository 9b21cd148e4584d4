"""MIRISim provenance, MirisimRefpixGuardStep, TsoDetector1Pipeline and entry points."""

import gc
import logging

import numpy as np
import pytest
from astropy.io import fits
from fixtures_models import flight_ramp, mirisim_ramp
from jwst.lib.pipe_utils import is_tso
from jwst.refpix.refpix_step import RefPixStep
from jwst.stpipe import core
from stpipe import entry_points, utilities

from jwst_tso_ext.integration import get_steps
from jwst_tso_ext.mirisim_refpix_guard.provenance import is_mirisim, mirisim_evidence
from jwst_tso_ext.pipeline import TsoDetector1Pipeline
from jwst_tso_ext.steps import MirisimRefpixGuardStep, TsoVisitFixStep

OURS = {
    "tsovisit_fix": ("jwst_tso_ext.steps.TsoVisitFixStep", TsoVisitFixStep, False),
    "mirisim_refpix_guard": (
        "jwst_tso_ext.steps.MirisimRefpixGuardStep",
        MirisimRefpixGuardStep,
        False,
    ),
    "tso_detector1": ("jwst_tso_ext.pipeline.TsoDetector1Pipeline", TsoDetector1Pipeline, True),
}


# --- provenance -------------------------------------------------------------------------


def test_provenance_on_models():
    reasons = mirisim_evidence(mirisim_ramp(nints=2, ngroups=3))
    assert reasons[0] == "ORIGIN = 'MIRI European Consortium'"
    assert any(r.startswith("CREATOR names the simulator") for r in reasons)
    assert any(r.startswith("HISTORY names the simulator") for r in reasons)
    assert is_mirisim(mirisim_ramp(nints=2, ngroups=3))
    assert not is_mirisim(flight_ramp())
    assert mirisim_evidence(flight_ramp()) == []


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"ORIGIN": "MIRI European Consortium"}, True),
        ({"ORIGIN": "STSCI", "CREATOR": "MIRI SCA simulator (SCASim) 4.2"}, True),
        ({"ORIGIN": "STSCI", "HISTORY": ["calibrated", "Written by MIRISim 2.4"]}, True),
        ({"ORIGIN": "STSCI", "SCASIMV": "4.2"}, True),
        ({"ORIGIN": "STSCI", "TELESCOP": "JWST", "HISTORY": ["level-1b by SDP"]}, False),
        ({}, False),
    ],
)
def test_provenance_on_mappings_and_headers(cards, expected):
    assert is_mirisim(cards) is expected
    header = fits.Header()
    for key, value in cards.items():
        for item in value if isinstance(value, list) else [value]:
            header.add_history(item) if key == "HISTORY" else header.set(key, item)
    assert is_mirisim(header) is expected
    assert is_mirisim(fits.HDUList([fits.PrimaryHDU(header=header)])) is expected


def test_provenance_on_files(tmp_path):
    sim, flight = tmp_path / "sim.fits", tmp_path / "flight.fits"
    mirisim_ramp(nints=2, ngroups=3).save(sim)
    flight_ramp().save(flight)
    assert is_mirisim(sim) and is_mirisim(str(sim))
    assert not is_mirisim(flight)


def test_provenance_rejects_unknown_type():
    with pytest.raises(TypeError, match="Cannot read header evidence"):
        is_mirisim(42)


# --- the guard --------------------------------------------------------------------------


def test_guard_skips_mirisim(caplog):
    caplog.set_level(logging.INFO, logger="jwst_tso_ext")
    model = mirisim_ramp(nints=2, ngroups=3)
    before = model.data.copy()
    result = MirisimRefpixGuardStep.call(model)
    assert result is not model
    assert result.meta.cal_step.refpix == "SKIPPED"
    assert result.meta.cal_step.mirisim_refpix_guard == "SKIPPED"
    assert model.meta.cal_step.refpix is None
    np.testing.assert_array_equal(result.data, before)
    assert "Data origin: MIRISim" in caplog.text
    assert "reference pixel correction SKIPPED" in caplog.text


def test_guard_runs_refpix_on_flight_full_frame(caplog):
    caplog.set_level(logging.INFO)
    model = flight_ramp(nints=1, ngroups=3, nrows=1024, ncols=1032, subarray="FULL")
    model.data[:, :, :, :4] += 7.0  # offset the left reference columns
    result = MirisimRefpixGuardStep.call(model)
    assert result is not model
    assert result.meta.cal_step.refpix == "COMPLETE"
    assert result.meta.cal_step.mirisim_refpix_guard == "COMPLETE"
    assert "MIRI full frame data" in caplog.text
    assert model.meta.cal_step.refpix is None


def test_guard_runs_refpix_on_flight_subarray(caplog):
    # jwst's refpix runs and skips MIRI subarrays itself; the guard does not intervene.
    caplog.set_level(logging.INFO)
    result = MirisimRefpixGuardStep.call(flight_ramp(nints=2, ngroups=3))
    assert result.meta.cal_step.refpix == "SKIPPED"
    assert "Refpix correction skipped for MIRI subarrays" in caplog.text
    assert "Data origin: flight" in caplog.text


def test_guard_data_origin_overrides():
    sim_full = mirisim_ramp(nints=1, ngroups=3, nrows=1024, ncols=1032, subarray="FULL")
    forced_flight = MirisimRefpixGuardStep.call(sim_full, data_origin="flight")
    assert forced_flight.meta.cal_step.refpix == "COMPLETE"
    forced_sim = MirisimRefpixGuardStep.call(flight_ramp(), data_origin="mirisim")
    assert forced_sim.meta.cal_step.refpix == "SKIPPED"


def test_guard_on_file_input(tmp_path):
    path = tmp_path / "sim_uncal.fits"
    mirisim_ramp(nints=2, ngroups=3).save(path)
    result = MirisimRefpixGuardStep.call(str(path))
    assert result.meta.cal_step.refpix == "SKIPPED"


def test_guard_accepts_every_refpix_parameter():
    refpix_spec = set(RefPixStep.load_spec_file().keys())
    guard_spec = set(MirisimRefpixGuardStep.load_spec_file().keys())
    assert refpix_spec <= guard_spec
    assert "data_origin" in guard_spec
    step = MirisimRefpixGuardStep(odd_even_rows=False, side_gain=0.5)
    assert step.odd_even_rows is False
    assert step.side_gain == 0.5


# --- pipeline ---------------------------------------------------------------------------


def test_pipeline_step_layout_and_refpix_options():
    assert list(TsoDetector1Pipeline.step_defs)[0] == "tsovisit_fix"
    assert TsoDetector1Pipeline.step_defs["refpix"] is MirisimRefpixGuardStep
    pipe = TsoDetector1Pipeline(steps={"refpix": {"odd_even_rows": False}})
    assert isinstance(pipe.refpix, MirisimRefpixGuardStep)
    assert pipe.refpix.odd_even_rows is False


def test_pipeline_runs_fix_then_guard_on_mirisim(monkeypatch):
    # JwstPipeline.finalize_result always asks CRDS for the context; no CRDS offline.
    monkeypatch.setattr(core.crds_client, "get_context_used", lambda observatory: "offline")
    # stpipe runs gc.collect() before each of the 21 steps (~0.25 s each here): not under test.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    model = mirisim_ramp(nints=3, ngroups=100)
    others = set(TsoDetector1Pipeline.step_defs) - {"tsovisit_fix", "refpix"}
    steps = {name: {"skip": True} for name in others}
    pipe = TsoDetector1Pipeline(steps=steps)
    pipe.prefetch_references = False  # offline: no CRDS look-up of refpix/sirskernel
    result = pipe.run(model)
    assert result is not model
    assert result.meta.cal_step.tsovisit_fix == "COMPLETE"
    assert result.meta.cal_step.refpix == "SKIPPED"
    assert result.meta.exposure.readpatt == "FASTR1"
    assert len(result.int_times) == 3
    assert is_tso(result)
    assert model.meta.exposure.readpatt == "FAST"
    assert model.int_times is None


# --- entry points -----------------------------------------------------------------------


def test_entry_points_discoverable():
    infos = {info.class_alias: info for info in entry_points.get_steps()}
    listed = {alias: (name, is_pipe) for name, alias, is_pipe in get_steps()}
    for alias, (class_name, cls, is_pipeline) in OURS.items():
        assert alias in infos
        assert infos[alias].class_name == class_name
        assert infos[alias].is_pipeline is is_pipeline
        assert infos[alias].package_name == "jwst-tso-ext"
        assert listed[alias] == (class_name, is_pipeline)
        assert cls.class_alias == alias
        assert utilities.resolve_step_class_alias(alias) == class_name
        assert utilities.import_class(class_name) is cls


def test_own_history_is_not_provenance():
    # Forcing the MIRISim repairs on flight-origin data must not make it look like MIRISim.
    model = flight_ramp(nints=3, ngroups=5)
    model.meta.exposure.readpatt = "FAST"
    fixed = TsoVisitFixStep.call(model, data_origin="mirisim")
    assert fixed.meta.exposure.readpatt == "FASTR1"
    assert not is_mirisim(fixed)
    assert MirisimRefpixGuardStep.call(fixed).meta.cal_step.refpix == "SKIPPED"  # subarray
    assert "tsovisit_fix" not in " ".join(mirisim_evidence(fixed))


def test_guard_skipped_in_pipeline_records_refpix():
    pipe = TsoDetector1Pipeline(steps={"refpix": {"skip": True}})
    assert pipe.refpix.parent is pipe
    result = pipe.refpix.run(flight_ramp())
    assert result.meta.cal_step.refpix == "SKIPPED"
    assert result.meta.cal_step.mirisim_refpix_guard == "SKIPPED"
