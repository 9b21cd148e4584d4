"""Up-the-ramp readout of the MIRI detector: from count rates to raw DN.

Plain functions on numpy arrays. The detector model (gain, read noise, bias,
non-linearity, saturation) is `jwst_tso_ext.miri_lrs.detector`, the same numbers the
offline reference files carry.
"""

import numpy as np

from jwst_tso_ext.miri_lrs import detector, geometry

__all__ = ["draw_cosmic_rays", "integration_noise_rng", "read_ramps"]

#: Dtype of the cosmic-ray event table.
COSMIC_RAY_DTYPE = np.dtype(
    [("int_num", "i4"), ("group", "i4"), ("row", "i4"), ("column", "i4"), ("amplitude_dn", "f8")]
)


def integration_noise_rng(seed, integration):
    """Random generator of one integration's photon and read noise.

    One independent stream per (seed, 0-based integration index), so the noise of an
    integration does not depend on how the exposure is split into files or chunks.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, int(integration))))


def draw_cosmic_rays(rng, nints, ngroups, rate, amplitude_range=(200.0, 3000.0)):
    """Draw cosmic-ray hits for a whole exposure.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    nints, ngroups : int
        Exposure size.
    rate : float
        Mean number of hits on the subarray per integration (Poisson).
    amplitude_range : tuple of float
        Minimum and maximum deposited signal (DN), drawn log-uniformly.

    Returns
    -------
    events : numpy.ndarray
        Structured array (`COSMIC_RAY_DTYPE`): 1-based integration number, 0-based group
        of the first read that contains the hit (>= 1, so the jump lies between two
        reads), row, column (illuminated columns only) and amplitude in DN.
    """
    counts = rng.poisson(rate, nints)
    total = int(counts.sum())
    events = np.zeros(total, dtype=COSMIC_RAY_DTYPE)
    events["int_num"] = np.repeat(np.arange(1, nints + 1), counts)
    events["group"] = rng.integers(1, ngroups, total)
    events["row"] = rng.integers(0, geometry.N_ROWS, total)
    events["column"] = rng.integers(geometry.N_REFERENCE_COLUMNS, geometry.N_COLUMNS, total)
    low, high = np.log(amplitude_range[0]), np.log(amplitude_range[1])
    events["amplitude_dn"] = np.exp(rng.uniform(low, high, total))
    return events


def read_ramps(rate, ngroups, frame_time, noise_rngs=None, cosmic_rays=None, first_int_num=1):
    """Raw ramps (DN, bias included) for a block of integrations.

    Counts accumulate linearly in time from the count rate; photon noise is Poisson in
    electrons per group interval, cosmic rays add a step, the accumulated linear signal
    on top of the bias goes through the non-linearity, each read gets independent read
    noise, and the result is clipped at saturation.

    Parameters
    ----------
    rate : numpy.ndarray
        Count rates (DN/s), shape ``(nints, nrows, ncols)``, dark current included.
    ngroups : int
        Groups per integration (one frame per group, no group gap).
    frame_time : float
        Time between reads (s).
    noise_rngs : list of numpy.random.Generator or None
        One generator per integration; None gives noiseless ramps.
    cosmic_rays : numpy.ndarray or None
        Events (`COSMIC_RAY_DTYPE`) of these integrations.
    first_int_num : int
        1-based integration number of ``rate[0]`` (to place the cosmic rays).

    Returns
    -------
    raw : numpy.ndarray
        Shape ``(nints, ngroups, nrows, ncols)``, float32.
    """
    rate = np.asarray(rate, dtype=float)
    nints = rate.shape[0]
    mean_step = np.clip(rate, 0.0, None)[:, None] * frame_time
    steps = np.broadcast_to(mean_step, (nints, ngroups) + rate.shape[1:])
    if noise_rngs is not None:
        if len(noise_rngs) != nints:
            raise ValueError("need one noise generator per integration")
        electrons = np.empty(steps.shape, dtype=float)
        read_noise = np.empty(steps.shape, dtype=float)
        for k, rng in enumerate(noise_rngs):
            electrons[k] = rng.poisson(steps[k] * detector.GAIN)
            read_noise[k] = rng.normal(0.0, detector.READ_NOISE_DN, steps.shape[1:])
        electrons /= detector.GAIN
        steps = electrons
    else:
        steps = steps.copy()
    if cosmic_rays is not None and len(cosmic_rays):
        index = cosmic_rays["int_num"] - first_int_num
        if np.any((index < 0) | (index >= nints)):
            raise ValueError("cosmic-ray events outside this block of integrations")
        np.add.at(
            steps,
            (index, cosmic_rays["group"], cosmic_rays["row"], cosmic_rays["column"]),
            cosmic_rays["amplitude_dn"],
        )
    accumulated = np.cumsum(steps, axis=1, out=steps)
    accumulated += detector.linearized_from_raw(detector.BIAS_DN)
    raw = detector.raw_from_linearized(accumulated)
    if noise_rngs is not None:
        raw += read_noise
    np.clip(raw, 0.0, detector.SATURATION_DN, out=raw)
    return raw.astype(np.float32)
