"""The white-light fit's limb darkening: free by default, given values kept only by BIC.

The real-data test fits the vendored WASP-107 b MIRI LRS white light (Eureka! stage-5
table, ``tests/data/realdata/``) through the step's table route, as
``benchmarks/check_wasp107b.py`` does, and compares with that reduction's emcee fit
(free quadratic limb darkening): rp = 0.14324 +/- 0.00010. With the former default
(u1 = u2 = 0.1 held) the same fit reads 0.14253 +/- 0.00005, 6 sigma low.
"""

from pathlib import Path

import batman
import numpy as np
import pytest

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import (
    DetrendedWhiteLightStep,
)
from jwst_tso_ext.lightcurve.fit_selection import _limb_darkening_plan, detrend

REALDATA = Path(__file__).parent / "data" / "realdata"
WASP107B_PERIOD = 5.7214742
EUREKA_RP, EUREKA_RP_ERR = 0.14324, 0.00010

# a short, bright transit with a known orbit: fast fits for the choice's logic
TRUE_U = (0.1, 0.05)
GEOMETRY = {"period": 3.0, "a": 10.0, "inc": 88.5}
FAST = {"ramp": "none", "poly_order": 0, "transit_shape": "physical",
        "free_params": ["t0", "rp"]}


def _transit(u, seed, nints=400, noise=2e-4):
    time = np.linspace(-0.12, 0.12, nints)
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc = 0.0, GEOMETRY["period"], 0.1, GEOMETRY["a"], GEOMETRY["inc"]
    p.ecc, p.w, p.limb_dark, p.u = 0.0, 90.0, "quadratic", list(u)
    flux = batman.TransitModel(p, time).light_curve(p)
    flux = flux + noise * np.random.default_rng(seed).standard_normal(nints)
    return time, flux, np.full(nints, noise)


def _fit(time, flux, error, limb_darkening, u=(None, None)):
    astro = dict(GEOMETRY, t0=0.0, rp=0.1, u1=u[0], u2=u[1])
    return detrend(time, flux, error, astro_params=astro, limb_darkening=limb_darkening,
                   **FAST)


def test_step_frees_the_limb_darkening_by_default():
    options = DetrendedWhiteLightStep().light_curve_options()
    assert options["limb_darkening"] == "bic"
    assert options["astro_params"]["u1"] is None and options["astro_params"]["u2"] is None


def test_default_fits_the_law_and_recovers_rp():
    """No coefficients given: q1, q2 are fitted; rp and the law come back."""
    time, flux, error = _transit(TRUE_U, seed=1)
    result = _fit(time, flux, error, "bic")
    assert result["selection"]["limb_darkening"] == "free"
    assert {"q1", "q2"} <= set(result["fit"]["names"])
    rp, rp_err = result["parameters"]["rp"]
    assert abs(rp - 0.1) < 3 * rp_err


def test_bic_keeps_right_coefficients_and_rejects_wrong_ones():
    time, flux, error = _transit(TRUE_U, seed=2)
    right = _fit(time, flux, error, "bic", u=TRUE_U)
    assert right["selection"]["limb_darkening"] == "fixed"
    bics = right["selection"]["limb_darkening_bic"]
    assert bics["fixed"] < bics["free"]
    wrong = _fit(time, flux, error, "bic", u=(0.6, 0.3))
    assert wrong["selection"]["limb_darkening"] == "free"
    rp, rp_err = wrong["parameters"]["rp"]
    assert abs(rp - 0.1) < 3 * rp_err
    held = _fit(time, flux, error, "fixed", u=(0.6, 0.3))
    rp_held, rp_held_err = held["parameters"]["rp"]
    assert abs(rp_held - 0.1) > 5 * rp_held_err  # the bias the choice avoids


def test_fixed_needs_coefficients_and_eclipses_have_none():
    time, flux, error = _transit(TRUE_U, seed=3)
    with pytest.raises(ValueError, match="limb_darkening='fixed' needs"):
        _fit(time, flux, error, "fixed")
    with pytest.raises(ValueError, match="limb_darkening must be one of"):
        _fit(time, flux, error, "stellar_model")
    # an eclipse has no limb darkening: nothing added, u1/u2 dropped from the free list
    free, plan = _limb_darkening_plan("free", "eclipse", {}, ["t0", "fp", "u1", "u2"])
    assert free == ["t0", "fp"] and plan == "not used"


def _wasp107b(regressors):
    """The step's own route for a table (reader, clipping, detrend); detrend's result."""
    step = DetrendedWhiteLightStep(period=WASP107B_PERIOD, regressors=list(regressors))
    _, result = step.white_light(str(REALDATA / "wasp107b_miri_lrs_white_eureka_s5.ecsv"))
    return result


@pytest.mark.parametrize("regressors", [("ypos", "ywidth"), ()], ids=["ypos_ywidth", "none"])
def test_wasp107b_default_fit_matches_the_published_radius_ratio(regressors):
    """Real MIRI LRS data, only the period given: rp within 1 sigma of Eureka!'s emcee fit."""
    result = _wasp107b(regressors)
    rp, rp_err = result["parameters"]["rp"]
    assert result["selection"]["limb_darkening"] == "free"
    assert abs(rp - EUREKA_RP) < np.hypot(rp_err, EUREKA_RP_ERR)
    # the error includes the limb darkening's: close to the emcee fit's, not half of it
    assert 0.7 * EUREKA_RP_ERR < rp_err < 1.5 * EUREKA_RP_ERR
