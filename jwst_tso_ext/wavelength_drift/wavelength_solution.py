"""Static offset of the trace and the corresponding update of the wavelength solution."""

import logging

import numpy as np
from astropy.modeling import models
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import minimize_scalar

from jwst_tso_ext.miri_lrs import detector, geometry

log = logging.getLogger(__name__)

__all__ = ["static_x_offset", "static_y_offset_from_template", "shift_wcs"]


def static_x_offset(frame, columns, rows, y_offset=0.0):
    """Median offset of the trace (row centroids) from the nominal trace, pixels.

    Parameters
    ----------
    frame : numpy.ndarray
        Background-subtracted reference frame (nrows, ncols).
    columns, rows : slice
        Window around the trace.
    y_offset : float, optional
        Static dispersion offset, used to evaluate the nominal trace curvature.

    Returns
    -------
    offset : float
    """
    block = np.nan_to_num(frame[rows, columns])
    xs = np.arange(columns.start, columns.stop, dtype=float)
    flux = block.sum(axis=1)
    bright = flux > 0.2 * flux.max()
    centroid = (block @ xs)[bright] / flux[bright]
    row = np.arange(rows.start, rows.stop, dtype=float)[bright]
    nominal = geometry.NOMINAL_X + geometry.trace_x_offset_at_row(row, y_offset)
    return float(np.median(centroid - nominal))


def _template_cumulative(rows, template_wave, template_flux, sigma, fine_step=0.02):
    """Cumulative dispersed template (template F_nu x nominal response), nominal row coordinates.

    Returns the fine grid of pixel-edge coordinates and the cumulative count rate; the
    spectrum of a star offset by ``y`` has pixel values ``C(row + 0.5 - y) - C(row - 0.5 - y)``,
    which is smooth in ``y``.
    """
    grid = np.arange(rows.min() - 20.0, rows.max() + 20.0, fine_step)
    wave = geometry.wavelength_at_row(grid)
    ok = np.isfinite(wave)
    flux = np.interp(np.where(ok, wave, 0.0), template_wave, template_flux, left=0.0, right=0.0)
    density = np.where(ok, flux * detector.count_rate_per_jy(np.where(ok, wave, 7.5)), 0.0)
    density = gaussian_filter1d(density, sigma / fine_step, mode="constant")
    cumulative = np.concatenate([[0.0], np.cumsum(density) * fine_step])
    edges = np.concatenate([grid - 0.5 * fine_step, [grid[-1] + 0.5 * fine_step]])
    return edges, cumulative


def static_y_offset_from_template(
    spectrum, variance, rows, template_wave, template_flux, poly_degree=2, max_offset=3.0
):
    """Dispersion offset from a fit of the observed spectrum against a template.

    The model is the template F_nu times the nominal instrument response
    (`detector.count_rate_per_jy`) dispersed with the nominal wavelength solution
    shifted by ``y`` and blurred by the PSF, times an unknown smooth response
    (polynomial of ``poly_degree`` in row, solved linearly for each ``y``).
    The sharp spectral edges fix ``y``; the polynomial absorbs aperture losses and
    response errors.

    Parameters
    ----------
    spectrum, variance : numpy.ndarray
        Observed (background-subtracted) spectrum summed across the trace and its variance.
    rows : numpy.ndarray
        Row of each spectrum element.
    template_wave, template_flux : numpy.ndarray
        Template wavelength (micron, increasing) and F_nu (any unit).
    poly_degree : int, optional
        Degree of the smooth response correction.
    max_offset : float, optional
        Search range of the offset (pixels).

    Returns
    -------
    y_offset : float
    """
    rows = np.asarray(rows, dtype=float)
    good = np.isfinite(spectrum) & np.isfinite(variance) & (variance > 0)
    weight = np.sqrt(np.where(good, 1.0 / np.where(good, variance, 1.0), 0.0))
    spectrum = np.where(good, spectrum, 0.0)
    sigma = float(detector.psf_sigma(7.5))
    scaled = (rows - rows.mean()) / max(np.ptp(rows), 1.0)
    powers = np.vander(scaled, poly_degree + 1)

    edges, cumulative = _template_cumulative(rows, template_wave, template_flux, sigma)

    def chi2(y):
        model = np.interp(rows + 0.5 - y, edges, cumulative) - np.interp(
            rows - 0.5 - y, edges, cumulative
        )
        design = powers * model[:, None] * weight[:, None]
        coef, *_ = np.linalg.lstsq(design, spectrum * weight, rcond=None)
        return float(np.sum((spectrum * weight - design @ coef) ** 2))

    grid = np.linspace(-max_offset, max_offset, int(8 * max_offset) + 1)
    values = [chi2(y) for y in grid]
    best = grid[int(np.argmin(values))]
    step = grid[1] - grid[0]
    res = minimize_scalar(
        chi2, bounds=(best - step, best + step), method="bounded", options={"xatol": 1e-4}
    )
    return float(res.x)


def shift_wcs(wcs, dx, dy):
    """Return a copy of a gwcs whose detector input is shifted by (-dx, -dy).

    Pixel (x, y) then maps to the world coordinates that (x - dx, y - dy) had, i.e.
    the nominal solution follows a star displaced by (dx, dy). The bounding box moves
    with the star along the dispersion.
    """
    import copy

    new = copy.deepcopy(wcs)
    try:
        bbox = new.bounding_box
    except NotImplementedError:
        bbox = None
    if bbox is not None and hasattr(bbox, "bounding_box"):
        bbox = bbox.bounding_box(order="F")
    shift = models.Shift(-dx, name="drift_x") & models.Shift(-dy, name="drift_y")
    new.insert_transform(new.input_frame, shift, after=True)
    if bbox is not None:
        (x0, x1), (y0, y1) = bbox
        new.bounding_box = ((x0, x1), (y0 + dy, y1 + dy))
    return new
