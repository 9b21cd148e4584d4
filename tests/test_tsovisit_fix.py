"""TsoVisitFixStep on tiny MIRISim-like and flight-like models."""

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import EXPSTART, TARG_DEC, TARG_RA, flight_ramp, mirisim_ramp
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from jwst.extract_1d.extract import populate_time_keywords
from jwst.lib.pipe_utils import is_tso
from jwst.white_light.white_light import white_light
from stdatamodels.jwst import datamodels

from jwst_tso_ext.steps import TsoVisitFixStep
from jwst_tso_ext.tsovisit_fix.int_times import barycentric_tdb_mjd

CADENCE = 101 * 0.15904  # 16.06304 s: 100 groups + 1 FASTR1 reset frame
READ = 100 * 0.15904  # 15.904 s


def _history(model):
    with pytest.warns(UserWarning, match="history"):
        return [entry["description"] for entry in model.history]


def _exposure_dict(model):
    return dict(model.meta.exposure.instance)


def test_mirisim_timing_corrected_to_fastr1():
    model = mirisim_ramp(nints=10, ngroups=100)
    result = TsoVisitFixStep.call(model)
    exp = result.meta.exposure
    assert exp.readpatt == "FASTR1"
    assert exp.nresets_between_ints == 1
    assert exp.integration_time == pytest.approx(16.06304, abs=1e-9)
    assert exp.effective_exposure_time == pytest.approx(160.6304, abs=1e-9)
    assert exp.exposure_time == pytest.approx(160.6304, abs=1e-9)
    assert exp.duration == pytest.approx(160.6304, abs=1e-9)
    # Last light: 9 cadences + one read = 144.56736 + 15.904 = 160.47136 s.
    assert exp.end_time == pytest.approx(EXPSTART + 160.47136 / 86400, abs=1e-11)
    assert exp.mid_time == pytest.approx(EXPSTART + 80.23568 / 86400, abs=1e-11)
    assert result.meta.visit.tsovisit is True
    assert result.meta.wcsinfo.wcsaxes == 2
    assert result.meta.cal_step.tsovisit_fix == "COMPLETE"


def test_mirisim_int_times_values():
    result = TsoVisitFixStep.call(mirisim_ramp(nints=10, ngroups=100))
    table = result.int_times
    assert len(table) == 10
    np.testing.assert_array_equal(table["integration_number"], np.arange(1, 11))
    start = np.asarray(table["int_start_MJD_UTC"])
    expected_start = EXPSTART + np.arange(10) * CADENCE / 86400
    np.testing.assert_allclose(start, expected_start, rtol=0, atol=1e-11)
    assert start[1] == pytest.approx(60310.25018591, abs=1e-8)  # hand computed
    np.testing.assert_allclose(np.diff(start) * 86400, 16.0630, atol=1e-4)
    np.testing.assert_allclose(
        np.asarray(table["int_end_MJD_UTC"]), expected_start + READ / 86400, rtol=0, atol=1e-11
    )
    np.testing.assert_allclose(
        np.asarray(table["int_mid_MJD_UTC"]),
        expected_start + 0.5 * READ / 86400,
        rtol=0,
        atol=1e-11,
    )
    bjd, method = barycentric_tdb_mjd(start, TARG_RA, TARG_DEC)
    assert method == "geocentre"
    np.testing.assert_array_equal(np.asarray(table["int_start_BJD_TDB"]), bjd)


def test_changes_logged_and_recorded_in_history(caplog):
    caplog.set_level(logging.INFO, logger="jwst_tso_ext")
    result = TsoVisitFixStep.call(mirisim_ramp(nints=4, ngroups=100))
    history = _history(result)
    fixes = [h for h in history if h.startswith("tsovisit_fix:")]
    assert any("READPATT: 'FAST' -> 'FASTR1'" in h for h in fixes)
    assert any("TSOVISIT: None -> True" in h for h in fixes)
    assert any("WCSAXES: 3 -> 2" in h for h in fixes)
    assert any("INT_TIMES built: integrations 1..4" in h for h in fixes)
    assert "Changed READPATT: 'FAST' -> 'FASTR1'" in caplog.text
    assert "Data origin: MIRISim" in caplog.text
    assert "BJD_TDB computed for the geocentre" in caplog.text


def test_missing_target_coordinates_use_tdb_only(caplog):
    model = mirisim_ramp(nints=3, ngroups=100)
    model.meta.target.ra = None
    model.meta.target.dec = None
    result = TsoVisitFixStep.call(model)
    table = result.int_times
    tdb, method = barycentric_tdb_mjd(np.asarray(table["int_mid_MJD_UTC"]))
    assert method == "tdb_only"
    np.testing.assert_array_equal(np.asarray(table["int_mid_BJD_TDB"]), tdb)
    assert "Target RA/Dec missing" in caplog.text


def test_segment_continues_at_intstart():
    # Second segment of a 10-integration exposure: integrations 6..10.
    model = mirisim_ramp(nints=5, ngroups=100)
    model.meta.exposure.nints = 10
    model.meta.exposure.integration_start = 6
    model.meta.exposure.integration_end = 10
    result = TsoVisitFixStep.call(model)
    table = result.int_times
    np.testing.assert_array_equal(table["integration_number"], [6, 7, 8, 9, 10])
    # Integration 6 starts 5 x 16.06304 = 80.3152 s after EXPSTART.
    assert table["int_start_MJD_UTC"][0] == pytest.approx(EXPSTART + 80.3152 / 86400, abs=1e-11)
    assert table["int_end_MJD_UTC"][-1] == pytest.approx(EXPSTART + 160.47136 / 86400, abs=1e-11)
    # Exposure-level times cover all 10 integrations.
    assert result.meta.exposure.effective_exposure_time == pytest.approx(160.6304, abs=1e-9)


def test_run_twice_changes_nothing():
    first = TsoVisitFixStep.call(mirisim_ramp(nints=4, ngroups=100))
    second = TsoVisitFixStep.call(first)
    assert second is not first
    assert second.meta.cal_step.tsovisit_fix == "COMPLETE"
    assert _exposure_dict(second) == _exposure_dict(first)
    assert second.meta.visit.tsovisit is True
    assert second.meta.wcsinfo.wcsaxes == 2
    np.testing.assert_array_equal(np.asarray(second.int_times), np.asarray(first.int_times))
    assert _history(second) == _history(first)


def test_flight_data_untouched():
    model = flight_ramp(nints=3, ngroups=5)
    before_exposure = _exposure_dict(model)
    before_table = np.asarray(model.int_times).copy()
    result = TsoVisitFixStep.call(model)
    assert result is not model
    assert result.meta.cal_step.tsovisit_fix == "SKIPPED"
    assert _exposure_dict(result) == before_exposure
    assert result.meta.exposure.readpatt == "FASTR1"
    assert result.meta.visit.tsovisit is True
    assert result.meta.wcsinfo.wcsaxes == 2
    np.testing.assert_array_equal(np.asarray(result.int_times), before_table)
    assert not [h for h in _history(result) if h.startswith("tsovisit_fix")]


def test_flight_without_int_times_gets_fastr1_table():
    # Flight-origin FASTR1 data lacking INT_TIMES and TSOVISIT (e.g. another simulator).
    model = flight_ramp(nints=3, ngroups=5)
    model.int_times = None
    model.meta.visit.tsovisit = None
    result = TsoVisitFixStep.call(model)
    assert result.meta.cal_step.tsovisit_fix == "COMPLETE"
    assert result.meta.exposure.readpatt == "FASTR1"  # not touched: not MIRISim
    table = result.int_times
    np.testing.assert_array_equal(table["integration_number"], [1, 2, 3])
    # (5 groups + 1 reset) x 0.15904 = 0.95424 s cadence.
    np.testing.assert_allclose(
        np.asarray(table["int_start_MJD_UTC"]),
        EXPSTART + np.arange(3) * 0.95424 / 86400,
        rtol=0,
        atol=1e-11,
    )
    assert result.meta.visit.tsovisit is True


def test_explicit_false_tsovisit_respected_on_flight_unless_forced():
    model = flight_ramp(nints=3, ngroups=5)
    model.meta.exposure.type = "MIR_IMAGE"
    model.meta.visit.tsovisit = False
    auto = TsoVisitFixStep.call(model)
    assert auto.meta.visit.tsovisit is False
    assert auto.meta.cal_step.tsovisit_fix == "SKIPPED"
    forced = TsoVisitFixStep.call(model, tsovisit="force")
    assert forced.meta.visit.tsovisit is True
    assert forced.meta.cal_step.tsovisit_fix == "COMPLETE"


def test_parameters_turn_fixes_off():
    result = TsoVisitFixStep.call(
        mirisim_ramp(nints=3, ngroups=100), fastr1_timing="off", wcsaxes="off", tsovisit="off"
    )
    assert result.meta.exposure.readpatt == "FAST"
    assert result.meta.wcsinfo.wcsaxes == 3
    assert result.meta.visit.tsovisit is None
    # The INT_TIMES table is still built, with FAST timing (no reset frame).
    np.testing.assert_allclose(
        np.diff(np.asarray(result.int_times["int_start_MJD_UTC"])) * 86400, 15.904, atol=1e-5
    )


def test_data_origin_flight_overrides_detection():
    result = TsoVisitFixStep.call(mirisim_ramp(nints=3, ngroups=100), data_origin="flight")
    assert result.meta.exposure.readpatt == "FAST"
    assert result.meta.wcsinfo.wcsaxes == 3
    assert result.meta.visit.tsovisit is True  # missing TSOVISIT is fixed for any origin


def test_input_model_not_modified():
    model = mirisim_ramp(nints=4, ngroups=100)
    result = TsoVisitFixStep.call(model)
    assert result is not model
    assert model.meta.exposure.readpatt == "FAST"
    assert model.meta.visit.tsovisit is None
    assert model.meta.wcsinfo.wcsaxes == 3
    assert model.int_times is None
    assert getattr(model.meta.cal_step, "tsovisit_fix", None) is None


def test_is_tso_after_fix():
    model = mirisim_ramp(nints=4, ngroups=100)
    assert not is_tso(model)
    assert is_tso(TsoVisitFixStep.call(model))


def test_white_light_one_row_per_integration():
    nints = 6
    cube = datamodels.CubeModel((nints, 8, 8))
    src = mirisim_ramp(nints=nints, ngroups=100)
    cube.update(src, only="PRIMARY")
    cube.meta.origin = src.meta.origin
    cube.meta.wcsinfo.wcsaxes = 3
    cube.add_history_entry("Simulated with MIRISim 2.4.2")
    fixed = TsoVisitFixStep.call(cube)
    assert fixed.meta.exposure.readpatt == "FASTR1"

    spec_dtype = datamodels.SpecModel().get_dtype("spec_table")
    table = np.zeros(20, dtype=spec_dtype)
    table["WAVELENGTH"] = np.linspace(5.0, 12.0, 20)
    table["FLUX"] = 1.0
    specs = []
    for i in range(nints):
        spec = datamodels.SpecModel(spec_table=table.copy())
        spec.spec_table["FLUX"] *= i + 1
        spec.spectral_order = 1
        specs.append(spec)
    x1d = datamodels.TSOMultiSpecModel()
    x1d.update(fixed, only="PRIMARY")
    x1d.spec.append(make_tso_specmodel(specs))
    populate_time_keywords(fixed, x1d)

    curve = white_light(x1d, min_wave=5.0, max_wave=12.0)
    assert len(curve) == nints
    np.testing.assert_array_equal(
        np.asarray(curve["MJD_UTC"]), np.asarray(fixed.int_times["int_mid_MJD_UTC"])
    )
    np.testing.assert_allclose(np.diff(np.asarray(curve["MJD_UTC"])) * 86400, 16.06304, atol=1e-5)


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_input_file_not_modified(tmp_path):
    path = tmp_path / "sim_uncal.fits"
    mirisim_ramp(nints=3, ngroups=100).save(path)
    digest = _sha256(path)
    result = TsoVisitFixStep.call(str(path))
    assert result.meta.exposure.readpatt == "FASTR1"
    assert _sha256(path) == digest


@pytest.mark.subprocess
def test_strun_subprocess(tmp_path, command_path):
    path = tmp_path / "sim_uncal.fits"
    mirisim_ramp(nints=3, ngroups=100).save(path)
    digest = _sha256(path)
    env = dict(os.environ, STPIPE_DISABLE_CRDS_STEPPARS="true")
    proc = subprocess.run(
        [command_path("strun"), "tsovisit_fix", str(path), f"--output_dir={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = list((tmp_path / "out").glob("*.fits"))
    assert len(outputs) == 1
    assert "Changed READPATT" in proc.stderr + proc.stdout
    with datamodels.open(outputs[0]) as out:
        assert out.meta.exposure.readpatt == "FASTR1"
        assert out.meta.visit.tsovisit is True
        assert out.meta.cal_step.tsovisit_fix == "COMPLETE"
        assert out.int_times["int_start_MJD_UTC"][2] == pytest.approx(
            EXPSTART + 2 * CADENCE / 86400, abs=1e-11
        )
        assert any("tsovisit_fix: READPATT" in h for h in _history(out))
    assert _sha256(path) == digest
