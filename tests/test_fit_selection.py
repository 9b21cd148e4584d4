"""The white-light fit on scenes it was not tuned to (no batman, no simulator code).

Scenes: trapezoids and boxes with an exponential ramp and pointing drifts from
:mod:`jwst_tso_ext.simulate.check_scenes`; no orbit is given to the fit. A fast subset
of ``benchmarks/white_light_recovery.py`` (which runs 50 realisations per case).
"""

import logging

import numpy as np
import pytest

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import (
    DetrendedWhiteLightStep,
)
from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.lightcurve.binning import sum_white_light
from jwst_tso_ext.lightcurve.fit_selection import _preferred_shape, detrend
from jwst_tso_ext.lightcurve.orbit import orbit_from_shape, shape_from_orbit
from jwst_tso_ext.lightcurve.transit_search import search_transit
from jwst_tso_ext.simulate.check_scenes import LightCurveScene, flat_bottom_depth, make_spectra

ISSUE_SCENE = LightCurveScene(ingress=0.13, duration=0.3, y_event_coupling=-0.03,
                              x_step=0.05, x_step_time=0.7)


def step_defaults(kind="transit"):
    """The step's own defaults, as ``make_detrended_light_curve`` options."""
    return DetrendedWhiteLightStep(astrophysical=kind).light_curve_options()


def white(spectra):
    flux, err, _ = sum_white_light(spectra["wavelength"], spectra["flux"], spectra["error"])
    return spectra["bjd_tdb"], flux, err


@pytest.mark.parametrize("shape", [dict(ingress=0.0, duration=0.15, t0=0.3),
                                   dict(ingress=0.3, duration=0.5, t0=0.62)])
def test_search_finds_event_not_the_ramp(shape):
    """A 0.6 % ramp at the start is as deep as the transit; the search must not take it."""
    scene = LightCurveScene(ramp_amplitude=0.006, ramp_timescale=0.05, **shape)
    spectra, _, truth = make_spectra(scene, seed=5)
    time, flux, err = white(spectra)
    found = search_transit(time, flux, err)
    days = time[-1] - time[0]
    assert found["found"] and found["snr"] > 20
    assert abs(found["t0"] - truth["t0"]) < 0.02 * days
    t14, t23 = scene.duration * days, scene.duration * (1 - 2 * scene.ingress) * days
    assert t23 - 0.02 * days < found["duration"] < t14 + 0.02 * days
    assert found["depth"] == pytest.approx(scene.depth, rel=0.2)


def test_search_finds_nothing_in_flat_noise():
    scene = LightCurveScene(depth=0.0)
    spectra, _, _ = make_spectra(scene, seed=2)
    found = search_transit(*white(spectra), min_snr=7.0)
    assert not found["found"] and "below the detection threshold" in found["reason"]


def test_orbit_shape_round_trip():
    a, inc = orbit_from_shape(0.1, 0.4, 0.08, 3.0)
    duration, impact = shape_from_orbit(a, inc, 0.08, 3.0)
    assert duration == pytest.approx(0.1, rel=1e-9) and impact == pytest.approx(0.4, abs=1e-9)
    # eccentric orbit: same round trip
    a, inc = orbit_from_shape(0.1, 0.4, 0.08, 3.0, ecc=0.3, w=40.0)
    duration, impact = shape_from_orbit(a, inc, 0.08, 3.0, ecc=0.3, w=40.0)
    assert duration == pytest.approx(0.1, rel=1e-9) and impact == pytest.approx(0.4, abs=1e-9)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_issue_scene_depth_without_orbit(seed):
    """The issue's held-out scene: the y regressor dips in transit, the flux ignores it.

    Before, least squares stayed at the default orbit, went grazing and let the
    regressors soak up the transit (-4.5 sigma); now the depth is unbiased, the
    regressor is dropped and the residuals are at the noise.
    """
    spectra, regressors, truth = make_spectra(ISSUE_SCENE, seed)
    table, result = make_detrended_light_curve(spectra, regressors=regressors,
                                               **step_defaults())
    depth, error = flat_bottom_depth(result, truth)
    assert table.meta["start"] == "search"
    assert abs(depth - truth["depth"]) < 3 * error
    assert error < 150e-6
    assert table.meta["rms_ppm"] < 1.1e6 * truth["expected_noise"]
    assert "y_shift" not in table.meta["regressors"]
    assert table.meta["fit_status"] == "COMPLETE"


def test_regressor_without_signal_costs_no_depth_precision():
    spectra, regressors, truth = make_spectra(ISSUE_SCENE, seed=21)
    options = step_defaults()
    _, with_regressors = make_detrended_light_curve(spectra, regressors=regressors, **options)
    _, without = make_detrended_light_curve(spectra, regressors=None, **options)
    ratio = flat_bottom_depth(with_regressors, truth)[1] / flat_bottom_depth(without, truth)[1]
    assert ratio <= 1.1


def test_regressor_that_carries_signal_is_kept():
    scene = LightCurveScene(ingress=0.1, duration=0.3, flux_per_px_x=0.02, drift_rms=0.05,
                            x_event_coupling=0.03)
    spectra, regressors, truth = make_spectra(scene, seed=31)
    table, result = make_detrended_light_curve(spectra, regressors=regressors,
                                               **step_defaults())
    depth, error = flat_bottom_depth(result, truth)
    assert table.meta["regressors"] == ["x_shift"]
    assert table.meta["d_x_shift"] > 10 * table.meta["d_x_shift_err"]
    assert abs(depth - truth["depth"]) < 3 * error
    assert "x_shift" in table.meta["depth_regressor_correlation"]


def test_eclipse_found_and_measured_without_orbit():
    scene = LightCurveScene(depth=0.002, ingress=0.08, duration=0.35, t0=0.55, nints=400)
    spectra, regressors, truth = make_spectra(scene, seed=41)
    table, _ = make_detrended_light_curve(spectra, regressors=regressors,
                                          **step_defaults("eclipse"))
    assert table.meta["astrophysical"] == "eclipse"
    assert abs(table.meta["fp"] - truth["depth"]) < 3 * table.meta["fp_err"]


def test_no_transit_fits_systematics_and_warns(caplog):
    spectra, regressors, _ = make_spectra(LightCurveScene(depth=0.0), seed=3)
    with caplog.at_level(logging.WARNING):
        table, _ = make_detrended_light_curve(spectra, regressors=regressors,
                                              **step_defaults())
    assert "No transit found" in caplog.text
    assert table.meta["astrophysical"] == "none"
    assert table.meta["fit_status"] == "REDUCED"
    assert np.all(np.asarray(table["astrophysical_model"]) == 1.0)


def test_user_orbit_wins_over_the_search():
    spectra, _, truth = make_spectra(LightCurveScene(), seed=7)
    time, flux, err = white(spectra)
    # an orbit with about the scene's duration (T14 ~ 0.014 d), t0 off by 3 integrations
    given = {"t0": truth["t0"] + 0.0007, "period": 2.0, "a": 47.0, "inc": 89.6}
    result = detrend(time, flux, err, astro_params=given)
    assert result["selection"]["search"] is None
    assert result["selection"]["start"] == "user orbit"
    fitted_t0 = result["parameters"]["t0"][0]
    assert abs(fitted_t0 - truth["t0"]) < 0.005 * (time[-1] - time[0])


def test_box_takes_the_flat_free_ingress_with_a_finite_depth_error():
    """A box is fitted by the free-ingress shape: flat bottom (u ~ 0), b held at 0.

    The limb darkening is free by default: the box's flat bottom sends it to ~0.

    With b and rp_shape both free (they both set the ingress) the fit was degenerate:
    b's error ran to 10-500 and rp**2's error to ~10x the photon limit; and a
    limb-darkened bottom fitted to a flat one biased the flat-bottom depth by -0.4
    sigma over 100 realisations.
    """
    scene = LightCurveScene(ingress=0.0, duration=0.15, t0=0.3)
    spectra, regressors, truth = make_spectra(scene, seed=5)
    table, result = make_detrended_light_curve(spectra, regressors=regressors,
                                               **step_defaults())
    meta = table.meta
    assert "rp_shape" in meta["free_parameters"] and "b" not in meta["free_parameters"]
    assert meta["b"] == 0.0 and abs(meta["u1"]) < 0.02 and abs(meta["u2"]) < 0.02
    depth, error = flat_bottom_depth(result, truth)
    # flat bottom: the reported depth rp**2 is the model's depth (within a fraction of
    # its error: the model's contacts need not fall on the scene's), with its error
    assert abs(meta["transit_depth"] - depth) < 0.2 * error
    # rp**2's error also carries the free limb darkening's (which trades with rp at
    # a fixed observed depth): at least the flat-bottom depth's, and still finite
    assert error * 0.9 < meta["transit_depth_err"] < 120e-6
    assert abs(depth - truth["depth"]) < 3 * error
    assert error < 120e-6
    assert meta["rms_ppm"] < 1.1e6 * truth["expected_noise"]


def test_free_ingress_needs_a_strong_bic_preference():
    """The free ingress is chosen only for a BIC drop > shape_min_delta_bic (10).

    With the plain lower-BIC rule it won on a weak preference (3.5) in a simulated
    1000-integration exposure, and its geometry then biased every spectral bin.
    """
    assert _preferred_shape({"physical": 1113.1, "free_ingress": 1109.6}, 10.0) == "physical"
    assert _preferred_shape({"physical": 1113.1, "free_ingress": 1100.0}, 10.0) == (
        "free_ingress")
    assert _preferred_shape({"free_ingress": 1100.0}, 10.0) == "free_ingress"


@pytest.mark.parametrize("seed", [1, 2])
def test_limb_darkened_transit_keeps_the_physical_shape(seed):
    """A planet's transit (batman, u = 0.1, 0.1) keeps the physical shape and its depth."""
    import batman

    rng = np.random.default_rng(seed)
    time = 60400.0 + np.arange(400) * 20.0 / 86400.0
    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a, params.inc = time[200], 1.5, 0.078, 8.0, 88.0
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "quadratic", [0.1, 0.1]
    flux = batman.TransitModel(params, time).light_curve(params)
    flux = flux * (1.0 - 0.004 * np.exp(-(time - time[0]) / 0.01))
    error = np.full(time.size, 300e-6)
    flux = flux + error * rng.standard_normal(time.size)
    result = detrend(time, flux, error)
    assert result["selection"]["transit_shape"] == "physical"
    assert "rp_shape" not in result["model"].free_astro
    rp, rp_err = result["parameters"]["rp"]
    assert abs(rp - 0.078) < 3 * rp_err


def test_a_row_left_out_of_the_fit_does_not_stretch_the_time_axis():
    """A fill-value row (time 0, flux 0, error 0), excluded from the fit, changes nothing.

    Such a row is what ``np.asarray`` of a masked table column gives; the model's time
    axis (ramp start, polynomial scale, ramp timescale bounds) is that of the points
    fitted, so the fit equals the one without the row.
    """
    spectra, _, truth = make_spectra(ISSUE_SCENE, seed=5)
    time, flux, err = white(spectra)
    middle = time.size // 2
    with_row = [np.insert(a, middle, 0.0) for a in (time, flux, err)]
    fits = [detrend(*arrays, ramp="single") for arrays in ((time, flux, err), with_row)]
    (rp, rp_err), (rp_row, rp_row_err) = (f["parameters"]["rp"] for f in fits)
    assert (fits[1]["model"].n_ramp, fits[1]["model"].poly_order) == (
        fits[0]["model"].n_ramp, fits[0]["model"].poly_order)
    assert rp_row == pytest.approx(rp, rel=1e-6) and rp_row_err == pytest.approx(rp_err, rel=1e-3)
    assert abs(rp**2 - truth["depth"]) < 4 * 2 * rp * rp_err


@pytest.mark.parametrize("seed", [12, 13])
def test_limb_darkening_at_zero_holds_q2_and_leaves_the_depth_error_alone(seed):
    """q1 = 0 is a uniform disc whatever q2: q2 gets no error and rp's error is sound.

    On the issue scene (a trapezoid, no limb darkening) q1 ends at 0. q2's column was
    then numerical noise (its error ~1e4) and made rp's error depend on the
    parameterisation: moving the ramp's start by five integrations took it from 0.00032
    to 0.00129. Held, it equals the error of the fit with u1 = u2 = 0 given.
    """
    spectra, regressors, _ = make_spectra(ISSUE_SCENE, seed)
    time, flux, err = white(spectra)
    free = detrend(time, flux, err, ramp="single")
    held = detrend(time, flux, err, ramp="single", limb_darkening="fixed",
                   astro_params={"u1": 0.0, "u2": 0.0})
    assert free["parameters"]["q1"][0] < 1e-6
    assert np.isnan(free["parameters"]["q2"][1])
    rp_err, rp_err_held = free["parameters"]["rp"][1], held["parameters"]["rp"][1]
    assert rp_err == pytest.approx(rp_err_held, rel=0.1)
