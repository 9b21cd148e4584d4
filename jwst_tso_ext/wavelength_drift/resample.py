"""Flux-conserving sub-pixel shift of integrations with error and DQ propagation.

Along one axis the shifted pixel values are differences of the cumulative sum at the
shifted pixel edges, ``out[j] = C(e[j+1] + t) - C(e[j] + t)`` (``t`` = minus the shift),
with ``C`` the interpolating cubic B-spline of the cumulative sum. This amounts to
B-spline prefiltering of the pixel values and a 4-tap filter whose weights sum to one,
vectorised over integrations: the flux of every row / column is conserved and, unlike
linear interpolation of ``C`` (plain box overlap), the profile is not broadened, so the
template position of an undersampled trace follows the shift to a few per cent.
Variances propagate with the linear box-overlap weights ``(1 - f) var[j + m] + f
var[j + m + 1]`` (``m + f = t``; see `shift_cube`) and DQ is the OR of those two
contributing pixels (weight > 0); a pixel is NaN when a contributing pixel is NaN.
Pixels that would draw from outside the valid area become NaN with DO_NOT_USE. Shifts
are applied along the rows, then along the columns; leading reference columns are
untouched. Each filter tap is a slice of a padded array times a per-integration
weight, so a chunk of integrations with different shifts is one vectorised pass.
"""

import logging

import numpy as np
from scipy.ndimage import spline_filter1d, uniform_filter1d
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.parallel import map_in_threads
from jwst_tso_ext.progress import IntegrationProgress

log = logging.getLogger(__name__)

__all__ = ["shift_cube"]

#: DQ bit of a pixel not to be used.
DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]

#: Integrations resampled at once: small chunks keep the filter's arrays in cache.
CHUNK_SIZE = 32


def _tap_weights(t):
    """Per-integration filter weights for sampling input position ``j + t``.

    Returns the first tap offset and, for taps at offsets ``first + k``, the cubic
    B-spline weights (of the prefiltered coefficients; they sum to one) and the
    linear box-overlap weights ``1 - f`` at ``m`` and ``f`` at ``m + 1``
    (``t = m + f``), both shaped (nints, ntaps).
    """
    m = np.floor(t).astype(int)
    f = t - m
    g = 1.0 - f
    first = int(m.min()) - 1
    ntaps = int(m.max()) + 3 - first
    rows = np.arange(t.size)
    column = m - 1 - first  # tap index of offset m - 1
    spline = np.zeros((t.size, ntaps))
    linear = np.zeros((t.size, ntaps))
    for k, w in enumerate(
        (
            g**3 / 6.0,
            (3.0 * f**3 - 6.0 * f**2 + 4.0) / 6.0,
            (3.0 * g**3 - 6.0 * g**2 + 4.0) / 6.0,
            f**3 / 6.0,
        )
    ):
        spline[rows, column + k] = w
    linear[rows, column + 1] = g
    linear[rows, column + 2] = f
    return first, spline, linear


def _along(axis, start, stop):
    """Index selecting ``start:stop`` along ``axis`` of a cube."""
    index = [slice(None)] * 3
    index[axis] = slice(start, stop)
    return tuple(index)


def _add_tap(total, source, weight, offset, axis, edge=False, scratch=None):
    """``total[r] += weight * source[r + offset]`` along ``axis``, one slice per side.

    Outputs whose source lies beyond the ends get the source mirrored about the end
    sample (``edge=True``: the spline coefficients, whose prefilter used the same
    'mirror' boundary) or nothing (values there are masked by the caller).
    ``scratch`` (shape and dtype of ``total``) avoids a temporary array per tap.
    """
    n = source.shape[axis]
    lo, hi = min(max(0, -offset), n), max(min(n, n - offset), 0)
    if hi > lo:
        target = _along(axis, lo, hi)
        picked = source[_along(axis, lo + offset, hi + offset)]
        if scratch is None:
            total[target] += weight * picked
        else:
            product = scratch[target]
            np.multiply(picked, weight, out=product)
            total[target] += product
    if edge:
        for start, stop in ((0, lo), (hi, n)):
            if stop > start:
                position = np.arange(start, stop) + offset
                mirrored = np.abs(position)
                mirrored = np.where(mirrored > n - 1, 2 * (n - 1) - mirrored, mirrored)
                picked = np.take(source, np.clip(mirrored, 0, n - 1), axis=axis)
                total[_along(axis, start, stop)] += weight * picked


def _or_tap(total, source, use, offset, axis, scratch):
    """``total[r] |= use * source[r + offset]`` along ``axis`` (nothing beyond the ends).

    ``use`` (per integration, dtype of ``source``) selects the integrations that draw
    from this tap; ``scratch`` has the shape and dtype of ``total``.
    """
    n = source.shape[axis]
    lo, hi = min(max(0, -offset), n), max(min(n, n - offset), 0)
    if hi > lo:
        target = _along(axis, lo, hi)
        picked = scratch[target]
        np.multiply(source[_along(axis, lo + offset, hi + offset)], use, out=picked)
        total[target] |= picked


#: Above this fraction of set pixels, flags are propagated with whole-array taps
#: rather than pixel by pixel.
SPARSE_FLAG_FRACTION = 0.02


def _nonzero(cube):
    """`numpy.nonzero` of a C-contiguous cube, fast when few image lines hold set pixels."""
    lines = cube.reshape(-1, cube.shape[-1])
    with_set = np.flatnonzero(lines.any(axis=1))
    line, column = np.nonzero(lines[with_set])
    integration, row = np.divmod(with_set[line], cube.shape[1])
    return integration, row, column


def _propagate_flags(source, used, first, axis):
    """OR of ``source`` (a bool mask or DQ bits) over each output pixel's overlap taps.

    ``used[i, k]`` says whether integration ``i`` draws from offset ``first + k``.
    Set pixels are usually few (bad pixels, jumps), so they are moved one by one;
    dense flags fall back to one masked OR per tap. Sources beyond the ends add
    nothing (the caller marks those outputs).
    """
    n = source.shape[axis]
    taps = [k for k in range(used.shape[1]) if used[:, k].any()]
    where = _nonzero(source)
    out = np.zeros_like(source)
    if where[0].size > SPARSE_FLAG_FRACTION * source.size:
        scratch = np.empty_like(source)
        for k in taps:
            use = used[:, k].astype(source.dtype).reshape(-1, 1, 1)
            _or_tap(out, source, use, first + k, axis, scratch)
        return out
    values = source[where]
    integration = where[0]
    for k in taps:
        target = where[axis] - (first + k)
        keep = used[integration, k] & (target >= 0) & (target < n)
        index = [w[keep] for w in where]
        index[axis] = target[keep]
        out[tuple(index)] |= values[keep]  # one source per output in a tap: no repeats
    return out


def _shift_axis(data, variances, dq, t, axis, flag):
    """Sample positions ``j + t`` along ``axis`` (1 rows, 2 columns), in place.

    Vectorised over integrations: each filter tap is one slice of an array times a
    per-integration weight, so integrations with different shifts are handled
    together. ``data``, ``variances`` and ``dq`` are overwritten.
    """
    if np.ptp(np.floor(t)) > 2:
        # widely different shifts: one pass per integer part keeps the filter short
        m = np.floor(t).astype(int)
        for mi in np.unique(m):
            sel = np.flatnonzero(m == mi)
            part_v = [v[sel] for v in variances]
            part_dq = None if dq is None else dq[sel]
            part = data[sel]
            _shift_axis(part, part_v, part_dq, t[sel], axis, flag)
            data[sel] = part
            for v, shifted in zip(variances, part_v):
                v[sel] = shifted
            if dq is not None:
                dq[sel] = part_dq
        return

    n = data.shape[axis]
    first, spline, linear = _tap_weights(t)
    ntaps = spline.shape[1]
    weight_shape = (-1, 1, 1)
    used = linear > 0
    overlap_taps = [k for k in range(ntaps) if used[:, k].any()]

    # output lines that draw (box overlap) from beyond the ends: NaN and flagged
    positions = np.arange(n)[None, :] + first
    outside = np.zeros((t.size, n), dtype=bool)
    for k in overlap_taps:
        source = positions + k
        outside |= used[:, k : k + 1] & ((source < 0) | (source >= n))
    outside_integration, outside_line = np.nonzero(outside)
    outside_index = [outside_integration, slice(None), slice(None)]
    outside_index[axis] = outside_line
    outside_index = tuple(outside_index)

    bad = ~np.isfinite(data)
    any_bad = bool(bad.any())
    dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)
    coefficients = spline_filter1d(
        np.where(bad, 0.0, data).astype(dtype, copy=False) if any_bad else data,
        order=3,
        axis=axis,
        mode="mirror",
        output=dtype,
    )
    total = np.zeros(data.shape, dtype=dtype)
    scratch = np.empty_like(total)
    for k in range(ntaps):
        if spline[:, k].any():
            w = spline[:, k].astype(dtype).reshape(weight_shape)
            _add_tap(total, coefficients, w, first + k, axis, edge=True, scratch=scratch)
    if any_bad:
        total[_propagate_flags(bad, used, first, axis)] = np.nan
    total[outside_index] = np.nan
    np.copyto(data, total, casting="unsafe")

    for v in variances:
        missing = np.isnan(v)
        any_missing = bool(missing.any())
        source = np.where(missing, 0, v) if any_missing else v
        total = np.zeros(v.shape, dtype=v.dtype)
        if scratch.dtype != v.dtype:
            scratch = np.empty_like(total)
        for k in overlap_taps:
            w = linear[:, k].astype(v.dtype).reshape(weight_shape)
            _add_tap(total, source, w, first + k, axis, scratch=scratch)
        if any_missing:
            total[_propagate_flags(missing, used, first, axis)] = np.nan
        total[outside_index] = np.nan
        np.copyto(v, total, casting="unsafe")

    if dq is not None:
        combined = _propagate_flags(dq, used, first, axis)
        combined[outside_index] |= dq.dtype.type(flag)
        dq[...] = combined


def shift_cube(
    data,
    x_shift,
    y_shift,
    variances=(),
    dq=None,
    n_reference_columns=4,
    flag=DO_NOT_USE,
    chunk_size=CHUNK_SIZE,
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
        Integrations processed at once: small chunks keep the filter's working arrays
        in the processor cache.

    Returns
    -------
    data : numpy.ndarray
        Shifted data (new array, dtype of ``data``).
    variances : list of numpy.ndarray
        Shifted variances (dtype of each input).
    dq : numpy.ndarray or None
        Shifted DQ.
    """
    out = np.array(data, copy=True)
    out_v = [np.array(v, copy=True) for v in variances]
    out_dq = None if dq is None else np.array(dq, copy=True)
    shift_cube_in_place(
        out,
        x_shift,
        y_shift,
        variances=out_v,
        dq=out_dq,
        n_reference_columns=n_reference_columns,
        flag=flag,
        chunk_size=chunk_size,
    )
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
    chunk_size=CHUNK_SIZE,
    n_threads=1,
):
    """`shift_cube` that overwrites its arrays, one chunk of integrations at a time.

    Integrations are independent, so each chunk's result replaces its input and the
    extra memory is that of one chunk per thread, not of a second cube. ``errors``
    (standard deviations, e.g. ERR) are shifted as variances and written back as
    their square root.

    Parameters
    ----------
    data : numpy.ndarray
        Cube (nints, nrows, ncols), overwritten.
    x_shift, y_shift : array_like
        Shift of each integration (pixels), as for `shift_cube`; an integration
        with a non-finite shift becomes NaN and ``flag`` (reference columns kept).
    errors, variances : sequence of numpy.ndarray
        Error and variance cubes, overwritten.
    dq : numpy.ndarray, optional
        DQ cube, overwritten.
    n_reference_columns, flag, chunk_size
        As for `shift_cube`.
    n_threads : int, optional
        Chunks processed in parallel (numpy and scipy release the GIL in the
        filter loops).
    """
    nints = data.shape[0]
    x_shift = np.broadcast_to(np.asarray(x_shift, dtype=float), (nints,))
    y_shift = np.broadcast_to(np.asarray(y_shift, dtype=float), (nints,))
    unknown = ~(np.isfinite(x_shift) & np.isfinite(y_shift))
    if unknown.any():
        # no position to move to: those integrations become NaN and DO_NOT_USE
        x_shift, y_shift = np.where(unknown, 0.0, x_shift), np.where(unknown, 0.0, y_shift)
    science = slice(n_reference_columns, None)  # reference columns are left alone

    def shift_chunk(start):
        part = slice(start, min(start + chunk_size, nints))
        chunk = (part, slice(None), science)
        # contiguous working copies: whole-row slices then run as long inner loops
        chunk_data = np.ascontiguousarray(data[chunk])
        chunk_variances = [np.square(e[chunk]) for e in errors]
        chunk_variances += [np.ascontiguousarray(v[chunk]) for v in variances]
        chunk_dq = None if dq is None else np.ascontiguousarray(dq[chunk])
        _shift_axis(chunk_data, chunk_variances, chunk_dq, -y_shift[part], 1, flag)
        _shift_axis(chunk_data, chunk_variances, chunk_dq, -x_shift[part], 2, flag)
        data[chunk] = chunk_data
        for e, v in zip(errors, chunk_variances):
            e[chunk] = np.sqrt(v)
        for target, v in zip(variances, chunk_variances[len(errors) :]):
            target[chunk] = v
        if dq is not None:
            dq[chunk] = chunk_dq
        return start

    progress = IntegrationProgress(log, "wavelength_drift: integrations resampled", nints)
    for start in map_in_threads(shift_chunk, range(0, nints, chunk_size), n_threads):
        progress.advance(min(chunk_size, nints - start))
    if unknown.any():
        for array in (data, *errors, *variances):
            array[unknown, :, science] = np.nan
        if dq is not None:
            dq[unknown, :, science] |= dq.dtype.type(flag)


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
