"""Issue 13: every product a user holds goes in, and nothing is calibrated twice.

One small simulated exposure is taken through ``strun lrs_tso`` from its uncal; the
products of that run (rateints, calints, x1dints) are then each handed back to
``lrs_tso`` (and the calints, as an association, to ``detrended_tso3``; these runs
are in the slower tier, marked ``subprocess``; the fast tier's tests use the same
run made in this process). Every route
must give the same white-light flux and drift table, log each skipped step once,
and leave its input file unchanged. The white-light fit gets the simulated orbit, so
these tests do not depend on how the fit finds a transit on its own.
"""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.cli.demo import orbit_arguments
from jwst_tso_ext.pipeline import stages
from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure

ROOT = "rt"
STAGE2 = ("assign_wcs", "srctype", "flat_field", "wavelength_drift", "photom")


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _skip_lines(log, step):
    return [line for line in log.splitlines() if f": {step} already COMPLETE on the input" in line]


def _ran(log, step):
    return f"Step {step} running" in log


def _exposure(directory):
    """The exposure simulated in ``directory``: its uncal, truth and output directory."""
    paths = simulate_exposure(SimulationConfig(nints=40, ngroups=5, seed=3, root=ROOT), directory)
    uncal = [p for p in paths if p.name.endswith("_uncal.fits")][0]
    return uncal, directory / f"{ROOT}_truth.ecsv", directory / "from_uncal"


@pytest.fixture(scope="module")
def uncal_run(tmp_path_factory, offline_crds_cache, strun):
    """The exposure simulated and run from its uncal: the reference of every route."""
    directory = tmp_path_factory.mktemp("resume")
    uncal, truth, out = _exposure(directory)
    result = strun("lrs_tso", uncal, "--output_dir", out, *orbit_arguments(truth), cwd=directory)
    return directory, out, truth, result.stdout + result.stderr


@pytest.fixture(scope="module")
def uncal_run_in_process(tmp_path_factory, offline_crds_cache, log_messages):
    """`uncal_run` in this process, for the fast tier: same exposure and options, the log
    collected from every logger. (The routes compare ``strun`` runs with `uncal_run`:
    the drift table of this process's run can differ from theirs in the last bit.)"""
    from jwst_tso_ext.cli.run import step_options
    from jwst_tso_ext.pipeline import LrsTsoPipeline

    directory = tmp_path_factory.mktemp("resume_in_process")
    uncal, truth, out = _exposure(directory)
    with log_messages() as messages:
        LrsTsoPipeline.call(
            str(uncal), output_dir=str(out), save_results=True,
            **step_options(orbit_arguments(truth)),
        )  # fmt: skip
    return directory, out, truth, "\n".join(messages)


def _route(uncal_run, suffix, tmp_path, strun):
    """Copy one product of the uncal run to a fresh directory and run lrs_tso on it."""
    directory, out, truth, _ = uncal_run
    source = tmp_path / f"in_{suffix}.fits"
    shutil.copy(out / f"{ROOT}_{suffix}.fits", source)
    before = _md5(source)
    result = strun(
        "lrs_tso", source, "--output_dir", tmp_path, *orbit_arguments(truth), cwd=tmp_path
    )
    assert _md5(source) == before, "the input file was modified"
    return tmp_path / "in", result.stdout + result.stderr


def _assert_same_products(uncal_run, prefix):
    """White-light flux (<= 1e-6 relative) and drift table identical to the uncal run."""
    _, out, _, _ = uncal_run
    reference = Table.read(out / f"{ROOT}_whtlt.ecsv", format="ascii.ecsv")
    whtlt = Table.read(f"{prefix}_whtlt.ecsv", format="ascii.ecsv")
    assert list(whtlt["int_num"]) == list(reference["int_num"])
    relative = np.abs(whtlt["whitelight_flux"] / reference["whitelight_flux"] - 1)
    assert np.max(relative) <= 1e-6
    drift_reference = Table.read(out / f"{ROOT}_drift.ecsv", format="ascii.ecsv")
    drift = Table.read(f"{prefix}_drift.ecsv", format="ascii.ecsv")
    assert drift.colnames == drift_reference.colnames
    for name in drift.colnames:
        np.testing.assert_array_equal(drift[name], drift_reference[name], err_msg=name)
    # the regressors the fit used are that drift table
    np.testing.assert_array_equal(whtlt["x_shift"], reference["x_shift"])
    return whtlt, reference


def test_uncal_run_fills_the_integration_range_and_skips_nothing(uncal_run_in_process):
    """No ``INTSTART not found`` from extraction on the simulator's MIRISim-like uncal."""
    _, out, _, log = uncal_run_in_process
    assert "INTSTART not found" not in log
    assert "INTEND not found" not in log
    assert "Changed INTSTART (assumed: the file starts the exposure): None -> 1" in log
    assert "already COMPLETE on the input" not in log
    with datamodels.open(out / f"{ROOT}_x1dints.fits") as x1d:
        table = x1d.spec[0].spec_table
        np.testing.assert_array_equal(table["INT_NUM"], np.arange(1, 41))
        assert np.all(np.isfinite(table["MJD-AVG"]))
    for suffix in ("rateints", "calints"):
        with datamodels.open(out / f"{ROOT}_{suffix}.fits") as model:
            assert (model.meta.exposure.integration_start, model.meta.exposure.integration_end) == (
                1,
                40,
            )


@pytest.fixture(scope="module")
def rateints_route(uncal_run, tmp_path_factory, strun):
    return _route(uncal_run, "rateints", tmp_path_factory.mktemp("rateints_route"), strun)


@pytest.mark.subprocess
def test_rateints_route_runs_stage2_only(uncal_run, rateints_route):
    prefix, log = rateints_route
    _assert_same_products(uncal_run, prefix)
    assert not _ran(log, "jump") and not _ran(log, "ramp_fit")
    for step in STAGE2:
        assert _ran(log, step) and not _skip_lines(log, step), step


@pytest.mark.subprocess
def test_calints_with_photom_complete_is_not_calibrated_again(
    uncal_run, rateints_route, tmp_path, strun
):
    """The calints resumes at extraction: photom (and every stage-2 step) not re-applied.

    Before issue 13 flat_field and photom ran again and the white light came out
    ~15x too large with exit status 0.
    """
    prefix, log = _route(uncal_run, "calints", tmp_path, strun)
    whtlt, _ = _assert_same_products(uncal_run, prefix)
    # the flux against the rateints route (which applies photom once)
    once = Table.read(f"{rateints_route[0]}_whtlt.ecsv", format="ascii.ecsv")
    np.testing.assert_allclose(whtlt["whitelight_flux"], once["whitelight_flux"], rtol=1e-6, atol=0)
    for step in STAGE2:
        assert len(_skip_lines(log, step)) == 1, step
        assert not _ran(log, step), step
    assert "reusing the drift table attached to the input" in log
    assert _ran(log, "tso_extract_1d")
    # the calints is an input here: left as it is, not written again
    assert f"Not writing {tmp_path / 'in_calints.fits'}: it is an input of this run" in log


@pytest.mark.subprocess
def test_x1dints_route_runs_the_white_light_only(uncal_run, tmp_path, strun):
    prefix, log = _route(uncal_run, "x1dints", tmp_path, strun)
    _assert_same_products(uncal_run, prefix)
    for step in (*STAGE2, "tso_extract_1d"):
        assert not _ran(log, step), step
    for step in (*STAGE2, "extract_1d"):
        assert len(_skip_lines(log, step)) == 1, step


@pytest.mark.subprocess
def test_x1dints_of_an_older_jwst_version_runs(uncal_run, tmp_path, strun):
    """jwst < 1.18 layout (one spectrum per integration), drift table beside the file."""
    _, out, truth, _ = uncal_run
    with datamodels.open(out / f"{ROOT}_x1dints.fits") as x1d:
        old = datamodels.MultiSpecModel()
        old.update(x1d, only="PRIMARY")
        table = x1d.spec[0].spec_table
        for row in table:
            n = int(row["N_ALONGDISP"])
            spec = datamodels.SpecModel()
            dtype = spec.get_dtype("spec_table")
            spec.spec_table = np.empty(n, dtype=dtype)
            for name in dtype.names:
                spec.spec_table[name] = row[name][:n]
            spec.int_num = int(row["INT_NUM"])
            spec.mid_time_mjd = float(row["MJD-AVG"])
            spec.mid_tdb = float(row["TDB-MID"])
            spec.spectral_order = 1
            old.spec.append(spec)
    old.save(tmp_path / "old_x1dints.fits")
    shutil.copy(out / f"{ROOT}_drift.ecsv", tmp_path / "old_drift.ecsv")
    result = strun(
        "lrs_tso", tmp_path / "old_x1dints.fits", "--output_dir", tmp_path / "out",
        *orbit_arguments(truth), cwd=tmp_path,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert "x1dints of an older jwst version (one spectrum per integration, 40 spectra)" in log
    assert "reusing the drift table" in log and "old_drift.ecsv" in log
    _assert_same_products(uncal_run, tmp_path / "out" / "old")


@pytest.mark.subprocess
def test_detrended_tso3_on_x1dints_association(uncal_run, tmp_path, strun, association):
    """Reduced form of the stage-3 round trip: nothing left to do but the white light."""
    _, out, truth, _ = uncal_run
    shutil.copy(out / f"{ROOT}_x1dints.fits", tmp_path / "seg_x1dints.fits")
    asn = association(tmp_path, [tmp_path / "seg_x1dints.fits"], "tso3")
    orbit = [a.replace("detrended_white_light", "white_light") for a in orbit_arguments(truth)]
    result = strun("detrended_tso3", asn, "--output_dir", tmp_path, *orbit, cwd=tmp_path)
    log = result.stdout + result.stderr
    assert not _ran(log, "extract_1d") and not _ran(log, "outlier_detection")
    assert len(_skip_lines(log, "extract_1d")) == 1
    whtlt = Table.read(tmp_path / "tso3_whtlt.ecsv", format="ascii.ecsv")
    reference = Table.read(out / f"{ROOT}_whtlt.ecsv", format="ascii.ecsv")
    assert np.max(np.abs(whtlt["whitelight_flux"] / reference["whitelight_flux"] - 1)) <= 1e-6
    np.testing.assert_array_equal(whtlt["x_shift"], reference["x_shift"])
    assert (tmp_path / "tso3_x1dints.fits").is_file()


@pytest.mark.subprocess
def test_detrended_tso3_on_calints_association(uncal_run, tmp_path, strun, association):
    """The stage-3 round trip: jwst's extract_1d on the calints, same white light.

    ``outlier_detection`` is skipped here. lrs_tso runs its own ``tso_outlier_detection``
    after the calints are saved, so an integration where it flagged pixels (the drift
    table's ``n_outliers``) may differ; every other integration matches to 1e-6.
    """
    _, out, truth, _ = uncal_run
    shutil.copy(out / f"{ROOT}_calints.fits", tmp_path / "seg_calints.fits")
    asn = association(tmp_path, [tmp_path / "seg_calints.fits"], "tso3")
    orbit = [a.replace("detrended_white_light", "white_light") for a in orbit_arguments(truth)]
    result = strun(
        "detrended_tso3", asn, "--output_dir", tmp_path, *orbit,
        "--steps.outlier_detection.skip=true", cwd=tmp_path,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert _ran(log, "extract_1d")
    whtlt = Table.read(tmp_path / "tso3_whtlt.ecsv", format="ascii.ecsv")
    reference = Table.read(out / f"{ROOT}_whtlt.ecsv", format="ascii.ecsv")
    drift = Table.read(out / f"{ROOT}_drift.ecsv", format="ascii.ecsv")
    flagged = np.isin(reference["int_num"], drift["int_num"][drift["n_outliers"] > 0])
    assert flagged.sum() < len(flagged) // 4  # a few cosmic-ray hits, not every integration
    ratio = np.asarray(whtlt["whitelight_flux"] / reference["whitelight_flux"])
    assert np.max(np.abs(ratio[~flagged] - 1)) <= 1e-6
    np.testing.assert_array_equal(whtlt["x_shift"], reference["x_shift"])


@pytest.mark.subprocess
def test_failure_in_the_white_light_keeps_every_earlier_product(uncal_run, tmp_path, strun):
    """A bad white-light parameter: the run fails, naming the step and what is on disk."""
    directory, _, _, _ = uncal_run
    result = strun(
        "lrs_tso", directory / f"{ROOT}_uncal.fits", "--output_dir", tmp_path,
        "--steps.detrended_white_light.drift_table=no_such_table.ecsv", cwd=tmp_path, check=False,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "step detrended_white_light failed" in log
    for suffix in ("rateints.fits", "calints.fits", "x1dints.fits", "drift.ecsv"):
        path = tmp_path / f"{ROOT}_{suffix}"
        assert path.is_file(), suffix
        assert str(path.name) in log.split("Products already written:")[-1], suffix
    with datamodels.open(tmp_path / f"{ROOT}_x1dints.fits") as x1d:
        assert len(x1d.spec[0].spec_table) == 40
        assert len(x1d.drift_table) == 40
    assert len(Table.read(tmp_path / f"{ROOT}_drift.ecsv", format="ascii.ecsv")) == 40
    assert not (tmp_path / f"{ROOT}_whtlt.ecsv").exists()


@pytest.mark.subprocess
def test_segmented_exposure_resumes_from_mixed_stages(
    tmp_path, offline_crds_cache, strun, association
):
    """A run that stopped after segment 1: its calints and segment 2's rateints go back in.

    Segment 2 is drift-corrected against the reference frame that the first run wrote
    (``<root>_driftref.fits``), so the exposure's drift table and white light come out
    as from the uncal ramps.
    """
    root = "mix"
    config = SimulationConfig(nints=40, ngroups=5, segment_size=20, seed=5, root=root)
    paths = simulate_exposure(config, tmp_path)
    uncal = [p for p in paths if p.name.endswith("_uncal.fits")]
    truth = tmp_path / f"{root}_truth.ecsv"
    first = tmp_path / "first"
    first.mkdir()
    asn = association(tmp_path, uncal, root)
    strun("lrs_tso", asn, "--output_dir", first, *orbit_arguments(truth), cwd=tmp_path)
    for name in ("seg001_x1dints.fits", "seg002_x1dints.fits", "seg001_drift.ecsv"):
        assert (first / f"{root}_{name}").is_file(), name

    second = tmp_path / "second"
    second.mkdir()
    members = [first / f"{root}_seg001_calints.fits", first / f"{root}_seg002_rateints.fits"]
    for member in members:
        shutil.copy(member, second / member.name)
    shutil.copy(first / f"{root}_driftref.fits", second)
    asn = association(second, [second / m.name for m in members], root)
    result = strun("lrs_tso", asn, "--output_dir", second, *orbit_arguments(truth), cwd=second)
    log = result.stdout + result.stderr
    assert len(_skip_lines(log, "photom")) == 1  # segment 1 only
    assert log.count("Step photom running") == 1  # segment 2
    assert "the reference of the run that corrected the earlier segments" in log
    expected = Table.read(first / f"{root}_drift.ecsv", format="ascii.ecsv")
    drift = Table.read(second / f"{root}_drift.ecsv", format="ascii.ecsv")
    for name in expected.colnames:
        np.testing.assert_array_equal(drift[name], expected[name], err_msg=name)
    reference = Table.read(first / f"{root}_whtlt.ecsv", format="ascii.ecsv")
    whtlt = Table.read(second / f"{root}_whtlt.ecsv", format="ascii.ecsv")
    assert np.max(np.abs(whtlt["whitelight_flux"] / reference["whitelight_flux"] - 1)) <= 1e-6


# --- stage detection, without running anything -----------------------------------


def test_cal_step_names_of_pipeline_steps():
    assert stages.cal_step_name("dark_current") == "dark_sub"
    assert stages.cal_step_name("mirisim_refpix_guard") == "refpix"
    assert stages.cal_step_name("tso_extract_1d") == "extract_1d"
    assert stages.cal_step_name("photom") == "photom"


def test_older_cal_step_names_are_mapped_and_reported():
    steps, assumptions = stages.normalise_cal_steps(
        {"back_sub": "complete", "photom": "COMPLETE", "flat_field": None}
    )
    assert steps == {"bkg_subtract": "COMPLETE", "photom": "COMPLETE"}
    assert assumptions == [
        "cal_step 'back_sub' (older jwst schema) read as 'bkg_subtract' = COMPLETE"
    ]
    # today's spelling wins when both are present
    steps, assumptions = stages.normalise_cal_steps(
        {"back_sub": "SKIPPED", "bkg_subtract": "COMPLETE"}
    )
    assert steps == {"bkg_subtract": "COMPLETE"} and assumptions == []


@pytest.mark.parametrize(
    ("kind", "cal_steps", "stage"),
    [
        ("ramp", {"dq_init": "COMPLETE"}, "uncal"),
        ("cube", {"ramp_fit": "COMPLETE", "gain_scale": "COMPLETE"}, "rateints"),
        ("cube", {"ramp_fit": "COMPLETE", "assign_wcs": "SKIPPED"}, "rateints"),
        ("cube", {"assign_wcs": "COMPLETE"}, "calints"),
        ("cube", {"photom": "COMPLETE", "flat_field": "COMPLETE"}, "calints"),
        ("spectra", {"extract_1d": "COMPLETE"}, "x1dints"),
    ],
)
def test_product_stage(kind, cal_steps, stage):
    assert stages.product_stage(kind, cal_steps) == stage


def test_product_kind_and_unknown_products():
    assert stages.product_kind(4) == "ramp"
    assert stages.product_kind(3) == "cube"
    assert stages.product_kind(None, has_spectra=True) == "spectra"
    assert stages.product_kind(2) is None
    with pytest.raises(ValueError, match="not a time-series product"):
        stages.product_stage(None, {})


def test_completed_steps_in_pipeline_order():
    cal_steps = {"photom": "COMPLETE", "assign_wcs": "COMPLETE", "srctype": "SKIPPED"}
    assert stages.completed_steps(cal_steps, stages.STAGE2_STEPS) == ["assign_wcs", "photom"]
    assert stages.is_complete({"extract_1d": "COMPLETE"}, "tso_extract_1d")


def test_photom_done_without_wcs_is_refused():
    with pytest.raises(ValueError, match="photom COMPLETE but the product carries no WCS"):
        stages.check_wcs_for_resume({"photom": "COMPLETE"}, False, "x_calints.fits")
    with pytest.raises(ValueError, match="wavelength_drift COMPLETE"):
        stages.check_wcs_for_resume({"wavelength_drift": "COMPLETE"}, False, "x")
    stages.check_wcs_for_resume({"photom": "COMPLETE"}, True, "x")  # WCS kept: fine
    stages.check_wcs_for_resume({"flat_field": "COMPLETE"}, False, "x")  # re-assignable


def test_official_style_calints_gets_only_the_missing_steps(
    uncal_run_in_process, tmp_path, caplog
):
    """A calints as calwebb_spec2 (or jwst 2.x) leaves it: photom done, no drift, no INTSTART.

    ``wavelength_drift`` and the extraction run, photom is not applied again, and the
    missing integration range is filled from INT_TIMES (and logged).
    """
    import logging

    from jwst_tso_ext.pipeline import LrsTsoPipeline

    _, out, _, _ = uncal_run_in_process
    with datamodels.CubeModel(str(out / f"{ROOT}_calints.fits")) as model:
        del model.drift_table
        del model.meta.wavelength_drift
        model.meta.cal_step.wavelength_drift = None
        model.meta.exposure.integration_start = None
        model.meta.exposure.integration_end = None
        model.save(tmp_path / "official_calints.fits")
    # output_dir: the segment's crfints is written (it was, into the working directory)
    pipeline = LrsTsoPipeline(save_results=False, output_dir=str(tmp_path))
    pipeline.detrended_white_light.skip = True
    with caplog.at_level(logging.INFO):
        x1d = pipeline.run(str(tmp_path / "official_calints.fits"))
    messages = [record.getMessage() for record in caplog.records]
    for step in ("assign_wcs", "srctype", "flat_field", "photom"):
        assert sum(f": {step} already COMPLETE on the input" in m for m in messages) == 1, step
    assert not any(": wavelength_drift already COMPLETE" in m for m in messages)
    assert any(
        "INTSTART (assumed: first integration of INT_TIMES): None -> 1" in m for m in messages
    )
    assert len(x1d.drift_table) == 40
    # photom applied once: the flux of the uncal route within the few per cent that a
    # second drift resampling (and static offset) of an already corrected cube moves
    # it (1.4% here); photom applied twice gave ~15x
    with datamodels.open(out / f"{ROOT}_x1dints.fits") as reference:
        expected = np.nansum(reference.spec[0].spec_table["FLUX"], axis=1)
    flux = np.nansum(x1d.spec[0].spec_table["FLUX"], axis=1)
    np.testing.assert_allclose(flux, expected, rtol=0.03)


def test_calints_with_photom_done_but_no_wcs_is_refused(uncal_run_in_process, tmp_path):
    from jwst_tso_ext.pipeline import LrsTsoPipeline

    _, out, _, _ = uncal_run_in_process
    with datamodels.CubeModel(str(out / f"{ROOT}_calints.fits")) as model:
        model.meta.wcs = None
        model.save(tmp_path / "nowcs_calints.fits")
    pipeline = LrsTsoPipeline(save_results=False)
    with pytest.raises(ValueError, match="nowcs_calints.fits: .*photom COMPLETE but the product"):
        pipeline.run(str(tmp_path / "nowcs_calints.fits"))
