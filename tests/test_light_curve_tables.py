"""Light-curve tables as input of detrended_white_light (issue 24, item 1)."""

import logging
import os
import subprocess
from pathlib import Path

import batman
import numpy as np
import pytest
from astropy.table import QTable, Table
from astropy.time import Time

from jwst_tso_ext.lightcurve.tables import (
    check_period,
    is_light_curve_table,
    is_table_file,
    read_light_curve,
)
from jwst_tso_ext.steps import DetrendedWhiteLightStep

REALDATA = Path(__file__).parent / "data" / "realdata"
EUREKA = REALDATA / "wasp107b_miri_lrs_white_eureka_s5.ecsv"
WASP107_PERIOD = 5.7214742

NINTS, CADENCE = 800, 30.0 / 86400.0  # 6.7 h at 30 s
PERIOD, A_RS, INC, U = 3.0, 10.0, 89.0, (0.1, 0.1)
RP, SIGMA = 0.1, 5e-4


def transit(time, t0, rp=RP):
    """Batman quadratic-limb-darkened transit with the fixed test geometry."""
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t0, PERIOD, rp, A_RS, INC, 0.0, 90.0
    p.limb_dark, p.u = "quadratic", list(U)
    return batman.TransitModel(p, time).light_curve(p)


def light_curve_table(names=("time", "flux", "flux_err"), seed=1, coeff=2e-3):
    """A transit * trend * (1 + coeff ypos) light curve with white noise; truth in meta."""
    rng = np.random.default_rng(seed)
    time = 60000.0 + np.arange(NINTS) * CADENCE
    t0 = time[NINTS // 2]
    ypos = np.sin(np.arange(NINTS) / 37.0) + 0.3 * rng.standard_normal(NINTS)
    clean = transit(time, t0) * (1.0 + 0.002 * (time - time[0])) * (1.0 + coeff * ypos)
    flux = clean + SIGMA * rng.standard_normal(NINTS)
    table = Table({names[0]: time, names[1]: flux, names[2]: np.full(NINTS, SIGMA),
                   "ypos": ypos}, meta={"t0_true": t0})
    return table


FIT = {"period": PERIOD, "a": A_RS, "inc": INC, "u1": U[0], "u2": U[1], "ramp": "none",
       "free_params": ["t0", "rp"], "poly_selection": "fixed"}


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("names, scale", [
    (("time", "flux", "flux_err"), "BJD_TDB"),
    (("BJD_TDB", "whitelight_flux", "whitelight_flux_err"), "BJD_TDB"),
    (("bjd", "lcdata", "lcerr"), "BJD_TDB"),
    (("MJD_UTC", "FLUX", "FLUX_ERR"), "MJD_UTC"),
])
def test_columns_found_by_common_names(names, scale):
    table = light_curve_table(names)
    lc = read_light_curve(table)
    assert lc["time_scale"] == scale
    slot, other = ("bjd_tdb", "mjd_utc") if scale == "BJD_TDB" else ("mjd_utc", "bjd_tdb")
    np.testing.assert_array_equal(lc[slot], table[names[0]])
    assert np.isnan(lc[other]).all()
    np.testing.assert_array_equal(lc["flux"], table[names[1]])
    np.testing.assert_array_equal(lc["int_num"], np.arange(NINTS) + 1)
    assert (lc["meta"]["input_flux_column"], lc["meta"]["input_error_column"]) == names[1:]


def test_assumed_time_scale_is_logged_and_recorded(caplog):
    with caplog.at_level(logging.INFO, logger="jwst_tso_ext"):
        lc = read_light_curve(light_curve_table())
    assert "BMJD_TDB assumed" in lc["meta"]["input_time_scale"]
    assert "BMJD_TDB assumed" in caplog.text
    named = read_light_curve(light_curve_table(("BJD_TDB", "flux", "flux_err")))
    assert named["meta"]["input_time_scale"] == "BJD_TDB"


@pytest.mark.parametrize("scale, slot", [("tdb", "bjd_tdb"), ("utc", "mjd_utc"),
                                          ("tt", "mjd_utc")])
def test_time_column_of_astropy_time(tmp_path, scale, slot):
    table = light_curve_table()
    mjd = np.array(table["time"])
    table["time"] = Time(mjd, format="mjd", scale=scale)
    table.write(tmp_path / "lc.ecsv")  # ECSV keeps the Time column and its scale
    lc = read_light_curve(tmp_path / "lc.ecsv")
    expected = Time(mjd, format="mjd", scale=scale)
    np.testing.assert_allclose(lc[slot], expected.mjd if scale in ("tdb", "utc")
                               else expected.utc.mjd, rtol=0, atol=1e-9)


def test_columns_named_by_parameters():
    table = light_curve_table(("t_mid", "f", "sig"))
    lc = read_light_curve(table, time_column="t_mid", flux_column="f", error_column="sig")
    np.testing.assert_array_equal(lc["error"], table["sig"])
    with pytest.raises(ValueError, match="table_flux_column='nope' is not a column"):
        read_light_curve(table, time_column="t_mid", flux_column="nope", error_column="sig")


def test_masked_and_nonfinite_rows_skipped_with_counts(caplog):
    table = Table(light_curve_table(), masked=True)
    table["flux"].mask[3] = True
    table["flux_err"][10] = np.nan
    table["time"][20] = np.inf
    with caplog.at_level(logging.INFO, logger="jwst_tso_ext"):
        lc = read_light_curve(table)
    assert lc["flux"].size == NINTS - 3
    assert not np.isin([4, 11, 21], lc["int_num"]).any()  # int_num keeps the row numbers
    assert lc["meta"]["n_rows_skipped"] == 3
    assert "3 of 800 rows skipped" in caplog.text


def test_no_crds_lookup_or_datamodel_warning_for_a_table(caplog, tmp_path):
    table = light_curve_table()
    table.write(tmp_path / "lc.ecsv")
    for source in (table, str(tmp_path / "lc.ecsv")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            DetrendedWhiteLightStep.call(source, **FIT)
        assert "no CRDS parameter reference is looked up" in caplog.text
        assert "AbstractDataModel" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_given_table_is_not_modified():
    table = light_curve_table()
    table["flux"][5] = np.nan
    before = table.copy(copy_data=True)
    DetrendedWhiteLightStep.call(table, regressors=["ypos"], **FIT)
    assert table.colnames == before.colnames and table.meta == before.meta
    for name in table.colnames:
        np.testing.assert_array_equal(table[name], before[name])


@pytest.mark.parametrize("fmt, ext", [("ascii.ecsv", "ecsv"), ("ascii.csv", "csv"),
                                      ("fits", "fits")])
def test_files_read_alike(tmp_path, fmt, ext):
    table = light_curve_table(("BJD_TDB", "lcdata", "lcerr"))
    path = tmp_path / f"lc.{ext}"
    table.write(path, format=fmt)
    assert is_table_file(path) and is_light_curve_table(str(path))
    lc = read_light_curve(path, regressors=["ypos"])
    np.testing.assert_allclose(lc["bjd_tdb"], table["BJD_TDB"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(lc["regressors"]["ypos"], table["ypos"])


def test_fits_table_runs_through_the_step(tmp_path):
    """A FITS table (no ASDF extension) is a table, not a JWST product to check."""
    path = tmp_path / "lc.fits"
    light_curve_table(("BJD_TDB", "flux", "flux_err")).write(path)
    result = DetrendedWhiteLightStep.call(str(path), regressors=["ypos"], save_results=True,
                                          output_dir=str(tmp_path), **FIT)
    assert result.meta["input_table"] == str(path) and result.meta["regressors"] == ["ypos"]
    assert abs(result.meta["rp"] - RP) < 3 * result.meta["rp_err"]
    assert (tmp_path / "lc_whtlt.ecsv").exists()


def test_jwst_product_is_not_a_table():
    assert not is_table_file(REALDATA / "ngts10_sim_mirisim_4int_calints.fits")
    assert not is_light_curve_table(str(REALDATA / "ngts10_sim_mirisim_4int_calints.fits"))


def test_eureka_stage5_table_reads_without_options(tmp_path):
    # Eureka! names it S5_..._Table_Save_ch0.txt: ECSV in a .txt, read as well
    txt = tmp_path / "S5_Table_Save_ch0.txt"
    txt.write_bytes(EUREKA.read_bytes())
    np.testing.assert_array_equal(read_light_curve(txt)["flux"], read_light_curve(EUREKA)["flux"])
    lc = read_light_curve(EUREKA, regressors=["ypos", "ywidth"])
    assert lc["flux"].size == 4095  # 4096 rows, one all-NaN
    assert lc["time_scale"] == "BJD_TDB" and "BMJD_TDB assumed" in lc["meta"]["input_time_scale"]
    assert lc["meta"]["input_flux_column"] == "lcdata"
    assert lc["meta"]["input_error_column"] == "lcerr"
    assert sorted(lc["regressors"]) == ["ypos", "ywidth"]
    assert 59963.7 < lc["bjd_tdb"][0] < lc["bjd_tdb"][-1] < 59964.2


# ---------------------------------------------------------------- fitting


def test_injected_depth_recovered_from_a_table_file(tmp_path):
    table = light_curve_table(("time", "lcdata", "lcerr"))
    table.write(tmp_path / "lc.ecsv")
    result = DetrendedWhiteLightStep.call(str(tmp_path / "lc.ecsv"), regressors=["ypos"],
                                          save_results=True, output_dir=str(tmp_path), **FIT)
    assert result.meta["regressors"] == ["ypos"]
    assert abs(result.meta["rp"] - RP) < 3 * result.meta["rp_err"]
    assert result.meta["rp_err"] < 0.002
    assert abs(result.meta["t0"] - table.meta["t0_true"]) < 3 * result.meta["t0_err"]
    assert (tmp_path / "lc_whtlt.ecsv").exists()  # named after the table's root
    # without the regressor the ypos systematic is left in: the fit is worse
    plain = DetrendedWhiteLightStep.call(table, regressors=[], **FIT)
    assert plain.meta["regressors"] == []
    assert plain.meta["reduced_chi2"] > result.meta["reduced_chi2"] + 1


def _own_product(tmp_path):
    """Our _whtlt.ecsv of a fit of an MJD_UTC table (its BJD_TDB column is NaN)."""
    table = light_curve_table(("MJD_UTC", "flux", "flux_err"))
    DetrendedWhiteLightStep.call(table, regressors=["ypos"], **FIT).write(
        tmp_path / "lc_whtlt.ecsv")
    return table, tmp_path / "lc_whtlt.ecsv"


def test_own_product_reads_back(tmp_path):
    table, path = _own_product(tmp_path)
    lc = read_light_curve(path, regressors=["ypos"])
    assert lc["time_scale"] == "MJD_UTC"  # our table holds both; the filled one is used
    np.testing.assert_array_equal(lc["mjd_utc"], table["MJD_UTC"])
    np.testing.assert_array_equal(lc["flux"], table["flux"])
    np.testing.assert_array_equal(lc["regressors"]["ypos"], table["ypos"])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="would overwrite the input table"):
        DetrendedWhiteLightStep.call(str(path), save_results=True, output_dir=str(tmp_path),
                                     **FIT)
    assert path.read_bytes() == before


@pytest.mark.slow
def test_own_product_refits_with_other_settings(tmp_path):
    _, path = _own_product(tmp_path)
    out = tmp_path / "refit"
    refit = DetrendedWhiteLightStep.call(str(path), regressors=["ypos"], save_results=True,
                                         output_dir=str(out), **dict(FIT, poly_order=0))
    assert refit.meta["poly_order"] == 0
    assert refit.meta["input_flux_column"] == "whitelight_flux"
    assert abs(refit.meta["rp"] - RP) < 3 * refit.meta["rp_err"]
    assert (out / "lc_whtlt.ecsv").exists()


# ---------------------------------------------------------------- bad tables


def _bad(kind):
    table = light_curve_table()
    if kind == "no time":
        table.rename_column("time", "epoch")
    elif kind == "no flux":
        table.rename_column("flux", "counts")
    elif kind == "decreasing":
        table["time"][100] = table["time"][98]
    elif kind == "duplicated":
        table["time"][100] = table["time"][99]
    elif kind == "all-NaN flux":
        table["flux"] = np.nan
    elif kind == "negative error":
        table["flux_err"][7] = -1e-4
    elif kind == "zero error":
        table["flux_err"][7] = 0.0
    elif kind == "long form":
        table["wavelength"] = np.where(np.arange(NINTS) % 2, 6.0, 7.0)
    return table


BAD = {
    "no time": "no time column found: none of .* name it with table_time_column",
    "no flux": "no flux column found: none of .* name it with table_flux_column",
    "decreasing": r"times must increase: 'time' of row 100 .* is before that of row 99",
    "duplicated": r"times must increase: 'time' of row 100 .* repeats that of row 99",
    "all-NaN flux": "column 'flux' has no finite, unmasked value",
    "negative error": r"1 row has a zero or negative 'flux_err' \(rows 7; counted from 0\)",
    "zero error": r"1 row has a zero or negative 'flux_err' \(rows 7; counted from 0\)",
    "long form": "holds 2 wavelengths .* spectral_light_curves reads it",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_table_is_one_clear_error_and_no_product(tmp_path, kind):
    path = tmp_path / "bad.ecsv"
    _bad(kind).write(path)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=BAD[kind]) as error:
        DetrendedWhiteLightStep.call(str(path), save_results=True, output_dir=str(out),
                                     **FIT)
    assert str(path) in str(error.value)  # names the table
    # raised by our check, not from deep inside numpy or astropy
    assert error.traceback[-1].path.name == "tables.py"
    assert not out.exists() or not any(out.iterdir())


def test_period_shorter_than_cadence_is_an_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"period=0.0001 d is not longer than the data's "
                                         r"cadence \(0.000347222 d = 30.0 s\)"):
        DetrendedWhiteLightStep.call(light_curve_table(), save_results=True,
                                     output_dir=str(out), **dict(FIT, period=1e-4))
    assert not out.exists() or not any(out.iterdir())
    check_period(np.arange(10.0), 2.0)  # longer than the cadence: fine
    with pytest.raises(ValueError, match="not longer than"):
        check_period(np.arange(10.0), -3.0)


def test_unreadable_table_names_the_file(tmp_path):
    path = tmp_path / "garbage.ecsv"
    path.write_text("# %ECSV 1.0\n# ---\n# datatype: [oops\nx y\n1 2\n")
    with pytest.raises(ValueError, match="garbage.ecsv: cannot be read as a light-curve table"):
        read_light_curve(path)
    with pytest.raises(FileNotFoundError, match="light-curve table not found"):
        read_light_curve(tmp_path / "missing.ecsv")


def test_non_numeric_column_is_an_error():
    table = light_curve_table()
    table["flux"] = ["a"] * NINTS
    with pytest.raises(ValueError, match="column 'flux' is not a numeric column"):
        read_light_curve(table)


# ---------------------------------------------------------------- real data, strun


@pytest.mark.slow
@pytest.mark.parametrize("regressors", [None, "ypos,ywidth"])
def test_strun_on_the_eureka_table(tmp_path, regressors):
    """The real WASP-107 b Eureka! stage-5 table fits with no column option."""
    command = ["strun", "detrended_white_light", str(EUREKA), f"--period={WASP107_PERIOD}",
               "--save_results=true", f"--output_dir={tmp_path}"]
    if regressors:
        command.append(f"--regressors={regressors}")
    run = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ),
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    product = QTable.read(tmp_path / "wasp107b_miri_lrs_white_eureka_s5_whtlt.ecsv")
    meta = product.meta
    assert meta["input_flux_column"] == "lcdata" and meta["input_error_column"] == "lcerr"
    assert "BMJD_TDB assumed" in meta["input_time_scale"]
    # Eureka!'s own fit of this reduction: rp = 0.14324 +/- 0.00010 (free limb darkening);
    # ours with fixed limb darkening lands within 1 %
    assert abs(meta["rp"] - 0.14324) < 0.0015
    assert 0 < meta["rp_err"] < 3e-4
    assert abs(meta["t0"] - 59963.968752) < 3e-4
    if regressors:
        assert set(meta["regressors"]) <= {"ypos", "ywidth"}
        assert {"ypos", "ywidth"} <= set(product.colnames)
    assert (tmp_path / "wasp107b_miri_lrs_white_eureka_s5_whtlt.png").exists()
