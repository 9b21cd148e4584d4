"""Outliers of a light curve in time: running median and iterative sigma clipping."""

import warnings

import numpy as np

__all__ = ["running_median", "sigma_clip_series"]


def running_median(y, window, mask=None):
    """
    Running median of ``y`` over ``window`` points, ignoring masked / NaN points.

    Parameters
    ----------
    y : ndarray (n,)
        Series.
    window : int
        Full window length (made odd).
    mask : ndarray of bool (n,), optional
        True for points to ignore.

    Returns
    -------
    ndarray (n,)
        The running median; edges use the truncated window.
    """
    y = np.array(y, dtype=float)
    if mask is not None:
        y[mask] = np.nan
    half = max(int(window) // 2, 1)
    padded = np.pad(y, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        return np.nanmedian(windows, axis=1)


def sigma_clip_series(y, window=21, nsigma=5.0, maxiter=5):
    """
    Flag outliers by iterative sigma clipping against a running median.

    Parameters
    ----------
    y : ndarray (n,)
        Series (e.g. white-light flux).  Non-finite points are flagged too.
    window : int
        Running-median window (integrations).
    nsigma : float
        Clipping threshold in units of the robust (MAD) standard deviation of the
        residuals from the running median.
    maxiter : int
        Maximum number of iterations.

    Returns
    -------
    ndarray of bool (n,)
        True for clipped points.  Nothing is removed; the caller keeps the mask.
    """
    y = np.asarray(y, dtype=float)
    clipped = ~np.isfinite(y)
    for _ in range(int(maxiter)):
        med = running_median(y, window, mask=clipped)
        resid = y - med
        r = resid[~clipped & np.isfinite(resid)]
        if r.size < 3:
            break
        sigma = 1.4826 * np.median(np.abs(r - np.median(r)))
        if not sigma > 0:
            break
        new = clipped | ~np.isfinite(resid) | (np.abs(resid) > nsigma * sigma)
        if np.array_equal(new, clipped):
            break
        clipped = new
    return clipped
