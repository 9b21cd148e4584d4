"""Precision of the drift measurement against injected truth and the Cramer-Rao bound.

Run with ``python benchmarks/drift_precision.py``. For the default star and 10, 20
and 40 groups per integration it simulates 200 flat-fielded integrations
(`jwst_tso_ext.simulate.rates.noisy_slopes`) and prints, per integration:

* the rms error of the measured x and y shifts (random shifts of +-0.05 px) next to
  the Cramer-Rao bound of any unbiased estimator
  (`shift_estimator.shift_precision_bound`);
* the slope of measured against injected shifts for a linear drift (x +-0.05 px,
  y +-0.1 px) with its standard error;
* a sudden 0.05 px step in x and y, recovered as the difference of the means;
* a static offset of (0.3, 0.5) px recovered with the blackbody template of the star,
  and the wavelength error at 7.5 um after the correction;
* the positions re-measured after resampling (noiseless integrations shifted by up
  to 0.05 px): the rms of x and y about the reference, with both ways of collapsing
  the spectrum for y (the optimal weights also respond, at the 0.002 px level, to
  the small change of the cross-dispersion profile that resampling an undersampled
  trace in x makes; the plain sum does not).
"""

import numpy as np

from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import scene
from jwst_tso_ext.simulate.rates import noisy_slopes
from jwst_tso_ext.wavelength_drift import resample, shift_estimator, wavelength_solution

NINTS = 200


def measure(x_shift, y_shift, ngroups, seed):
    """Shifts measured against the median frame, and the rms-free relative errors."""
    data, err, _, _ = noisy_slopes(x_shift, y_shift, ngroups, seed)
    reference = shift_estimator.make_reference(data, err)
    return shift_estimator.measure_shifts(data, err, None, reference)


def relative_rms(measured, truth):
    """Rms of measured minus true shifts about their median (the zero point is free)."""
    diff = measured - truth
    return float(np.std(diff - np.median(diff)))


def main():
    flat = detector.flat_field()
    star = scene.star_rate(np.zeros(1), np.zeros(1))[0] / flat
    background = scene.scene_rate(np.zeros(1), np.zeros(1))[0] / flat
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-0.05, 0.05, (2, NINTS))
    print("ngroups  x rms (bound) px      y rms (bound) px")  # noqa: T201
    for ngroups in (10, 20, 40):
        out = measure(xs, ys, ngroups, seed=ngroups)
        var_poisson, var_rnoise = detector.slope_variances(background, ngroups)
        bound_x, bound_y = shift_estimator.shift_precision_bound(star, var_poisson + var_rnoise)
        print(  # noqa: T201
            f"{ngroups:<8d} {relative_rms(out['x_shift'], xs):.5f} ({bound_x:.5f})   "
            f"{relative_rms(out['y_shift'], ys):.4f} ({bound_y:.4f})"
        )
    drift_x = np.linspace(-0.05, 0.05, NINTS)
    drift_y = np.linspace(0.1, -0.1, NINTS)
    for ngroups in (10, 40):
        out = measure(drift_x, drift_y, ngroups, seed=100 + ngroups)
        text = []
        for name, truth in (("x", drift_x), ("y", drift_y)):
            coef, cov = np.polyfit(truth, out[f"{name}_shift"], 1, cov=True)
            text.append(f"{name} {coef[0]:.4f} +/- {np.sqrt(cov[0, 0]):.4f}")
        print(f"linear drift, {ngroups} groups: slope " + ", ".join(text))  # noqa: T201
    step = np.where(np.arange(2 * NINTS) < NINTS, 0.0, 0.05)
    out = measure(step, step, 10, seed=7)
    jumps = [np.mean(out[n][NINTS:]) - np.mean(out[n][:NINTS]) for n in ("x_shift", "y_shift")]
    print(f"0.05 px step, 10 groups: x {jumps[0]:.4f}, y {jumps[1]:.4f}")  # noqa: T201

    nints = 60
    data, err, _, _ = noisy_slopes(np.full(nints, 0.3), np.full(nints, 0.5), 10, 3)
    reference = shift_estimator.make_reference(data, err)
    template = scene.blackbody_spectrum()
    spectrum = np.nansum(reference.frame[:, reference.columns], axis=1)
    variance = np.nansum(reference.variance[:, reference.columns], axis=1) / nints
    y_static = wavelength_solution.static_y_offset_from_template(
        spectrum, variance, np.arange(spectrum.size), template.wavelength, template.flux_jy
    )
    x_static = wavelength_solution.static_x_offset(
        reference.frame, reference.columns, reference.rows, y_static
    )
    row = geometry.row_at_wavelength(7.5, 0.5)
    error = geometry.wavelength_at_row(row, y_static) - 7.5
    print(  # noqa: T201
        f"static offset (0.3, 0.5) px: recovered ({x_static:.4f}, {y_static:.4f}); "
        f"wavelength at 7.5 um off by {error:+.5f} um"
    )

    shifted_x, shifted_y = np.random.default_rng(2).uniform(-0.05, 0.05, (2, 40))
    shifted_x[0] = shifted_y[0] = 0.0
    rate = scene.star_rate(shifted_x, shifted_y)
    ones = np.ones_like(rate)
    before = shift_estimator.measure_shifts(
        rate, ones, None, shift_estimator.make_reference(rate, ones, reference=0)
    )
    aligned, _, _ = resample.shift_cube(rate, -before["x_shift"], -before["y_shift"])
    aligned = np.nan_to_num(aligned)
    for y_weights in ("optimal", "uniform"):
        reference = shift_estimator.make_reference(aligned, ones, reference=0, y_weights=y_weights)
        after = shift_estimator.measure_shifts(aligned, ones, None, reference)
        print(  # noqa: T201
            f"after resampling (re-measured, y_weights={y_weights}): position rms "
            f"x {np.sqrt(np.mean(after['x_shift'] ** 2)):.5f} px, "
            f"y {np.sqrt(np.mean(after['y_shift'] ** 2)):.6f} px"
        )

if __name__ == "__main__":
    main()
