"""Outliers that ``jump`` cannot see, for testing time-domain outlier detection.

Three kinds, placed on the bright trace (pixels with at least 5 % of the peak star rate
at the nominal position, well inside the extraction aperture):

* ``integration``: a pixel's count rate raised for one whole integration (a linear
  ramp: no jump to find);
* ``telegraph``: a pixel toggling between its normal level and a raised one, staying
  1-3 integrations in the raised state; every raised integration is one outlier;
* ``last_group``: a charge deposit in the last group that ramp fitting uses (group
  ``ngroups - 2``: ``lastframe`` drops the last one), the only difference of the ramp
  it changes, where ``jump`` has no later difference to compare it with.

Amplitudes are drawn log-uniformly in units of the pixel's nominal slope noise
(Poisson plus read noise of the noiseless rate), so their significance is known.
"""

import numpy as np

from jwst_tso_ext.miri_lrs import detector

__all__ = ["OUTLIER_DTYPE", "draw_outliers", "rate_offsets", "hit_events", "trace_pixels"]

#: Dtype of the outlier truth table; ``amplitude`` is DN/s for ``integration`` and
#: ``telegraph``, DN for ``last_group``; ``sigma`` is in units of the nominal slope noise.
OUTLIER_DTYPE = np.dtype(
    [
        ("int_num", "i4"),
        ("row", "i4"),
        ("column", "i4"),
        ("kind", "U11"),
        ("group", "i4"),
        ("amplitude", "f8"),
        ("sigma", "f8"),
    ]
)

#: Probability per integration that a telegraph pixel in its normal state jumps up.
TELEGRAPH_RATE = 0.05


def trace_pixels(star_rate, fraction=0.05):
    """Row and column indices of the pixels with ``fraction`` of the peak star rate."""
    rows, columns = np.nonzero(star_rate >= fraction * np.max(star_rate))
    return rows, columns


def slope_sigma(rate, ngroups, frame_time):
    """Nominal 1-sigma noise (DN/s) of a fitted slope at count rate ``rate``."""
    var_poisson, var_rnoise = detector.slope_variances(rate, ngroups, frame_time)
    return np.sqrt(var_poisson + var_rnoise)


def draw_outliers(
    rng, nints, ngroups, frame_time, rate, *, trace=None, n_integration=0, n_telegraph=0,
    n_last_group=0, sigma_range=(10.0, 50.0),
):  # fmt: skip
    """Draw the outliers of an exposure.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every draw.
    nints, ngroups : int
        Exposure size.
    frame_time : float
        Seconds per group.
    rate : numpy.ndarray
        ``(nrows, ncols)`` noiseless detected rate (DN/s) at the nominal position, for
        the noise scale.
    trace : numpy.ndarray of bool or None
        ``(nrows, ncols)`` pixels to place the outliers on; None: `trace_pixels` of
        ``rate``.
    n_integration, n_telegraph, n_last_group : int
        Number of raised integrations, telegraph pixels and last-group hits.
    sigma_range : tuple of float
        Amplitude range in units of the nominal slope noise (log-uniform).

    Returns
    -------
    numpy.ndarray
        Structured array (`OUTLIER_DTYPE`), one row per (integration, pixel) outlier,
        sorted by integration. At most one outlier per (integration, pixel).
    """
    if trace is None:
        rows, columns = trace_pixels(rate)
    else:
        rows, columns = np.nonzero(trace)
    sigma_pix = slope_sigma(rate, ngroups, frame_time)
    low, high = np.log(sigma_range[0]), np.log(sigma_range[1])
    events = []

    def pick(count):
        index = rng.integers(0, rows.size, count)
        return rows[index], columns[index]

    def amplitudes(count):
        return np.exp(rng.uniform(low, high, count))

    r, c = pick(n_integration)
    sig = amplitudes(n_integration)
    ints = rng.integers(1, nints + 1, n_integration)
    for k in range(n_integration):
        amplitude = sig[k] * sigma_pix[r[k], c[k]]
        events.append((ints[k], r[k], c[k], "integration", -1, amplitude, sig[k]))

    r, c = pick(n_telegraph)
    sig = amplitudes(n_telegraph)
    for k in range(n_telegraph):
        raised = np.zeros(nints, dtype=bool)
        start = rng.random(nints) < TELEGRAPH_RATE
        lengths = rng.integers(1, 4, nints)
        for i in np.nonzero(start)[0]:
            raised[i : i + lengths[i]] = True
        for i in np.nonzero(raised)[0]:
            amplitude = sig[k] * sigma_pix[r[k], c[k]]
            events.append((i + 1, r[k], c[k], "telegraph", -1, amplitude, sig[k]))

    r, c = pick(n_last_group)
    sig = amplitudes(n_last_group)
    ints = rng.integers(1, nints + 1, n_last_group)
    # a deposit A in the last used difference moves the OLS slope by
    # A * 6 (n - 1) / (n (n^2 - 1) dt) for n used groups
    used = max(ngroups - 1, 2)
    slope_per_dn = 6.0 * (used - 1) / (used * (used**2 - 1) * frame_time)
    for k in range(n_last_group):
        amplitude_dn = sig[k] * sigma_pix[r[k], c[k]] / slope_per_dn
        events.append((ints[k], r[k], c[k], "last_group", used - 1, amplitude_dn, sig[k]))

    table = np.array(events, dtype=OUTLIER_DTYPE) if events else np.zeros(0, OUTLIER_DTYPE)
    # one outlier per (integration, pixel): keep the first drawn
    key = (table["int_num"].astype(np.int64) * rate.size + table["row"] * rate.shape[1]
           + table["column"])  # fmt: skip
    _, first = np.unique(key, return_index=True)
    table = table[np.sort(first)]
    return table[np.argsort(table["int_num"], kind="stable")]


def rate_offsets(outliers, first_int_num, nints, shape):
    """Extra count rate (DN/s) of the raised and telegraph outliers in a block.

    Parameters
    ----------
    outliers : numpy.ndarray
        `OUTLIER_DTYPE` rows.
    first_int_num, nints : int
        1-based first integration and length of the block.
    shape : tuple of int
        ``(nrows, ncols)``.

    Returns
    -------
    numpy.ndarray
        ``(nints, nrows, ncols)`` float32 offsets.
    """
    offsets = np.zeros((nints, *shape), dtype=np.float32)
    kinds = np.isin(outliers["kind"], ("integration", "telegraph"))
    index = outliers["int_num"] - first_int_num
    sel = kinds & (index >= 0) & (index < nints)
    where = (index[sel], outliers["row"][sel], outliers["column"][sel])
    np.add.at(offsets, where, outliers["amplitude"][sel])
    return offsets


def hit_events(outliers, cosmic_dtype):
    """The last-group hits as cosmic-ray events (``cosmic_dtype`` rows)."""
    hits = outliers[outliers["kind"] == "last_group"]
    events = np.zeros(hits.size, dtype=cosmic_dtype)
    for name in ("int_num", "group", "row", "column"):
        events[name] = hits[name]
    events["amplitude_dn"] = hits["amplitude"]
    return events
