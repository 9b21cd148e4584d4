"""Shared MIRI LRS facts: flight wavelength solution, detector model and the scene."""

import numpy as np
import pytest

from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import scene


@pytest.mark.parametrize(
    ("row", "wavelength", "tolerance"),
    [(382, 5.3, 0.01), (334, 7.51, 0.001), (244, 10.0, 1e-6), (141, 12.0, 1e-6), (7, 13.99, 0.01)],
)
def test_flight_wavelength_solution(row, wavelength, tolerance):
    assert geometry.wavelength_at_row(row) == pytest.approx(wavelength, abs=tolerance)


def test_wavelength_moves_with_the_star():
    # a star displaced by +0.5 rows puts at row r the light nominally at r - 0.5
    assert geometry.wavelength_at_row(334.0, y_offset=0.5) == pytest.approx(
        geometry.wavelength_at_row(333.5)
    )
    assert geometry.row_at_wavelength(geometry.wavelength_at_row(300.25)) == pytest.approx(300.25)


def test_reference_point_and_trace_curvature():
    assert (geometry.NOMINAL_X, geometry.NOMINAL_Y) == (37.5, 300.0)
    assert geometry.trace_x_offset_at_row(382) == pytest.approx(0.115, abs=0.01)
    assert geometry.trace_x_offset_at_row(7) == pytest.approx(-1.15, abs=0.01)


def test_linearity_model_round_trips():
    levels = np.array([0.0, 1e4, 3e4, 5.5e4])
    assert detector.linearized_from_raw(detector.raw_from_linearized(levels)) == pytest.approx(
        levels, abs=1e-6
    )
    # the detector under-reports: raw DN are below the linear level
    assert np.all(detector.raw_from_linearized(levels[1:]) < levels[1:])


def test_flux_conversion_matches_photom_definition():
    wavelength = np.array([5.0, 7.5, 10.0, 12.0])
    relresponse = 1.0 / detector.relative_response(wavelength)
    photom_factor = detector.PHOTMJSR * relresponse * 1e6 * geometry.PIXEL_AREA_SR
    assert photom_factor * detector.count_rate_per_jy(wavelength) == pytest.approx(1.0)


def test_star_count_rate_is_that_of_a_k9_star():
    total = scene.star_rate([0.0], [0.0])[0].sum()
    assert 5e4 < total < 2e5  # of order 1e5 DN/s summed over the trace


@pytest.mark.parametrize("shift", [0.1, 0.01, -0.37])
def test_pixel_integration_moves_the_centroid_by_the_shift(shift):
    rates = scene.star_rate([0.0, shift], [0.0, 0.0]).astype(float)
    columns = np.arange(geometry.N_COLUMNS)
    centroid = (rates * columns).sum(axis=(1, 2)) / rates.sum(axis=(1, 2))
    assert centroid[1] - centroid[0] == pytest.approx(shift, abs=0.005 * max(abs(shift), 0.1))


def test_dispersion_shift_moves_the_spectrum_along_rows():
    rates = scene.star_rate([0.0, 0.0], [0.0, 0.2]).astype(float)
    spectrum = rates.sum(axis=2)
    rows = np.arange(geometry.N_ROWS)
    window = (rows > 150) & (rows < 390)
    # the shifted spectrum equals the unshifted one sampled 0.2 rows lower
    expected = np.interp(rows - 0.2, rows, spectrum[0])
    residual = (spectrum[1] - expected)[window]
    assert np.max(np.abs(residual)) < 0.01 * spectrum[0][window].max()
    assert not np.allclose(spectrum[1][window], spectrum[0][window], rtol=1e-3)


def test_reference_columns_are_dark():
    rates = scene.scene_rate([0.0], [0.0])
    assert np.all(rates[0, :, : geometry.N_REFERENCE_COLUMNS] == 0)
    background = scene.background_rate_image()
    assert 5 < background[382, 10] < 20 and 50 < background[141, 10] < 150
