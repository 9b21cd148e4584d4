"""Static dispersion offset of wavelength_drift: references as plain arrays, and the fit."""

import numpy as np
import pytest

from jwst_tso_ext.crds_cache import references
from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate.rates import noisy_slopes
from jwst_tso_ext.wavelength_drift import response, shift_estimator, wavelength_solution


def phot_table(rows):
    """LRS photom table with rows of (filter, subarray, photmjsr, wavelength, relresponse)."""
    nelem = max(len(row[3]) for row in rows)
    table = np.zeros(
        len(rows),
        dtype=[
            ("filter", "S12"),
            ("subarray", "S17"),
            ("photmjsr", "<f4"),
            ("nelem", "<i2"),
            ("wavelength", "<f4", (nelem,)),
            ("relresponse", "<f4", (nelem,)),
        ],
    )
    for index, (filt, sub, photmjsr, wave, rel) in enumerate(rows):
        table[index]["filter"], table[index]["subarray"] = filt, sub
        table[index]["photmjsr"], table[index]["nelem"] = photmjsr, len(wave)
        table[index]["wavelength"][: len(wave)] = wave
        table[index]["relresponse"][: len(rel)] = rel
    return table


def test_response_follows_the_matching_photom_row():
    wave = np.array([5.0, 6.0, 7.0, 8.0])
    table = phot_table(
        [
            ("P750L", "FULL", 1.0, wave, [9.0, 9.0, 9.0, 9.0]),
            ("P750L", "SLITLESSPRISM", 2.0, wave[::-1], [1.0, 2.0, 4.0, 8.0]),
        ]
    )
    curve = response.response_from_phot_table(table)
    # 1 / relresponse, peak 1; the row's wavelengths were given in decreasing order
    assert np.allclose(curve([5.0, 6.0, 7.0, 8.0]), [1 / 8, 1 / 4, 1 / 2, 1.0])
    assert curve(5.5) == pytest.approx(0.5 * (1 / 8 + 1 / 4))
    assert curve(3.0) == pytest.approx(1 / 8)  # end values held


def test_response_generic_row_nelem_and_metres():
    wave_m = np.array([5.0, 6.0, 7.0, 99.0]) * 1e-6  # the last element lies beyond nelem
    table = phot_table([("P750L", "GENERIC", 1.0, wave_m, [2.0, 1.0, 2.0, 1e-9])])
    table["nelem"] = 3
    curve = response.response_from_phot_table(table)
    assert np.allclose(curve.wavelength, [5.0, 6.0, 7.0])
    assert np.allclose(curve([5.0, 6.0, 7.0]), [0.5, 1.0, 0.5])


def test_response_errors_name_the_problem():
    table = phot_table([("F770W", "FULL", 1.0, [5.0, 6.0], [1.0, 1.0])])
    with pytest.raises(ValueError, match="no row for filter P750L"):
        response.response_from_phot_table(table)
    table = phot_table([("P750L", "SLITLESSPRISM", 1.0, [5.0, 6.0], [np.nan, -1.0])])
    with pytest.raises(ValueError, match="fewer than two usable"):
        response.response_from_phot_table(table)
    with pytest.raises(ValueError, match="lacks the column"):
        response.response_from_phot_table(np.zeros(1, dtype=[("filter", "S5")]))


def test_package_photom_gives_the_package_response():
    curve = response.response_from_phot_table(references.photom().phot_table)
    wave = np.linspace(3.7, 14.0, 50)
    expected = detector.relative_response(wave) / detector.relative_response(wave).max()
    # the table is tabulated every 0.1 um; the model is smooth
    assert np.allclose(curve(wave) / curve(7.5), expected / expected[np.argmin(abs(wave - 7.5))],
                       rtol=2e-3)  # fmt: skip


def test_specwcs_table_gives_the_simulators_wavelengths():
    spec = references.specwcs()
    solution = response.wavelength_of_row_from_wavetable(
        spec.wavetable, spec.meta.y_ref_slitless, geometry.SUBSTRT2
    )
    rows = np.arange(-5.0, 420.0, 0.37)
    np.testing.assert_allclose(
        solution(rows), geometry.wavelength_at_row(rows), rtol=0, atol=1e-9, equal_nan=True
    )


def test_stellar_templates():
    wave = np.linspace(5.0, 12.0, 8)
    assert np.allclose(
        wavelength_solution.blackbody_fnu(wave, 1e6),
        wavelength_solution.rayleigh_jeans_fnu(wave),
        rtol=2e-3,
    )
    # a cool star falls faster than nu**2 to the blue
    cool = wavelength_solution.blackbody_fnu(wave, 3000.0)
    assert np.all(np.diff(cool / wavelength_solution.rayleigh_jeans_fnu(wave)) > 0)
    with pytest.raises(ValueError, match="positive"):
        wavelength_solution.blackbody_fnu(wave, -5.0)


@pytest.mark.parametrize("temperature", [None, 3500.0, 6230.0, 12000.0])
def test_fit_recovers_the_offset_whatever_the_star_model(temperature):
    """Data: a 6230 K star at y = +0.7 px; model: Rayleigh-Jeans or blackbodies."""
    nints = 20
    data, err, _, _ = noisy_slopes(np.full(nints, 0.1), np.full(nints, 0.7), 20, 4)
    ref = shift_estimator.make_reference(data, err)
    spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
    variance = np.nansum(ref.variance[:, ref.columns], axis=1)
    wave, flux = wavelength_solution.stellar_template(temperature)
    y, error = wavelength_solution.fit_static_y_offset(
        spectrum, variance, np.arange(spectrum.size), wave, flux
    )
    assert y == pytest.approx(0.7, abs=0.015)
    assert 0.0 < error < 0.015
    assert abs(y - 0.7) < 4 * error


def test_fit_refuses_a_template_outside_the_spectrum():
    data, err, _, _ = noisy_slopes(np.zeros(3), np.zeros(3), 10, 1, noise=False)
    ref = shift_estimator.make_reference(data, err)
    spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
    with pytest.raises(ValueError, match="template times the instrument response is zero"):
        wavelength_solution.fit_static_y_offset(
            spectrum, np.ones_like(spectrum), np.arange(spectrum.size), [20.0, 30.0], [1.0, 1.0]
        )
