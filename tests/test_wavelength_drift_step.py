"""WavelengthDriftStep on an in-memory rateints CubeModel with the official LRS slitless WCS."""

import logging

import numpy as np
import pytest
from astropy.table import Table
from jwst.assign_wcs.assign_wcs import load_wcs
from scipy import special
from stdatamodels.jwst import datamodels

from jwst_tso_ext import parallel
from jwst_tso_ext.crds_cache import references
from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import other_instrument, scene
from jwst_tso_ext.simulate.rates import noisy_slopes
from jwst_tso_ext.steps import WavelengthDriftStep
from jwst_tso_ext.wavelength_drift import shift_estimator, wavelength_solution

NGROUPS = 40
STATIC = (0.3, 0.5)


@pytest.fixture(autouse=True)
def _no_crds_steppars(monkeypatch, offline_crds_cache):
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")


@pytest.fixture(scope="module")
def wcs_references(tmp_path_factory):
    directory = tmp_path_factory.mktemp("refs")
    distortion = directory / "distortion.asdf"
    specwcs = directory / "specwcs.fits"
    references.distortion().save(distortion)
    references.specwcs().save(specwcs)
    return {"distortion": str(distortion), "specwcs": str(specwcs)}


def make_model(x_shift, y_shift, seed=0, spectrum=None):
    """Flat-fielded rateints-like CubeModel of MIRI LRS slitless with noise."""
    data, err, var_p, var_r = noisy_slopes(x_shift, y_shift, NGROUPS, seed, spectrum=spectrum)
    model = datamodels.CubeModel(
        data=data,
        err=err,
        dq=np.zeros(data.shape, np.uint32),
        var_poisson=var_p,
        var_rnoise=np.full_like(data, var_r),
    )
    meta = model.meta
    meta.filename = "jw01234001001_01101_00001-seg001_mirimage_rateints.fits"
    meta.instrument.name = "MIRI"
    meta.instrument.detector = "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.exposure.type = "MIR_LRS-SLITLESS"
    meta.exposure.nints = len(x_shift)
    meta.exposure.integration_start = 1
    meta.exposure.ngroups = NGROUPS
    meta.exposure.frame_time = geometry.FRAME_TIME
    meta.exposure.group_time = geometry.FRAME_TIME
    meta.observation.date = "2024-01-01"
    meta.observation.time = "06:00:00"
    meta.subarray.name = "SLITLESSPRISM"
    meta.subarray.xstart, meta.subarray.ystart = geometry.SUBSTRT1, geometry.SUBSTRT2
    meta.subarray.xsize, meta.subarray.ysize = geometry.N_COLUMNS, geometry.N_ROWS
    meta.target.ra, meta.target.dec = 10.0, -20.0
    w = meta.wcsinfo
    w.ra_ref, w.dec_ref, w.roll_ref = 10.0, -20.0, 0.0
    w.v2_ref, w.v3_ref, w.v3yangle, w.vparity = -378.6, -344.9, 4.45, -1
    n = len(x_shift)
    columns = [
        f"int_{which}_{scale}"
        for scale in ("MJD_UTC", "BJD_TDB")
        for which in ("start", "mid", "end")
    ]
    times = np.zeros(n, dtype=[("integration_number", "<i4")] + [(c, "<f8") for c in columns])
    times["integration_number"] = np.arange(1, n + 1)
    times["int_mid_MJD_UTC"] = 60310.0 + np.arange(n) * NGROUPS * geometry.FRAME_TIME / 86400
    model.int_times = times
    return model


@pytest.fixture(scope="module")
def drifting(wcs_references):
    rng = np.random.default_rng(11)
    x_true = STATIC[0] + rng.uniform(-0.04, 0.04, 40)
    y_true = STATIC[1] + np.linspace(-0.05, 0.05, 40)
    model = load_wcs(make_model(x_true, y_true), wcs_references)
    return model, x_true, y_true


@pytest.fixture(scope="module")
def template_path(tmp_path_factory):
    star = scene.blackbody_spectrum()
    path = tmp_path_factory.mktemp("template") / "star.ecsv"
    Table({"wavelength": star.wavelength, "flux": star.flux_jy}).write(path)
    return str(path)


def test_step_measures_corrects_and_attaches_table(drifting, template_path, tmp_path, caplog):
    model, x_true, y_true = drifting
    data_before = model.data.copy()
    wcs_before = model.meta.wcs
    with caplog.at_level(logging.INFO, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(
            model, template=template_path, save_results=True, output_dir=str(tmp_path)
        )
    assert result is not model
    assert np.array_equal(model.data, data_before)
    assert model.meta.wcs is wcs_before
    assert result.meta.cal_step.wavelength_drift == "COMPLETE"

    table = Table(result.drift_table)
    assert table.colnames == [
        "int_num",
        "MJD_UTC",
        "x_shift",
        "y_shift",
        "x_shift_err",
        "y_shift_err",
        "trace_width",
    ]
    assert np.array_equal(table["int_num"], np.arange(1, 41))
    assert np.allclose(table["MJD_UTC"], model.int_times["int_mid_MJD_UTC"])
    ex = table["x_shift"] - (x_true - np.median(x_true))
    ey = table["y_shift"] - (y_true - np.median(y_true))
    assert np.std(ex) < 0.002
    assert np.std(ey) < 0.03
    assert np.all(table["y_shift_err"] > 0) and np.all(table["x_shift_err"] > 0)

    static = result.meta.wavelength_drift
    assert static.static_x_offset == pytest.approx(STATIC[0], abs=0.02)
    assert static.static_y_offset == pytest.approx(STATIC[1], abs=0.02)
    # the corrected WCS gives 7.5 um where it truly fell (star at the median position)
    row = geometry.row_at_wavelength(7.5, np.median(y_true))
    x = geometry.NOMINAL_X + np.median(x_true)
    assert result.meta.wcs(x, row)[2] == pytest.approx(7.5, abs=0.005)

    # after resampling the integrations agree in position
    again = WavelengthDriftStep.call(result, correct_drift="none")
    assert np.std(Table(again.drift_table)["x_shift"]) < 0.001
    assert np.nansum(result.data[:, 100:400, 10:65]) == pytest.approx(
        np.nansum(model.data[:, 100:400, 10:65]), rel=1e-3
    )
    assert np.all(result.var_poisson[np.isfinite(result.var_poisson)] >= 0)

    written = Table.read(tmp_path / "jw01234001001_01101_00001-seg001_mirimage_drift.ecsv")
    assert np.allclose(written["x_shift"], table["x_shift"])
    assert any("x_shift: mean" in rec.getMessage() for rec in caplog.records)


def test_drift_table_survives_save(drifting, tmp_path):
    model, _, _ = drifting
    result = WavelengthDriftStep.call(model, y_offset=0.5)
    assert result.meta.wavelength_drift.static_y_offset == 0.5
    path = tmp_path / "out_calints.fits"
    result.save(path)
    with datamodels.open(path) as reopened:
        assert np.allclose(reopened.drift_table["x_shift"], result.drift_table["x_shift"])
        assert reopened.meta.wavelength_drift.static_y_offset == 0.5
        assert reopened.meta.wcs(40.0, 300.0)[2] == pytest.approx(result.meta.wcs(40.0, 300.0)[2])


def test_static_y_offset_is_fitted_by_default(drifting, tmp_path, caplog):
    """No template: a Rayleigh-Jeans star and the photom reference's response."""
    model, _, y_true = drifting
    with caplog.at_level(logging.INFO, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(
            model, correct_drift="none", save_results=True, output_dir=str(tmp_path)
        )
    static = result.meta.wavelength_drift
    assert static.static_y_method == "rayleigh_jeans"
    assert static.photom_reference == "jwst_miri_photom_9001.fits"
    assert static.static_y_offset == pytest.approx(np.median(y_true), abs=0.015)
    assert 0.0 < static.static_y_offset_err < 0.015
    assert abs(static.static_y_offset - np.median(y_true)) < 4 * static.static_y_offset_err
    assert any("Static y offset (F_nu ~ nu**2" in rec.getMessage() for rec in caplog.records)
    # the drift table carries the offsets, for the spectrum's metadata
    written = Table.read(tmp_path / "jw01234001001_01101_00001-seg001_mirimage_drift.ecsv")
    assert written.meta["static_y_offset"] == pytest.approx(static.static_y_offset)
    assert written.meta["static_y_offset_err"] == pytest.approx(static.static_y_offset_err)
    assert written.meta["static_y_method"] == "rayleigh_jeans"

    hot = WavelengthDriftStep.call(model, correct_drift="none", stellar_temperature=6230.0)
    assert hot.meta.wavelength_drift.static_y_method == "blackbody"
    assert hot.meta.wavelength_drift.static_y_offset == pytest.approx(np.median(y_true), abs=0.015)


def test_static_y_offset_off_with_y_offset_zero_or_no_photom(drifting, caplog):
    model, _, _ = drifting
    with caplog.at_level(logging.INFO, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(model, correct_drift="none", override_photom="N/A")
    assert result.meta.wavelength_drift.static_y_offset == 0.0
    assert result.meta.wavelength_drift.static_y_method == "none"
    assert any("static y offset not fitted" in rec.getMessage() for rec in caplog.records)
    assert np.array_equal(result.data, model.data)

    result = WavelengthDriftStep.call(model, correct_drift="none", reference="0", y_offset=0.0)
    assert result.meta.wavelength_drift.static_y_offset == 0.0
    assert result.meta.wavelength_drift.static_y_method == "user"
    assert Table(result.drift_table)["x_shift"][0] == pytest.approx(0.0, abs=1e-8)


#: An instrument whose response is not the package's model: a cut-on edge at 4.8 um
#: (the model has none) and an 8 %/um tilt.
def _other_response(wavelength):
    wavelength = np.asarray(wavelength, dtype=float)
    return (
        detector.relative_response(wavelength)
        * special.expit((wavelength - 4.8) / 0.04)
        * (1.0 + 0.08 * (wavelength - 7.5))
    )


def _other_photom():
    """Photom reference of that instrument (fine wavelength grid)."""
    model = references.photom(_other_response, np.arange(3.5, 14.5 + 1e-9, 0.01))
    model.meta.filename = "other_photom.fits"
    return model


def test_static_y_offset_of_one_pixel_with_another_instrument_response(wcs_references):
    """1 px offset along the dispersion, no template, a response unlike the package's.

    The data are simulated with the other response; the step takes it from the photom
    reference it is given (as CRDS would select the flight one) and recovers the offset;
    the package's own response model would not.
    """
    star = scene.blackbody_spectrum()
    ratio = _other_response(star.wavelength) / detector.relative_response(star.wavelength)
    other_star = scene.StellarSpectrum(star.wavelength, star.flux_jy * ratio)
    rng = np.random.default_rng(3)
    x_true = 0.2 + rng.normal(0.0, 0.005, 40)
    y_true = 1.0 + np.linspace(-0.01, 0.01, 40)
    model = load_wcs(make_model(x_true, y_true, seed=5, spectrum=other_star), wcs_references)
    result = WavelengthDriftStep.call(model, override_photom=_other_photom(), correct_drift="none")
    static = result.meta.wavelength_drift
    assert static.photom_reference == "other_photom.fits"
    assert static.static_y_offset == pytest.approx(1.0, abs=0.03)
    assert abs(static.static_y_offset - 1.0) < 4 * static.static_y_offset_err
    # the corrected WCS gives 7.35 um at the row where 7.35 um truly fell
    row = geometry.row_at_wavelength(7.35, np.median(y_true))
    x = geometry.NOMINAL_X + np.median(x_true)
    assert result.meta.wcs(x, row)[2] == pytest.approx(7.35, abs=0.002)

    # the package's synthetic response (what the step used before) is far off here
    ref = shift_estimator.make_reference(model.data, model.err, model.dq)
    wave, flux = wavelength_solution.stellar_template()
    spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
    variance = np.nansum(ref.variance[:, ref.columns], axis=1)
    y_package, _ = wavelength_solution.fit_static_y_offset(
        spectrum, variance, np.arange(spectrum.size), wave, flux
    )
    assert abs(y_package - 1.0) > 0.3


@pytest.mark.slow
def test_static_y_offset_declined_when_the_cut_on_moved(wcs_references, caplog):
    """Another instrument whose cut-on moved by 0.2 um against its photom: not applied."""
    nints = 20
    model = load_wcs(make_model(np.zeros(nints), np.zeros(nints)), wcs_references)
    data, err = other_instrument.other_slopes(
        np.zeros(nints), np.zeros(nints), rng=2, tilt_per_um=0.1, cut_on_shift_um=0.2
    )
    model.data, model.err = data, err
    model.var_poisson, model.var_rnoise = err**2, np.zeros_like(err)
    photom = references.photom(
        other_instrument.other_photom_response, np.arange(3.5, 14.5 + 1e-9, 0.01)
    )
    with caplog.at_level(logging.WARNING, logger="jwst_tso_ext"):
        result = WavelengthDriftStep.call(model, override_photom=photom, correct_drift="none")
    static = result.meta.wavelength_drift
    assert static.static_y_method == "declined"
    assert static.static_y_offset == 0.0
    assert "disagree" in static.static_y_declined_reason
    assert static.static_y_fitted < -0.5  # what would have been applied
    assert any("Static y offset declined" in rec.getMessage() for rec in caplog.records)
    # the nominal wavelength solution is kept
    row = geometry.row_at_wavelength(7.35)
    x = geometry.NOMINAL_X
    assert result.meta.wcs(x, row)[2] == pytest.approx(7.35, abs=0.002)
    # a user offset still wins
    user = WavelengthDriftStep.call(
        model, override_photom=photom, correct_drift="none", y_offset=0.25
    )
    assert user.meta.wavelength_drift.static_y_method == "user"
    assert user.meta.wavelength_drift.static_y_offset == 0.25


def test_missing_wcs_is_an_error():
    model = make_model(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="assign_wcs"):
        WavelengthDriftStep.call(model)


def test_other_modes_are_skipped():
    model = make_model(np.zeros(2), np.zeros(2))
    model.meta.exposure.type = "MIR_IMAGE"
    result = WavelengthDriftStep.call(model)
    assert result is not model
    assert result.meta.cal_step.wavelength_drift == "SKIPPED"


def test_flagged_pixels_are_ignored_and_propagated(drifting):
    model, x_true, _ = drifting
    flagged = model.copy()
    flagged.data[5, 300:310, 36:39] = np.nan
    flagged.dq[5, 300:310, 36:39] |= datamodels.dqflags.pixel["DO_NOT_USE"]
    flagged.dq[7, 250, 37] |= datamodels.dqflags.pixel["JUMP_DET"]
    clean = Table(WavelengthDriftStep.call(model, correct_drift="none").drift_table)
    result = WavelengthDriftStep.call(flagged)
    table = Table(result.drift_table)
    assert table["x_shift"][5] == pytest.approx(clean["x_shift"][5], abs=0.002)
    assert np.isfinite(table["y_shift"][5])
    jump = datamodels.dqflags.pixel["JUMP_DET"]
    assert np.any(result.dq[7, 249:252, 36:39] & jump)
    assert np.all(result.dq[5, 300:310, 36:39] & datamodels.dqflags.pixel["DO_NOT_USE"])


def test_threads_give_the_same_product_and_bad_core_counts_are_refused(drifting, monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)  # threads even on one core
    model, _, _ = drifting
    one = WavelengthDriftStep.call(model, maximum_cores="1")
    two = WavelengthDriftStep.call(model, maximum_cores="2", chunk_size=16)
    for name in ("data", "err", "var_poisson", "var_rnoise", "dq"):
        assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), name
    # chunking changes only the summation order of the fits
    assert np.allclose(one.drift_table["x_shift"], two.drift_table["x_shift"], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="maximum_cores must be"):
        WavelengthDriftStep.call(model, maximum_cores="lots")


def test_flux_calibrated_input_is_fitted_with_a_flat_response(wcs_references):
    """After photom the data are in F_nu units: the fit must not apply a response again."""
    star = scene.blackbody_spectrum()
    # count rates proportional to F_nu (the response divided out, as photom does)
    flat = scene.StellarSpectrum(
        star.wavelength, star.flux_jy / detector.relative_response(star.wavelength)
    )
    y_true = np.full(30, 0.6)
    model = load_wcs(make_model(np.zeros(30), y_true, seed=8, spectrum=flat), wcs_references)
    model.meta.cal_step.photom = "COMPLETE"
    result = WavelengthDriftStep.call(model, correct_drift="none")
    static = result.meta.wavelength_drift
    assert static.photom_reference == "photom applied"
    assert static.static_y_offset == pytest.approx(0.6, abs=0.02)


def test_a_reference_given_to_process_wins_over_the_parameter(drifting):
    """lrs_tso passes the exposure's reference as a process() argument (strun users set
    the ``reference`` parameter): the same drift as with the parameter, the step's
    parameter unchanged, and no reference frame attached to the output."""
    model, _, _ = drifting
    step = WavelengthDriftStep(correct_drift="none", y_offset=0.0)
    given = step.run(model, "0")
    assert step.reference == "median"
    as_parameter = WavelengthDriftStep.call(model, correct_drift="none", y_offset=0.0,
                                            reference="0")  # fmt: skip
    for name in ("x_shift", "y_shift"):
        np.testing.assert_array_equal(Table(given.drift_table)[name],
                                      Table(as_parameter.drift_table)[name])  # fmt: skip
    assert Table(given.drift_table)["x_shift"][0] == pytest.approx(0.0, abs=1e-8)
    assert given.meta.wavelength_drift.reference == "0"
    assert not given.hasattr("drift_reference")


def test_static_offset_judged_alike_against_the_pipeline_reference_image(drifting, tmp_path):
    """lrs_tso's ``_driftref.fits`` holds the median frame and one integration's err.

    The static offset's variance is that of the median (``pi / 2 / count`` of one
    integration's): the image records the count, so every segment judges the offset
    with the count of the frame it was made from, not with its own number of
    integrations (a short last segment had another chi-square). An image without the
    count is taken at its own err.
    """
    model, _, _ = drifting
    step = WavelengthDriftStep(correct_drift="none")
    in_place = step.run(model).meta.wavelength_drift
    frame, error = step.reference_frame(model)
    count = step.reference_frame_count(model, "median")
    assert count > 1
    paths = {}
    for name, recorded in (("with_count", count), ("without", None)):
        image = datamodels.ImageModel(data=frame)
        image.err = error
        if recorded is not None:
            image.meta.wavelength_drift = {"reference_frames": recorded}
        paths[name] = str(tmp_path / f"{name}_driftref.fits")
        image.save(paths[name])
    short_segment = model.copy()
    short_segment.data = short_segment.data[:3]
    assert step.reference_frame_count(short_segment, paths["with_count"]) == count
    assert step.reference_frame_count(short_segment, paths["without"]) == 1
    assert step.reference_frame_count(model, "0") == 1
    from_image = step.run(model, paths["with_count"]).meta.wavelength_drift
    # (the image is float32: 2e-4 px from the frame made in place)
    assert from_image.static_y_method == in_place.static_y_method == "rayleigh_jeans"
    assert from_image.static_y_offset == pytest.approx(in_place.static_y_offset, abs=1e-3)
    assert from_image.static_y_offset_err == pytest.approx(in_place.static_y_offset_err,
                                                           rel=0.02)
