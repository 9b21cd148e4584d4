"""The other instrument model's check scenes (jwst_tso_ext.simulate.other_instrument)."""

import batman
import numpy as np
import pytest

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import other_instrument as oi


def test_power2_transit_matches_batman_and_the_uniform_depth():
    time = np.linspace(-0.1, 0.1, 401)
    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a, params.inc = 0.0, 3.0, 0.12, 10.0, 88.5
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "power2", [0.6, 0.6]
    expected = batman.TransitModel(params, time).light_curve(params)
    flux = oi.power2_transit(time, 0.0, 3.0, 0.12, 10.0, 88.5, c=0.6, alpha=0.6)
    assert np.max(np.abs(flux - expected)) < 5e-6
    uniform = oi.power2_transit(time, 0.0, 3.0, 0.12, 10.0, 90.0, c=0.0)
    assert 1.0 - uniform.min() == pytest.approx(0.12**2, rel=1e-6)


def test_star_moves_with_the_offset_and_flux_is_conserved():
    rate = oi.other_star_rate(np.zeros(2), np.array([0.0, 1.0]))
    # the cut-on edge (5.0 um) is one row higher in the shifted integration
    edge = geometry.row_at_wavelength(5.0)
    window = slice(int(edge) - 10, int(edge) + 10)
    profile = rate[:, window].sum(axis=2)
    assert np.allclose(profile[1, 1:], profile[0, :-1], rtol=0.02, atol=profile.max() * 1e-3)
    assert rate[0].sum() == pytest.approx(rate[1].sum(), rel=1e-3)


def test_response_mismatches_and_psf_scale():
    wave = np.array([4.8, 5.0, 5.2, 7.5, 9.0, 12.2])
    nominal = oi.other_photom_response(wave)
    assert nominal[0] < 0.01 and nominal[-1] < 0.01 and nominal[3] > 0.8
    shifted = oi.other_response(wave, cut_on_shift_um=0.2)
    assert shifted[1] < 0.01 < nominal[1]
    tilted = oi.other_response(wave, tilt_per_um=0.1)
    assert tilted[4] / nominal[4] == pytest.approx(1.15)
    assert oi.other_psf_fwhm(7.5, 1.2) == pytest.approx(1.2 * oi.other_psf_fwhm(7.5))


def test_noise_matches_the_errors():
    data, err = oi.other_slopes(np.zeros(200), np.zeros(200), rng=3)
    clean, _ = oi.other_slopes(np.zeros(1), np.zeros(1), noise=False)
    pull = (data - clean) / err
    assert np.std(pull[:, :, 4:]) == pytest.approx(1.0, abs=0.01)


def test_mdwarf_has_water_bands_a_blackbody_lacks():
    wave = np.linspace(5.0, 8.0, 301)
    ratio = oi.mdwarf_fnu(wave) / oi.blackbody_fnu_jy(wave, 3200.0)
    assert ratio.min() < 0.7 and ratio[0] > 0.9
