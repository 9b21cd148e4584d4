"""Numeric core of the wavelength_drift step, on simulated scenes with known shifts.

Noise model of a flat-fielded ``rateints`` integration of ``ngroups`` groups: photon
noise of the electrons collected plus the read noise of a least-squares slope
(variance ``12 sigma_read**2 / (ngroups t_int**2)``), in DN/s.

Measured with the default star (blackbody 6230 K, 20 mJy at 2 um), 200 integrations,
against the Cramer-Rao bound of any unbiased estimator (`shift_precision_bound`):

======= ================= ================= ====================================
ngroups x rms (bound) px  y rms (bound) px  note
======= ================= ================= ====================================
10      0.0024 (0.0023)   0.028 (0.024)     1.6 s
20      0.0012 (0.0013)   0.016 (0.014)
30      0.0011 (0.0010)   0.010 (0.011)
40      0.0009 (0.0009)   0.0089 (0.0090)   x <= 0.001 px needs >= ~36 groups
======= ================= ================= ====================================

The dispersion shift of this featureless spectrum is fixed almost only by the steep
short-wavelength edge of the spectrum (rows ~393-396), hence y is ~10x less precise
than x; y <= 0.003 px per integration would need ~600 groups (the bound scales as
1/sqrt(ngroups) once photon noise dominates).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import scene
from jwst_tso_ext.simulate.rates import noisy_slopes
from jwst_tso_ext.wavelength_drift import resample, shift_estimator, wavelength_solution


def noise_variance(rate, ngroups):
    """Variance of a flat-fielded slope: photon noise plus the read noise of the fit."""
    var_poisson, var_rnoise = detector.slope_variances(rate, ngroups)
    return var_poisson + var_rnoise


def simulate(x_shift, y_shift, ngroups=10, seed=1, scale=None, noise=True):
    """Flat-fielded count rates, errors and DQ of integrations with known shifts."""
    data, err, _, _ = noisy_slopes(x_shift, y_shift, ngroups, seed, scale=scale, noise=noise)
    return data, err, np.zeros(data.shape, np.uint32)


def measure(data, err, dq, reference="median"):
    ref = shift_estimator.make_reference(data, err, dq, reference=reference)
    return shift_estimator.measure_shifts(data, err, dq, ref)


def relative_error(measured, truth):
    diff = measured - truth
    return diff - np.median(diff)


def test_shift_derivatives_match_finite_differences():
    h = 1e-3
    star = scene.star_rate(np.zeros(3), np.array([0.0, h, -h])).astype(float)
    ry, _ = shift_estimator.shift_derivatives(star[0], axis=0)
    fd = (star[1] - star[2]) / (2 * h)
    # along the dispersion the summed spectrum derivative is accurate to < 2 %
    assert np.allclose(ry.sum(axis=1), fd.sum(axis=1), atol=0.02 * np.abs(fd.sum(axis=1)).max())


def test_noiseless_shifts_recovered():
    ys = np.linspace(-0.1, 0.1, 11)
    xs = -0.7 * ys
    rate = scene.star_rate(np.r_[0.0, xs], np.r_[0.0, ys])
    out = measure(rate, np.ones_like(rate), None, reference=0)
    assert np.max(np.abs(out["x_shift"][1:] - xs)) < 5e-4
    assert np.max(np.abs(out["y_shift"][1:] - ys)) < 5e-4


@settings(max_examples=10, deadline=None)
@given(
    dx=st.floats(-0.1, 0.1),
    dy=st.floats(-0.1, 0.1),
    flux=st.floats(0.2, 5.0),
    n_bad=st.integers(0, 30),
)
def test_property_shift_scale_and_nans(dx, dy, flux, n_bad):
    data, err, dq = simulate(np.array([0.0, dx]), np.array([0.0, dy]), noise=False)
    rng = np.random.default_rng(n_bad)
    rows = rng.integers(150, 390, n_bad)
    cols = rng.integers(32, 43, n_bad)
    data[1, rows, cols] = np.nan
    dq[1, rows[::2], cols[::2]] = 1
    base = measure(data, err, dq, reference=0)
    scaled = measure(data * np.float32(flux), err * np.float32(flux), dq, reference=0)
    assert abs(base["x_shift"][1] - dx) < 1e-3
    assert abs(base["y_shift"][1] - dy) < 2e-3
    assert scaled["x_shift"][1] == pytest.approx(base["x_shift"][1], abs=1e-6)
    assert scaled["y_shift"][1] == pytest.approx(base["y_shift"][1], abs=1e-6)
    assert scaled["scale"][1] == pytest.approx(base["scale"][1], rel=1e-5)


def test_random_shifts_with_noise_10_groups():
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-0.05, 0.05, (2, 200))
    out = measure(*simulate(xs, ys, ngroups=10, seed=10))
    ex = relative_error(out["x_shift"], xs)
    ey = relative_error(out["y_shift"], ys)
    # physical limit with 1.6 s integrations (photon + read noise): ~0.0023 px in x,
    # ~0.024 px in y (see the Cramer-Rao test below)
    assert np.std(ex) < 0.003
    assert np.std(ey) < 0.035
    # uncertainties describe the scatter
    assert 0.8 < np.std(ex) / np.median(out["x_shift_err"]) < 1.3
    assert 0.8 < np.std(ey) / np.median(out["y_shift_err"]) < 1.5
    width = out["trace_width"]
    assert np.all((width > 0.9) & (width < 1.4))


def test_shift_scatter_is_close_to_the_cramer_rao_bound():
    """Per-integration scatter against the smallest any unbiased estimator can reach.

    For the default star and 1.6 s integrations the bound itself is ~0.0023 px in x
    and ~0.024 px in y: the photons do not allow 0.001 / 0.003 px per integration.
    """
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-0.05, 0.05, (2, 200))
    out = measure(*simulate(xs, ys, ngroups=10, seed=10))
    flat = detector.flat_field()
    star = scene.star_rate(np.zeros(1), np.zeros(1))[0] / flat
    variance = noise_variance(scene.scene_rate(np.zeros(1), np.zeros(1))[0] / flat, 10)
    bound_x, bound_y = shift_estimator.shift_precision_bound(star, variance)
    assert 0.0020 < bound_x < 0.0026
    assert 0.020 < bound_y < 0.028
    scatter_x = np.std(relative_error(out["x_shift"], xs))
    scatter_y = np.std(relative_error(out["y_shift"], ys))
    # x: the 2-D maximum-likelihood fit is efficient; y: the profile-weighted spectrum
    # is within ~1.2x (a plain column sum was ~1.9x)
    assert 0.85 * bound_x < scatter_x < 1.15 * bound_x
    assert 0.85 * bound_y < scatter_y < 1.35 * bound_y
    uniform = shift_estimator.make_reference(*simulate(xs, ys, ngroups=10, seed=10),
                                             y_weights="uniform")
    plain = shift_estimator.measure_shifts(*simulate(xs, ys, ngroups=10, seed=10), uniform)
    assert np.std(relative_error(plain["y_shift"], ys)) > 1.3 * scatter_y


def test_x_requirement_met_with_40_groups():
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(-0.05, 0.05, (2, 200))
    out = measure(*simulate(xs, ys, ngroups=40, seed=40))
    assert np.std(relative_error(out["x_shift"], xs)) <= 0.001


def test_linear_drift_slope():
    n = 200
    xs = np.linspace(-0.05, 0.05, n)
    ys = np.linspace(0.1, -0.1, n)
    out = measure(*simulate(xs, ys, ngroups=10, seed=5))
    assert np.polyfit(xs, out["x_shift"], 1)[0] == pytest.approx(1.0, abs=0.02)
    # the y slope is noise limited at 10 groups (~5 %); with 40 groups it is within 2 %
    out = measure(*simulate(xs, ys, ngroups=40, seed=6))
    assert np.polyfit(ys, out["y_shift"], 1)[0] == pytest.approx(1.0, abs=0.02)


def test_sudden_step_recovered():
    n = 400
    step = np.where(np.arange(n) < n // 2, 0.0, 0.05)
    out = measure(*simulate(step, step, ngroups=10, seed=7))
    for name in ("x_shift", "y_shift"):
        jump = np.mean(out[name][n // 2 :]) - np.mean(out[name][: n // 2])
        assert jump == pytest.approx(0.05, abs=0.005), name


def test_resample_conserves_flux_and_propagates_errors_and_dq():
    xs = np.array([0.0, 0.03, -0.04])
    ys = np.array([0.0, -0.05, 0.08])
    rate = scene.star_rate(xs, ys).astype(float)
    var = rate.copy()
    dq = np.zeros(rate.shape, np.uint32)
    dq[1, 200, 37] = 4
    out, (out_var,), out_dq = resample.shift_cube(rate, -xs, -ys, variances=[var], dq=dq)
    assert np.allclose(np.nansum(out, axis=(1, 2)), rate.sum(axis=(1, 2)), rtol=1e-6)
    # overlap weights: variance never exceeds the input's and stays positive
    assert np.nanmax(out_var) <= var.max() * (1 + 1e-9)
    assert np.all(out_var[np.isfinite(out_var)] >= 0)
    flagged = np.argwhere(out_dq[1] & 4)
    assert len(flagged) == 4 and np.all(np.abs(flagged - [200, 37]) <= 1)
    # the reference columns and an unshifted integration are untouched
    assert np.allclose(out[0], rate[0], rtol=0, atol=1e-6 * rate.max())
    assert np.array_equal(out[:, :, :4], rate[:, :, :4])


def test_resample_aligns_integrations():
    rng = np.random.default_rng(2)
    xs, ys = rng.uniform(-0.05, 0.05, (2, 40))
    xs[0] = ys[0] = 0.0
    rate = scene.star_rate(xs, ys)
    err = np.ones_like(rate)
    out = measure(rate, err, None, reference=0)
    aligned, _, _ = resample.shift_cube(rate, -out["x_shift"], -out["y_shift"])
    after = measure(np.nan_to_num(aligned), err, None, reference=0)
    assert np.sqrt(np.mean(after["x_shift"] ** 2)) <= 0.003
    assert np.sqrt(np.mean(after["y_shift"] ** 2)) <= 0.003


def test_static_offset_from_template():
    nints = 60
    data, err, dq = simulate(np.full(nints, 0.3), np.full(nints, 0.5), ngroups=10, seed=3)
    ref = shift_estimator.make_reference(data, err, dq)
    star = scene.blackbody_spectrum()
    spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
    variance = np.nansum(ref.variance[:, ref.columns], axis=1) / nints
    y0 = wavelength_solution.static_y_offset_from_template(
        spectrum, variance, np.arange(spectrum.size), star.wavelength, star.flux_jy
    )
    x0 = wavelength_solution.static_x_offset(ref.frame, ref.columns, ref.rows, y0)
    assert x0 == pytest.approx(0.3, abs=0.02)
    assert y0 == pytest.approx(0.5, abs=0.02)
    row_true = geometry.row_at_wavelength(7.5, 0.5)
    assert geometry.wavelength_at_row(row_true, y0) == pytest.approx(7.5, abs=0.005)


def test_reference_integration_index_and_errors():
    data, err, dq = simulate(np.zeros(3), np.zeros(3), noise=False)
    with pytest.raises(ValueError, match="outside"):
        shift_estimator.make_reference(data, err, dq, reference=5)
    with pytest.raises(ValueError, match="median"):
        shift_estimator.make_reference(data, err, dq, reference="mean")
    ref = shift_estimator.make_reference(data, err, dq, reference=-1)
    out = shift_estimator.measure_shifts(data, err, dq, ref)
    assert np.allclose(out["x_shift"], 0, atol=1e-9)


def test_resampled_variance_gives_the_scatter_of_sums_along_the_shift():
    """Shifted noise is correlated; the propagated variance of a sum must match its scatter."""
    rng = np.random.default_rng(11)
    nreal, shift = 4000, 0.43
    noise = rng.standard_normal((nreal, 60, 72))
    noise[:, :, :4] = 0.0
    var = np.ones_like(noise)
    out, (out_var,), _ = resample.shift_cube(
        noise, np.zeros(nreal), np.full(nreal, shift), variances=[var]
    )
    rows = slice(10, 50)  # a sum over 40 rows of one column, away from the edges
    empirical = np.var(np.nansum(out[:, rows, 40], axis=1))
    propagated = np.mean(np.nansum(out_var[:, rows, 40], axis=1))
    assert propagated == pytest.approx(empirical, rel=0.08)


def test_smoothed_shifts_keep_the_drift_and_average_down_the_noise():
    rng = np.random.default_rng(5)
    n, window = 2000, 25
    drift = np.linspace(0.0, 0.05, n)
    measured = drift + rng.normal(0.0, 0.04, n)
    measured[[10, 500, 501]] = np.nan
    smoothed = resample.smooth_shifts(measured, window)
    assert np.all(np.isfinite(smoothed))
    interior = slice(window, n - window)
    residual = (smoothed - drift)[interior]
    assert np.std(residual) == pytest.approx(0.04 / np.sqrt(window), rel=0.15)
    assert abs(np.mean(residual)) < 0.002
    assert np.array_equal(resample.smooth_shifts([0.1, np.nan, 0.3], 1), [0.1, 0.2, 0.3])


def test_in_place_resampling_equals_the_copying_one():
    rng = np.random.default_rng(8)
    xs, ys = rng.uniform(-0.3, 0.3, (2, 9))
    rate = scene.star_rate(xs, ys)
    err = np.sqrt(rate + 1.0).astype(np.float32)
    var = (rate + 1.0).astype(np.float32)
    dq = np.zeros(rate.shape, np.uint32)
    dq[3, 100, 40] = 4
    expected, (expected_err2, expected_var), expected_dq = resample.shift_cube(
        rate, -xs, -ys, variances=[err.astype(float) ** 2, var], dq=dq, chunk_size=4
    )
    data, err_in, var_in, dq_in = rate.copy(), err.copy(), var.copy(), dq.copy()
    resample.shift_cube_in_place(
        data, -xs, -ys, errors=[err_in], variances=[var_in], dq=dq_in, chunk_size=4
    )
    assert np.allclose(data, expected, equal_nan=True, rtol=1e-6, atol=1e-6 * rate.max())
    assert np.allclose(err_in**2, expected_err2, equal_nan=True, rtol=1e-5)
    assert np.allclose(var_in, expected_var, equal_nan=True, rtol=1e-5)
    assert np.array_equal(dq_in, expected_dq)


def _resampling_case(nints=12, seed=21):
    """A small cube with NaN, a flagged pixel and different shifts per integration."""
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, (nints, 40, 24))
    data[2, 10, 12] = np.nan
    var = rng.uniform(1.0, 2.0, data.shape)
    var[5, 20, 8] = np.nan
    dq = np.zeros(data.shape, np.uint32)
    dq[7, 15, 15] = 4
    dq[1, 0, 10] = 2
    return data, var, dq


def test_integrations_with_different_shifts_are_resampled_as_if_alone():
    """One vectorised pass over mixed shifts (both signs, zero) equals one pass per integration."""
    data, var, dq = _resampling_case()
    xs = np.array([-0.45, -0.2, 0.0, 0.1, 0.33, 0.49, -0.01, 0.25, -0.3, 0.0, 0.4, -0.49])
    ys = -xs[::-1]
    out, (out_var,), out_dq = resample.shift_cube(data, xs, ys, variances=[var], dq=dq)
    for i in range(data.shape[0]):
        alone, (alone_var,), alone_dq = resample.shift_cube(
            data[i : i + 1], xs[i], ys[i], variances=[var[i : i + 1]], dq=dq[i : i + 1]
        )
        assert np.array_equal(out[i], alone[0], equal_nan=True)
        assert np.array_equal(out_var[i], alone_var[0], equal_nan=True)
        assert np.array_equal(out_dq[i], alone_dq[0])
    # a NaN or flag reaches the output pixels that overlap it: one when the shift is
    # zero (integration 2: no spreading through zero weights), 2 x 2 when both are not
    assert np.argwhere(np.isnan(out[2])).tolist() == [[10, 12]]
    assert np.isnan(out_var[5, 2:-2, 6:-2]).sum() == 4
    assert np.count_nonzero(out_dq[7] & 4) == 4


def test_threads_sparse_flags_and_wide_shifts_do_not_change_the_result(monkeypatch):
    data, var, dq = _resampling_case(nints=40, seed=3)
    rng = np.random.default_rng(4)
    xs, ys = rng.uniform(-0.5, 0.5, (2, 40))
    reference = resample.shift_cube(data, xs, ys, variances=[var], dq=dq, chunk_size=40)

    def same(result):
        out, (out_var,), out_dq = result
        assert np.array_equal(out, reference[0], equal_nan=True)
        assert np.array_equal(out_var, reference[1][0], equal_nan=True)
        assert np.array_equal(out_dq, reference[2])

    threaded = (data.copy(), [var.copy()], dq.copy())
    resample.shift_cube_in_place(
        threaded[0], xs, ys, variances=threaded[1], dq=threaded[2], chunk_size=7, n_threads=2
    )
    same(threaded)
    monkeypatch.setattr(resample, "SPARSE_FLAG_FRACTION", -1.0)  # always the dense path
    same(resample.shift_cube(data, xs, ys, variances=[var], dq=dq, chunk_size=40))
    monkeypatch.undo()

    # shifts several pixels apart take the per-integer-part path; each integration is
    # still shifted as if alone
    wide = np.array([-3.3, 0.2, 2.6, -0.4])
    out, _, out_dq = resample.shift_cube(data[:4], wide, 0.0, dq=dq[:4])
    for i, shift in enumerate(wide):
        alone, _, alone_dq = resample.shift_cube(data[i : i + 1], shift, 0.0, dq=dq[i : i + 1])
        assert np.array_equal(out[i], alone[0], equal_nan=True)
        assert np.array_equal(out_dq[i], alone_dq[0])
    # pixels drawing from beyond the edge: NaN and DO_NOT_USE (4 columns for -3.3 px:
    # sources j + 3 and j + 4)
    assert np.isnan(out[0, :, -4:]).all() and (out_dq[0, :, -4:] & 1).all()
    assert np.isfinite(out[0, :, 4:-4]).all()


def test_integer_shifts_move_pixels_exactly_and_unknown_shifts_are_flagged():
    """Independent check: whole-pixel shifts equal numpy.roll away from the edges."""
    data, var, dq = (a[:4].copy() for a in _resampling_case(nints=8, seed=9))
    data[np.isnan(data)] = 1.0
    var[np.isnan(var)] = 1.0
    xs = np.array([1.0, -2.0, 0.0, np.nan])
    ys = np.array([-1.0, 3.0, 2.0, 0.0])
    out, (out_var,), out_dq = resample.shift_cube(data, xs, ys, variances=[var], dq=dq)
    for i in range(3):
        dx, dy = int(xs[i]), int(ys[i])
        science = np.s_[:, 4:]
        rolled = np.roll(np.roll(data[i][science], dy, axis=0), dx, axis=1)
        rolled_var = np.roll(np.roll(var[i][science], dy, axis=0), dx, axis=1)
        inner = np.s_[3:-3, 3:-3]
        np.testing.assert_allclose(out[i][science][inner], rolled[inner], rtol=1e-12)
        np.testing.assert_allclose(out_var[i][science][inner], rolled_var[inner], rtol=1e-12)
    # rows that would come from beyond the detector are NaN and DO_NOT_USE
    assert np.isnan(out[1, :3, 4:]).all() and (out_dq[1, :3, 4:] & 1).all()
    # an integration without a position (NaN shift) is NaN and flagged, reference
    # columns kept
    assert np.isnan(out[3, :, 4:]).all() and (out_dq[3, :, 4:] & 1).all()
    assert np.array_equal(out[3, :, :4], data[3, :, :4])


def test_shifts_do_not_depend_on_the_callers_blas_thread_count():
    """A serial run (threaded BLAS) and a Dask worker (one BLAS thread) give equal shifts.

    The chunks' matrix products are summed in another order when BLAS splits them over
    threads; x_shift then differed in its last bits between ``lrs_tso`` serially and on
    ``--scheduler=local:2``.
    """
    rng = np.random.default_rng(12)
    xs, ys = rng.normal(0.0, 0.05, (2, 300))
    data, err, dq = simulate(xs, ys, ngroups=10, seed=12)
    ref = shift_estimator.make_reference(data, err, dq)
    results = []
    for n_blas in (1, 2):
        with threadpool_limits(limits=n_blas, user_api="blas"):
            results.append(shift_estimator.measure_shifts(data, err, dq, ref, chunk_size=300))
    for key in results[0]:
        assert np.array_equal(results[0][key], results[1][key], equal_nan=True), key
