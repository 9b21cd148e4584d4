"""Flux-conserving sub-pixel shift of integrations with error and DQ propagation.

Along one axis the shifted pixel values are differences of the cumulative sum at the
shifted pixel edges, ``out[j] = C(e[j+1] + t) - C(e[j] + t)`` (``t`` = minus the shift),
with ``C`` the interpolating cubic B-spline of the cumulative sum. This amounts to
B-spline prefiltering of the pixel values and a 4-tap filter whose weights sum to one,
vectorised over integrations: the flux of every row / column is conserved and, unlike
linear interpolation of ``C`` (plain box overlap), the profile is not broadened, so the
template position of an undersampled trace follows the shift to a few per cent.
Variances propagate with the box-overlap weights ``(1 - f)**2 var[j + m] + f**2
var[j + m + 1]`` (``m + f = t``) and DQ is the OR of those two contributing pixels
(weight > 0); a pixel is NaN when a contributing pixel is NaN. Pixels that would draw
from outside the valid area become NaN with DO_NOT_USE. Shifts are applied along the
rows, then along the columns; leading reference columns are untouched.
"""

import logging

import numpy as np
from scipy.ndimage import spline_filter1d, uniform_filter1d

log = logging.getLogger(__name__)

__all__ = ["shift_cube"]

DO_NOT_USE = 1


def _bspline_weights(f):
    """Cubic B-spline weights of coefficients m-1, m, m+1, m+2 at fraction ``f`` (sum 1)."""
    g = 1.0 - f
    return (
        g**3 / 6.0,
        (3.0 * f**3 - 6.0 * f**2 + 4.0) / 6.0,
        (3.0 * g**3 - 6.0 * g**2 + 4.0) / 6.0,
        f**3 / 6.0,
    )


def _shift_axis(arrays, variances, dq, shift, axis, lo, hi, flag):
    """Shift along ``axis`` (1 rows, 2 columns) within the index range [lo, hi)."""
    t = -np.asarray(shift, dtype=float)  # output pixel j samples input position j + t
    m = np.floor(t).astype(int)
    f = t - m
    out_a = [a.copy() for a in arrays]
    out_v = [v.copy() for v in variances]
    out_dq = None if dq is None else dq.copy()
    region = [slice(None)] * 3
    region[axis] = slice(lo, hi)
    region = tuple(region)
    j = np.arange(lo, hi)
    line = [None, None, None]
    line[axis] = slice(None)
    line = tuple(line)
    # B-spline coefficients of the pixel values = derivative of the interpolating cubic
    # spline of the cumulative sum (prefilter and differencing commute)
    coefficients = [
        spline_filter1d(
            np.nan_to_num(np.asarray(a, dtype=np.float64)[region], nan=0.0, posinf=0.0, neginf=0.0),
            order=3,
            axis=axis,
            mode="mirror",
        )
        for a in arrays
    ]
    for mi in np.unique(m):
        sel = np.flatnonzero(m == mi)
        fi = f[sel][:, None, None]
        if sel.size == m.size:
            sel = slice(None)  # views instead of copies in the common case
        target = (sel,) + region[1:]
        need1 = fi > 0
        src = [j + mi + k for k in (-1, 0, 1, 2)]
        idx = [np.clip(s_, lo, hi - 1) for s_ in src]
        inside0 = ((src[1] >= lo) & (src[1] < hi))[line]
        inside1 = ((src[2] >= lo) & (src[2] < hi))[line]
        valid = inside0 & (inside1 | ~need1)
        weights = _bspline_weights(fi)

        for a, c, o in zip(arrays, coefficients, out_a):
            part = a[sel]
            bad = ~np.isfinite(np.take(part, idx[1], axis=axis))
            bad |= need1 & ~np.isfinite(np.take(part, idx[2], axis=axis))
            cpart = c[sel]
            value = sum(w * np.take(cpart, i - lo, axis=axis) for w, i in zip(weights, idx))
            o[target] = np.where(valid & ~bad, value, np.nan)
        for v, o in zip(variances, out_v):
            part = v[sel]
            # Linear weights: the shifted pixels are correlated, and this keeps the
            # variance of any sum along the axis (what extraction takes) right, where
            # squared weights would drop the covariance and under-report by up to 2x
            # at half-pixel shifts. Per pixel it is conservative.
            value = (1.0 - fi) * np.take(part, idx[1], axis=axis)
            value = value + np.where(need1, fi * np.take(part, idx[2], axis=axis), 0.0)
            o[target] = np.where(valid, value, np.nan)
        if dq is not None:
            part = dq[sel]
            q = np.take(part, idx[1], axis=axis) | np.where(
                need1, np.take(part, idx[2], axis=axis), 0
            ).astype(dq.dtype)
            out_dq[target] = np.where(valid, q, q | flag).astype(dq.dtype)
    return out_a, out_v, out_dq


def shift_cube(
    data,
    x_shift,
    y_shift,
    variances=(),
    dq=None,
    n_reference_columns=4,
    flag=DO_NOT_USE,
    chunk_size=64,
):
    """Move the scene of every integration by (x_shift, y_shift) pixels, conserving flux.

    To bring integrations onto the reference position, pass minus the measured shifts.

    Parameters
    ----------
    data : numpy.ndarray
        Cube (nints, nrows, ncols) of values that scale with flux (count rates).
    x_shift, y_shift : array_like
        Shift per integration in pixels (positive toward higher column / row).
    variances : sequence of numpy.ndarray, optional
        Variance cubes, propagated with the linear (overlap) weights of the shift so
        that the variance of sums along a row or column, what extraction takes, stays
        right despite the correlation the shift introduces.
    dq : numpy.ndarray, optional
        DQ cube; output is the OR of contributing pixels.
    n_reference_columns : int, optional
        Leading columns that are not shifted (reference pixels).
    flag : int, optional
        DQ value set where an output pixel draws from outside the detector.
    chunk_size : int, optional
        Integrations processed at once (bounds the memory of the spline evaluation).

    Returns
    -------
    data : numpy.ndarray
        Shifted data (new array, dtype of ``data``).
    variances : list of numpy.ndarray
        Shifted variances (dtype of each input).
    dq : numpy.ndarray or None
        Shifted DQ.
    """
    data = np.asarray(data)
    nints = data.shape[0]
    x_shift = np.broadcast_to(np.asarray(x_shift, dtype=float), (nints,))
    y_shift = np.broadcast_to(np.asarray(y_shift, dtype=float), (nints,))
    variances = [np.asarray(v) for v in variances]
    out = np.empty_like(data)
    out_v = [np.empty_like(v) for v in variances]
    out_dq = None if dq is None else np.empty_like(dq)
    for start in range(0, nints, chunk_size):
        part = slice(start, min(start + chunk_size, nints))
        d, v, q = _shift_chunk(
            data[part],
            x_shift[part],
            y_shift[part],
            [var[part] for var in variances],
            None if dq is None else np.asarray(dq[part]),
            n_reference_columns,
            flag,
        )
        out[part] = d
        for o, res in zip(out_v, v):
            o[part] = res
        if out_dq is not None:
            out_dq[part] = q
    return out, out_v, out_dq


def shift_cube_in_place(
    data,
    x_shift,
    y_shift,
    errors=(),
    variances=(),
    dq=None,
    n_reference_columns=4,
    flag=DO_NOT_USE,
    chunk_size=64,
):
    """`shift_cube` that overwrites its arrays, one chunk of integrations at a time.

    Integrations are independent, so each chunk's result replaces its input and the
    extra memory is that of one chunk, not of a second cube. ``errors`` (standard
    deviations, e.g. ERR) are shifted as variances and written back as their square
    root.

    Parameters
    ----------
    data : numpy.ndarray
        Cube (nints, nrows, ncols), overwritten.
    x_shift, y_shift : array_like
        Shift of each integration (pixels), as for `shift_cube`.
    errors, variances : sequence of numpy.ndarray
        Error and variance cubes, overwritten.
    dq : numpy.ndarray, optional
        DQ cube, overwritten.
    n_reference_columns, flag, chunk_size
        As for `shift_cube`.
    """
    nints = data.shape[0]
    x_shift = np.broadcast_to(np.asarray(x_shift, dtype=float), (nints,))
    y_shift = np.broadcast_to(np.asarray(y_shift, dtype=float), (nints,))
    for start in range(0, nints, chunk_size):
        part = slice(start, min(start + chunk_size, nints))
        chunk_variances = [np.square(e[part], dtype=np.float64) for e in errors]
        chunk_variances += [v[part] for v in variances]
        shifted, shifted_variances, shifted_dq = _shift_chunk(
            data[part],
            x_shift[part],
            y_shift[part],
            chunk_variances,
            None if dq is None else dq[part],
            n_reference_columns,
            flag,
        )
        data[part] = shifted
        for e, v in zip(errors, shifted_variances[: len(errors)]):
            e[part] = np.sqrt(v)
        for target, v in zip(variances, shifted_variances[len(errors) :]):
            target[part] = v
        if dq is not None:
            dq[part] = shifted_dq


def _shift_chunk(data, x_shift, y_shift, variances, dq, n_reference_columns, flag):
    """`shift_cube` on one chunk of integrations."""
    nrows, ncols = data.shape[1:]
    (out,), out_v, out_dq = _shift_axis([data], variances, dq, y_shift, 1, 0, nrows, flag)
    # reference columns are not shifted along the rows either
    out[..., :n_reference_columns] = data[..., :n_reference_columns]
    for v, o in zip(variances, out_v):
        o[..., :n_reference_columns] = v[..., :n_reference_columns]
    if out_dq is not None:
        out_dq[..., :n_reference_columns] = dq[..., :n_reference_columns]
    (out,), out_v, out_dq = _shift_axis(
        [out], out_v, out_dq, x_shift, 2, n_reference_columns, ncols, flag
    )
    return out, out_v, out_dq


def smooth_shifts(shifts, window):
    """Running mean of per-integration shifts over ``window`` integrations.

    Used before resampling when the per-integration measurement error exceeds the
    pointing jitter (the dispersion direction of a featureless stellar spectrum):
    shifting each integration by its own noisy estimate would add noise, while the
    slow drift is kept. NaN entries (integrations that could not be fitted) are
    interpolated from their neighbours first.

    Parameters
    ----------
    shifts : numpy.ndarray
        Shifts in time order, shape (nints,).
    window : int
        Width of the centred running mean; 1 returns the shifts unchanged (NaN as 0).

    Returns
    -------
    smoothed : numpy.ndarray
        Shape (nints,), finite.
    """
    shifts = np.asarray(shifts, dtype=float)
    good = np.isfinite(shifts)
    if not good.any():
        return np.zeros_like(shifts)
    index = np.arange(shifts.size)
    filled = np.interp(index, index[good], shifts[good])
    if window <= 1:
        return filled
    return uniform_filter1d(filled, size=int(window), mode="nearest")
