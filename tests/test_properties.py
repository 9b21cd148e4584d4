"""Hypothesis properties of the numeric cores, beyond those in the per-module tests.

Already covered elsewhere (not repeated): sub-pixel shifts within +-0.1 px with flux
scaling and scattered NaNs (``test_shift_estimator.test_property_shift_scale_and_nans``)
and random transit depths and ramp amplitudes
(``test_white_light_fit.test_fit_recovers_random_depths_and_ramps``).

Added here:

* shift estimator: several integrations at once against the median frame, shifts up
  to +-0.25 px (accuracy bounded by the documented Taylor-model bias, plus for y the
  x -> y crosstalk of the optimal y weights, ~1e-3 px at 0.25 px in x); swapping the
  reference reverses the sign; a constant background added to an integration changes
  nothing; a whole integration lost (NaN, DO_NOT_USE or zero) gives NaN for it alone
  and leaves the others unchanged.
* white light: the summation is linear in the flux; the fit is invariant to the flux
  unit (depth, ramp unchanged, F0 scaled) and to an offset of the time axis.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_shift_estimator import measure, simulate
from test_white_light_fit import make_spectra, run_fit

from jwst_tso_ext.lightcurve.binning import sum_white_light

SETTINGS = settings(
    max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
shift = st.floats(-0.25, 0.25, allow_nan=False)


def _bias_bound(truth):
    """Documented quadratic-Taylor bias: ~1.6 % at 0.3 px, growing ~ shift**2 (+ noise floor)."""
    return 2e-3 + 0.25 * np.abs(truth) ** 3


def _crosstalk_bound(x_shift):
    """x -> y crosstalk of the optimal y weights (blind to x to second order only).

    Measured on the noiseless default star: 6e-5 px at 0.1 px, 0.8-1.2e-3 px at 0.25 px
    (~0.08 |dx|**3); the plain column sum has none, at 1.6x the noise.
    """
    return 0.1 * np.abs(x_shift) ** 3


# ------------------------------------------------------------- shift estimator


@SETTINGS
@given(xs=st.lists(shift, min_size=5, max_size=5), ys=st.lists(shift, min_size=5, max_size=5))
def test_shifts_of_several_integrations_against_the_median(xs, ys):
    xs, ys = np.r_[0.0, 0.0, 0.0, xs], np.r_[0.0, 0.0, 0.0, ys]
    out = measure(*simulate(xs, ys, noise=False))
    # the median frame sits at the median position; compare relative shifts to the
    # first (unshifted) integration
    dx = out["x_shift"] - out["x_shift"][0]
    dy = out["y_shift"] - out["y_shift"][0]
    assert np.all(np.abs(dx - xs) < _bias_bound(xs) + _bias_bound(np.median(xs)))
    cross = _crosstalk_bound(xs) + _crosstalk_bound(np.median(xs))
    assert np.all(np.abs(dy - ys) < _bias_bound(ys) + _bias_bound(np.median(ys)) + 2e-3 + cross)


@SETTINGS
@given(dx=shift, dy=shift)
def test_swapping_the_reference_reverses_the_shift(dx, dy):
    data, err, dq = simulate(np.array([0.0, dx]), np.array([0.0, dy]), noise=False)
    forward = measure(data, err, dq, reference=0)
    backward = measure(data, err, dq, reference=1)
    assert backward["x_shift"][0] == pytest.approx(-forward["x_shift"][1], abs=_bias_bound(dx))
    y_bound = _bias_bound(dy) + 2 * _crosstalk_bound(dx)  # crosstalk is even-ish in dx
    assert backward["y_shift"][0] == pytest.approx(-forward["y_shift"][1], abs=y_bound)


@SETTINGS
@given(dx=shift, dy=shift, level=st.floats(-50.0, 500.0))
def test_constant_background_does_not_move_the_trace(dx, dy, level):
    data, err, dq = simulate(np.array([0.0, dx]), np.array([0.0, dy]), noise=False)
    base = measure(data, err, dq, reference=0)
    lifted = data.copy()
    lifted[1] += np.float32(level)
    moved = measure(lifted, err, dq, reference=0)
    assert moved["x_shift"][1] == pytest.approx(base["x_shift"][1], abs=1e-4)
    assert moved["y_shift"][1] == pytest.approx(base["y_shift"][1], abs=1e-3)


@SETTINGS
@given(
    index=st.integers(0, 5),
    kind=st.sampled_from(["nan", "do_not_use", "zero"]),
    seed=st.integers(0, 1000),
)
def test_a_lost_integration_is_nan_and_leaves_the_others_alone(index, kind, seed):
    rng = np.random.default_rng(seed)
    xs, ys = rng.uniform(-0.05, 0.05, (2, 6))
    data, err, dq = simulate(xs, ys, noise=False)
    clean = measure(data, err, dq)
    if kind == "nan":
        data[index] = np.nan
    elif kind == "do_not_use":
        dq[index] |= 1
    else:
        data[index] = 0.0
    out = measure(data, err, dq)
    assert np.isnan(out["x_shift"][index]) and np.isnan(out["y_shift"][index])
    others = np.arange(6) != index
    assert np.all(np.isfinite(out["x_shift"][others]))
    # the median frame moves by at most a fraction of the spread of the shifts
    for axis in ("x_shift", "y_shift"):
        offset = out[axis][others] - clean[axis][others]
        assert np.ptp(offset) < 1e-3, axis


# ----------------------------------------------------------------- white light


@settings(max_examples=20, deadline=None, database=None)
@given(scale=st.floats(1e-6, 1e6), seed=st.integers(0, 1000), n_bad=st.integers(0, 20))
def test_white_light_sum_is_linear_in_flux(scale, seed, n_bad):
    rng = np.random.default_rng(seed)
    wave = np.linspace(4.5, 12.5, 40)
    flux = rng.uniform(10, 100, (30, 40))
    err = 0.01 * flux
    flux[rng.integers(0, 30, n_bad), rng.integers(0, 40, n_bad)] = np.nan
    white, white_err, info = sum_white_light(wave, flux, err)
    white_s, white_err_s, info_s = sum_white_light(wave, scale * flux, scale * err)
    np.testing.assert_allclose(white_s, scale * white, rtol=1e-9)
    np.testing.assert_allclose(white_err_s, scale * white_err, rtol=1e-9)
    np.testing.assert_array_equal(info["n_filled"], info_s["n_filled"])


@settings(max_examples=4, deadline=None, database=None)
@given(
    scale=st.floats(1e-3, 1e3),
    offset=st.floats(-100.0, 100.0),
    seed=st.integers(0, 2**16),
)
def test_fit_is_invariant_to_flux_unit_and_time_origin(scale, offset, seed):
    data = make_spectra(seed=seed)
    _, _, base = run_fit(data)
    moved = dict(data, flux=scale * data["flux"], err=scale * data["err"],
                 time=data["time"] + offset, t0=data["t0"] + offset)  # fmt: skip
    _, _, result = run_fit(moved)
    names = base["fit"]["names"]
    values = dict(zip(names, base["fit"]["values"], strict=True))
    errors = dict(zip(names, base["fit"]["errors"], strict=True))
    moved_values = dict(zip(names, result["fit"]["values"], strict=True))
    for name in ("rp", "ramp_amp1"):
        assert moved_values[name] == pytest.approx(values[name], abs=0.05 * errors[name])
    assert moved_values["t0"] - offset == pytest.approx(values["t0"], abs=0.05 * errors["t0"])
    assert moved_values["F0"] == pytest.approx(scale * values["F0"], rel=1e-6)
