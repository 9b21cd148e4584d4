"""Tests of the vectorised MIRI LRS slitless extraction (tso_extract_1d)."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from jwst.extract_1d import Extract1dStep
from stdatamodels.jwst import datamodels
from stpipe import crds_client

from jwst_tso_ext.simulate import scene
from jwst_tso_ext.simulate.wcs import describe_calibrated_lrs_cube
from jwst_tso_ext.tso_extract import TsoExtract1dStep
from jwst_tso_ext.tso_extract.box_extraction import (
    apply_aperture_correction,
    box_extract,
    finalize_spectra,
    smooth_along_dispersion,
)

RTOL = 1e-6
COMPARED = (
    "WAVELENGTH", "FLUX", "FLUX_ERROR", "SURF_BRIGHT", "SB_ERROR", "BACKGROUND", "BKGD_ERROR",
    "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT", "NPIXELS", "DQ",
    "INT_NUM", "MJD-BEG", "MJD-AVG", "MJD-END", "TDB-BEG", "TDB-MID", "TDB-END",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _offline_step_parameters(monkeypatch):
    """Do not look up step parameter references in CRDS (tests run offline)."""
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "True")
    monkeypatch.setattr(crds_client, "get_context_used", lambda observatory: "jwst_offline.pmap")


# ---------------------------------------------------------------- core functions


def toy_cube():
    """3 integrations, 2 dispersion rows, 5 columns; dispersion along y."""
    data = np.array(
        [
            [[1, 2, 10, 3, 1], [1, 1, 20, 1, 1]],
            [[2, 2, 12, 2, 4], [0, 1, 22, 1, 1]],
            [[1, 3, 14, 5, 9], [1, 2, 24, 3, 4]],
        ],
        dtype=np.float32,
    )
    var = np.full(data.shape, 0.5, dtype=np.float32)
    weights = np.array([[0, 0.5, 1, 0.5, 0], [0, 0.5, 1, 0.5, 0]])
    bkg = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 1]], dtype=float)
    return data, var, weights, bkg


def test_box_extract_toy_no_background():
    data, var, weights, _ = toy_cube()
    out = box_extract(data, var, 2 * var, 0 * var, weights, dispaxis=2)
    # integration 0, row 0: 0.5*2 + 10 + 0.5*3 = 12.5
    expected = np.array([[12.5, 21.0], [14.0, 23.0], [18.0, 26.5]])
    np.testing.assert_allclose(out["sum_flux"], expected)
    np.testing.assert_allclose(out["npixels"], 2.0)
    # variance: sum(var * w**2) = 0.5 * (0.25 + 1 + 0.25)
    np.testing.assert_allclose(out["var_poisson"], 0.75)
    np.testing.assert_allclose(out["var_rnoise"], 1.5)
    np.testing.assert_allclose(out["background"], 0.0)


def test_box_extract_toy_median_background():
    data, var, weights, bkg = toy_cube()
    out = box_extract(data, var, var, var, weights, bkg, bkg_fit="median", dispaxis=2)
    # background per row = median of the two outer pixels = their mean
    b = np.array([[1.0, 1.0], [3.0, 0.5], [5.0, 2.5]])
    raw = np.array([[12.5, 21.0], [14.0, 23.0], [18.0, 26.5]])
    np.testing.assert_allclose(out["sum_flux"], raw - 2.0 * b)
    np.testing.assert_allclose(out["background"], 2.0 * b)
    # 1.2**2 * npix**2 * sum(var * (1/2)**2) over the 2 background pixels
    np.testing.assert_allclose(out["bkg_var_poisson"], 1.44 * 4 * 0.25)
    np.testing.assert_allclose(out["var_poisson"], 0.75 + 1.44)


def test_box_extract_toy_masks_and_dispaxis():
    data, var, weights, _ = toy_cube()
    dq = np.zeros(data.shape, dtype=np.uint32)
    dq[1, 0, 2] = 1  # DO_NOT_USE on the central pixel
    data_nan = data.copy()
    data_nan[2, 1, 1] = np.nan
    out = box_extract(data_nan, var, var, var, weights, dq=dq, dispaxis=2)
    assert out["sum_flux"][1, 0] == pytest.approx(2.0)  # 0.5*2 + 0.5*2
    assert out["npixels"][1, 0] == pytest.approx(1.0)
    assert out["sum_flux"][2, 1] == pytest.approx(24 + 1.5)
    # dispaxis=1 on the transposed cube gives the same answer
    out_t = box_extract(
        np.swapaxes(data_nan, 1, 2), var.swapaxes(1, 2), var.swapaxes(1, 2),
        var.swapaxes(1, 2), weights.T, dq=dq.swapaxes(1, 2), dispaxis=1,
    )  # fmt: skip
    np.testing.assert_allclose(out_t["sum_flux"], out["sum_flux"])
    # the inputs are untouched
    assert np.isnan(data_nan[2, 1, 1]) and data_nan[1, 0, 2] == 12


def test_box_extract_empty_row_is_nan():
    data, var, weights, _ = toy_cube()
    data[0, 1, 1:4] = np.nan
    out = box_extract(data, var, var, var, weights)
    assert np.isnan(out["sum_flux"][0, 1])
    assert out["npixels"][0, 1] == 0


def test_finalize_and_apcorr():
    data, var, weights, _ = toy_cube()
    out = box_extract(data, var, var, var, weights)
    cols = finalize_spectra(out, pixel_solid_angle=2e-12)
    np.testing.assert_allclose(cols["FLUX"], out["sum_flux"] * 2e-6)
    np.testing.assert_allclose(cols["SURF_BRIGHT"], out["sum_flux"] / 2.0)
    np.testing.assert_allclose(cols["FLUX_ERROR"], np.sqrt(3 * 0.75) * 2e-6)
    corrected = apply_aperture_correction(cols, 2.0)
    np.testing.assert_allclose(corrected["FLUX"], 2 * cols["FLUX"])
    np.testing.assert_allclose(corrected["FLUX_VAR_FLAT"], 4 * cols["FLUX_VAR_FLAT"])
    np.testing.assert_allclose(corrected["BACKGROUND"], cols["BACKGROUND"])


def test_smoothing_matches_astropy():
    from astropy.convolution import convolve

    rng = np.random.default_rng(1)
    image = rng.normal(size=(40, 7))
    image[5, 3] = np.nan
    image[0, 0] = np.nan
    ours = smooth_along_dispersion(image[None], 5)[0]
    # jwst smooths the transposed image (cross, disp) with a (1, L) kernel
    theirs = convolve(image.T, np.ones((1, 5)) / 5, boundary="extend").T
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ---------------------------------------------------------------- vs jwst


def int_times(nints, start=60000.0):
    """INT_TIMES table with 10 s integrations."""
    t0 = start + np.arange(nints) * 10.0 / 86400
    t1 = t0 + 10.0 / 86400
    return np.array(
        list(zip(np.arange(1, nints + 1), t0, 0.5 * (t0 + t1), t1, t0 + 1e-3,
                 0.5 * (t0 + t1) + 1e-3, t1 + 1e-3, strict=True)),
        dtype=[("integration_number", "i4"), ("int_start_MJD_UTC", "f8"),
               ("int_mid_MJD_UTC", "f8"), ("int_end_MJD_UTC", "f8"),
               ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
               ("int_end_BJD_TDB", "f8")],
    )  # fmt: skip


def make_lrs_tso(nints=5, kind="cube", seed=3, defects=True):
    """Calibrated (photom) MIRI LRS slitless TSO exposure in MJy/sr with a WCS."""
    rng = np.random.default_rng(seed)
    x_shift = rng.normal(0, 0.02, nints)
    y_shift = rng.normal(0, 0.02, nints)
    rate = scene.scene_rate(x_shift, y_shift)  # DN/s
    to_mjysr = 2.5e-3
    noise = rng.normal(size=rate.shape) * np.sqrt(np.abs(rate) + 10.0)
    data = ((rate + noise) * to_mjysr).astype(np.float32)
    var_poisson = (np.abs(rate) * to_mjysr**2).astype(np.float32)
    var_rnoise = np.full(rate.shape, 10.0 * to_mjysr**2, dtype=np.float32)
    var_flat = (1e-4 * data**2).astype(np.float32)
    dq = np.zeros(rate.shape, dtype=np.uint32)
    if defects:
        dq[0, 250, 37] = 1  # DO_NOT_USE in the aperture
        data[1, 200, 38] = np.nan  # NaN in the aperture
        var_rnoise[2, 150, 15] = np.nan  # NaN in a background region
        data[:, 100, 12:20] = np.nan  # a whole background region lost in one row
        dq[3, 310, 58] = 1
    err = np.sqrt(var_poisson + var_rnoise + var_flat)

    model = datamodels.CubeModel(data=data) if kind == "cube" else datamodels.SlitModel(data=data)
    model.dq, model.err = dq, err
    model.var_poisson, model.var_rnoise, model.var_flat = var_poisson, var_rnoise, var_flat
    describe_calibrated_lrs_cube(model)
    model.int_times = int_times(nints)
    return model


def write_extract1d(path, background=True, bkg_fit="median", **extra):
    """EXTRACT1D JSON in the CRDS layout, aperture of width 7.3 px around the trace."""
    aperture = {
        "id": "MIR_LRS-SLITLESS",
        "region_type": "target",
        "disp_axis": 2,
        "xstart": 33.85,
        "xstop": 41.15,
        "ystart": 0,
        "ystop": 415,
        "use_source_posn": False,
    }
    if background:
        # two regions of the source width (src/bkg coefficients are pixel centres)
        aperture["bkg_coeff"] = [[11.5], [19.5], [55.5], [63.5]]
        aperture["bkg_fit"] = bkg_fit
        aperture["bkg_order"] = 0
    aperture.update(extra)
    path = Path(path)
    path.write_text(json.dumps({"apertures": [aperture], "reftype": "EXTRACT1D"}))
    return str(path)


@pytest.fixture()
def apcorr_file(tmp_path):
    """Small MIRI LRS APCORR reference (wavelength x size grid, pixels)."""
    wave = np.linspace(4.0, 15.0, 12)
    size = np.array([4.0, 6.0, 8.0, 10.0])
    apcorr = 1.0 + 0.02 * (wave[:, None] - 4.0) / (size[None, :] / 4.0)
    table = Table(
        {
            "subarray": ["FULL", "SLITLESSPRISM"],
            "wavelength": [wave, wave],
            "nelem_wl": [12, 12],
            "size": [size, size],
            "nelem_size": [4, 4],
            "apcorr": [apcorr, apcorr],
            "apcorr_err": [0.01 * apcorr, 0.01 * apcorr],
        }
    )
    hdu = fits.table_to_hdu(table)
    hdu.header["EXTNAME"] = "APCORR"
    hdu.header["SIZEUNIT"] = "pixels"
    path = tmp_path / "apcorr.fits"
    with datamodels.MirLrsApcorrModel(fits.HDUList([fits.PrimaryHDU(), hdu])) as model:
        model.save(path)
    return str(path)


def max_rel_diff(ours, theirs):
    """Largest |ours - theirs| / |theirs| over finite values (NaNs must coincide)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = np.isfinite(theirs)
    scale = np.maximum(np.abs(theirs[ok]), 1e-300)
    return float(np.max(np.abs(ours[ok] - theirs[ok]) / scale, initial=0.0))


def compare(model, ours_only=None, **kwargs):
    """Run jwst and ours on the same input; return per-column max relative differences."""
    before = model.data.copy()
    theirs = Extract1dStep.call(model, override_psf="N/A", **kwargs)
    ours = TsoExtract1dStep.call(model, **kwargs, **(ours_only or {}))
    np.testing.assert_array_equal(model.data, before)
    assert isinstance(ours, datamodels.TSOMultiSpecModel)
    assert ours.meta.cal_step.extract_1d == "COMPLETE"
    t, o = theirs.spec[0], ours.spec[0]
    assert o.spec_table.dtype == t.spec_table.dtype
    assert o.spec_table.shape == t.spec_table.shape
    diffs = {name: max_rel_diff(o.spec_table[name], t.spec_table[name]) for name in COMPARED}
    for name in t.spec_table.columns.names:
        assert o.spec_table.columns[name].unit == t.spec_table.columns[name].unit, name
    for attr in ("name", "slit_ra", "slit_dec", "spectral_order", "dispersion_direction",
                 "extraction_xstart", "extraction_xstop", "extraction_ystart",
                 "extraction_ystop", "detector", "source_type"):  # fmt: skip
        mine, jwst = getattr(o, attr), getattr(t, attr)
        both_nan = isinstance(jwst, float) and np.isnan(jwst) and np.isnan(mine)
        assert mine == jwst or both_nan, attr
    assert ours.meta.target.source_type == theirs.meta.target.source_type
    assert ours.meta.exposure.type == theirs.meta.exposure.type
    np.testing.assert_array_equal(ours.int_times, theirs.int_times)
    return diffs


CONFIGS = {
    "no_background": dict(background=False),
    "median": dict(background=True, bkg_fit="median"),
    "poly1": dict(background=True, bkg_fit="poly", bkg_order=1),
    "poly0_smoothed": dict(background=True, bkg_fit="poly", bkg_order=0, smoothing_length=5),
    # curved aperture from polynomials in wavelength (jwst's src_coeff / bkg_coeff)
    "src_coeff_wavelength": dict(
        background=True,
        bkg_fit="median",
        independent_var="wavelength",
        src_coeff=[[33.6, 0.02], [41.4, 0.02]],
        bkg_coeff=[[11.5, 0.05], [19.5, 0.05], [55.5, -0.05], [63.5, -0.05]],
    ),
}


@pytest.mark.parametrize("kind", ["cube", "slit"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("apcorr", [False, True])
def test_matches_jwst_extract_1d(tmp_path, apcorr_file, kind, config, apcorr):
    model = make_lrs_tso(nints=4, kind=kind)
    ref = write_extract1d(tmp_path / "extract1d.json", **CONFIGS[config])
    kwargs = {"override_extract1d": ref}
    if apcorr:
        kwargs["override_apcorr"] = apcorr_file
    else:
        kwargs["apply_apcorr"] = False
    diffs = compare(model, **kwargs)
    shown = ("WAVELENGTH", "FLUX", "FLUX_ERROR", "SURF_BRIGHT", "BACKGROUND")
    summary = ", ".join(f"{k}={diffs[k]:.2e}" for k in shown)
    logging.getLogger(__name__).info(f"max rel. diff {kind} {config} apcorr={apcorr}: {summary}")
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < RTOL, f"{worst}: {diffs[worst]:.3g}"


def test_matches_jwst_extract_1d_in_threaded_blocks(tmp_path, apcorr_file, monkeypatch):
    """One integration per block on two threads: blocks come back in order, same fluxes."""
    from jwst_tso_ext import parallel

    monkeypatch.setattr(parallel, "available_cores", lambda: 2)  # threads even on one core
    assert parallel.thread_count("2", 7) == 2
    model = make_lrs_tso(nints=7)
    ref = write_extract1d(tmp_path / "extract1d.json", **CONFIGS[next(iter(CONFIGS))])
    threaded = {"integrations_per_chunk": 1, "maximum_cores": "2"}
    diffs = compare(model, ours_only=threaded, override_extract1d=ref, override_apcorr=apcorr_file)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < RTOL, f"{worst}: {diffs[worst]:.3g}"


def test_matches_jwst_step_parameters(tmp_path):
    """Step parameters override the reference (background off, offset shift)."""
    model = make_lrs_tso(nints=4)
    ref = write_extract1d(tmp_path / "extract1d.json", background=True)
    diffs = compare(
        model, override_extract1d=ref, apply_apcorr=False, subtract_background=False,
        position_offset=0.4,
    )  # fmt: skip
    assert max(diffs.values()) < RTOL
    diffs = compare(
        model, override_extract1d=ref, apply_apcorr=False, bkg_fit="mean", smoothing_length=3
    )
    assert max(diffs.values()) < RTOL
    diffs = compare(model, override_extract1d=ref, apply_apcorr=False, smoothing_length=7)
    assert max(diffs.values()) < RTOL


def test_matches_jwst_segmented_exposure(tmp_path):
    """Second segment of an exposure: INT_TIMES rows are offset, SEGMENT is kept."""
    model = make_lrs_tso(nints=4)
    model.meta.exposure.nints = 6
    model.meta.exposure.integration_start = 3
    model.meta.exposure.integration_end = 6
    model.meta.exposure.segment_number = 2
    model.int_times = int_times(6)
    ref = write_extract1d(tmp_path / "extract1d.json")
    diffs = compare(model, override_extract1d=ref, apply_apcorr=False)
    assert max(diffs.values()) < RTOL
    ours = TsoExtract1dStep.call(model, override_extract1d=ref, apply_apcorr=False)
    np.testing.assert_array_equal(ours.spec[0].spec_table["INT_NUM"], [3, 4, 5, 6])
    np.testing.assert_array_equal(ours.spec[0].spec_table["SEGMENT"], 2)


def test_skip_unsupported_returns_copy(tmp_path):
    model = make_lrs_tso(nints=2, defects=False)
    model.meta.exposure.type = "MIR_LRS-FIXEDSLIT"
    result = TsoExtract1dStep.call(model, override_extract1d="N/A", override_apcorr="N/A")
    assert result is not model
    assert result.meta.cal_step.extract_1d == "SKIPPED"
    assert model.meta.cal_step.extract_1d is None


def test_output_not_input_and_save(tmp_path):
    model = make_lrs_tso(nints=3, defects=False)
    ref = write_extract1d(tmp_path / "extract1d.json")
    model.meta.filename = "toy_calints.fits"
    step = TsoExtract1dStep(override_extract1d=ref, apply_apcorr=False)
    step.output_dir = str(tmp_path)
    step.save_results = True
    result = step.run(model)
    assert result is not model
    assert "extract_1d" not in model.meta.cal_step.instance
    saved = tmp_path / "toy_x1dints.fits"
    assert saved.exists()
    with datamodels.open(saved) as reread:
        assert isinstance(reread, datamodels.TSOMultiSpecModel)
        np.testing.assert_array_equal(reread.spec[0].spec_table["INT_NUM"], [1, 2, 3])


# ---------------------------------------------------------------- optimal extraction


def test_optimal_extract_toy_exact_and_rejects_outlier():
    from jwst_tso_ext.tso_extract.optimal_extraction import optimal_extract

    profile = np.array([0.0, 0.1, 0.6, 0.3, 0.0])
    amplitude = np.array([[100.0, 200.0], [110.0, 190.0], [90.0, 210.0]])
    data = (amplitude[..., None] * profile).astype(np.float32)
    data[1, 0, 3] += 500.0  # cosmic ray
    var = np.ones(data.shape, dtype=np.float32)
    aperture = np.tile([0.0, 1.0, 1.0, 1.0, 0.0], (2, 1))
    out = optimal_extract(data, var, 0 * var, 0 * var, aperture, profile=np.tile(profile, (2, 1)))
    np.testing.assert_allclose(out["sum_flux"], amplitude, rtol=1e-6)
    # variance: 1 / sum(P**2 / V) (without the rejected pixel for the hit one)
    np.testing.assert_allclose(out["var_poisson"][0, 0], 1 / 0.46)
    assert out["var_poisson"][1, 0] == pytest.approx(1 / 0.37)
    # profile estimated from the data gives the same answer
    out2 = optimal_extract(data, var, 0 * var, 0 * var, aperture)
    np.testing.assert_allclose(out2["sum_flux"], amplitude, rtol=1e-5)


def test_optimal_step_close_to_box(tmp_path):
    model = make_lrs_tso(nints=4)
    ref = write_extract1d(tmp_path / "extract1d.json", background=True)
    box = TsoExtract1dStep.call(model, override_extract1d=ref, apply_apcorr=False)
    opt = TsoExtract1dStep.call(model, override_extract1d=ref, method="optimal")
    assert opt.meta.cal_step.extract_1d == "COMPLETE"
    b, o = box.spec[0].spec_table, opt.spec[0].spec_table
    np.testing.assert_array_equal(o["WAVELENGTH"], b["WAVELENGTH"])
    assert np.all(o["SURF_BRIGHT"] == 0)
    # bright part of the spectrum: optimal ~ box within a few per cent, smaller errors
    bright = np.nanmedian(b["FLUX"] / b["FLUX_ERROR"], axis=0) > 15
    assert bright.sum() > 30
    ratio = np.nanmedian(o["FLUX"][:, bright] / b["FLUX"][:, bright])
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert np.nanmedian(o["FLUX_ERROR"][:, bright] / b["FLUX_ERROR"][:, bright]) < 1.0
