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

The only addition is segment context (`SegmentContext`): the last ``window // 2``
masked integrations of the previous segment are put in front of the next segment, so
that its first integrations get the same centred window as in one run over the whole
exposure.
"""

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

log = logging.getLogger(__name__)

__all__ = ["SegmentContext", "detect_outliers", "rolling_median", "reference_median"]

#: Pixels per block of the rolling median (bounds the window copy to ~block * nints * w).
_PIXELS_PER_BLOCK = 256


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


def reference_median(data, good, window, maskpt=0.7, context=None):
    """The reference each integration is compared with (jwst's "median" cube).

    Parameters
    ----------
    data : numpy.ndarray
        ``(nints, ny, nx)`` science data, float32.
    good : numpy.ndarray of bool
        Same shape, True where the DQ passes ``good_bits``.
    window : int
        ``rolling_window_width``.
    maskpt : float
        Weight threshold fraction (see `bad_pixel_mask`).
    context : numpy.ndarray or None
        Masked integrations to put in front of ``data`` (see `SegmentContext`).

    Returns
    -------
    reference : numpy.ndarray
        ``(nints, ny, nx)``: float64 rolling medians, or float32 static medians.
    masked : numpy.ndarray
        ``data`` with bad pixels set to NaN, float32 (the next segment's context).
    """
    data = np.asarray(data, dtype=np.float32)
    masked = data.copy()
    masked[bad_pixel_mask(good, maskpt)] = np.nan
    nctx = 0 if context is None else context.shape[0]
    if nctx:
        series = np.concatenate([np.asarray(context, dtype=np.float32), masked])
    else:
        series = masked
    if 1 < window < series.shape[0]:
        reference = rolling_median(series, window)[nctx:]
    else:
        # jwst: a static NaN-ignoring median of the segment's unmasked data
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            static = np.nanmedian(data, axis=0).astype(np.float32)
        reference = np.broadcast_to(static, data.shape)
    return reference, masked


def detect_outliers(data, err, good, *, snr=5.0, window=25, maskpt=0.7, context=None):
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
    reference, masked = reference_median(data, good, window, maskpt, previous)
    threshold = np.float32(snr) * np.nan_to_num(np.asarray(err, dtype=np.float32))
    with np.errstate(invalid="ignore"):
        difference = np.abs(data.astype(reference.dtype) - reference)
        outliers = np.greater(difference, threshold)
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
