"""Time-domain outlier detection of TSO cubes: jwst's TSO-mode algorithm, vectorised.

Plain numpy on arrays of shape ``(nints, ny, nx)``; no datamodels. The definitions are
those of ``jwst.outlier_detection.tso`` (jwst 3.0) with ``snr`` the first value of the
step's ``snr`` pair:

* a pixel is *bad* where its DQ fails ``good_bits``; the weight threshold is ``maskpt``
  times the mean weight of the good pixels (weights are 1 or 0), so with any good pixel
  bad pixels are masked when ``0 < maskpt <= 1``, every pixel when ``maskpt > 1``, and
  none when no pixel is good;
* if ``1 < window < nints``: bad pixels are set to NaN and the reference is the median
  of a window of ``window`` integrations (``np.median``: a NaN anywhere in the window
  gives a NaN median, which flags nothing); the window of integration ``j`` is
  ``[j - window // 2, j - window // 2 + window)``, and integrations too close to an end
  take the median of the nearest full window;
* otherwise the reference is the NaN-ignoring median over all integrations of the
  *unmasked* data (as jwst);
* a pixel is an outlier where ``|data - reference| > snr * nan_to_num(err)``, in the
  same precisions as jwst (float32 medians, float64 differences for the rolling median).

Two additions: segment context (`SegmentContext`): the last ``window // 2`` masked
integrations of the previous segment are put in front of the next segment, so that
its first integrations get the same centred window as in one run over the whole
exposure; and ``ignore_nan``: a window holding NaNs takes the median of its valid
values (when they are a majority) instead of flagging nothing.
"""

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

log = logging.getLogger(__name__)

__all__ = [
    "SegmentContext",
    "chain_context",
    "context_from_saved_tails",
    "detect_outliers",
    "segment_tail",
    "rolling_flags",
    "rolling_median",
    "static_reference",
]

#: Pixels per block of the rolling median (bounds the sorted windows to
#: ~block * nints * window / _SCREEN_STEP values).
_PIXELS_PER_BLOCK = 512
#: Sort every this many windows; the ones between are bounded by ranks (`rolling_flags`).
_SCREEN_STEP = 4


@dataclass
class SegmentContext:
    """The end of the previous segment, for the start of the next one.

    Attributes
    ----------
    data : numpy.ndarray or None
        The last ``window // 2`` integrations of the previous segment, float32, with its
        bad pixels set to NaN (as the rolling median sees them), before its own outliers
        were flagged. None before the first segment.
    last_int_num : int or None
        1-based integration number of the last integration in ``data``.
    """

    data: np.ndarray | None = None
    last_int_num: int | None = None

    def usable_for(self, first_int_num, frame_shape):
        """Whether this context directly precedes a segment starting at ``first_int_num``."""
        return (
            self.data is not None
            and self.last_int_num is not None
            and self.last_int_num + 1 == first_int_num
            and self.data.shape[1:] == tuple(frame_shape)
        )


def segment_tail(data, good, maskpt, window):
    """The end of a segment that the next one takes as context (see `detect_outliers`).

    Parameters
    ----------
    data : numpy.ndarray
        ``(nints, ny, nx)`` calibrated data of the segment, before its outliers are
        flagged.
    good : numpy.ndarray of bool
        Same shape, True where the DQ passes ``good_bits``.
    maskpt : float
        Weight threshold fraction.
    window : int
        ``rolling_window_width``.

    Returns
    -------
    numpy.ndarray or None
        The last ``min(nints, window // 2)`` integrations as float32 with the bad pixels
        NaN; None when ``window // 2`` is 0.
    """
    keep = int(window) // 2
    if keep <= 0:
        return None
    masked = np.array(np.asarray(data)[-keep:], dtype=np.float32)
    # the threshold depends on the whole segment's weights (`bad_pixel_mask`)
    masked[bad_pixel_mask(good, maskpt)[-keep:]] = np.nan
    return masked


def chain_context(tails, window):
    """The context of a segment from the tails of the segments before it.

    Equal to what one `SegmentContext` carried through `detect_outliers` over those
    segments in order holds, so that a segment's flags depend on files of earlier
    segments only, not on the order segments run in.

    Parameters
    ----------
    tails : list
        For each earlier segment of the exposure, in order: ``(tail, first_int_num,
        last_int_num)`` with ``tail`` from `segment_tail`, or None for a segment whose
        outliers were not detected in this run (it breaks the chain).
    window : int
        ``rolling_window_width``.

    Returns
    -------
    SegmentContext
        ``data`` None when there is no context.
    """
    keep = int(window) // 2
    context = SegmentContext()
    for entry in tails:
        if entry is None or entry[0] is None:
            context = SegmentContext()
            continue
        tail, first, last = entry
        previous = context.data if context.usable_for(first, tail.shape[1:]) else None
        if previous is not None and tail.shape[0] < keep:
            tail = np.concatenate([previous, tail])[-keep:]
        context = SegmentContext(np.asarray(tail, dtype=np.float32), int(last))
    return context


def context_from_saved_tails(saved, window):
    """`chain_context` from tails saved as ``.npy`` files, reading only those it needs.

    Parameters
    ----------
    saved : list
        For each earlier segment, in order: ``(path, first_int_num, last_int_num,
        rows)`` (the ``.npy`` file of its `segment_tail` and that tail's length), or
        None (a segment whose outliers were not detected in this run).
    window : int
        ``rolling_window_width``.

    Returns
    -------
    SegmentContext
    """
    keep = int(window) // 2
    start = 0  # the last segment whose tail alone fills the context, or breaks the chain
    for position in range(len(saved) - 1, -1, -1):
        entry = saved[position]
        if entry is None or entry[3] >= keep:
            start = position
            break
    tails = [
        None if entry is None else (np.load(entry[0]), entry[1], entry[2])
        for entry in saved[start:]
    ]
    return chain_context(tails, window)


def bad_pixel_mask(good, maskpt):
    """Pixels the rolling median ignores, as jwst's weight threshold selects them.

    Parameters
    ----------
    good : numpy.ndarray of bool
        True where the DQ passes ``good_bits`` (weight 1), False elsewhere (weight 0).
    maskpt : float
        Fraction of the mean good weight (1) below which a pixel is masked.

    Returns
    -------
    numpy.ndarray of bool
        True where the pixel is set to NaN before the rolling median.
    """
    good = np.asarray(good, dtype=bool)
    if not good.any():
        # jwst: the mean of no weights is NaN, and no weight is below NaN
        return np.zeros_like(good)
    threshold = float(maskpt)
    return np.where(good, 1.0 < threshold, 0.0 < threshold)


def rolling_median(cube, window):
    """Median over a rolling window of integrations, with jwst's edge handling.

    Equal, value for value, to ``jwst.outlier_detection.tso.moving_median_over_zeroth_axis``:
    a NaN in a window gives a NaN median; even windows average the two middle values in
    float64.

    Parameters
    ----------
    cube : numpy.ndarray
        Shape ``(nints, ny, nx)``, float32 (NaN marks masked pixels).
    window : int
        Window width, ``1 < window <= nints``.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``cube``.
    """
    cube = np.asarray(cube)
    nints = cube.shape[0]
    if not 1 < window <= nints:
        raise ValueError(f"rolling window {window} must be > 1 and <= nints ({nints})")
    half, odd = divmod(window, 2)
    frame_shape = cube.shape[1:]
    npix = int(np.prod(frame_shape))
    nwin = nints - window + 1
    # time along the last axis, so each window is contiguous for np.partition
    series = np.ascontiguousarray(cube.reshape(nints, npix).T)
    nan_count = np.cumsum(np.isnan(series), axis=1, dtype=np.int32)
    nan_count = np.concatenate([np.zeros((npix, 1), np.int32), nan_count], axis=1)
    has_nan = (nan_count[:, window:] - nan_count[:, :-window]) > 0
    del nan_count
    valid = np.empty((npix, nwin), dtype=np.float64)
    kth = [half] if odd else [half - 1, half]
    for start in range(0, npix, _PIXELS_PER_BLOCK):
        stop = min(start + _PIXELS_PER_BLOCK, npix)
        part = np.partition(sliding_window_view(series[start:stop], window, axis=1), kth, axis=-1)
        if odd:
            valid[start:stop] = part[..., half]
        else:
            valid[start:stop] = part[..., half - 1]
            valid[start:stop] += part[..., half]
            valid[start:stop] /= 2.0
    valid[has_nan] = np.nan
    out = np.empty((nints, npix), dtype=np.float64)
    out[half : half + nwin] = valid.T
    out[:half] = out[half]
    last = half + nwin - 1
    out[last + 1 :] = out[last]
    return out.reshape(cube.shape)


def static_reference(data):
    """jwst's reference for a window of 1 or >= nints: one NaN-ignoring median of the
    unmasked data over all integrations, float32, broadcast to the cube's shape."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        static = np.nanmedian(data, axis=0).astype(np.float32)
    return np.broadcast_to(static, data.shape)


def rolling_flags(series, data, threshold, window, first=0, ignore_nan=False):
    """Outliers against jwst's rolling median, deciding most pixels from rank bounds.

    Exactly ``|data - rolling_median(series, window)[first:]| > threshold`` (float64
    differences, as jwst), computed per block of pixels without the median cube: the
    windows starting at every ``step``-th integration are sorted, and the median of a
    window ``d`` integrations later lies between ranks ``half - d`` and ``half + d``
    (``half - 1 - d`` and ``half + d`` for even windows) of the sorted one: ``d`` values
    leave and ``d`` enter. Where the test, in float32 with a margin of 2**-20 on the
    threshold, gives the same answer at both bounds, that is the answer; the few
    pixels in between get their window sorted and tested exactly.

    Parameters
    ----------
    series : numpy.ndarray
        ``(N, ny, nx)`` float32 masked data (NaN at bad pixels), context first.
    data, threshold : numpy.ndarray
        ``(N - first, ny, nx)`` unmasked data (float32) and ``snr * err`` (float32).
    window : int
        Window width, ``1 < window <= N``.
    first : int
        Number of context integrations at the start of ``series`` (<= window // 2).
    ignore_nan : bool
        False: as jwst, a window holding a NaN has a NaN median and flags nothing.
        True: such a window's median is that of its valid values (ranks as
        ``np.nanmedian``), when they are more than half the window.

    Returns
    -------
    numpy.ndarray of bool
        ``(N - first, ny, nx)``.
    """
    total = series.shape[0]
    nints = total - first
    half, odd = divmod(window, 2)
    if not 1 < window <= total or not 0 <= first <= half:
        raise ValueError(
            f"rolling window {window} must be > 1 and <= nints ({total}), with at most "
            f"{half} context integrations (got {first})"
        )
    nwin = total - window + 1
    step = min(_SCREEN_STEP, (half if odd else half - 1) + 1)
    npix = int(np.prod(series.shape[1:]))
    masked_t = np.ascontiguousarray(series.reshape(total, npix).T)  # windows contiguous
    data_2d = np.asarray(data, np.float32).reshape(nints, npix)
    thr_2d = np.asarray(threshold, np.float32).reshape(nints, npix)
    # the window of output integration j starts at clip(j + first - half, 0, nwin - 1):
    # columns [lead, lead + nwin) are compared with windows 0 .. nwin - 1, the ones
    # before with window 0 and the ones after with window nwin - 1
    lead = half - first
    starts = np.clip(np.arange(first, total) - half, 0, nwin - 1)
    window_of = np.concatenate([np.zeros(lead, int), np.arange(nwin),
                                np.full(nints - lead - nwin, nwin - 1)])  # fmt: skip
    up, down = np.float32(1 + 2.0**-20), np.float32(1 - 2.0**-20)
    flags_t = np.empty((npix, nints), dtype=bool)
    offsets = np.arange(window)
    for p0 in range(0, npix, _PIXELS_PER_BLOCK):
        p1 = min(p0 + _PIXELS_PER_BLOCK, npix)
        block = masked_t[p0:p1]
        nan_count = np.zeros((p1 - p0, total + 1), np.int32)
        np.cumsum(np.isnan(block), axis=1, out=nan_count[:, 1:])
        nan_count = nan_count[:, window:] - nan_count[:, :-window]
        has_nan = nan_count > 0
        ordered = np.sort(sliding_window_view(block, window, axis=1)[:, ::step], axis=-1)
        low = np.empty((p1 - p0, nwin), np.float32)
        high = np.empty((p1 - p0, nwin), np.float32)
        for d in range(step):
            count = len(range(d, nwin, step))
            low[:, d::step] = ordered[:, :count, half - d if odd else half - 1 - d]
            high[:, d::step] = ordered[:, :count, half + d]
        del ordered
        if nints != nwin:
            low, high, has_nan = low[:, window_of], high[:, window_of], has_nan[:, window_of]
            nan_count = nan_count[:, window_of]
        x = data_2d[:, p0:p1].T
        thr = thr_2d[:, p0:p1].T
        with np.errstate(invalid="ignore", over="ignore"):
            to_low = x - low  # >= x - median
            to_high = x - high  # <= x - median
            sure = (to_high > thr * up) | (to_low < -thr * up)
            inside = (to_low <= thr * down) & (to_high >= -thr * down)
        flags = sure & ~has_nan
        open_ = ~(sure | inside | has_nan | np.isnan(x))
        if open_.any():
            rows, cols = np.nonzero(open_)
            values = block[rows[:, None], starts[cols][:, None] + offsets]
            values.sort(axis=-1)
            if odd:
                median = values[:, half].astype(np.float64)
            else:
                median = (values[:, half - 1].astype(np.float64) + values[:, half]) / 2.0
            flags[rows, cols] = np.abs(x[rows, cols].astype(np.float64) - median) > thr[rows, cols]
        if ignore_nan:
            # windows with NaNs but a majority of valid values: median of the valid ones
            partial = has_nan & (2 * nan_count < window) & ~np.isnan(x)
            if partial.any():
                rows, cols = np.nonzero(partial)
                values = block[rows[:, None], starts[cols][:, None] + offsets]
                values.sort(axis=-1)  # NaNs last
                valid = window - nan_count[rows, cols]
                upper = values[np.arange(rows.size), valid // 2].astype(np.float64)
                lower = values[np.arange(rows.size), (valid - 1) // 2].astype(np.float64)
                median = np.where(valid % 2 == 1, upper, (lower + upper) / 2.0)
                flags[rows, cols] = (
                    np.abs(x[rows, cols].astype(np.float64) - median) > thr[rows, cols]
                )
        flags_t[p0:p1] = flags
    return np.ascontiguousarray(flags_t.T).reshape(np.shape(data))


def detect_outliers(
    data, err, good, *, snr=5.0, window=25, maskpt=0.7, context=None, ignore_nan=False
):
    """Flag pixels that differ from their time-local median by more than ``snr`` errors.

    Parameters
    ----------
    data, err : numpy.ndarray
        ``(nints, ny, nx)`` science data and 1-sigma errors.
    good : numpy.ndarray of bool
        Same shape, True where the DQ passes ``good_bits``.
    snr : float
        Threshold in units of ``err``.
    window : int
        ``rolling_window_width`` (integrations).
    maskpt : float
        Weight threshold fraction.
    context : SegmentContext or None
        The end of the previous segment. Used when its ``data`` is not None (the caller
        checks that it directly precedes this segment); replaced by this segment's end.
    ignore_nan : bool
        Rolling windows holding NaNs use the median of their valid values when these
        are a majority, instead of flagging nothing (jwst); see `rolling_flags`.

    Returns
    -------
    numpy.ndarray of bool
        True where a pixel is an outlier.
    """
    data = np.asarray(data)
    err = np.asarray(err)
    if data.ndim != 3 or err.shape != data.shape or np.shape(good) != data.shape:
        raise ValueError(
            f"data, err and dq must be cubes of one shape (nints, ny, nx); got "
            f"{data.shape}, {err.shape} and {np.shape(good)}"
        )
    if window < 0:
        raise ValueError(f"rolling_window_width must be >= 0, got {window}")
    previous = None if context is None else context.data
    data = np.asarray(data, dtype=np.float32)
    masked = data.copy()
    masked[bad_pixel_mask(good, maskpt)] = np.nan
    nctx = 0 if previous is None else previous.shape[0]
    series = np.concatenate([previous, masked]) if nctx else masked
    threshold = np.float32(snr) * np.nan_to_num(np.asarray(err, dtype=np.float32))
    if 1 < window < series.shape[0]:
        outliers = rolling_flags(
            series, data, threshold, window, first=nctx, ignore_nan=ignore_nan
        )
    else:
        with np.errstate(invalid="ignore"):
            outliers = np.greater(np.abs(data - static_reference(data)), threshold)
    if context is not None:
        keep = window // 2
        if keep > 0:
            tail = masked[-keep:]
            if previous is not None and tail.shape[0] < keep:
                tail = np.concatenate([previous, tail])[-keep:]
            context.data = np.array(tail, dtype=np.float32)
        else:
            context.data = None
    return outliers
