"""Numeric-core tests of the detrended white light: summation, gap filling, clipping, fit."""

import logging

import batman
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwst_tso_ext.lightcurve import noise
from jwst_tso_ext.lightcurve.binning import fill_bad_bins, sum_white_light
from jwst_tso_ext.lightcurve.clipping import running_median, sigma_clip_series
from jwst_tso_ext.lightcurve.fit_selection import detrend
from jwst_tso_ext.lightcurve.model import (
    LightCurveModel,
    in_windows,
    regressors_from_drift_table,
)

log = logging.getLogger(__name__)

NINTS, NWAVE = 600, 100
CADENCE = 36.0 / 86400.0  # days
PERIOD, A_RS, INC, U = 3.0, 10.0, 89.0, (0.1, 0.1)
RAMP_TAU = 0.01  # days
SIGMA_BIN = 0.01  # relative error of one wavelength bin in one integration
RANGE = {"min_wave": 5.0, "max_wave": 12.0}


def transit(time, t0, rp):
    """Batman quadratic-limb-darkened transit with the fixed test geometry."""
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t0, PERIOD, rp, A_RS, INC, 0.0, 90.0
    p.limb_dark, p.u = "quadratic", list(U)
    return batman.TransitModel(p, time).light_curve(p)


def make_spectra(rp=0.0775, ramp_amp=-0.004, coeff=3e-4, sigma=SIGMA_BIN, seed=3):
    """
    Spectra whose white light is star * transit * ramp * (1 + c x_shift) plus white noise.

    Returns a dict with the arrays and the truth.
    """
    rng = np.random.default_rng(seed)
    time = 60000.0 + np.arange(NINTS) * CADENCE
    t0 = time[NINTS // 2]
    tr = transit(time, t0, rp)
    x_shift = 0.02 * (time - time[0]) / (time[-1] - time[0]) + 0.01 * rng.standard_normal(NINTS)
    z = (x_shift - x_shift.mean()) / x_shift.std()
    ramp = 1.0 + ramp_amp * np.exp(-(time - time[0]) / RAMP_TAU)
    white = tr * ramp * (1.0 + coeff * z)
    wave = np.linspace(4.5, 12.5, NWAVE)
    star = 1000.0 * (1.0 + 0.5 * np.sin(wave))
    clean = white[:, None] * star[None, :]
    err = sigma * np.broadcast_to(star, clean.shape).copy()
    flux = clean + err * rng.standard_normal(clean.shape)
    return {
        "time": time, "wave": wave, "flux": flux, "err": err, "clean": clean,
        "x_shift": x_shift, "t0": t0, "rp": rp, "ramp_amp": ramp_amp, "transit": tr,
    }


# the fitter's core with a fixed model (model selection is tested in test_fit_selection.py)
FIT_OPTIONS = {
    "poly_order": 1,
    "poly_selection": "fixed",
    "ramp": "single",
    "ramp_selection": "fixed",
    "regressor_selection": "all",
    "ramp_tau": RAMP_TAU,
    "astrophysical": "transit",
    "astro_params": {"period": PERIOD, "a": A_RS, "inc": INC, "u1": U[0], "u2": U[1],
                     "rp": 0.1},
    "free_params": ["t0", "rp"],
}


def fisher_depth_error(time, t0, rp, sigma_rel):
    """Photon-limited depth error: Fisher matrix of (F0, depth) for the known shape."""
    lc0 = transit(time, t0, rp)
    drp = 1e-4
    d_depth = (transit(time, t0, rp + drp) - lc0) / ((rp + drp) ** 2 - rp**2)
    jac = np.stack([lc0, d_depth], axis=1) / sigma_rel
    return float(np.sqrt(np.linalg.inv(jac.T @ jac)[1, 1]))


def run_fit(data, **overrides):
    white, white_err, info = sum_white_light(data["wave"], data["flux"], data["err"],
                                             min_wave=5.0, max_wave=12.0)
    clip = sigma_clip_series(white)
    options = dict(FIT_OPTIONS, **overrides)
    options["astro_params"] = dict(options["astro_params"], t0=data["t0"] + 0.002)
    result = detrend(data["time"], white, white_err, clip_mask=clip,
                     regressors={"x_shift": data["x_shift"]}, **options)
    return white, white_err, result


@pytest.fixture(scope="module")
def fitted():
    data = make_spectra()
    white, white_err, result = run_fit(data)
    return data, white, white_err, result


def test_white_light_sum_and_errors():
    data = make_spectra()
    white, white_err, info = sum_white_light(data["wave"], data["flux"], data["err"],
                                             min_wave=5.0, max_wave=12.0)
    use = (data["wave"] >= 5.0) & (data["wave"] <= 12.0)
    np.testing.assert_allclose(white, data["flux"][:, use].sum(axis=1))
    np.testing.assert_allclose(white_err, np.sqrt((data["err"][:, use] ** 2).sum(axis=1)))
    assert info["bins_used"].size == use.sum()
    assert not info["n_filled"].any()
    # input untouched
    assert np.isfinite(data["flux"]).all()


def test_nan_bin_changes_only_that_error_bar():
    """A bin that is NaN in one integration changes nothing but that integration's error."""
    data = make_spectra(sigma=0.0)
    err = SIGMA_BIN * np.abs(data["clean"])  # errors still present, data noiseless
    flux = data["clean"].copy()
    white0, err0, _ = sum_white_light(data["wave"], flux, err, min_wave=5.0, max_wave=12.0)
    bad_int, bad_bin = 300, 50  # inside the transit
    flux[bad_int, bad_bin] = np.nan
    white1, err1, info = sum_white_light(data["wave"], flux, err, min_wave=5.0, max_wave=12.0)
    assert np.isnan(flux[bad_int, bad_bin])  # caller's array not modified beyond our edit
    assert info["n_filled"][bad_int] == 1 and info["n_filled"].sum() == 1
    # value unchanged to 1e-3 of the noise
    assert abs(white1[bad_int] - white0[bad_int]) < 1e-3 * err0[bad_int]
    assert err1[bad_int] > err0[bad_int]
    others = np.arange(NINTS) != bad_int
    np.testing.assert_array_equal(white1[others], white0[others])
    np.testing.assert_array_equal(err1[others], err0[others])


def test_nan_bin_with_noise_stays_within_error():
    data = make_spectra()
    flux = data["flux"].copy()
    flux[100, 10] = np.nan
    white0, err0, _ = sum_white_light(data["wave"], data["flux"], data["err"], **RANGE)
    white1, err1, _ = sum_white_light(data["wave"], flux, data["err"], **RANGE)
    # the filled value differs from the lost measurement by about that bin's noise only
    assert abs(white1[100] - white0[100]) < 4 * data["err"][100, 10]
    assert err1[100] > err0[100]


def test_bin_bad_in_most_integrations_is_excluded():
    data = make_spectra()
    flux = data["flux"].copy()
    flux[:400, 20] = np.nan
    dq = np.zeros(flux.shape, np.uint32)
    dq[:, 30] = 1  # DO_NOT_USE everywhere
    white, _, info = sum_white_light(data["wave"], flux, data["err"], dq, **RANGE)
    assert set(info["bins_excluded"]) == {20, 30}
    use = (data["wave"] >= 5.0) & (data["wave"] <= 12.0)
    use[[20, 30]] = False
    np.testing.assert_allclose(white, data["flux"][:, use].sum(axis=1))


def test_fill_bad_bins_exact_for_separable_spectrum():
    rng = np.random.default_rng(3)
    shape_t = 1 + 0.01 * rng.standard_normal(50)
    shape_w = rng.uniform(1, 2, 20)
    flux = shape_t[:, None] * shape_w[None, :]
    bad = np.zeros(flux.shape, bool)
    bad[[3, 10, 40], [0, 5, 19]] = True
    filled, _ = fill_bad_bins(np.where(bad, np.nan, flux), np.ones_like(flux), bad)
    np.testing.assert_allclose(filled, flux, rtol=1e-12)


@pytest.mark.parametrize(
    ("lo", "hi", "match"),
    [(13.0, 14.0, "outside the data"), (1.0, 2.0, "outside the data"),
     (10.0, 6.0, "must be smaller")],
)
def test_wavelength_range_errors(lo, hi, match):
    data = make_spectra()
    with pytest.raises(ValueError, match=match):
        sum_white_light(data["wave"], data["flux"], data["err"], min_wave=lo, max_wave=hi)


def test_sigma_clip_flags_injected_outlier():
    rng = np.random.default_rng(5)
    y = 1.0 + 1e-3 * rng.standard_normal(600)
    y[123] += 20e-3  # 20 sigma
    clipped = sigma_clip_series(y, window=21, nsigma=5.0)
    assert clipped[123]
    assert clipped.sum() <= 2  # nothing else of consequence
    assert y.size == clipped.size  # flagged, not dropped


def test_running_median_ignores_mask():
    y = np.arange(11, dtype=float)
    mask = np.zeros(11, bool)
    mask[5] = True
    med = running_median(y, 3, mask=mask)
    assert med[5] == 5.0  # (4 + 6) / 2
    assert med[0] == 0.5


def test_fit_recovers_depth_with_photon_limited_error(fitted):
    data, white, white_err, result = fitted
    fit = result["fit"]
    names = fit["names"]
    rp, rp_err = fit["values"][names.index("rp")], fit["errors"][names.index("rp")]
    depth, depth_err = rp**2, 2 * rp * rp_err
    true_depth = data["rp"] ** 2
    sigma_rel = np.median(white_err / white)
    expected = fisher_depth_error(data["time"], data["t0"], data["rp"], sigma_rel)
    n_in = int((data["transit"] < 1.0).sum())
    n_out = NINTS - n_in
    simple = sigma_rel * np.sqrt(1.0 / n_in + 1.0 / n_out)
    log.info(f"depth {depth:.6f} +/- {depth_err:.6f} (true {true_depth:.6f}); Fisher {expected:.6f}"
          f"; sqrt(1/Nin+1/Nout) {simple:.6f}")
    assert abs(depth - true_depth) < depth_err
    assert depth_err <= 1.3 * expected
    assert abs(fit["values"][names.index("t0")] - data["t0"]) < 5 * fit["errors"][names.index("t0")]
    amp = fit["values"][names.index("ramp_amp1")]
    assert abs(amp - data["ramp_amp"]) < 4 * fit["errors"][names.index("ramp_amp1")]
    assert fit["values"][names.index("d_x_shift")] > 0


def test_fit_noise_metrics(fitted):
    data, white, white_err, result = fitted
    mask = result["fit_mask"]
    rel = (white / result["fit"]["model"] - 1.0)[mask]
    rms = noise.rms_ppm(rel)
    expected = noise.expected_noise_ppm(white[mask], white_err[mask])
    beta = noise.beta_factor(rel)
    log.info(f"rms {rms:.1f} ppm, expected {expected:.1f} ppm, ratio {rms / expected:.3f}, "
          f"beta {beta:.3f}")
    assert rms <= 1.05 * expected
    assert beta <= 1.2
    # detrended curve follows the transit
    cols = result["columns"]
    expected_residual = cols["detrended_flux"] - cols["astrophysical_model"]
    np.testing.assert_allclose(cols["residual"], expected_residual)


def test_beta_detects_red_noise():
    rng = np.random.default_rng(2)
    white = rng.standard_normal(2000)
    red = white + np.repeat(rng.standard_normal(40), 50)
    assert noise.beta_factor(white) < 1.2
    assert noise.beta_factor(red) > 2.0
    assert noise.bic(10.0, 2, 100) == pytest.approx(10.0 + 2 * np.log(100))


def test_out_of_transit_mode_fits_only_outside_windows():
    data = make_spectra()
    white, white_err, _ = sum_white_light(data["wave"], data["flux"], data["err"], **RANGE)
    window = [data["t0"] - 0.06, data["t0"] + 0.06]
    result = detrend(data["time"], white, white_err, regressors={"x_shift": data["x_shift"]},
                     astrophysical="out_of_transit", windows=window, ramp_tau=RAMP_TAU)
    inside = in_windows(data["time"], window)
    assert not result["fit_mask"][inside].any()
    np.testing.assert_array_equal(result["columns"]["astrophysical_model"], 1.0)
    # in-window detrended flux shows the transit depth
    depth = 1 - np.median(result["columns"]["detrended_flux"][np.abs(data["time"] - data["t0"])
                                                               < 0.02])
    assert depth == pytest.approx(data["rp"] ** 2, rel=0.3)


def test_too_few_out_of_transit_points_drop_the_transit_with_a_warning(caplog):
    data = make_spectra()
    white, white_err, _ = sum_white_light(data["wave"], data["flux"], data["err"], **RANGE)
    options = dict(FIT_OPTIONS, astro_params=dict(FIT_OPTIONS["astro_params"], t0=data["t0"]))
    with caplog.at_level(logging.WARNING):
        result = detrend(data["time"], white, white_err, min_out_of_transit=NINTS, **options)
    assert result["model"].astrophysical == "none"
    assert result["selection"]["status"] == "REDUCED"
    assert any("outside the transit" in reason for reason in result["selection"]["dropped"])
    assert "cannot support a transit model" in caplog.text
    np.testing.assert_array_equal(result["columns"]["astrophysical_model"], 1.0)


def test_eclipse_depth_recovered():
    rng = np.random.default_rng(11)
    time = 60000.0 + np.arange(NINTS) * CADENCE
    t_sec = time[NINTS // 2]
    fp = 0.002
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t_sec - 0.5 * PERIOD, PERIOD, 0.1, A_RS, INC, 0, 90
    p.limb_dark, p.u, p.fp, p.t_secondary = "quadratic", list(U), fp, t_sec
    ecl = batman.TransitModel(p, time, transittype="secondary").light_curve(p) / (1 + fp)
    sigma = 3e-4
    flux = 1e4 * ecl * (1 + 0.002 * np.exp(-(time - time[0]) / RAMP_TAU))
    flux = flux + 1e4 * sigma * rng.standard_normal(NINTS)
    err = np.full(NINTS, 1e4 * sigma)
    result = detrend(time, flux, err, astrophysical="eclipse", ramp_tau=RAMP_TAU,
                     ramp_selection="fixed", poly_selection="fixed",
                     astro_params={"period": PERIOD, "a": A_RS, "inc": INC, "rp": 0.1,
                                   "t0": t_sec, "fp": 0.001},
                     free_params=["fp"])
    fit = result["fit"]
    i = fit["names"].index("fp")
    assert abs(fit["values"][i] - fp) < 4 * fit["errors"][i]
    assert fit["errors"][i] < 1e-4


def test_model_rejects_unknown_parameters():
    with pytest.raises(ValueError, match="Unknown free parameter"):
        LightCurveModel(np.arange(10.0), free_params=["radius"])
    # a free depth scales a fixed transit shape: it needs rp_shape
    with pytest.raises(ValueError, match="fixed shape"):
        LightCurveModel(np.arange(10.0), free_params=["depth"],
                        astro_params={"t0": 5.0, "duration": 3.0, "b": 0.1})
    with pytest.raises(ValueError, match="ramp"):
        LightCurveModel(np.arange(10.0), ramp="triple")


def test_regressors_from_drift_table_aligns_by_int_num():
    from astropy.table import Table

    drift = Table({"int_num": [3, 1, 2], "x_shift": [0.3, 0.1, 0.2]})
    regs = regressors_from_drift_table(drift, np.array([1, 2, 3, 4]), ["x_shift", "y_shift"])
    assert list(regs) == ["x_shift"]
    np.testing.assert_allclose(regs["x_shift"][:3], [0.1, 0.2, 0.3])
    assert np.isnan(regs["x_shift"][3])


def test_mcmc_posterior_agrees_with_least_squares():
    pytest.importorskip("emcee")
    data = make_spectra()
    _, _, result = run_fit(data, mcmc=True, nwalkers=20, nsteps=300, seed=1)
    fit = result["fit"]
    i = fit["names"].index("rp")
    median, minus, plus = fit["mcmc"]["rp"]
    assert abs(median - fit["values"][i]) < fit["errors"][i]
    assert 0.5 < 0.5 * (minus + plus) / fit["errors"][i] < 2.0


@settings(max_examples=10, deadline=None, database=None)
@given(
    depth=st.floats(0.002, 0.01),
    ramp_amp=st.floats(-0.01, 0.01),
    seed=st.integers(0, 2**16),
)
def test_fit_recovers_random_depths_and_ramps(depth, ramp_amp, seed):
    data = make_spectra(rp=np.sqrt(depth), ramp_amp=ramp_amp, seed=seed)
    _, _, result = run_fit(data)
    fit = result["fit"]
    names = fit["names"]
    rp, rp_err = fit["values"][names.index("rp")], fit["errors"][names.index("rp")]
    assert abs(rp**2 - depth) < 4 * 2 * rp * rp_err
    amp, amp_err = fit["values"][names.index("ramp_amp1")], fit["errors"][names.index("ramp_amp1")]
    assert abs(amp - ramp_amp) < 4 * amp_err


def test_free_limb_darkening_is_fitted_as_kipping_q():
    """free u1, u2 are varied as Kipping's q1, q2 (always a physical law)."""
    data = make_spectra(seed=8)
    white, white_err, _ = sum_white_light(data["wave"], data["flux"], data["err"], **RANGE)
    options = dict(FIT_OPTIONS, free_params=["t0", "rp", "u1", "u2"])
    options["astro_params"] = dict(options["astro_params"], t0=data["t0"])
    result = detrend(data["time"], white, white_err, **options)
    names = result["fit"]["names"]
    assert "q1" in names and "q2" in names and "u1" not in names
    rp, rp_err = result["parameters"]["rp"]
    assert abs(rp - data["rp"]) < 3 * rp_err
    u1, u2 = result["parameters"]["u1"][0], result["parameters"]["u2"][0]
    assert u1 >= 0 and u1 + u2 <= 1  # inside the physical region


def test_held_ramp_timescale_fits_only_the_amplitude():
    """fit_ramp_tau=False: the ramp keeps the given timescale, its amplitude is fitted."""
    data = make_spectra(seed=5)
    white, white_err, _ = sum_white_light(data["wave"], data["flux"], data["err"],
                                          min_wave=5.0, max_wave=12.0)
    options = dict(FIT_OPTIONS, astro_params=dict(FIT_OPTIONS["astro_params"],
                                                  t0=data["t0"] + 0.002))
    options.pop("ramp_tau")
    held = detrend(data["time"], white, white_err, regressors={"x_shift": data["x_shift"]},
                   ramp_tau=[RAMP_TAU], ramp_tau_fixed=True, **options)
    names = held["model"].names
    assert "ramp_amp1" in names and "ramp_tau1" not in names
    amplitude, amplitude_err = held["parameters"]["ramp_amp1"]
    assert abs(amplitude - data["ramp_amp"]) < 3 * amplitude_err
    rp, rp_err = held["parameters"]["rp"]
    assert abs(rp - data["rp"]) < 3 * rp_err
    # a wrong held timescale leaves the ramp in the residuals
    wrong = detrend(data["time"], white, white_err, regressors={"x_shift": data["x_shift"]},
                    ramp_tau=[RAMP_TAU / 5], ramp_tau_fixed=True, **options)
    assert wrong["fit"]["chi2"] > held["fit"]["chi2"] + 25
