"""Bad-input matrix: every step and pipeline of the package on wrong, broken or odd input.

jwst's convention, checked case by case: either a clear error (``ValueError``,
``TypeError``, ``FileNotFoundError`` ... whose message names the problem and what to
do), or a logged skip with ``meta.cal_step.<alias> = 'SKIPPED'`` whose output is a
copy, never the input object. Never a traceback from deep inside numpy / scipy, never
a silent wrong answer. Input files are byte-identical afterwards, and nothing is left
half-written under an output name.

=========================================== ==============================================
case                                        result
=========================================== ==============================================
NIRSpec / MIRI imaging into wavelength_drift SKIPPED (``cal_step.wavelength_drift``), copy
NIRSpec / MIRI imaging into tso_extract_1d  SKIPPED (``cal_step.extract_1d``), copy
NIRSpec / MIRI imaging into lrs_tso         CRDS error naming the instrument / EXP_TYPE
NIRSpec into tso_detector1                  CRDS error naming the instrument
nints = 1                                   drift: COMPLETE (zero shift); extraction: one
                                            row; white light: ValueError (needs a time
                                            series)
non-TSO exposure (TSOVISIT=F) extracted     COMPLETE without times; white light then
                                            ValueError naming INT_TIMES / tsovisit_fix
integration all NaN / DO_NOT_USE / zero     drift: NaN shifts, integration flagged
                                            DO_NOT_USE, warning, others unchanged;
                                            extraction: NaN row with DQ (NaN, DO_NOT_USE),
                                            zeros (zero flux, flagged upstream by drift);
                                            white light: clipped, fit still succeeds
missing / empty INT_TIMES                   tsovisit_fix builds it from the header
no times at all in x1dints                  white light ValueError naming tsovisit_fix
no WCS                                      drift: ValueError naming assign_wcs;
                                            extraction: SKIPPED, copy
drift beyond the fit's validity (0.5 px)    NaN shifts + DO_NOT_USE + warning (all
                                            integrations: ValueError)
reference integration unusable              ValueError naming the reference
template missing / malformed                FileNotFoundError / ValueError naming it
wavelength range outside data / inverted    ValueError with the data's range
too few out-of-transit points               ValueError
drift_table missing                         ValueError naming it
missing input file                          FileNotFoundError naming it (all classes)
association: unreadable JSON                ValueError naming it (lrs_tso, detrended_tso3)
association: missing member                 FileNotFoundError naming the member
truncated / non-FITS input file             ValueError naming it, before stpipe reads it
                                            (``step_mixin.check_input_file``, all classes)
ASDF parameter file: unknown / wrong type   stpipe ValidationError naming the parameter
output_dir under a regular file             NotADirectoryError naming it, nothing written
=========================================== ==============================================
"""

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from fixtures_models import flight_ramp, mirisim_ramp
from jwst.assign_wcs.assign_wcs import load_wcs
from stdatamodels.jwst import datamodels
from stpipe import Step, crds_client
from stpipe.exceptions import ValidationError
from test_detrended_white_light import RP, make_tso_x1dints, step_kwargs
from test_tso_extract import make_lrs_tso, write_extract1d
from test_wavelength_drift_step import make_model as make_drift_model

from jwst_tso_ext.crds_cache import references
from jwst_tso_ext.pipeline import DetrendedTso3Pipeline, LrsTsoPipeline, TsoDetector1Pipeline
from jwst_tso_ext.steps import (
    DetrendedWhiteLightStep,
    MirisimRefpixGuardStep,
    TsoExtract1dStep,
    TsoVisitFixStep,
    WavelengthDriftStep,
)

DO_NOT_USE = datamodels.dqflags.pixel["DO_NOT_USE"]
ALL_CLASSES = (
    TsoVisitFixStep,
    MirisimRefpixGuardStep,
    WavelengthDriftStep,
    TsoExtract1dStep,
    DetrendedWhiteLightStep,
    TsoDetector1Pipeline,
    LrsTsoPipeline,
    DetrendedTso3Pipeline,
)
WRONG_MODES = {
    "nirspec": {"instrument.name": "NIRSPEC", "instrument.detector": "NRS1",
                "exposure.type": "NRS_BRIGHTOBJ"},
    "miri_image": {"exposure.type": "MIR_IMAGE"},
}  # fmt: skip


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_crds_cache):
    """Offline: the session's CRDS cache, and no CRDS parameter-reference lookups."""
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setattr(crds_client, "get_context_used", lambda observatory: "jwst_offline.pmap")


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def set_meta(model, values):
    for dotted, value in values.items():
        obj = model.meta
        *parents, leaf = dotted.split(".")
        for name in parents:
            obj = getattr(obj, name)
        setattr(obj, leaf, value)


def files_in(directory):
    return sorted(p.name for p in Path(directory).rglob("*") if p.is_file())


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def wcs_references(tmp_path_factory):
    directory = tmp_path_factory.mktemp("wcsrefs")
    refs = {"distortion": directory / "distortion.asdf", "specwcs": directory / "specwcs.fits"}
    references.distortion().save(refs["distortion"])
    references.specwcs().save(refs["specwcs"])
    return {k: str(v) for k, v in refs.items()}


@pytest.fixture(scope="module")
def drift_cube(wcs_references):
    """Six rateints-like integrations with small known shifts, after assign_wcs."""
    x = np.array([0.0, 0.01, -0.01, 0.02, 0.0, 0.01])
    y = np.array([0.0, 0.005, -0.005, 0.0, 0.01, 0.0])
    return load_wcs(make_drift_model(x, y), wcs_references)


@pytest.fixture(scope="module")
def drift_clean(drift_cube):
    return Table(WavelengthDriftStep.call(drift_cube, correct_drift="none").drift_table)


@pytest.fixture(scope="module")
def extract1d_ref(tmp_path_factory):
    return write_extract1d(tmp_path_factory.mktemp("e1d") / "extract1d.json")


@pytest.fixture(scope="module")
def x1dints():
    model, t0, _ = make_tso_x1dints()
    return model, t0


@pytest.fixture()
def uncal_file(tmp_path):
    """A small valid MIRISim-like uncal file."""
    model = mirisim_ramp(nints=3, ngroups=5)
    path = tmp_path / "good_uncal.fits"
    model.save(path)
    return path


def _extract(model, ref, **kwargs):
    return TsoExtract1dStep.call(model, override_extract1d=ref, apply_apcorr=False, **kwargs)


# ------------------------------------------------------- wrong instrument / mode


@pytest.mark.parametrize("mode", list(WRONG_MODES))
def test_drift_skips_other_modes_with_a_copy(drift_cube, mode, caplog):
    model = drift_cube.copy()
    set_meta(model, WRONG_MODES[mode])
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(model)
    assert result is not model
    assert result.meta.cal_step.wavelength_drift == "SKIPPED"
    assert "wavelength_drift" not in model.meta.cal_step.instance
    assert "MIR_LRS-SLITLESS" in caplog.text


@pytest.mark.parametrize("mode", list(WRONG_MODES))
def test_extraction_skips_other_modes_with_a_copy(extract1d_ref, mode, caplog):
    model = make_lrs_tso(nints=2, defects=False)
    set_meta(model, WRONG_MODES[mode])
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = _extract(model, extract1d_ref)
    assert result is not model
    assert result.meta.cal_step.extract_1d == "SKIPPED"
    assert "extract_1d" not in model.meta.cal_step.instance
    assert "not supported" in caplog.text


@pytest.mark.parametrize(
    "cls, mode",
    [(LrsTsoPipeline, "nirspec"), (LrsTsoPipeline, "miri_image"),
     (TsoDetector1Pipeline, "nirspec")],
    ids=["lrs_tso-nirspec", "lrs_tso-miri_image", "tso_detector1-nirspec"],
)  # fmt: skip
def test_pipelines_reject_other_modes(tmp_path, cls, mode):
    model = mirisim_ramp(nints=2, ngroups=3, nrows=416, ncols=72)
    set_meta(model, WRONG_MODES[mode])
    model.meta.filename = f"{mode}_uncal.fits"
    # CRDS (precache of every step's references) refuses first, naming the mode
    with pytest.raises(Exception, match="(?i)nirspec|MIR_IMAGE") as info:
        cls.call(model, output_dir=str(tmp_path))
    assert "Crds" in type(info.value).__name__
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- nints = 1


def test_nints_1_drift_extraction_and_white_light(wcs_references, extract1d_ref, x1dints):
    cube = load_wcs(make_drift_model(np.zeros(1), np.zeros(1)), wcs_references)
    result = WavelengthDriftStep.call(cube)
    assert result.meta.cal_step.wavelength_drift == "COMPLETE"
    assert Table(result.drift_table)["x_shift"][0] == pytest.approx(0.0, abs=1e-6)

    x1d = _extract(make_lrs_tso(nints=1, defects=False), extract1d_ref)
    assert x1d.meta.cal_step.extract_1d == "COMPLETE"
    assert len(x1d.spec[0].spec_table) == 1

    model, t0 = x1dints
    one = model.copy()
    one.spec[0].spec_table = one.spec[0].spec_table[:1]
    with pytest.raises(ValueError, match=r"1 integration\(s\).*needs a time series"):
        DetrendedWhiteLightStep.call(one, **step_kwargs(t0))


def test_nints_1_tsovisit_fix_is_not_a_time_series():
    model = mirisim_ramp(nints=1, ngroups=5)
    result = TsoVisitFixStep.call(model)
    assert result is not model
    assert not result.meta.visit.tsovisit


def test_non_tso_exposure_extracts_without_times_and_white_light_says_why(
    extract1d_ref, x1dints
):
    model = make_lrs_tso(nints=3, defects=False)
    model.meta.visit.tsovisit = False
    x1d = _extract(model, extract1d_ref)
    assert x1d.meta.cal_step.extract_1d == "COMPLETE"
    assert np.all(np.isnan(x1d.spec[0].spec_table["MJD-AVG"]))
    # a long enough series without times: white light names what to run
    series, t0 = x1dints
    no_times = series.copy()
    no_times.spec[0].spec_table["MJD-AVG"][:] = np.nan
    no_times.spec[0].spec_table["TDB-MID"][:] = np.nan
    del no_times.int_times
    with pytest.raises(ValueError, match="no integration times.*tsovisit_fix"):
        DetrendedWhiteLightStep.call(no_times, **step_kwargs(t0))


# ------------------------------------------------------- one bad integration

BAD_INTEGRATION = {
    "all_nan": lambda m, i: m.data.__setitem__(i, np.nan),
    "all_do_not_use": lambda m, i: m.dq.__setitem__(i, m.dq[i] | DO_NOT_USE),
    "zero_flux": lambda m, i: m.data.__setitem__(i, 0.0),
}


@pytest.mark.parametrize("kind", list(BAD_INTEGRATION))
def test_drift_flags_a_bad_integration(drift_cube, drift_clean, kind, caplog):
    model = drift_cube.copy()
    BAD_INTEGRATION[kind](model, 2)
    before = model.data.copy()
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(model)
    assert result is not model
    np.testing.assert_array_equal(model.data, before)
    assert result.meta.cal_step.wavelength_drift == "COMPLETE"
    table = Table(result.drift_table)
    assert np.isnan(table["x_shift"][2]) and np.isnan(table["y_shift"][2])
    assert np.all(result.dq[2] & DO_NOT_USE)
    assert "Integrations 3 could not be fitted" in caplog.text
    # the reference is not poisoned: the other integrations are measured as before
    others = [0, 1, 3, 4, 5]
    for axis, tolerance in (("x_shift", 5e-4), ("y_shift", 5e-3)):
        # shifts are relative to the median frame, which moves a little: compare offsets
        difference = np.asarray(table[axis][others] - drift_clean[axis][others])
        assert np.ptp(difference) < tolerance, axis
    # only the bad one is flagged whole (resampling flags a few edge pixels elsewhere)
    assert np.mean(result.dq[others] & DO_NOT_USE) < 0.05


@pytest.mark.parametrize("kind", list(BAD_INTEGRATION))
def test_extraction_of_a_bad_integration(extract1d_ref, kind):
    model = make_lrs_tso(nints=4, defects=False)
    BAD_INTEGRATION[kind](model, 1)
    table = _extract(model, extract1d_ref).spec[0].spec_table
    assert np.all(np.isfinite(table["FLUX"][[0, 2, 3]]))
    if kind == "zero_flux":
        # taken at face value; in the pipeline wavelength_drift has flagged it already
        assert np.all(table["FLUX"][1] == 0)
    else:
        assert np.all(np.isnan(table["FLUX"][1]))
        assert np.all(table["DQ"][1] & DO_NOT_USE)


@pytest.mark.parametrize("kind", ["all_nan", "all_do_not_use", "zero_flux"])
def test_white_light_clips_a_bad_integration_and_still_fits(x1dints, kind):
    model, t0 = x1dints
    bad = model.copy()
    table = bad.spec[0].spec_table
    if kind == "all_nan":
        table["FLUX"][50] = np.nan
    elif kind == "all_do_not_use":
        table["DQ"][50] = DO_NOT_USE
    else:
        table["FLUX"][50] = 0.0
    result = DetrendedWhiteLightStep.call(bad, **step_kwargs(t0))
    assert result.meta["detrended_white_light"] == "COMPLETE"
    assert result["clipped"][50] and not result["used_in_fit"][50]
    assert result.meta["fit_success"]
    depth, error = result.meta["transit_depth"], result.meta["transit_depth_err"]
    assert abs(depth - RP**2) < 4 * error


# ------------------------------------------------------------------ INT_TIMES


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_tsovisit_fix_builds_missing_or_empty_int_times(state):
    model = flight_ramp(nints=3)
    if state == "missing":
        del model.int_times
    else:
        model.int_times = model.int_times[:0]
    result = TsoVisitFixStep.call(model)
    assert result is not model
    assert result.meta.cal_step.tsovisit_fix == "COMPLETE"
    assert list(result.int_times["integration_number"]) == [1, 2, 3]
    assert np.all(np.diff(result.int_times["int_mid_MJD_UTC"]) > 0)


# ------------------------------------------------------------------------ WCS


def test_drift_without_wcs_names_assign_wcs():
    model = make_drift_model(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="run assign_wcs"):
        WavelengthDriftStep.call(model)


def test_extraction_without_wcs_is_skipped(extract1d_ref, caplog):
    model = make_lrs_tso(nints=2, defects=False)
    model.meta.wcs = None
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = _extract(model, extract1d_ref)
    assert result is not model
    assert result.meta.cal_step.extract_1d == "SKIPPED"
    assert "assign_wcs" in caplog.text


# ------------------------------------------------------- drift beyond the window


@pytest.mark.parametrize("shift", [(3.0, 0.0), (0.0, 3.0), (12.0, 0.0)], ids=["x3", "y3", "x12"])
def test_drift_larger_than_the_fit_window_is_flagged(wcs_references, shift, caplog):
    x = np.zeros(5)
    y = np.zeros(5)
    x[3], y[3] = shift
    model = load_wcs(make_drift_model(x, y), wcs_references)
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(model)
    table = Table(result.drift_table)
    assert np.isnan(table["x_shift"][3]) and np.isnan(table["y_shift"][3])
    assert np.all(result.dq[3] & DO_NOT_USE)
    assert np.all(np.abs(table["x_shift"][[0, 1, 2, 4]]) < 0.01)
    assert "max_shift" in caplog.text


def test_drift_of_every_integration_beyond_the_window_is_an_error(wcs_references):
    model = load_wcs(make_drift_model(np.zeros(3), np.zeros(3)), wcs_references)
    with pytest.raises(ValueError, match="could not fit any integration"):
        WavelengthDriftStep.call(model, max_shift=-1.0)


def test_unusable_reference_integration_is_an_error(drift_cube):
    model = drift_cube.copy()
    model.data[0] = np.nan
    with pytest.raises(ValueError, match="reference integration 0 has no usable pixels"):
        WavelengthDriftStep.call(model, reference="0")


# ------------------------------------------------------------------- template

TEMPLATES = {
    "missing": (None, FileNotFoundError, "template .* not found"),
    "not_a_table": ("garbage\n1 2 3\nfoo bar\n", ValueError, "not a readable table"),
    "one_column": ("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: float64}\n"
                   "a\n1.0\n2.0\n", ValueError, "not a readable table"),
    "all_nan": ("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: wavelength, datatype: float64}\n"
                "# - {name: flux, datatype: float64}\nwavelength flux\nnan nan\nnan nan\n",
                ValueError, "fewer than 2 finite"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_bad_template_is_a_clear_error(drift_cube, tmp_path, kind):
    text, error, match = TEMPLATES[kind]
    path = tmp_path / "template.ecsv"
    if text is not None:
        path.write_text(text)
        before = digest(path)
    with pytest.raises(error, match=match) as info:
        WavelengthDriftStep.call(drift_cube, template=str(path), correct_drift="none")
    assert str(path) in str(info.value)
    if text is not None:
        assert digest(path) == before


# ---------------------------------------------------------------- white light


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_wavelength": 20.0, "max_wavelength": 25.0}, "outside the data, which cover"),
        ({"min_wavelength": 12.0, "max_wavelength": 5.0}, "min_wavelength must be smaller"),
        ({"drift_table": "/nonexistent/x_drift.ecsv"}, "x_drift.ecsv' does not exist"),
    ],
    # (too few out-of-transit points is no longer an error: the fit degrades, see
    # test_detrended_white_light.py)
    ids=["range_outside", "range_inverted", "drift_table_missing"],
)
def test_white_light_bad_parameters(x1dints, kwargs, match):
    model, t0 = x1dints
    with pytest.raises(ValueError, match=match):
        DetrendedWhiteLightStep.call(model, **step_kwargs(t0, **kwargs))


# ------------------------------------------------------------------- files

CORRUPT = {
    "truncated": lambda raw: raw[: len(raw) // 2],
    "header_only": lambda raw: raw[:2880],
    "not_fits": lambda raw: b"this is a text file, not FITS\n",
}
def _corrupt_cases():
    for kind in CORRUPT:
        for cls in ALL_CLASSES:
            yield pytest.param(kind, cls, id=f"{kind}-{cls.class_alias}")


@pytest.mark.parametrize("kind, cls", list(_corrupt_cases()))
def test_corrupt_file_error_names_the_file(uncal_file, tmp_path, kind, cls):
    path = tmp_path / "x_uncal.fits"
    path.write_bytes(CORRUPT[kind](uncal_file.read_bytes()))
    before = digest(path)
    out = tmp_path / "out"
    out.mkdir()
    try:
        with pytest.raises((ValueError, OSError, TypeError)) as info:
            cls.call(str(path), output_dir=str(out))
        assert "x_uncal.fits" in str(info.value)
    finally:
        assert digest(path) == before
        assert files_in(out) == []


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "header_only",
        "not_fits",
    ],
)  # fmt: skip
def test_corrupt_file_into_lrs_tso_run_names_the_file(uncal_file, tmp_path, kind):
    path = tmp_path / "x_uncal.fits"
    path.write_bytes(CORRUPT[kind](uncal_file.read_bytes()))
    before = digest(path)
    pipeline = LrsTsoPipeline(output_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="x_uncal.fits: cannot be read as a JWST product"):
        pipeline.run(str(path))
    assert digest(path) == before
    assert not (tmp_path / "out").exists() or files_in(tmp_path / "out") == []


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.class_alias)
def test_missing_file_is_file_not_found(tmp_path, cls):
    path = tmp_path / "nothere_uncal.fits"
    with pytest.raises(FileNotFoundError, match="nothere_uncal.fits"):
        cls.call(str(path))


@pytest.mark.parametrize(
    "cls",
    [
        LrsTsoPipeline,
        DetrendedTso3Pipeline,
    ],
    ids=lambda c: c.class_alias,
)  # fmt: skip
def test_unreadable_association_names_the_file(tmp_path, cls):
    path = tmp_path / "broken_asn.json"
    path.write_text("{not json")
    with pytest.raises((ValueError, OSError), match="broken_asn.json"):
        cls.call(str(path), output_dir=str(tmp_path / "out"))
    assert path.read_text() == "{not json"


@pytest.mark.parametrize(
    "cls", [LrsTsoPipeline, DetrendedTso3Pipeline], ids=lambda c: c.class_alias
)
def test_association_with_a_missing_member(tmp_path, cls):
    asn = {
        "asn_type": "tso3", "asn_rule": "candidate_Asn_Lv3TSO", "asn_id": "a3001",
        "asn_pool": "none", "program": "01234",
        "products": [{"name": "prod", "members": [
            {"expname": "nothere_calints.fits", "exptype": "science"}]}],
    }  # fmt: skip
    path = tmp_path / "prod_asn.json"
    path.write_text(json.dumps(asn))
    with pytest.raises(FileNotFoundError, match="nothere_calints.fits"):
        cls.call(str(path), output_dir=str(tmp_path / "out"))


# ------------------------------------------------------------ parameter files

PARAMETER_FILES = {
    "unknown": ("x_half_wdith: 7", "Extra value 'x_half_wdith'"),
    "wrong_type": ("x_half_width: seven", "'x_half_width'.*wrong type"),
}


def _parameter_file(directory, line):
    path = Path(directory) / "drift_params.asdf"
    path.write_text(
        "#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
        "--- !core/asdf-1.1.0\nclass: jwst_tso_ext.steps.WavelengthDriftStep\n"
        f"name: wavelength_drift\nparameters:\n  {line}\n...\n"
    )
    return path


@pytest.mark.parametrize("kind", list(PARAMETER_FILES))
def test_parameter_file_errors_name_the_parameter(tmp_path, drift_cube, kind):
    line, match = PARAMETER_FILES[kind]
    path = _parameter_file(tmp_path, line)
    before = digest(path)
    with pytest.raises(ValidationError, match=match):
        Step.from_config_file(str(path))
    with pytest.raises(ValidationError, match=match):
        WavelengthDriftStep.call(drift_cube, config_file=str(path))
    assert digest(path) == before


@pytest.mark.subprocess
def test_strun_parameter_file_with_wrong_type(tmp_path, uncal_file, offline_crds_cache, strun):
    path = _parameter_file(tmp_path, PARAMETER_FILES["wrong_type"][0])
    before = digest(uncal_file)
    result = strun(
        path, uncal_file, "--output_dir", tmp_path / "out", cwd=tmp_path, check=False, timeout=300
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "x_half_width" in output and "wrong type" in output
    assert digest(uncal_file) == before
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- output directory


@pytest.mark.parametrize(
    "cls", [TsoVisitFixStep, DetrendedWhiteLightStep, LrsTsoPipeline], ids=lambda c: c.class_alias
)
def test_output_dir_under_a_regular_file(tmp_path, uncal_file, x1dints, cls):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file\n")
    output_dir = blocker / "sub"
    if cls is DetrendedWhiteLightStep:
        model, t0 = x1dints
        kwargs = step_kwargs(t0)
        source = tmp_path / "x_x1dints.fits"
        model.save(source)
    else:
        kwargs = {}
        source = uncal_file
    listing = files_in(tmp_path)
    before = digest(source)
    with pytest.raises(NotADirectoryError, match="file.txt/sub"):
        cls.call(str(source), output_dir=str(output_dir), save_results=True, **kwargs)
    assert digest(source) == before
    assert files_in(tmp_path) == listing
