"""The edge-based static offset and its judging tests, on plain arrays."""

import numpy as np
import pytest

from jwst_tso_ext.crds_cache import synthetic
from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import other_instrument as oi
from jwst_tso_ext.wavelength_drift import static_offset, wavelength_solution

WAVE, FLUX = wavelength_solution.stellar_template()
ROWS = np.arange(geometry.N_ROWS, dtype=float)


def spectrum_of(y, **star):
    """Noiseless other-instrument spectrum (summed over the trace), and a variance."""
    rate = oi.other_star_rate(np.zeros(1), np.array([y]), **star)[0].sum(axis=1)
    return rate, np.full(rate.size, (2e-4 * rate.max()) ** 2)


def estimate(spectrum, variance, **kwargs):
    return static_offset.estimate_static_y_offset(
        spectrum, variance, ROWS, WAVE, FLUX, oi.other_photom_response,
        geometry.wavelength_at_row, **kwargs,
    )  # fmt: skip


def test_model_edges_are_the_cut_on_and_cut_off():
    edges = static_offset.model_edges(
        ROWS, WAVE, FLUX, oi.other_photom_response, geometry.wavelength_at_row
    )
    assert [side for side, _ in edges] == ["blue", "red"]
    assert edges[0][1] == pytest.approx(geometry.row_at_wavelength(5.0), abs=0.5)
    assert edges[1][1] == pytest.approx(geometry.row_at_wavelength(11.8), abs=0.5)


@pytest.mark.parametrize("truth", [0.0, 0.5, -1.0])
def test_offset_recovered_despite_a_smooth_tilt_and_another_psf(truth):
    spectrum, variance = spectrum_of(truth, tilt_per_um=0.1)
    result = estimate(spectrum, variance)
    assert result.accepted, result.reason
    assert result.y_offset == pytest.approx(truth, abs=0.05)
    assert {edge.side for edge in result.edges} == {"blue", "red"}
    broad = estimate(*spectrum_of(truth, psf_scale=1.2, fnu=oi.mdwarf_fnu))
    assert broad.accepted, broad.reason
    assert broad.y_offset == pytest.approx(truth, abs=0.06)


def test_moved_cut_on_is_declined_because_the_edges_disagree():
    spectrum, variance = spectrum_of(0.0, cut_on_shift_um=0.2)
    result = estimate(spectrum, variance)
    assert not result.accepted
    assert "disagree" in result.reason
    blue = next(edge for edge in result.edges if edge.side == "blue")
    assert blue.y < -1.5  # the cut-on moved by ~2.5 px toward the blue end


def test_a_feature_the_model_lacks_fails_the_fit_quality_tests():
    """A 30 % dip 6 rows inside the cut-on: chi-square and residual structure fail."""
    spectrum, variance = spectrum_of(0.0)
    edge = geometry.row_at_wavelength(5.0)
    spectrum = spectrum * (1.0 - 0.3 * np.exp(-0.5 * ((ROWS - (edge - 6.0)) / 1.5) ** 2))
    result = estimate(spectrum, variance)
    assert not result.accepted
    assert "reduced chi-square" in result.reason
    assert "correlated residuals" in result.reason


def test_plausibility_limit_and_search_range_decline():
    spectrum, variance = spectrum_of(-1.0)
    result = estimate(spectrum, variance, plausible_offset=0.5)
    assert not result.accepted and "plausibility limit" in result.reason
    assert result.y_offset == pytest.approx(-1.0, abs=0.05)
    far, variance = spectrum_of(2.95)
    result = estimate(far, variance)
    assert not result.accepted and "search range" in result.reason


def test_noise_gives_a_consistent_error():
    clean, variance = spectrum_of(0.3)
    rng = np.random.default_rng(5)
    pulls = []
    for _ in range(3):
        noisy = clean + rng.standard_normal(clean.size) * np.sqrt(variance) * 20
        result = estimate(noisy, variance * 400)
        pulls.append((result.y_offset - 0.3) / result.y_offset_err)
    assert np.all(np.abs(pulls) < 4)


def test_no_edges_no_offset():
    flat = np.ones_like(ROWS)
    result = static_offset.estimate_static_y_offset(
        flat, flat, ROWS, WAVE, FLUX, lambda w: np.ones_like(w), lambda r: np.full_like(r, 7.0)
    )
    assert not result.accepted and "no sharp edge" in result.reason


def test_bad_shapes_raise_one_clear_error():
    with pytest.raises(ValueError, match="same length"):
        estimate(np.ones(5), np.ones(4))


def test_synthetic_reference_warning_only_for_other_data():
    ref_file = {
        "photom": {"name": "crds://jwst_miri_photom_9001.fits"},
        "dark": {"name": "crds://jwst_miri_dark_0048.fits"},
        "crds": {"context_used": "jwst_9001.pmap"},
    }
    message = synthetic.synthetic_reference_warning(ref_file, [("HISTORY", "MIRISim 2.4")])
    assert "photom: jwst_miri_photom_9001.fits" in message and "dark" not in message
    assert "real CRDS context" in message
    ours = [("HISTORY", synthetic.SIMULATOR_MARK)]
    assert synthetic.synthetic_reference_warning(ref_file, ours) is None
    real = {"photom": {"name": "crds://jwst_miri_photom_0210.fits"},
            "crds": {"context_used": "jwst_1413.pmap"}}  # fmt: skip
    assert synthetic.synthetic_reference_warning(real, []) is None
