"""The simulator's phase curve: planet emission over the orbit with a secondary eclipse."""

import argparse
import math

import batman
import numpy as np
import pytest

from jwst_tso_ext.cli import simulate as simulate_cli
from jwst_tso_ext.miri_lrs import detector
from jwst_tso_ext.simulate import (
    SimulationConfig,
    make_truth,
    noiseless_rates,
    phase_curve,
    scene,
)

#: A short orbit sampled by 160 quick integrations (2 groups: 0.477 s each).
ORBIT = dict(
    nints=160,
    ngroups=2,
    orbital_period=70.0,
    transit_t0=40.0,
    a_rs=4.0,
    impact_parameter=0.2,
    transit_depth=0.01,
    fp_day=0.004,
    fp_night=0.001,
    phase_offset_deg=15.0,
)
#: No background, ramp, drift or noise: the count rates are the scene itself.
QUIET = dict(
    noiseless=True, background=False, ramp_amplitude=0.0, drift_x=0.0, drift_y=0.0,
    jitter_rms=0.0,
)  # fmt: skip


def test_visible_fraction_is_batmans_uniform_disk_secondary_eclipse():
    period, a_rs, impact, rp = 6000.0, 4.9, 0.3, 0.1
    times = np.linspace(2500.0, 3500.0, 1501)
    visible = phase_curve.visible_fraction(
        phase_curve.orbital_phase(times, 0.0, period), a_rs, impact, rp
    )
    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a = 0.0, period, rp, a_rs
    params.inc = math.degrees(math.acos(impact / a_rs))
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "uniform", []
    params.fp, params.t_secondary = 1.0, 0.5 * period
    eclipse = batman.TransitModel(params, times, transittype="secondary").light_curve(params)
    assert np.allclose(visible, eclipse - 1.0, atol=1e-9)
    assert visible.min() == 0.0 and visible.max() == 1.0


def test_phase_function_is_fp_day_at_eclipse_fp_night_at_transit_and_peaks_before_eclipse():
    phase = np.linspace(0.0, 1.0, 36001)
    w_day, w_night = phase_curve.phase_weights(phase, 15.0)
    flux = 0.004 * w_day + 0.001 * w_night
    assert flux[18000] == pytest.approx(0.004)  # phase 0.5
    assert flux[0] == pytest.approx(0.001)
    assert phase[np.argmax(flux)] == pytest.approx(0.5 - 15.0 / 360.0, abs=1e-4)
    semi_amplitude = 0.5 * (flux.max() - flux.min())
    assert semi_amplitude == pytest.approx(0.5 * 0.003 / math.cos(math.radians(15.0)), rel=1e-6)


def test_white_light_truth_is_what_the_detector_receives():
    config = SimulationConfig(**ORBIT, **QUIET)
    rate, truth = noiseless_rates(config)
    star = ((rate - detector.DARK_RATE_DN_S) / detector.flat_field()).sum(axis=(1, 2), dtype=float)
    scale = np.asarray(truth["flux_scale"])
    assert np.allclose(star / scale, star[0] / scale[0], rtol=2e-7, atol=0)
    # flat spectra: the white light's planet flux is fp_day at phase 0.5 (in eclipse: 0)
    phase, planet = np.asarray(truth["orbital_phase"]), np.asarray(truth["planet"])
    assert truth.meta["white_fp_day"] == pytest.approx(0.004)
    assert planet[np.argmin(abs(phase - 0.5))] == 0.0
    outside = np.asarray(truth["planet_visible"]) == 1.0
    w_day, w_night = phase_curve.phase_weights(phase[outside], 15.0)
    assert np.allclose(planet[outside], 0.004 * w_day + 0.001 * w_night, rtol=1e-12)
    assert truth["transit"].min() < 0.991  # the transit dims the star alone


def test_each_row_sees_its_own_day_and_night_flux():
    config = SimulationConfig(
        **ORBIT, **QUIET, planet_day_temperature=1800.0, planet_night_temperature=900.0
    )
    rate, truth = noiseless_rates(config)
    spectrum = scene.blackbody_spectrum(config.star_temperature)
    emission, phase, visible = phase_curve.planet_emission(
        config, np.asarray(truth["time_mid_s"])
    )
    rows = phase_curve.row_truth(config, spectrum, emission)
    per_row = ((rate - detector.DARK_RATE_DN_S) / detector.flat_field()).sum(axis=2, dtype=float)
    lit = (np.asarray(rows["star_flux_dn_s"]) > 0.05 * rows["star_flux_dn_s"].max()) & np.isfinite(
        rows["wavelength"]
    )
    w_day, w_night = phase_curve.phase_weights(phase, config.phase_offset_deg)
    expected = np.asarray(truth["transit"])[:, None] + visible[:, None] * (
        w_day[:, None] * np.asarray(rows["fp_day"])[None, lit]
        + w_night[:, None] * np.asarray(rows["fp_night"])[None, lit]
    )
    measured = per_row[:, lit] / np.asarray(rows["star_flux_dn_s"])[None, lit]
    assert np.max(abs(measured - expected)) < 2e-6
    # the blackbody spectra: redder rows see more of the planet, normalised at the pivot
    wavelength = np.asarray(rows["wavelength"])
    day = np.asarray(rows["fp_day"])
    assert day[lit][np.argmax(wavelength[lit])] > 1.5 * day[lit][np.argmin(wavelength[lit])]
    fine = phase_curve.wavelength_truth(config)
    at_pivot = np.argmin(abs(fine["wavelength"] - config.depth_pivot_wavelength))
    assert fine["fp_day"][at_pivot] == pytest.approx(0.004)
    assert fine["fp_night"][at_pivot] == pytest.approx(0.001)


def test_binned_truth_of_flat_spectra_is_the_given_flux():
    config = SimulationConfig(**ORBIT)
    truth = make_truth(config)[0]
    assert truth.meta["white_fp_night"] == pytest.approx(0.001)
    spectrum = scene.blackbody_spectrum(config.star_temperature)
    emission = phase_curve.planet_emission(config, np.asarray(truth["time_mid_s"]))[0]
    rows = phase_curve.row_truth(config, spectrum, emission)
    day, night = phase_curve.binned_truth(rows, [5.0, 7.0, 12.0])
    assert np.allclose(day, 0.004) and np.allclose(night, 0.001)


def test_period_sets_the_duration_and_the_orbit():
    config = SimulationConfig(**ORBIT)
    truth = make_truth(config)[0]
    assert truth.meta["orbital_period_days"] * 86400.0 == pytest.approx(70.0)
    assert np.asarray(truth["orbital_phase"])[0] == pytest.approx(
        (truth["time_mid_s"][0] - 40.0) / 70.0 % 1.0
    )
    duration = config.resolved_transit_duration()
    in_transit = np.asarray(truth["transit"]) < 1.0
    assert np.ptp(np.asarray(truth["time_mid_s"])[in_transit]) == pytest.approx(duration, abs=1.0)
    # the light-curve-level drawing of the same phase curve (for fits without a detector)
    relative = phase_curve.relative_flux(
        truth["time_mid_s"], 40.0, 70.0, 4.0, 0.2, 0.1, 15.0, 0.004, 0.001, (0.1, 0.05)
    )
    assert np.allclose(relative, truth["transit"] + truth["planet"], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(transit_duration=10.0), "orbital_period or transit_duration"),
        (dict(transit_depth=0.0), "transit_depth > 0"),
        (dict(phase_offset_deg=90.0), "phase_offset_deg"),
        (dict(fp_night=-1e-3), "non-negative"),
        (dict(planet_day_temperature=0.0), "planet_day_temperature"),
    ],
)
def test_invalid_phase_curves_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**{**ORBIT, **changes}).validate()


def test_command_line_options():
    parser = argparse.ArgumentParser()
    simulate_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["simulate", "out", "--period", "6000", "--fp-day", "0.003", "--fp-night", "0.0008",
         "--phase-offset", "12", "--planet-day-temperature", "1800", "--a-rs", "4.9"]
    )  # fmt: skip
    config = simulate_cli.config_from_args(args)
    assert (config.orbital_period, config.fp_day, config.fp_night) == (6000.0, 0.003, 0.0008)
    assert (config.phase_offset_deg, config.planet_day_temperature) == (12.0, 1800.0)
    assert config.planet_night_temperature is None and config.has_phase_curve
