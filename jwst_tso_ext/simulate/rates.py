"""Flat-fielded slopes per integration with photon and read noise, straight from the scene.

A shortcut past ramps and stage 1 for the tests and benchmarks of the steps that work
on ``rateints`` / ``calints`` cubes: the noiseless scene (`scene.scene_rate`) divided
by the flat field, plus Gaussian noise of the variances of a fitted slope
(`jwst_tso_ext.miri_lrs.detector.slope_variances`).
"""

import numpy as np

from jwst_tso_ext.miri_lrs import detector
from jwst_tso_ext.simulate import scene

__all__ = ["noisy_slopes"]


def noisy_slopes(x_shift, y_shift, ngroups=10, rng=None, scale=None, noise=True, spectrum=None):
    """
    Slopes of integrations with the star at the given shifts, with noise.

    Parameters
    ----------
    x_shift, y_shift : array_like
        Star position per integration relative to the nominal one (pixels).
    ngroups : int, optional
        Groups per integration (sets the noise).
    rng : numpy.random.Generator or int, optional
        Random generator or seed of the noise.
    scale : array_like, optional
        Stellar flux per integration relative to the default star.
    noise : bool, optional
        False returns the noiseless slopes (with their variances).
    spectrum : `~jwst_tso_ext.simulate.scene.StellarSpectrum`, optional
        Stellar F_nu; default the simulator's default blackbody. (A spectrum multiplied
        by ``response / detector.relative_response`` simulates an instrument whose
        response differs from the package's model.)

    Returns
    -------
    data, err : numpy.ndarray
        (nints, nrows, ncols) float32 count rates (DN/s) and their errors.
    var_poisson : numpy.ndarray
        (nints, nrows, ncols) float32 photon-noise variance.
    var_rnoise : float
        Read-noise variance, the same for every pixel.
    """
    rate = scene.scene_rate(x_shift, y_shift, spectrum=spectrum, scale=scale).astype(np.float64)
    rate /= detector.flat_field()
    var_poisson, var_rnoise = detector.slope_variances(rate, ngroups)
    err = np.sqrt(var_poisson + var_rnoise)
    data = rate
    if noise:
        rng = np.random.default_rng(rng)
        data = rate + rng.standard_normal(rate.shape) * err
    return (
        data.astype(np.float32),
        err.astype(np.float32),
        var_poisson.astype(np.float32),
        var_rnoise,
    )
