"""Phase curves (issue 24): the phase function, its derived quantities, search and fit.

Light curves here are drawn with batman for the transit and the eclipse and with the
planet's flux in amplitude-and-phase form, ``C + A cos(2 pi (phi - 1/2) + d)``, not
the fitter's basis: a peak ``d`` degrees before the eclipse is an eastward offset of
``+d``.
"""

import batman
import numpy as np
import pytest
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from stdatamodels.jwst import datamodels
from test_detrended_white_light import _int_times, _set_meta, _spec

from jwst_tso_ext.lightcurve.fit_selection import detrend
from jwst_tso_ext.lightcurve.phase_curve import (
    phase_curve_quantities,
    phase_curve_summary,
    planet_flux,
)
from jwst_tso_ext.lightcurve.transit_search import search_phase_curve
from jwst_tso_ext.steps import DetrendedWhiteLightStep

PERIOD, T0 = 0.8135, 60000.3
ORBIT = {"rp": 0.16, "a": 4.87, "inc": 82.1}
FREE = ["t0", "rp", "a", "inc", "fp_day", "fp_night", "phase_sin1"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")


def sinusoid(phi, mean, amplitude, offset_deg, amplitude2=0.0, phase2_deg=0.0):
    """Planet flux peaking ``offset_deg`` before the eclipse (plus a second order)."""
    x = 2 * np.pi * (np.asarray(phi) - 0.5)
    return (mean + amplitude * np.cos(x + np.radians(offset_deg))
            + amplitude2 * np.cos(2 * x + np.radians(phase2_deg)))


def phase_curve_light_curve(planet, nints=1500, start=-0.6, end=0.62, gap=None):
    """Times and the noiseless flux: batman transit + planet(phi) x visible fraction."""
    time = T0 + PERIOD * np.linspace(start, end, nints)
    if gap is not None:
        phase = (time - T0) / PERIOD
        time = time[(phase < gap[0]) | (phase > gap[1])]
    p = batman.TransitParams()
    p.t0, p.per, p.ecc, p.w, p.limb_dark, p.u = T0, PERIOD, 0.0, 90.0, "quadratic", [0.1, 0.1]
    p.rp, p.a, p.inc, p.fp, p.t_secondary = ORBIT["rp"], ORBIT["a"], ORBIT["inc"], 1.0, \
        T0 + 0.5 * PERIOD
    transit = batman.TransitModel(p, time).light_curve(p)
    visible = batman.TransitModel(p, time, transittype="secondary").light_curve(p) - 1.0
    return time, transit + planet((time - T0) / PERIOD) * visible


def fit(time, flux, noise=3e-4, **options):
    kwargs = dict(astrophysical="phase_curve", astro_params={"period": PERIOD},
                  free_params=FREE, ramp="none", poly_order=0)
    kwargs.update(options)
    return detrend(time, 1e4 * flux, np.full(time.size, 1e4 * noise), **kwargs)


# ----------------------------------------------------------------- phase function
def test_quantities_of_a_first_order_sinusoid():
    mean, amplitude, offset = 2e-3, 1.5e-3, 23.0
    # in the fitter's basis: fp_day = C + A cos d, fp_night = C - A cos d, sin1 = A sin d
    d = np.radians(offset)
    coefficients = [mean + amplitude * np.cos(d), mean - amplitude * np.cos(d),
                    amplitude * np.sin(d), 0.0, 0.0]
    phi = np.linspace(0, 1, 101)
    np.testing.assert_allclose(planet_flux(phi, coefficients),
                               sinusoid(phi, mean, amplitude, offset), atol=1e-15)
    day, night, amp, off = phase_curve_quantities(coefficients)
    assert day == pytest.approx(mean + amplitude * np.cos(d), abs=1e-15)
    assert night == pytest.approx(mean - amplitude * np.cos(d), abs=1e-15)
    assert amp == pytest.approx(amplitude, rel=1e-10)
    assert off == pytest.approx(offset, abs=1e-8)


@pytest.mark.parametrize("offset", [-35.0, -5.0, 0.0, 12.0, 170.0])
def test_offset_is_east_positive_with_a_second_order(offset):
    phi = np.linspace(0, 1, 200_001)
    coefficients = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    # least-squares coefficients of a curve with a second order (exact: it is in the basis)
    from jwst_tso_ext.lightcurve.phase_curve import _terms

    target = sinusoid(phi, 1e-3, 8e-4, offset, amplitude2=1e-4, phase2_deg=30.0)
    coefficients, *_ = np.linalg.lstsq(_terms(phi).T, target, rcond=None)
    peak = phi[np.argmax(target)]
    expected = (0.5 - peak) * 360.0
    _, _, amp, off = phase_curve_quantities(coefficients)
    assert off == pytest.approx(expected, abs=2e-3)
    assert amp == pytest.approx(0.5 * (target.max() - target.min()), rel=1e-6)


def test_errors_of_derived_quantities_match_the_analytic_propagation():
    day, night, sin1 = 4e-3, 1e-3, 6e-4
    s_day, s_night, s_sin = 2e-5, 3e-5, 1e-5
    covariance = np.diag([s_day**2, s_night**2, s_sin**2, 0.0, 0.0])
    out = phase_curve_summary([day, night, sin1, 0.0, 0.0], covariance)
    half, s_half = 0.5 * (day - night), 0.5 * np.hypot(s_day, s_night)
    radius = np.hypot(half, sin1)
    assert out["fp_day"] == (pytest.approx(day), pytest.approx(s_day))
    assert out["fp_night"] == (pytest.approx(night), pytest.approx(s_night))
    assert out["phase_amplitude"][1] == pytest.approx(
        np.hypot(half * s_half, sin1 * s_sin) / radius, rel=1e-5)
    assert out["phase_offset_deg"][1] == pytest.approx(
        np.degrees(np.hypot(sin1 * s_half, half * s_sin) / radius**2), rel=1e-5)


# ----------------------------------------------------------------- search
def test_search_finds_transit_and_eclipses_across_a_gap():
    time, flux = phase_curve_light_curve(lambda phi: sinusoid(phi, 2e-3, 1.5e-3, 10.0),
                                         gap=(0.2, 0.3))
    rng = np.random.default_rng(3)
    flux = flux * (1 + 0.004 * np.exp(-(time - time[0]) / 0.02)) + 3e-4 * rng.standard_normal(
        time.size)
    found = search_phase_curve(time, flux, np.full(time.size, 3e-4), PERIOD)
    assert found["found"]
    assert found["t0"] == pytest.approx(T0, abs=2 * PERIOD / 2000)
    assert found["t_secondary"] == pytest.approx(T0 + 0.5 * PERIOD, abs=2 * PERIOD / 2000)
    assert found["depth"] == pytest.approx(ORBIT["rp"] ** 2, rel=0.25)
    assert found["eclipse_depth"] == pytest.approx(3.5e-3, rel=0.25)
    assert found["n_in_eclipse"] > found["n_in_transit"]  # both eclipses are boxed


def test_search_rejects_a_period_shorter_than_the_cadence():
    time = np.linspace(0, 1, 200)
    with pytest.raises(ValueError, match="longer than the cadence"):
        search_phase_curve(time, np.ones(200), np.full(200, 1e-3), 0.001)


# ----------------------------------------------------------------- fit
@pytest.mark.parametrize("offset", [15.0, -20.0])
def test_noiseless_fit_returns_day_night_and_offset(offset):
    planet = lambda phi: sinusoid(phi, 2.5e-3, 2e-3, offset)  # noqa: E731
    time, flux = phase_curve_light_curve(planet, gap=(0.2, 0.25))
    result = fit(time, flux)
    p = result["parameters"]
    assert result["model"].astrophysical == "phase_curve"
    assert result["selection"]["phase_order"] == 1
    assert p["fp_day"][0] == pytest.approx(planet(0.5), abs=1e-7)
    assert p["fp_night"][0] == pytest.approx(planet(0.0), abs=1e-7)
    assert p["phase_offset_deg"][0] == pytest.approx(offset, abs=1e-3)
    assert p["phase_amplitude"][0] == pytest.approx(2e-3, rel=1e-4)
    assert p["transit_depth"][0] == pytest.approx(ORBIT["rp"] ** 2, rel=1e-5)
    assert p["t0"][0] == pytest.approx(T0, abs=1e-6)
    for name in ("fp_day", "fp_night", "phase_offset_deg", "phase_amplitude",
                 "transit_depth"):
        assert p[name][1] > 0
    astro = result["columns"]["astrophysical_model"]
    np.testing.assert_allclose(astro, flux, atol=1e-8)


def test_second_order_is_chosen_by_bic_and_a_negative_nightside_is_kept(caplog):
    planet = lambda phi: sinusoid(phi, 1e-3, 1.3e-3, 5.0, 3e-4, 60.0)  # noqa: E731
    time, flux = phase_curve_light_curve(planet)
    assert planet(0.0) < 0
    result = fit(time, flux)
    p = result["parameters"]
    assert result["selection"]["phase_order"] == 2
    assert p["fp_night"][0] == pytest.approx(planet(0.0), abs=1e-7)
    assert p["fp_day"][0] == pytest.approx(planet(0.5), abs=1e-7)
    assert "sigma below zero" in caplog.text


def test_fixed_shape_fits_depth_and_planet_flux_linearly():
    """As a spectral bin would: the white light's orbit and shape, depth and fluxes free."""
    from jwst_tso_ext.lightcurve.model import LightCurveModel, fit_light_curve

    planet = lambda phi: sinusoid(phi, 1e-3, 6e-4, 8.0)  # noqa: E731
    time, flux = phase_curve_light_curve(planet, nints=600)
    d = np.radians(8.0)
    shape = dict(ORBIT, t0=T0, period=PERIOD, rp_shape=ORBIT["rp"], depth=0.01,
                 phase_sin1=6e-4 * np.sin(d))
    model = LightCurveModel(time, poly_order=0, ramp="none", astrophysical="phase_curve",
                            astro_params=shape, free_params=["depth", "fp_day", "fp_night"])
    result = fit_light_curve(model, flux, np.full(time.size, 1e-4), np.ones(time.size, bool))
    values = dict(zip(result["names"], result["values"], strict=True))
    assert values["depth"] == pytest.approx(ORBIT["rp"] ** 2, rel=1e-6)
    assert values["fp_day"] == pytest.approx(planet(0.5), abs=1e-9)
    assert values["fp_night"] == pytest.approx(planet(0.0), abs=1e-9)


def test_phase_curve_needs_a_period():
    time, flux = phase_curve_light_curve(lambda phi: sinusoid(phi, 2e-3, 1e-3, 0.0), 300)
    with pytest.raises(ValueError, match="needs the orbital period"):
        fit(time, flux, astro_params={})
    with pytest.raises(ValueError, match="not longer than the data's cadence"):
        fit(time, flux, astro_params={"period": 1e-4})


def test_eccentric_orbit_puts_fp_day_at_the_eclipse():
    from jwst_tso_ext.lightcurve.model import LightCurveModel
    from jwst_tso_ext.lightcurve.phase_curve import eclipse_phase

    assert eclipse_phase(PERIOD) == 0.5
    time = T0 + PERIOD * np.linspace(-0.1, 1.1, 20001)
    values = dict(ORBIT, t0=T0, period=PERIOD, ecc=0.2, w=30.0, fp_day=2e-3, fp_night=5e-4,
                  phase_sin1=3e-4)
    model = LightCurveModel(time, poly_order=0, ramp="none", astrophysical="phase_curve",
                            astro_params=values, free_params=[])
    p = model.astro_dict(np.array([1.0]))
    _, visible = model._phase_curve_parts(p)
    in_eclipse = time[visible < 1e-12]
    middle = 0.5 * (in_eclipse.min() + in_eclipse.max())
    assert model.eclipse_phase != pytest.approx(0.5, abs=0.05)
    assert (middle - T0) / PERIOD == pytest.approx(model.eclipse_phase, abs=1e-3)
    # the phase of the phase function is 0.5 there: Fp = fp_day
    phase = model.orbital_phase(p)
    at_eclipse = np.argmin(np.abs(time - middle))
    assert phase[at_eclipse] == pytest.approx(0.5, abs=1e-3)


def test_step_options_for_a_phase_curve():
    options = DetrendedWhiteLightStep(astrophysical="phase_curve",
                                      period=PERIOD).light_curve_options()
    assert options["astrophysical"] == "phase_curve"
    assert options["phase_order"] == "bic"
    assert options["free_params"] is None  # detrend's default for the kind
    assert options["astro_params"]["period"] == PERIOD


def test_default_free_parameters_fit_the_phase_function():
    """No free_params named: the phase function is fitted, with errors (not held at 0)."""
    planet = lambda phi: sinusoid(phi, 1.5e-3, 1e-3, 10.0)  # noqa: E731
    time, flux = phase_curve_light_curve(planet, nints=600)
    kwargs = dict(astrophysical="phase_curve", astro_params={"period": PERIOD},
                  ramp="none", poly_order=0)
    result = detrend(time, flux, np.full(time.size, 3e-4), **kwargs)
    p = result["parameters"]
    assert p["fp_day"][0] == pytest.approx(planet(0.5), abs=1e-6)
    assert p["fp_night"][0] == pytest.approx(planet(0.0), abs=1e-6)
    assert p["fp_day"][1] > 0 and p["fp_night"][1] > 0


def test_drifting_regressor_gets_its_trend_back():
    """A pointing regressor = slow drift + jitter; the flux follows the jitter only.

    Added to a constant baseline, the regressor imposes its drift as a trend that only
    the phase function can take up (so its coefficient is pulled to half the truth, and
    on the simulated 9,000-integration phase curve fp_night moved by -3 sigma); chosen
    together with the polynomial order, the trend comes back and the coefficient is
    the flux's dependence on position.
    """
    planet = lambda phi: sinusoid(phi, 1.5e-3, 1e-3, 10.0)  # noqa: E731
    rng = np.random.default_rng(1)
    time, flux = phase_curve_light_curve(planet)
    jitter = rng.normal(0.0, 0.005, time.size)
    y_shift = np.linspace(-0.01, 0.01, time.size) + jitter
    flux = flux * (1 - 0.05 * jitter) + rng.normal(0.0, 3e-4, time.size)
    result = fit(time, flux, regressors={"y_shift": y_shift}, poly_order=1)
    p = result["parameters"]
    assert result["model"].regressor_names == ["y_shift"]
    assert result["model"].poly_order == 1
    # d is per standard deviation of the regressor
    slope, slope_err = (v / np.std(y_shift) for v in p["d_y_shift"])
    assert slope == pytest.approx(-0.05, abs=3 * slope_err)
    for name, phase in (("fp_night", 0.0), ("fp_day", 0.5)):
        assert abs(p[name][0] - planet(phase)) < 3 * p[name][1]


# ----------------------------------------------------------------- step
@pytest.mark.slow
def test_step_reports_the_phase_curve_in_the_table_meta():
    planet = lambda phi: sinusoid(phi, 2e-3, 1.5e-3, 12.0)  # noqa: E731
    time, white = phase_curve_light_curve(planet, nints=800)
    wave = np.linspace(5.0, 12.0, 8)
    star = 1000.0 * (1.0 + 0.3 * np.sin(wave))
    flux = white[:, None] * star[None, :]
    err = np.broadcast_to(3e-4 * star, flux.shape).copy()
    tso = make_tso_specmodel([_spec(wave, flux[0], err[0])] * time.size)
    tso.spec_table["WAVELENGTH"][:] = wave
    tso.spec_table["FLUX"][:] = flux
    tso.spec_table["FLUX_ERROR"][:] = err
    tso.spec_table["MJD-AVG"][:] = time
    tso.spec_table["TDB-MID"][:] = time
    model = datamodels.TSOMultiSpecModel()
    _set_meta(model)
    model.spec.append(tso)
    model.int_times = _int_times(time)
    table = DetrendedWhiteLightStep.call(model, astrophysical="phase_curve", period=PERIOD,
                                         ramp="none", poly_order=0, clip_sigma=1e6)
    meta = table.meta
    assert meta["astrophysical"] == "phase_curve"
    assert meta["phase_order"] == 1
    assert meta["fp_day"] == pytest.approx(planet(0.5), abs=1e-6)
    assert meta["fp_night"] == pytest.approx(planet(0.0), abs=1e-6)
    assert meta["phase_offset_deg"] == pytest.approx(12.0, abs=0.01)
    assert meta["transit_depth"] == pytest.approx(ORBIT["rp"] ** 2, rel=1e-4)
    for name in ("fp_day", "fp_night", "phase_amplitude", "phase_offset_deg",
                 "transit_depth"):
        assert meta[f"{name}_err"] > 0
    np.testing.assert_allclose(table["astrophysical_model"], white, atol=1e-7)
