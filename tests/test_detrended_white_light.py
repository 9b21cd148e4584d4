"""Step-level tests of DetrendedWhiteLightStep on small in-memory x1dints models."""

import logging

import batman
import numpy as np
import pytest
from astropy.table import Table
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from jwst.white_light.white_light import white_light
from stdatamodels.jwst import datamodels

from jwst_tso_ext.lightcurve.binning import spectra_from_model
from jwst_tso_ext.steps import DetrendedWhiteLightStep

NINTS, NWAVE = 400, 60
NINTS_OLD = 100  # older one-spec-per-integration layout is slow to build
CADENCE = 36.0 / 86400.0
UTC_OFFSET = 0.0008  # days between the fake MJD_UTC and BJD_TDB stamps
GEOMETRY = {"period": 3.0, "a": 10.0, "inc": 89.0, "u1": 0.1, "u2": 0.1}
RP = 0.0775


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No CRDS parameter-reference lookups: tests run offline."""
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")


def _synthetic(seed=0, nints=NINTS, cadence=None):
    rng = np.random.default_rng(seed)
    if cadence is None:
        cadence = CADENCE * NINTS / nints  # same time span whatever the sampling
    bjd = 60000.0 + np.arange(nints) * cadence
    t0 = bjd[nints // 2]
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t0, 3.0, RP, 10.0, 89.0, 0.0, 90.0
    p.limb_dark, p.u = "quadratic", [0.1, 0.1]
    tr = batman.TransitModel(p, bjd).light_curve(p)
    x_shift = 0.01 * rng.standard_normal(nints)
    ramp = 1.0 - 0.004 * np.exp(-(bjd - bjd[0]) / 0.01)
    white = tr * ramp * (1.0 + 0.06 * x_shift)
    wave = np.linspace(4.5, 12.5, NWAVE)
    star = 1000.0 * (1.0 + 0.5 * np.sin(wave))
    err = 0.01 * np.broadcast_to(star, (nints, NWAVE)).copy()
    flux = white[:, None] * star[None, :] + err * rng.standard_normal(err.shape)
    return bjd, t0, wave, flux, err, x_shift


def _int_times(bjd):
    half = 0.5 * (bjd[1] - bjd[0])
    rows = [(i + 1, t - half - UTC_OFFSET, t - UTC_OFFSET, t + half - UTC_OFFSET,
             t - half, t, t + half) for i, t in enumerate(bjd)]
    return np.array(rows, dtype=[
        ("integration_number", "i4"), ("int_start_MJD_UTC", "f8"), ("int_mid_MJD_UTC", "f8"),
        ("int_end_MJD_UTC", "f8"), ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
        ("int_end_BJD_TDB", "f8"),
    ])


def _spec(wave, flux, err):
    dtype = datamodels.SpecModel().get_dtype("spec_table")
    table = np.zeros(wave.size, dtype=dtype)
    table["WAVELENGTH"] = wave
    table["FLUX"] = flux
    table["FLUX_ERROR"] = err
    spec = datamodels.SpecModel(spec_table=table)
    spec.spec_table.columns["FLUX"].unit = "Jy"
    spec.spectral_order = 1
    return spec


def _set_meta(model):
    model.meta.instrument.name = "MIRI"
    model.meta.instrument.detector = "MIRIMAGE"
    model.meta.instrument.filter = "P750L"
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.subarray.name = "SLITLESSPRISM"
    model.meta.target.catalog_name = "SYNTH-1"
    model.meta.filename = "jw_synth_x1dints.fits"


def make_tso_x1dints(seed=0, nints=NINTS, cadence=None):
    """jwst 3.x layout: TSOMultiSpecModel, one row per integration, vector columns."""
    bjd, t0, wave, flux, err, x_shift = _synthetic(seed, nints, cadence)
    tso = make_tso_specmodel([_spec(wave, flux[0], err[0])] * nints)
    tso.spec_table["WAVELENGTH"][:] = wave
    tso.spec_table["FLUX"][:] = flux
    tso.spec_table["FLUX_ERROR"][:] = err
    tso.spec_table["MJD-AVG"][:] = bjd - UTC_OFFSET
    tso.spec_table["TDB-MID"][:] = bjd
    model = datamodels.TSOMultiSpecModel()
    _set_meta(model)
    model.spec.append(tso)
    model.int_times = _int_times(bjd)
    return model, t0, x_shift


def make_multispec_x1dints(seed=0, nints=NINTS_OLD):
    """Older layout: MultiSpecModel with one spec per integration and int_times."""
    bjd, t0, wave, flux, err, x_shift = _synthetic(seed, nints)
    model = datamodels.MultiSpecModel()
    _set_meta(model)
    dtype = datamodels.SpecModel().get_dtype("spec_table")
    specs = []
    for i in range(nints):
        table = np.zeros(NWAVE, dtype=dtype)
        table["WAVELENGTH"], table["FLUX"], table["FLUX_ERROR"] = wave, flux[i], err[i]
        specs.append({"spec_table": table, "spectral_order": 1, "int_num": i + 1})
    model.spec = specs  # one assignment: much faster than 100 SpecModel instances
    model.int_times = _int_times(bjd)
    return model, t0, x_shift


def write_drift(path, x_shift):
    rng = np.random.default_rng(9)
    Table({
        "int_num": np.arange(1, NINTS + 1), "MJD_UTC": np.zeros(NINTS), "x_shift": x_shift,
        "y_shift": 0.01 * rng.standard_normal(NINTS), "x_shift_err": np.full(NINTS, 1e-3),
        "y_shift_err": np.full(NINTS, 1e-3),
        "trace_width": 1.0 + 0.001 * rng.standard_normal(NINTS),
    }).write(path, format="ascii.ecsv", overwrite=True)


def step_kwargs(t0, **extra):
    kwargs = dict(GEOMETRY, t0=float(t0) + 0.001, free_params=["t0", "rp"], ramp_tau=[0.01],
                  min_wavelength=5.0, max_wavelength=12.0)
    kwargs.update(extra)
    return kwargs


@pytest.fixture(scope="module")
def tso_model():
    return make_tso_x1dints()


def test_spectra_from_both_layouts_agree(tso_model):
    model, _, _ = tso_model
    old, _, _ = make_multispec_x1dints(nints=NINTS)
    a, b = spectra_from_model(model), spectra_from_model(old)
    for key in ("flux", "error", "wavelength", "mjd_utc", "bjd_tdb", "int_num"):
        np.testing.assert_allclose(a[key], b[key])
    assert a["flux"].shape == (NINTS, NWAVE)
    assert a["flux_unit"] == "Jy"


def test_step_writes_ecsv_and_plot(tso_model, tmp_path):
    model, t0, x_shift = tso_model
    drift_path = tmp_path / "some_drift.ecsv"
    write_drift(drift_path, x_shift)
    flux_before = np.array(model.spec[0].spec_table["FLUX"])
    result = DetrendedWhiteLightStep.call(
        model, output_dir=str(tmp_path), save_results=True, drift_table=str(drift_path),
        regressors=["x_shift", "y_shift", "trace_width"], **step_kwargs(t0),
    )
    np.testing.assert_array_equal(model.spec[0].spec_table["FLUX"], flux_before)
    assert result.meta["detrended_white_light"] == "COMPLETE"

    out = tmp_path / "jw_synth_whtlt.ecsv"
    assert out.exists()
    assert (tmp_path / "jw_synth_whtlt.png").exists()
    tbl = Table.read(out, format="ascii.ecsv")
    for col in ("MJD_UTC", "BJD_TDB", "whitelight_flux", "whitelight_flux_err",
                "systematics_model", "astrophysical_model", "detrended_flux",
                "detrended_flux_err", "residual", "clipped", "used_in_fit",
                "x_shift", "y_shift", "trace_width"):
        assert col in tbl.colnames, col
    assert len(tbl) == NINTS
    np.testing.assert_allclose(tbl["MJD_UTC"], tbl["BJD_TDB"] - UTC_OFFSET)
    meta = tbl.meta
    assert meta["instrument"] == "MIRI" and meta["target_name"] == "SYNTH-1"
    assert meta["drift_table"] == str(drift_path)
    # only the regressor that carries a signal is kept by the BIC
    assert meta["regressors"] == ["x_shift"]
    assert meta["regressors_dropped"] == ["y_shift", "trace_width"]
    depth, depth_err = meta["transit_depth"], meta["transit_depth_err"]
    assert abs(depth - RP**2) < 3 * depth_err
    assert 0 < depth_err < 3e-4
    assert meta["rms_to_expected"] == pytest.approx(meta["rms_ppm"] / meta["expected_noise_ppm"])
    assert 0.9 < meta["rms_to_expected"] < 1.1
    assert meta["beta"] < 1.3
    assert np.isfinite(meta["bic"]) and meta["n_points_fit"] == NINTS - meta["n_clipped"]
    assert meta["d_x_shift"] > 5 * meta["d_x_shift_err"]  # the injected decorrelation
    for name in ("t0", "rp", "F0", "ramp_amp1"):
        assert f"{name}_err" in meta
    assert "a_err" not in meta and meta["a"] == GEOMETRY["a"]  # fixed parameter


def test_step_matches_jwst_white_light_sum(tso_model):
    model, t0, _ = tso_model
    result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0))
    ref = white_light(model, min_wave=5.0, max_wave=12.0)
    np.testing.assert_allclose(result["whitelight_flux"].value, ref["whitelight_flux"].value)
    np.testing.assert_allclose(result["BJD_TDB"], ref["BJD_TDB"])
    assert str(result["whitelight_flux"].unit) == "Jy"


def test_step_finds_drift_table_beside_input_file(tso_model, tmp_path, caplog):
    model, t0, x_shift = tso_model
    path = tmp_path / "jw_synth_x1dints.fits"
    model.save(path)
    write_drift(tmp_path / "jw_synth_drift.ecsv", x_shift)
    with caplog.at_level(logging.INFO):
        result = DetrendedWhiteLightStep.call(str(path), **step_kwargs(t0, regressors=["x_shift"]))
    assert result.meta["drift_table"].endswith("jw_synth_drift.ecsv")
    assert "Using drift table" in caplog.text
    assert "x_shift" in result.colnames and "y_shift" not in result.colnames


def test_step_uses_drift_table_attached_to_model(tso_model, caplog):
    model, t0, x_shift = tso_model
    model = model.copy()
    drift = Table({"int_num": np.arange(1, NINTS + 1), "x_shift": x_shift})
    model.drift_table = drift.as_array()
    with caplog.at_level(logging.INFO):
        result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0))
    assert result.meta["drift_table"] == "attached to input"
    assert result.meta["regressors"] == ["x_shift"]
    assert "'y_shift' not in the drift table" in caplog.text


def test_step_without_drift_table_logs_and_fits(tso_model, caplog):
    model, t0, _ = tso_model
    with caplog.at_level(logging.INFO):
        result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0, ramp="none",
                                                                   poly_order=2))
    assert "No drift table" in caplog.text
    assert result.meta["drift_table"] is None
    assert result.meta["regressors"] == []
    assert "c2" in result.meta["free_parameters"]


def test_step_time_column_mjd_utc(tso_model):
    model, t0, _ = tso_model
    kwargs = step_kwargs(t0, time_column="MJD_UTC")
    kwargs["t0"] -= UTC_OFFSET
    result = DetrendedWhiteLightStep.call(model, **kwargs)
    assert result.meta["time_column"] == "MJD_UTC"
    assert result.meta["t0"] == pytest.approx(float(t0) - UTC_OFFSET, abs=0.002)


def test_step_old_multispec_layout():
    model, t0, _ = make_multispec_x1dints()
    result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0))
    assert len(result) == NINTS_OLD
    assert abs(result.meta["transit_depth"] - RP**2) < 3 * result.meta["transit_depth_err"]


def test_step_nan_bin_and_outlier(tso_model):
    model, t0, _ = tso_model
    model = model.copy()
    model.spec[0].spec_table["FLUX"][50, 10] = np.nan
    model.spec[0].spec_table["FLUX"][120, :] *= 1.03  # ~25 sigma outlier integration
    result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0))
    assert result["n_filled_bins"][50] == 1
    assert result["clipped"][120] and not result["used_in_fit"][120]
    assert np.isfinite(result["whitelight_flux"][120])  # kept, not dropped


@pytest.mark.parametrize(("lo", "hi"), [(13.0, 15.0), (1.0, 3.0)])
def test_step_wavelength_range_outside_data(tso_model, lo, hi):
    model, t0, _ = tso_model
    with pytest.raises(ValueError, match="outside the data"):
        DetrendedWhiteLightStep.call(model, **step_kwargs(t0, min_wavelength=lo,
                                                          max_wavelength=hi))


def test_step_too_few_out_of_transit_points_fits_systematics_only(tso_model, caplog):
    model, t0, _ = tso_model
    with caplog.at_level(logging.WARNING):
        result = DetrendedWhiteLightStep.call(model, **step_kwargs(t0, min_out_of_transit=NINTS))
    assert result.meta["detrended_white_light"] == "REDUCED"
    assert result.meta["astrophysical"] == "none"
    assert "transit_depth" not in result.meta
    assert "cannot support a transit model" in caplog.text
    assert len(result) == NINTS


@pytest.mark.parametrize("nints", [4, 10])
def test_step_short_exposure_degrades_to_what_the_data_support(nints, caplog):
    """The seed notebook's 10 integrations and a 4-integration product: no crash."""
    model, _, _ = make_tso_x1dints(seed=4, nints=nints, cadence=16.0 / 86400.0)
    with caplog.at_level(logging.WARNING):
        result = DetrendedWhiteLightStep.call(model)  # defaults: no orbit
    assert len(result) == nints
    assert result.meta["detrended_white_light"] == "REDUCED"
    assert result.meta["astrophysical"] == "none"
    assert result.meta["dropped"] and "No transit found" in caplog.text
    # the white light is still the plain sum of the spectra, normalised by the fit
    spectra = spectra_from_model(model)
    keep = (spectra["wavelength"][0] >= 5.0) & (spectra["wavelength"][0] <= 12.0)
    np.testing.assert_allclose(result["whitelight_flux"].value,
                               spectra["flux"][:, keep].sum(axis=1))
    detrended = np.asarray(result["detrended_flux"])
    assert np.all(np.abs(detrended - 1.0) < 5 * np.asarray(result["detrended_flux_err"]))
    if nints == 4:
        # 4 points cannot hold F0 + slope + a two-parameter ramp
        assert result.meta["n_free_parameters"] < 4


def test_step_eclipse_and_out_of_transit_modes(tso_model):
    model, t0, _ = tso_model
    result = DetrendedWhiteLightStep.call(
        model, **step_kwargs(t0, astrophysical="out_of_transit", free_params=None,
                             windows=[t0 - 0.06, t0 + 0.06]))
    assert result.meta["astrophysical"] == "out_of_transit"
    assert not np.any(result["used_in_fit"][np.abs(result["BJD_TDB"] - t0) < 0.05])
    assert "transit_depth" not in result.meta


def test_step_skips_model_without_spectra(caplog):
    model = datamodels.MultiSpecModel()
    with caplog.at_level(logging.ERROR):
        result = DetrendedWhiteLightStep.call(model)
    assert result is not model
    assert len(result) == 0
    assert result.meta["detrended_white_light"] == "SKIPPED"
    assert "No valid input spectra" in caplog.text


def test_step_alias_and_entry_point():
    from jwst_tso_ext.integration import get_steps

    assert DetrendedWhiteLightStep.class_alias == "detrended_white_light"
    assert ("jwst_tso_ext.steps.DetrendedWhiteLightStep", "detrended_white_light",
            False) in get_steps()
