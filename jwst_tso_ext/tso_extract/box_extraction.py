"""Vectorised box extraction of spectral time-series cubes.

Plain numpy re-implementation of the box extraction of ``jwst.extract_1d``
(``extract1d.extract1d`` with ``extraction_type="box"`` and the bookkeeping of
``extract.create_extraction``), vectorised over integrations and dispersion
elements instead of looping over integrations in Python.

Arrays are given in detector layout, shape ``(nints, ny, nx)``.  ``dispaxis``
follows the jwst convention: 1 means the dispersion runs along x (rows are
cross-dispersion), 2 means it runs along y (MIRI LRS).  Internally every array
is viewed as ``(nints, n_dispersion, n_cross)``.

The definitions reproduced are:

* invalid pixels: NaN in data, err or any variance, or ``DO_NOT_USE`` in DQ
  (``jwst.lib.pipe_utils.match_nans_and_flags``);
* background ``median``: median of the background pixels (weights != 0) of
  each dispersion element, variance ``1.2**2 * npix**2 * sum(var * w**2)`` with
  ``w`` the normalised weight of the valid background pixels;
* background ``poly``: least-squares polynomial in ``linspace(-1, 1, n_cross)``
  over the background pixels of each dispersion element, matrices with a
  condition number >= 1e10 give a zero background;
* optional boxcar smoothing of the image used for the background along the
  dispersion (``astropy.convolution.convolve`` with ``boundary="extend"`` and
  NaN interpolation);
* box sum: ``sum(weights * (data - background))`` over finite pixels, the
  weights being zeroed where the background-subtracted data are not finite;
  variances ``sum(var * weights**2)`` plus the background variances.
"""

import logging

import numpy as np
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.parallel import map_in_threads
from jwst_tso_ext.progress import IntegrationProgress

log = logging.getLogger(__name__)

__all__ = [
    "DO_NOT_USE",
    "invalid_mask",
    "smooth_along_dispersion",
    "median_background",
    "poly_background",
    "iter_blocks",
    "fit_and_subtract_background",
    "box_extract",
    "finalize_spectra",
    "apply_aperture_correction",
]

#: The ``DO_NOT_USE`` bit of the JWST DQ flags.
DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]

#: Scale of the median's uncertainty relative to the mean's (as jwst).
_MEDIAN_ERROR_FACTOR = 1.2

#: Largest condition number for which a background fit is solved (as jwst).
_MAX_CONDITION = 1e10


def _to_internal(array, dispaxis):
    """View a ``(nints, ny, nx)`` array as ``(nints, n_dispersion, n_cross)``."""
    if dispaxis == 1:
        return np.swapaxes(array, -1, -2)
    if dispaxis == 2:
        return array
    raise ValueError(f"dispaxis must be 1 or 2, not {dispaxis!r}")


def invalid_mask(data, err=None, var_poisson=None, var_rnoise=None, var_flat=None, dq=None):
    """
    Flag pixels that jwst treats as invalid.

    Parameters
    ----------
    data : ndarray
        Science data.
    err, var_poisson, var_rnoise, var_flat : ndarray or None, optional
        Error and variance arrays of the same shape as ``data``; ignored if None
        or of another shape (as jwst does).
    dq : ndarray of int or None, optional
        Data-quality flags; pixels with ``DO_NOT_USE`` set are invalid.

    Returns
    -------
    ndarray of bool
        True where the pixel must not be used.
    """
    invalid = np.isnan(data)
    for array in (err, var_rnoise, var_poisson, var_flat):
        if array is not None and np.shape(array) == data.shape:
            invalid |= np.isnan(array)
    if dq is not None and np.shape(dq) == data.shape:
        invalid |= (np.asarray(dq) & DO_NOT_USE).astype(bool)
    return invalid


def smooth_along_dispersion(image, length):
    """
    Boxcar-smooth along the dispersion axis, ignoring NaNs.

    Equivalent to ``astropy.convolution.convolve`` of each 2-D image with a
    ``1 x length`` normalised boxcar along the dispersion, ``boundary="extend"``
    and NaN interpolation (NaNs are excluded from the average and replaced).

    Parameters
    ----------
    image : ndarray
        Shape ``(..., n_dispersion, n_cross)``.
    length : int
        Odd boxcar length; values <= 1 return a float64 copy.

    Returns
    -------
    ndarray
        Smoothed image, same shape; computed in float64 and returned in the
        input's floating dtype (as astropy does).
    """
    image = np.asarray(image)
    dtype = image.dtype if image.dtype.kind == "f" else np.float64
    image = image.astype(np.float64)
    if length <= 1:
        return image.astype(dtype)
    if length % 2 != 1:
        raise ValueError("smoothing length should be an odd integer >= 1.")
    half = length // 2
    pad = [(0, 0)] * image.ndim
    pad[-2] = (half, half)
    padded = np.pad(image, pad, mode="edge")
    valid = np.isfinite(padded)
    values = np.where(valid, padded, 0.0)
    n = image.shape[-2]
    total = np.zeros(image.shape)
    count = np.zeros(image.shape)
    # Same arithmetic as astropy: sum(value * k) / sum(k) over valid pixels, k = 1 / length
    kernel = 1.0 / length
    for shift in range(length):
        total += values[..., shift : shift + n, :] * kernel
        count += valid[..., shift : shift + n, :] * kernel
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(dtype, copy=False)


def median_background(
    image, var_rnoise, var_poisson, var_flat, fit_weights, bkg_weights, npix_source
):
    """
    Median background of each dispersion element and its variance, as jwst.

    Parameters
    ----------
    image : ndarray
        Image used for the background, ``(nints, n_disp, n_cross)``; NaN marks
        invalid pixels (already smoothed if smoothing is requested).
    var_rnoise, var_poisson, var_flat : ndarray
        Variances, same shape, NaN at invalid pixels.
    fit_weights : ndarray of bool
        Same shape; True where the (unsmoothed) data and variance are finite.
    bkg_weights : ndarray
        ``(n_disp, n_cross)``; pixels with non-zero weight are background.
    npix_source : ndarray
        ``(n_disp,)`` or ``(nints, n_disp)`` sum of the source weights (before
        any masking).

    Returns
    -------
    background : ndarray
        ``(nints, n_disp)`` background per pixel (NaN if no valid pixel).
    var_rn, var_ph, var_fl : ndarray
        ``(nints, n_disp)`` variances of the background summed over the source
        weights.
    """
    bcols = np.flatnonzero(np.any(bkg_weights != 0, axis=0))
    is_bkg = bkg_weights[:, bcols] != 0
    image, fit_weights = image[..., bcols], fit_weights[..., bcols]
    var_rnoise, var_poisson, var_flat = (
        var_rnoise[..., bcols], var_poisson[..., bcols], var_flat[..., bcols]
    )  # fmt: skip
    values = np.where(is_bkg, image, np.nan)
    values = np.sort(values, axis=-1)  # NaNs last
    count = np.sum(np.isfinite(values), axis=-1)
    lower = np.clip((count - 1) // 2, 0, None)
    upper = np.clip(count // 2, 0, None)
    low = np.take_along_axis(values, lower[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(values, upper[..., None], axis=-1)[..., 0]
    even = (count % 2) == 0
    half_sum = (low + high) / values.dtype.type(2)
    background = np.where(even, half_sum, low)
    background = np.where(count > 0, background, np.nan).astype(values.dtype)

    weight = fit_weights & is_bkg
    with np.errstate(invalid="ignore", divide="ignore"):
        pixwgt = weight / np.sum(weight, axis=-1, keepdims=True)
    scale = _MEDIAN_ERROR_FACTOR**2 * npix_source**2
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # thread-safe
        var_rn = scale * np.nansum(var_rnoise * pixwgt**2, axis=-1)
        var_ph = scale * np.nansum(var_poisson * pixwgt**2, axis=-1)
        var_fl = scale * np.nansum(var_flat * pixwgt**2, axis=-1)
    return background, var_rn, var_ph, var_fl


def poly_background(
    image, var_rnoise, var_poisson, var_flat, fit_weights, bkg_weights, weights, order, cross_coord
):
    """
    Polynomial background fit along the cross-dispersion, as jwst.

    Parameters
    ----------
    image : ndarray
        Image used for the background, ``(nints, n_disp, n_cross)``.
    var_rnoise, var_poisson, var_flat : ndarray
        Variances, same shape.
    fit_weights : ndarray
        Same shape; per-pixel weights of the fit (1 for valid pixels, 0 else).
    bkg_weights : ndarray
        ``(n_disp, n_cross)``; pixels with non-zero weight are background.
    weights : ndarray
        ``(n_disp, n_cross)`` or ``(nints, n_disp, n_cross)`` source weights
        (used to propagate the variance).
    order : int
        Polynomial order (>= 0).
    cross_coord : ndarray
        ``(n_cross,)`` independent variable of the polynomial.

    Returns
    -------
    background : ndarray
        ``(nints, n_disp, n_cross)`` fitted background.
    var_rn, var_ph, var_fl : ndarray
        ``(nints, n_disp)`` variances of the background summed over ``weights``.
    """
    if order < 0 or order != int(order):
        raise ValueError("If bkg_fit is 'poly', bkg_order must be an integer >= 0.")
    order = int(order)
    terms = np.ones((cross_coord.size, order + 1))
    for i in range(1, order + 1):
        terms[:, i] = terms[:, i - 1] * cross_coord
    used = (bkg_weights != 0) & np.isfinite(image)
    design = terms * (used * fit_weights)[..., None]  # (n, d, c, p)
    target = np.where(used, image, 0) * fit_weights
    matrix = np.einsum("ndci,ndck->ndik", design, design)
    vec = np.einsum("ndci,ndc->ndi", design, target)

    ok = np.linalg.cond(matrix) < _MAX_CONDITION
    cov = np.zeros(matrix.shape)
    cov[ok] = np.linalg.inv(matrix[ok])

    pixwgt = fit_weights[..., None] * np.einsum("ndjk,ndcj->ndck", cov, design)
    bkg_mat = weights @ terms  # (..., d, k)
    pixwgt_tot = np.sum(bkg_mat[..., None, :] * pixwgt, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # thread-safe
        var_rn = np.nansum(var_rnoise * pixwgt_tot**2, axis=-1)
        var_ph = np.nansum(var_poisson * pixwgt_tot**2, axis=-1)
        var_fl = np.nansum(var_flat * pixwgt_tot**2, axis=-1)
    coefs = np.einsum("ndjk,ndj->ndk", cov, vec)
    background = np.einsum("ndk,ck->ndc", coefs, terms)
    return background, var_rn, var_ph, var_fl


def fit_and_subtract_background(
    data, var_rnoise, var_poisson, var_flat, weights, bkg_weights, bkg_fit, bkg_order,
    smoothing_length, cross_coord,
):  # fmt: skip
    """
    Fit and subtract the background of one block (internal layout), as jwst.

    Parameters
    ----------
    data, var_rnoise, var_poisson, var_flat : ndarray
        ``(nints, n_disp, n_cross)``, NaN at invalid pixels.
    weights : ndarray
        Source weights, ``(n_disp, n_cross)`` or ``(nints, n_disp, n_cross)``;
        the background variances are those of ``sum(weights * background)``.
    bkg_weights : ndarray or None
        ``(n_disp, n_cross)`` background weights; None: no background.
    bkg_fit : {"median", "poly"}
        Background fit.
    bkg_order : int
        Polynomial order for "poly".
    smoothing_length : int
        Boxcar length along the dispersion for the background image (<= 1: none).
    cross_coord : ndarray
        ``(n_cross,)`` coordinate of the polynomial, ``linspace(-1, 1)`` over the
        full cross-dispersion size.

    Returns
    -------
    image : ndarray
        Background-subtracted data.
    bkg_2d : ndarray or None
        Background broadcastable to ``data`` (None if no background).
    bkg_var : tuple of ndarray
        Read-noise, Poisson and flat variances of the weighted background sum,
        ``(nints, n_disp)`` each (zeros if no background).
    """
    nints, ndisp, _ = data.shape
    if bkg_weights is None:
        zeros = np.zeros((nints, ndisp))
        return data, None, (zeros, zeros.copy(), zeros.copy())
    variance = var_rnoise + var_poisson + var_flat
    fit_weights = np.isfinite(variance) & np.isfinite(data)
    if smoothing_length > 1:
        bkg_image = smooth_along_dispersion(data, smoothing_length)
    else:
        bkg_image = data
    if bkg_fit == "median":
        npix_source = np.sum(weights, axis=-1)
        bkg, bvar_rn, bvar_ph, bvar_fl = median_background(
            bkg_image, var_rnoise, var_poisson, var_flat, fit_weights, bkg_weights, npix_source
        )
        bkg_2d = bkg[..., None]
    elif bkg_fit == "poly":
        bkg_2d, bvar_rn, bvar_ph, bvar_fl = poly_background(
            bkg_image, var_rnoise, var_poisson, var_flat, fit_weights, bkg_weights,
            weights, bkg_order, cross_coord,
        )  # fmt: skip
    else:
        raise ValueError(f"bkg_fit should be 'median', 'mean' or 'poly', not {bkg_fit!r}")
    return data - bkg_2d, bkg_2d, (bvar_rn, bvar_ph, bvar_fl)


def _extract_block(
    data, var_rnoise, var_poisson, var_flat, weights, bkg_weights, bkg_fit, bkg_order,
    smoothing_length, cross_coord,
):  # fmt: skip
    """Box-extract one block of integrations in internal layout (see `box_extract`)."""
    nints, ndisp, _ = data.shape
    image, bkg_2d, (bvar_rn, bvar_ph, bvar_fl) = fit_and_subtract_background(
        data, var_rnoise, var_poisson, var_flat, weights, bkg_weights, bkg_fit, bkg_order,
        smoothing_length, cross_coord,
    )  # fmt: skip

    finite = np.isfinite(image)
    profile = np.where(finite, weights, 0.0)
    image_masked = np.where(profile == 0, 0, image)
    flux = np.sum(image_masked * profile, axis=-1)
    npixels = np.sum(profile, axis=-1)
    profile_sq = profile**2
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # thread-safe
        var_rn = np.nansum(var_rnoise * profile_sq, axis=-1)
        var_ph = np.nansum(var_poisson * profile_sq, axis=-1)
        var_fl = np.nansum(var_flat * profile_sq, axis=-1)

    if bkg_2d is not None:
        var_rn += bvar_rn
        var_ph += bvar_ph
        var_fl += bvar_fl
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            background = np.sum(bkg_2d * profile, axis=-1)
        background[~np.isfinite(background)] = 0.0
    else:
        background = np.zeros((nints, ndisp))

    flux[np.isclose(npixels, 0)] = np.nan
    return {
        "sum_flux": flux,
        "var_rnoise": var_rn,
        "var_poisson": var_ph,
        "var_flat": var_fl,
        "background": background,
        "bkg_var_rnoise": bvar_rn,
        "bkg_var_poisson": bvar_ph,
        "bkg_var_flat": bvar_fl,
        "npixels": npixels,
    }


def box_extract(
    data,
    var_poisson,
    var_rnoise,
    var_flat,
    weights,
    bkg_weights=None,
    dq=None,
    err=None,
    bkg_fit="median",
    bkg_order=0,
    smoothing_length=0,
    dispaxis=2,
    chunk_size=64,
    n_threads=1,
):
    """
    Box-extract every integration of a spectral cube at once.

    Parameters
    ----------
    data : ndarray
        ``(nints, ny, nx)`` science data (2-D input is treated as one integration).
    var_poisson, var_rnoise, var_flat : ndarray or None
        Variance arrays of the same shape; None means zeros.
    weights : ndarray
        ``(ny, nx)`` aperture weights in [0, 1], partial at the aperture edges
        (e.g. from ``jwst.extract_1d.extract.box_profile``).
    bkg_weights : ndarray or None, optional
        ``(ny, nx)`` background weights; pixels with non-zero weight are used
        for the background.  None: no background subtraction.
    dq : ndarray or None, optional
        DQ flags; ``DO_NOT_USE`` pixels are ignored.
    err : ndarray or None, optional
        Error array; NaN pixels are ignored (as in jwst).
    bkg_fit : {"median", "poly", "mean"}, optional
        Background fit per dispersion element; "mean" is "poly" of order 0.
    bkg_order : int, optional
        Polynomial order for ``bkg_fit="poly"``.
    smoothing_length : int, optional
        Odd boxcar length to smooth the background image along the dispersion;
        <= 1 for none.
    dispaxis : {1, 2}, optional
        Dispersion axis (1: along x, 2: along y).
    chunk_size : int, optional
        Number of integrations processed per vectorised block (memory bound).
    n_threads : int, optional
        Blocks extracted in parallel (a few blocks in memory at a time).

    Returns
    -------
    dict of ndarray
        Each ``(nints, n_dispersion)``: ``sum_flux`` (weighted sum of the
        background-subtracted data, NaN where no pixel contributes),
        ``var_rnoise``, ``var_poisson``, ``var_flat`` (including the background
        terms), ``background`` (background summed over the weights),
        ``bkg_var_rnoise``, ``bkg_var_poisson``, ``bkg_var_flat`` and
        ``npixels`` (sum of the weights of the pixels used).
    """
    if bkg_fit == "mean":
        bkg_fit, bkg_order = "poly", 0
    setup, blocks = iter_blocks(
        data, var_poisson, var_rnoise, var_flat, weights, bkg_weights, dq, err, dispaxis,
        chunk_size,
    )  # fmt: skip
    w_int, b_int, cross_coord = setup["weights"], setup["bkg_weights"], setup["cross_coord"]
    smoothing_length = int(smoothing_length or 0)
    nints, ndisp = setup["nints"], w_int.shape[0]
    names = (
        "sum_flux", "var_rnoise", "var_poisson", "var_flat", "background",
        "bkg_var_rnoise", "bkg_var_poisson", "bkg_var_flat", "npixels",
    )  # fmt: skip
    out = {name: np.empty((nints, ndisp)) for name in names}

    def extract(prepared):
        block, d, vp, vr, vf = prepared
        return block, _extract_block(
            d, vr, vp, vf, w_int, b_int, bkg_fit, bkg_order, smoothing_length, cross_coord
        )

    progress = IntegrationProgress(log, "tso_extract_1d: integrations extracted", nints)
    for block, result in map_in_threads(extract, blocks, n_threads):
        for name in names:
            out[name][block] = result[name]
        progress.advance(block.stop - block.start)
    return out


def iter_blocks(
    data, var_poisson, var_rnoise, var_flat, weights, bkg_weights=None, dq=None, err=None,
    dispaxis=2, chunk_size=64,
):  # fmt: skip
    """
    Prepare the arrays of a cube for block-wise vectorised extraction.

    Converts to the internal layout ``(nints, n_disp, n_cross)``, keeps only the
    cross-dispersion columns where a source or background weight is non-zero,
    and sets invalid pixels (see `invalid_mask`) to NaN in data and variances.
    The input arrays are not modified.

    Parameters
    ----------
    data, var_poisson, var_rnoise, var_flat, weights, bkg_weights, dq, err, dispaxis, chunk_size
        As in `box_extract`.

    Returns
    -------
    setup : dict
        ``nints``; ``weights`` and ``bkg_weights`` (or None) restricted to the
        kept columns in internal layout; ``columns`` (kept column indices) and
        ``cross_coord`` (polynomial coordinate of the kept columns).
    blocks : generator
        Yields ``(slice, data, var_poisson, var_rnoise, var_flat)`` per block of
        at most ``chunk_size`` integrations.
    """
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise ValueError(f"data must be 2-D or 3-D, not {data.ndim}-D")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != data.shape[1:]:
        raise ValueError(f"weights shape {weights.shape} does not match data {data.shape[1:]}")
    if bkg_weights is not None:
        bkg_weights = np.asarray(bkg_weights, dtype=np.float64)
        if bkg_weights.shape != weights.shape:
            raise ValueError("bkg_weights must have the same shape as weights")

    def checked(array):
        if array is None or np.shape(array) != data.shape:
            return None
        return array

    var_poisson, var_rnoise, var_flat = checked(var_poisson), checked(var_rnoise), checked(var_flat)
    err, dq = checked(err), checked(dq)

    # Internal layout (nints, n_disp, n_cross), restricted to the useful columns.
    w_int = _to_internal(weights, dispaxis)
    b_int = None if bkg_weights is None else _to_internal(bkg_weights, dispaxis)
    n_cross_full = w_int.shape[-1]
    used = np.any(w_int != 0, axis=0)
    if b_int is not None:
        used |= np.any(b_int != 0, axis=0)
    cross = np.flatnonzero(used)  # only these columns can contribute
    if cross.size == 0:
        cross = np.arange(1)
    setup = {
        "nints": data.shape[0],
        "weights": w_int[:, cross],
        "bkg_weights": None if b_int is None else b_int[:, cross],
        "columns": cross,
        "cross_coord": np.linspace(-1, 1, n_cross_full)[cross],
    }
    chunk_size = max(int(chunk_size), 1)

    def blocks():
        for start in range(0, data.shape[0], chunk_size):
            block = slice(start, min(start + chunk_size, data.shape[0]))

            def take(array, block=block):
                if array is None:
                    return None
                return _to_internal(np.asarray(array[block]), dispaxis)[..., cross]

            d = take(data)
            vp, vr, vf = take(var_poisson), take(var_rnoise), take(var_flat)
            bad = invalid_mask(d, take(err), vp, vr, vf, take(dq))
            nan = d.dtype.type(np.nan) if d.dtype.kind == "f" else np.nan
            d = np.where(bad, nan, d)
            zeros = np.zeros(d.shape, dtype=d.dtype)
            vp = zeros if vp is None else np.where(bad, np.nan, vp).astype(vp.dtype, copy=False)
            vr = zeros if vr is None else np.where(bad, np.nan, vr).astype(vr.dtype, copy=False)
            vf = zeros if vf is None else np.where(bad, np.nan, vf).astype(vf.dtype, copy=False)
            yield block, d, vp, vr, vf

    return setup, blocks()


def finalize_spectra(extracted, pixel_solid_angle=None, surface_brightness=True):
    """
    Turn summed values into the x1d columns, as ``jwst.extract_1d`` does.

    Parameters
    ----------
    extracted : dict of ndarray
        Output of `box_extract`.
    pixel_solid_angle : float or None, optional
        Pixel solid angle in sr.  If given, the input is taken to be surface
        brightness in MJy/sr and the flux is converted to Jy
        (``sum * pixel_solid_angle * 1e6``); if None (photom not run), the
        flux is the summed count rate.
    surface_brightness : bool, optional
        If False (optimal extraction, as jwst), SURF_BRIGHT and SB_* are zero.

    Returns
    -------
    dict of ndarray
        Columns named as in the x1d ``spec_table`` (``FLUX``, ``FLUX_ERROR``,
        ``FLUX_VAR_POISSON``, ..., ``NPIXELS``), each ``(nints, n_dispersion)``.
    """
    npixels = extracted["npixels"]
    npix = np.where(npixels > 0.0, npixels, 1.0)
    npix_sq = npix**2
    sum_flux = extracted["sum_flux"]
    f_var = {k: extracted[f"var_{k}"] for k in ("poisson", "rnoise", "flat")}
    sb_var = {k: v / npix_sq for k, v in f_var.items()}
    b_var = {k: extracted[f"bkg_var_{k}"] / npix_sq for k in ("poisson", "rnoise", "flat")}
    surf_bright = sum_flux / npix
    if not surface_brightness:
        surf_bright = np.zeros_like(sum_flux)
        sb_var = {k: np.zeros_like(v) for k, v in sb_var.items()}
    background = extracted["background"] / npix
    if pixel_solid_angle is not None:
        flux = sum_flux * pixel_solid_angle * 1.0e6
        f_var = {k: v * (pixel_solid_angle**2 * 1.0e12) for k, v in f_var.items()}
    else:
        flux = sum_flux.copy()
    columns = {
        "FLUX": flux,
        "FLUX_ERROR": np.sqrt(f_var["poisson"] + f_var["rnoise"] + f_var["flat"]),
        "FLUX_VAR_POISSON": f_var["poisson"],
        "FLUX_VAR_RNOISE": f_var["rnoise"],
        "FLUX_VAR_FLAT": f_var["flat"],
        "SURF_BRIGHT": surf_bright,
        "SB_ERROR": np.sqrt(sb_var["poisson"] + sb_var["rnoise"] + sb_var["flat"]),
        "SB_VAR_POISSON": sb_var["poisson"],
        "SB_VAR_RNOISE": sb_var["rnoise"],
        "SB_VAR_FLAT": sb_var["flat"],
        "DQ": np.where(np.isnan(flux), DO_NOT_USE, 0).astype(np.uint32),
        "BACKGROUND": background,
        "BKGD_ERROR": np.sqrt(b_var["poisson"] + b_var["rnoise"] + b_var["flat"]),
        "BKGD_VAR_POISSON": b_var["poisson"],
        "BKGD_VAR_RNOISE": b_var["rnoise"],
        "BKGD_VAR_FLAT": b_var["flat"],
        "NPIXELS": npixels.copy(),
    }
    return columns


def apply_aperture_correction(columns, correction):
    """
    Multiply fluxes by an aperture correction and variances by its square.

    As ``jwst.extract_1d.apply_apcorr.ApCorrBase.apply``: FLUX, FLUX_ERROR,
    SURF_BRIGHT and SB_ERROR are scaled by the correction, the FLUX_VAR_* and
    SB_VAR_* variances by its square; background columns are untouched.

    Parameters
    ----------
    columns : dict of ndarray
        Output of `finalize_spectra` (a new dict is returned, input untouched).
    correction : ndarray
        Correction broadcastable to the column shape.

    Returns
    -------
    dict of ndarray
        Corrected columns.
    """
    out = dict(columns)
    for name in ("FLUX", "FLUX_ERROR", "SURF_BRIGHT", "SB_ERROR"):
        out[name] = columns[name] * correction
    for name in (
        "FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT",
        "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT",
    ):  # fmt: skip
        out[name] = columns[name] * (correction * correction)
    return out
