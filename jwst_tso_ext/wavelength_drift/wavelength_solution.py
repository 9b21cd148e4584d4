"""Static offset of the trace and the corresponding update of the wavelength solution."""

import logging

import numpy as np
from astropy.modeling import models
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import minimize_scalar

from jwst_tso_ext.miri_lrs import detector, geometry

log = logging.getLogger(__name__)

__all__ = [
    "static_x_offset",
    "rayleigh_jeans_fnu",
    "blackbody_fnu",
    "stellar_template",
    "flat_response",
    "fit_static_y_offset",
    "static_y_offset_from_template",
    "shift_wcs",
]


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


#: h c / k in micron kelvin (the blackbody exponent is HC_K / (wavelength T)).
HC_K_MICRON_KELVIN = 14387.768775039337


def rayleigh_jeans_fnu(wavelength):
    """Rayleigh-Jeans stellar F_nu (proportional to nu**2), 1 at 7.5 micron.

    Parameters
    ----------
    wavelength : array_like
        Wavelength in micron.

    Returns
    -------
    flux : numpy.ndarray
    """
    return (np.asarray(wavelength, dtype=float) / 7.5) ** -2


def blackbody_fnu(wavelength, temperature):
    """Blackbody F_nu at ``temperature`` (K), 1 at 7.5 micron.

    Parameters
    ----------
    wavelength : array_like
        Wavelength in micron.
    temperature : float
        Temperature in kelvin (positive).

    Returns
    -------
    flux : numpy.ndarray
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"blackbody temperature must be positive, got {temperature!r}")
    wavelength = np.asarray(wavelength, dtype=float)

    def shape(wave):
        return wave**-3 / np.expm1(HC_K_MICRON_KELVIN / (wave * temperature))

    return shape(wavelength) / shape(7.5)


def stellar_template(temperature=None, wavelength=None):
    """Default stellar F_nu template for the static dispersion offset.

    Parameters
    ----------
    temperature : float, optional
        Blackbody temperature (K); None gives the Rayleigh-Jeans limit, F_nu ~ nu**2,
        which MIRI LRS stars (5-12 micron, Teff >~ 3000 K) follow to within a smooth
        factor that the fit's polynomial absorbs.
    wavelength : numpy.ndarray, optional
        Grid (micron); default 2-20 micron in steps of 0.005 micron.

    Returns
    -------
    wavelength, flux : numpy.ndarray
    """
    if wavelength is None:
        wavelength = np.arange(2.0, 20.0 + 1e-9, 0.005)
    wavelength = np.asarray(wavelength, dtype=float)
    if temperature is None:
        return wavelength, rayleigh_jeans_fnu(wavelength)
    return wavelength, blackbody_fnu(wavelength, float(temperature))


def flat_response(wavelength):
    """A wavelength-independent response (for input already calibrated in flux density)."""
    return np.ones_like(np.asarray(wavelength, dtype=float))


def _package_response(wavelength):
    """The package's synthetic instrument response (matches only its synthetic photom)."""
    return detector.count_rate_per_jy(wavelength)


#: Pivot (micron) of the smooth correction, a polynomial in ``PIVOT / wavelength - 1``.
CORRECTION_PIVOT_MICRON = 7.5


def _template_cumulative(
    rows,
    template_wave,
    template_flux,
    sigma,
    response=None,
    wavelength_of_row=None,
    poly_degree=0,
    fine_step=0.02,
):
    """Cumulative dispersed template (template F_nu x response), nominal row coordinates.

    Returns the fine grid of pixel-edge coordinates and, for each power ``k`` of the
    smooth correction ``u = PIVOT / wavelength - 1`` (``k = 0 .. poly_degree``), the
    cumulative count rate of ``template x response x u**k``: shape
    ``(poly_degree + 1, n_edges)``. The spectrum of a star offset by ``y`` has pixel
    values ``C(row + 0.5 - y) - C(row - 0.5 - y)``, which is smooth in ``y``.
    """
    if response is None:
        log.info(
            "Static y fit: no instrument response given; using the package's synthetic "
            "response model (right only for jwst-tso-ext simulations)"
        )
        response = _package_response
    if wavelength_of_row is None:
        wavelength_of_row = geometry.wavelength_at_row
    grid = np.arange(rows.min() - 20.0, rows.max() + 20.0, fine_step)
    wave = np.asarray(wavelength_of_row(grid), dtype=float)
    ok = np.isfinite(wave) & (wave > 0)
    safe = np.where(ok, wave, CORRECTION_PIVOT_MICRON)
    flux = np.interp(safe, template_wave, template_flux, left=0.0, right=0.0)
    density = np.where(ok, flux * np.asarray(response(safe), dtype=float), 0.0)
    density = np.where(np.isfinite(density), density, 0.0)
    u = CORRECTION_PIVOT_MICRON / safe - 1.0
    densities = density[None, :] * u[None, :] ** np.arange(poly_degree + 1)[:, None]
    densities = gaussian_filter1d(densities, sigma / fine_step, axis=-1, mode="constant")
    cumulative = np.concatenate(
        [np.zeros((poly_degree + 1, 1)), np.cumsum(densities, axis=-1) * fine_step], axis=-1
    )
    edges = np.concatenate([grid - 0.5 * fine_step, [grid[-1] + 0.5 * fine_step]])
    return edges, cumulative


def fit_static_y_offset(
    spectrum,
    variance,
    rows,
    template_wave,
    template_flux,
    poly_degree=2,
    max_offset=3.0,
    response=None,
    wavelength_of_row=None,
    psf_sigma=None,
):
    """Dispersion offset, and its error, from a fit of the observed spectrum against a model.

    The model is the template F_nu times the instrument response, dispersed with the
    nominal wavelength solution shifted by ``y`` and blurred by the PSF, times an
    unknown smooth response (polynomial of ``poly_degree`` in row, solved linearly for
    each ``y``). The sharp spectral edges fix ``y``; the polynomial absorbs aperture
    losses, a smooth template mismatch and response errors.

    Parameters
    ----------
    spectrum, variance : numpy.ndarray
        Observed (background-subtracted) spectrum summed across the trace and its
        variance (only relative weights matter: the error is scaled by the fit's
        reduced chi-square).
    rows : numpy.ndarray
        Row of each spectrum element.
    template_wave, template_flux : numpy.ndarray
        Template wavelength (micron, increasing) and F_nu (any unit).
    poly_degree : int, optional
        Degree of the smooth response correction.
    max_offset : float, optional
        Search range of the offset (pixels).
    response : callable, optional
        Detected count rate per unit F_nu as a function of wavelength (micron), any
        normalisation, e.g. from the photom reference (`response_from_photom`).
        Default: the package's synthetic model `detector.count_rate_per_jy`, right
        only for the package's simulations.
    wavelength_of_row : callable, optional
        Nominal wavelength (micron, NaN outside the calibration) at a row coordinate
        for a star at the nominal position, e.g. from the exposure's WCS. Default:
        `geometry.wavelength_at_row` (flight specwcs table).
    psf_sigma : float, optional
        Gaussian blur (px) of the spectrum along the dispersion, e.g. the width fitted
        at a spectral edge (`static_offset.fit_edge`). Default: the package's
        simulator PSF at 7.5 um (`detector.psf_sigma`), logged as a model value.

    Returns
    -------
    y_offset : float
        Offset in pixels (positive toward higher rows).
    y_offset_err : float
        1-sigma error from the curvature of the chi-square at the minimum, scaled by
        the reduced chi-square (residual correlations from a model mismatch are not
        included). NaN if the curvature is not positive.
    """
    rows = np.asarray(rows, dtype=float)
    good = np.isfinite(spectrum) & np.isfinite(variance) & (variance > 0)
    if good.sum() <= poly_degree + 2:
        raise ValueError("too few finite spectrum elements to fit the static dispersion offset")
    weight = np.sqrt(np.where(good, 1.0 / np.where(good, variance, 1.0), 0.0))
    spectrum = np.where(good, spectrum, 0.0)
    if psf_sigma is None:
        psf_sigma = float(detector.psf_sigma(7.5))
        log.info(
            "Static y fit: PSF blur %.2f px along the dispersion from the package's "
            "simulator model (not measured on the data)",
            psf_sigma,
        )
    sigma = float(psf_sigma)
    edges, cumulative = _template_cumulative(
        rows, template_wave, template_flux, sigma, response, wavelength_of_row, poly_degree
    )
    if not np.any(cumulative[0] > 0):
        raise ValueError(
            "the template times the instrument response is zero over the spectrum: "
            "check the template's wavelength range (micron) and the photom reference"
        )

    def chi2(y):
        design = np.stack(
            [
                np.interp(rows + 0.5 - y, edges, c) - np.interp(rows - 0.5 - y, edges, c)
                for c in cumulative
            ],
            axis=1,
        )
        design *= weight[:, None]
        coef, *_ = np.linalg.lstsq(design, spectrum * weight, rcond=None)
        return float(np.sum((spectrum * weight - design @ coef) ** 2))

    grid = np.linspace(-max_offset, max_offset, int(8 * max_offset) + 1)
    values = [chi2(y) for y in grid]
    best = grid[int(np.argmin(values))]
    step = grid[1] - grid[0]
    res = minimize_scalar(
        chi2, bounds=(best - step, best + step), method="bounded", options={"xatol": 1e-4}
    )
    y_best = float(res.x)
    # curvature of chi2 at the minimum: delta chi2 = 1 at 1 sigma
    h = 0.02
    curvature = (chi2(y_best + h) - 2.0 * chi2(y_best) + chi2(y_best - h)) / h**2
    dof = max(int(good.sum()) - (poly_degree + 2), 1)
    reduced = chi2(y_best) / dof
    if curvature > 0:
        error = float(np.sqrt(2.0 / curvature * reduced))
    else:
        error = float("nan")
    if abs(y_best) > max_offset - 0.5 * step:
        # callers judge the fit (`static_offset.estimate_static_y_offset` declines it)
        log.info(
            "Whole-spectrum static y fit %.3f px at the edge of the +/-%.1f px search range",
            y_best,
            max_offset,
        )
    return y_best, error


def static_y_offset_from_template(
    spectrum, variance, rows, template_wave, template_flux, poly_degree=2, max_offset=3.0
):
    """Dispersion offset against a template with the package's nominal response.

    Same as `fit_static_y_offset` with the default response and wavelength solution,
    returning the offset only.

    Returns
    -------
    y_offset : float
    """
    return fit_static_y_offset(
        spectrum, variance, rows, template_wave, template_flux, poly_degree, max_offset
    )[0]


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
