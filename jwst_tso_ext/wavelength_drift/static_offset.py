"""Static dispersion offset from the sharp spectral edges, and the tests that judge it.

The broad shape of a MIRI LRS spectrum (stellar F_nu times the instrument response)
is known only as well as the stellar model and the photom reference are: a tilt of
the response, water bands of an M dwarf, or another instrument's response move a
fit of the whole spectrum by pixels (issue 23). What the references pin down
sharply are the *edges* of the dispersed model: where the photom response cuts on
or off, or where the specwcs calibration (and with it the model) ends. This module
locates each edge of the model, fits the observed spectrum around each edge alone
(the model times a straight line in wavelength, shifted by ``y`` and blurred by a
Gaussian whose width is fitted too, so neither a smooth mismatch nor the PSF width
of the package's simulator enters), and judges the result before it may be used:

* each edge fit's reduced chi-square (``max_reduced_chi2``);
* structure in its residuals: the lag-1 autocorrelation of the normalised
  residuals times ``sqrt(n)`` (``max_residual_z``);
* agreement of the independent estimates of the blue and the red edge, within
  ``agreement_sigma`` combined errors plus ``agreement_floor`` px; at least two
  edges must be measured to an error below ``max_edge_error``;
* distance from the search range: no estimate within one grid step of
  ``+/-max_offset``;
* plausibility: ``|y| <= plausible_offset`` (docs/steps.rst: MIRI target
  acquisition places the star within 14 mas, 1-sigma radial, 0.13 px).

All functions take plain arrays and callables; no datamodels.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import minimize

from jwst_tso_ext.wavelength_drift import wavelength_solution

log = logging.getLogger(__name__)

__all__ = [
    "PLAUSIBLE_OFFSET_PX",
    "EdgeFit",
    "StaticOffsetEstimate",
    "model_edges",
    "fit_edge",
    "estimate_static_y_offset",
]

#: Largest static dispersion offset (px) accepted as plausible. MIRI LRS slitless
#: target acquisition places the star within 14 mas (1-sigma radial), 0.13 px at
#: 0.11 arcsec/px; the limit, 10 x 14 mas = 140 mas, also covers the zero-point error of
#: the wavelength calibration. Beyond it the fit is more likely measuring a model
#: mismatch than a pointing offset.
PLAUSIBLE_OFFSET_PX = 1.25
#: Fractional accuracy (per row) to which the template x photom model can describe a
#: spectrum near its edges: the noise floor of the edge fits' chi-square.
MODEL_ERROR = 0.02
_FINE_STEP = 0.02  # px
_GRID_STEP = 0.125  # px, the coarse search grid in y


@dataclass
class EdgeFit:
    """Fit of the spectrum around one edge of the model.

    Attributes
    ----------
    side : str
        ``'blue'`` (high rows) or ``'red'`` (low rows).
    row : float
        Nominal row of the model's edge (half-power point).
    y, y_err : float
        Fitted offset and its 1-sigma error (scaled by the square root of the
        statistical reduced chi-square).
    blur : float
        Fitted Gaussian blur (px) of the model along the dispersion.
    reduced_chi2 : float
        Of the fit in the edge window, the noise of each element increased by the
        model error (`MODEL_ERROR` of the edge's level).
    residual_z : float
        Lag-1 autocorrelation of the residuals in units of noise and model error
        (normalised by the larger of their sum of squares and its expectation),
        times ``sqrt(n)``.
    n : int
        Spectrum elements in the window.
    """

    side: str
    row: float
    y: float
    y_err: float
    blur: float
    reduced_chi2: float
    residual_z: float
    n: int


@dataclass
class StaticOffsetEstimate:
    """The combined offset, whether it may be applied, and why not.

    Attributes
    ----------
    y_offset, y_offset_err : float
        Inverse-variance mean of the edge estimates (NaN if none).
    accepted : bool
        True when every test passed.
    reason : str
        Why the estimate was declined ('' when accepted).
    edges : list of EdgeFit
    whole_spectrum_y : float
        The whole-spectrum template fit, when it served as the cross-check of a
        single measured edge (NaN otherwise).
    """

    y_offset: float
    y_offset_err: float
    accepted: bool
    reason: str
    edges: list = field(default_factory=list)
    whole_spectrum_y: float = float("nan")

    def summary(self):
        """One line per edge: offset, error, blur, reduced chi-square, residual z."""
        return "; ".join(
            f"{edge.side} edge at row {edge.row:.1f}: y = {edge.y:+.3f} +/- {edge.y_err:.3f} px, "
            f"blur {edge.blur:.2f} px, chi2/dof {edge.reduced_chi2:.2f}, "
            f"residual z {edge.residual_z:+.1f}"
            for edge in self.edges
        )


def _model_density(grid, template_wave, template_flux, response, wavelength_of_row):
    """Template F_nu x response along nominal row coordinates (0 outside the calibration)."""
    wave = np.asarray(wavelength_of_row(grid), dtype=float)
    ok = np.isfinite(wave) & (wave > 0)
    safe = np.where(ok, wave, 7.5)
    flux = np.interp(safe, template_wave, template_flux, left=0.0, right=0.0)
    density = np.where(ok, flux * np.asarray(response(safe), dtype=float), 0.0)
    return np.where(np.isfinite(density) & (density > 0), density, 0.0)


def model_edges(rows, template_wave, template_flux, response, wavelength_of_row, max_width=3.0):
    """Sharp edges of the dispersed model: its half-power rows at the blue and red ends.

    Parameters
    ----------
    rows : numpy.ndarray
        Rows of the spectrum.
    template_wave, template_flux : numpy.ndarray
        Stellar template (micron, F_nu).
    response : callable
        Relative count rate per unit F_nu of wavelength (micron).
    wavelength_of_row : callable
        Nominal wavelength (micron, NaN outside the calibration) of a row coordinate.
    max_width : float, optional
        An end counts as an edge when the model rises from 10 % to 90 % of its level
        just inside within this many pixels.

    Returns
    -------
    list of tuple
        ``(side, row)`` for each sharp end, blue (high rows) first.
    """
    grid = np.arange(np.min(rows) - 10.0, np.max(rows) + 10.0, _FINE_STEP)
    density = _model_density(grid, template_wave, template_flux, response, wavelength_of_row)
    if not np.any(density > 0):
        return []
    support = np.flatnonzero(density > 1e-4 * density.max())
    edges = []
    for side, start, inward in (("blue", support[-1], -1), ("red", support[0], +1)):
        if start in (0, grid.size - 1):
            continue  # the model does not end within the rows: no edge on this side
        inside = start + inward * np.arange(int(3.0 / _FINE_STEP), int(6.0 / _FINE_STEP))
        inside = inside[(inside >= 0) & (inside < grid.size)]
        if inside.size == 0:
            continue
        level = np.median(density[inside])
        path = start + inward * np.arange(int(6.0 / _FINE_STEP))
        path = path[(path >= 0) & (path < grid.size)]
        above = [np.argmax(density[path] >= fraction * level) for fraction in (0.1, 0.5, 0.9)]
        if not (density[path] >= 0.9 * level).any():
            continue
        if (above[2] - above[0]) * _FINE_STEP <= max_width:
            edges.append((side, float(grid[path[above[1]]])))
    return edges


def fit_edge(
    spectrum,
    variance,
    rows,
    edge_row,
    template_wave,
    template_flux,
    response,
    wavelength_of_row,
    max_offset=3.0,
    half_window=8.0,
    side="",
    model_error=MODEL_ERROR,
):
    """Offset of the spectrum around one model edge.

    The model in the window ``edge_row +/- (max_offset + half_window)`` is the
    template x response times a straight line in wavelength (solved linearly),
    shifted by ``y``, blurred by a Gaussian of fitted width and integrated over
    pixels, so a local tilt of the response or the star does not move ``y``.

    Parameters
    ----------
    spectrum, variance : numpy.ndarray
        Observed spectrum and its variance per row.
    rows : numpy.ndarray
        Row of each element.
    edge_row : float
        The model edge's nominal row (`model_edges`).
    template_wave, template_flux, response, wavelength_of_row
        As for `model_edges`.
    max_offset : float, optional
        Search range of ``y`` (px).
    half_window : float, optional
        Rows fitted on either side of the edge beyond the search range.
    side : str, optional
        Label of the edge.
    model_error : float, optional
        Fractional error of the model (references and template), added in
        quadrature to the noise of each element.

    Returns
    -------
    EdgeFit
        None when less than 90 % of the window's rows are usable (it runs off the
        detector, or beyond the rows where the spectrum was extracted).
    """
    rows = np.asarray(rows, dtype=float)
    reach = max_offset + half_window
    use = (
        (np.abs(rows - edge_row) <= reach)
        & np.isfinite(spectrum)
        & np.isfinite(variance)
        & (variance > 0)
    )
    window = np.abs(rows - edge_row) <= reach
    if use.sum() < max(8, 0.9 * max(window.sum(), 2 * reach)):
        return None  # the window is not covered (detector end, rows outside the extraction)
    r = rows[use]
    observed = np.asarray(spectrum, dtype=float)[use]
    noise_variance = np.asarray(variance, dtype=float)[use]
    weight = 1.0 / np.sqrt(noise_variance)
    data = observed * weight
    # the references describe the spectrum to a fraction ``model_error`` of the edge's
    # level at best: the chi-square that judges the fit allows for it
    level = np.percentile(np.abs(observed), 90)
    judge_scale = noise_variance / (noise_variance + (model_error * level) ** 2)
    margin = max_offset + 15.0
    grid = np.arange(r.min() - margin, r.max() + margin, _FINE_STEP)
    density = _model_density(grid, template_wave, template_flux, response, wavelength_of_row)
    # the smooth correction is linear in wavelength (a mismatch of the star or the
    # response is smooth in wavelength, not in row: the dispersion changes fast near
    # the blue end)
    wave = np.asarray(wavelength_of_row(grid), dtype=float)
    wave_edge = float(np.nanmedian(np.where(density > 0, wave, np.nan)))
    tilt = np.where(np.isfinite(wave), wave / wave_edge - 1.0, 0.0)
    densities = np.stack([density, density * tilt])
    edges = np.concatenate([grid - 0.5 * _FINE_STEP, [grid[-1] + 0.5 * _FINE_STEP]])
    cache = {}

    def cumulative(blur):
        key = round(float(blur), 4)
        if key not in cache:
            smooth = gaussian_filter1d(densities, key / _FINE_STEP, axis=-1, mode="constant")
            start = np.zeros((2, 1))
            cache[key] = np.concatenate([start, np.cumsum(smooth, axis=-1) * _FINE_STEP], axis=1)
        return cache[key]

    def solve(y, blur):
        c = cumulative(blur)
        design = np.stack(
            [np.interp(r + 0.5 - y, edges, ck) - np.interp(r - 0.5 - y, edges, ck) for ck in c],
            axis=1,
        )
        design *= weight[:, None]
        coef, *_ = np.linalg.lstsq(design, data, rcond=None)
        resid = data - design @ coef
        return float(resid @ resid), resid

    def chi2(params):
        y, blur = params
        if not (-max_offset <= y <= max_offset) or not (0.2 <= blur <= 5.0):
            return 1e300
        return solve(y, blur)[0]

    y_grid = np.arange(-max_offset, max_offset + 1e-9, _GRID_STEP)
    blur_grid = (0.5, 0.8, 1.2, 1.8, 2.7)
    values = np.array([[chi2((y, b)) for b in blur_grid] for y in y_grid])
    iy, ib = np.unravel_index(np.argmin(values), values.shape)
    res = minimize(
        chi2,
        x0=(y_grid[iy], blur_grid[ib]),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-6, "initial_simplex": [
            (y_grid[iy], blur_grid[ib]),
            (y_grid[iy] + 0.1, blur_grid[ib]),
            (y_grid[iy], blur_grid[ib] * 1.2),
        ]},
    )
    y_best, blur_best = (float(v) for v in res.x)
    best, resid = solve(y_best, blur_best)
    dof = max(int(use.sum()) - 4, 1)
    reduced = best / dof  # statistical: scales the error
    judged = float(np.sum(resid**2 * judge_scale)) / dof  # with the model error
    hy, hb = 0.01, 0.01
    p = np.array([y_best, blur_best])

    def f(point):
        return min(chi2(point), 1e30)  # keeps the finite differences finite

    h_yy = (f(p + (hy, 0)) - 2 * best + f(p - (hy, 0))) / hy**2
    h_bb = (f(p + (0, hb)) - 2 * best + f(p - (0, hb))) / hb**2
    h_yb = (
        f(p + (hy, hb)) - f(p + (hy, -hb)) - f(p + (-hy, hb)) + f(p + (-hy, -hb))
    ) / (4 * hy * hb)
    determinant = h_yy * h_bb - h_yb**2
    at_bound = abs(y_best) > max_offset - 2 * hy or not 0.2 + 2 * hb < blur_best < 5.0 - 2 * hb
    if at_bound:
        y_err = float("nan")  # no curvature at the edge of the search range
    elif np.isfinite(determinant) and h_yy > 0 and h_bb > 0 and determinant > 0:
        # delta chi2 = 1 at 1 sigma, the blur profiled out; scaled by the reduced
        # chi-square, so that the error holds whatever the scale of ``variance`` (a
        # reference image's variance is that of one integration, not of the median)
        y_err = float(np.sqrt(2.0 * h_bb / determinant * reduced))
    else:
        y_err = float("nan")
    # residuals in units of noise + model error: structure well below the accuracy
    # of the references (sum of squares below its expectation n) does not count
    norm = resid * np.sqrt(judge_scale)
    lag1 = (
        float(np.sum(norm[1:] * norm[:-1]) / max(np.sum(norm**2), norm.size - 1.0))
        if norm.size > 2
        else 0.0
    )
    return EdgeFit(
        side=side,
        row=float(edge_row),
        y=y_best,
        y_err=y_err,
        blur=blur_best,
        reduced_chi2=judged,
        residual_z=lag1 * float(np.sqrt(norm.size)),
        n=int(use.sum()),
    )


def estimate_static_y_offset(
    spectrum,
    variance,
    rows,
    template_wave,
    template_flux,
    response,
    wavelength_of_row,
    max_offset=3.0,
    plausible_offset=PLAUSIBLE_OFFSET_PX,
    max_reduced_chi2=3.0,
    max_residual_z=3.0,
    max_edge_error=0.3,
    agreement_sigma=3.0,
    agreement_floor=0.05,
    poly_degree=2,
):
    """Static dispersion offset from the model's sharp edges, judged before use.

    Parameters
    ----------
    spectrum, variance : numpy.ndarray
        Observed (background-subtracted) spectrum summed across the trace, and its
        variance.
    rows : numpy.ndarray
        Row of each element.
    template_wave, template_flux : numpy.ndarray
        Stellar template: wavelength (micron, increasing) and F_nu (any unit).
    response : callable
        Relative count rate per unit F_nu (from the photom reference).
    wavelength_of_row : callable
        Nominal wavelength of a row coordinate (from the specwcs reference).
    max_offset : float, optional
        Search range (px).
    plausible_offset : float, optional
        Largest offset accepted (px), see `PLAUSIBLE_OFFSET_PX`.
    max_reduced_chi2, max_residual_z : float, optional
        Limits on each edge fit's reduced chi-square and residual structure.
    max_edge_error : float, optional
        An edge counts as measured when its error is below this (px).
    agreement_sigma, agreement_floor : float, optional
        The edges must agree within ``agreement_sigma`` combined errors plus
        ``agreement_floor`` px.
    poly_degree : int, optional
        Degree of the smooth correction of the whole-spectrum fit that checks a
        single measured edge (`wavelength_solution.fit_static_y_offset`).

    Returns
    -------
    StaticOffsetEstimate
    """
    rows = np.asarray(rows, dtype=float)
    spectrum = np.asarray(spectrum, dtype=float)
    variance = np.asarray(variance, dtype=float)
    if spectrum.shape != rows.shape or variance.shape != rows.shape:
        raise ValueError("spectrum, variance and rows must be 1-D arrays of the same length")
    found = model_edges(rows, template_wave, template_flux, response, wavelength_of_row)
    fits = [
        fit_edge(
            spectrum, variance, rows, row, template_wave, template_flux, response,
            wavelength_of_row, max_offset=max_offset, side=side,
        )
        for side, row in found
    ]  # fmt: skip
    fits = [fit for fit in fits if fit is not None]
    measured = [fit for fit in fits if np.isfinite(fit.y_err) and fit.y_err < max_edge_error]
    if measured:
        weights = np.array([1.0 / fit.y_err**2 for fit in measured])
        y = float(np.sum(weights * [fit.y for fit in measured]) / weights.sum())
        y_err = float(1.0 / np.sqrt(weights.sum()))
    elif fits:
        y, y_err = fits[0].y, fits[0].y_err
    else:
        y, y_err = float("nan"), float("nan")
    reasons = []
    if not found:
        reasons.append("the template x photom response has no sharp edge to fit")
    for fit in fits:
        if abs(fit.y) > max_offset - _GRID_STEP:
            reasons.append(
                f"the {fit.side} edge fit ({fit.y:+.3f} px) is within a grid step of the "
                f"+/-{max_offset:g} px search range"
            )
        if fit.reduced_chi2 > max_reduced_chi2:
            reasons.append(
                f"the {fit.side} edge fit has reduced chi-square {fit.reduced_chi2:.1f} "
                f"> {max_reduced_chi2:g} (the model does not describe the edge)"
            )
        if fit.residual_z > max_residual_z:
            reasons.append(
                f"the {fit.side} edge fit leaves correlated residuals "
                f"(lag-1 z = {fit.residual_z:.1f} > {max_residual_z:g})"
            )
    whole = None
    if len(measured) == 1:
        # one edge only: check it against the fit of the whole spectrum (broad shape),
        # which a model mismatch moves differently
        whole, whole_err = wavelength_solution.fit_static_y_offset(
            spectrum, variance, rows, template_wave, template_flux, poly_degree=poly_degree,
            max_offset=max_offset, response=response, wavelength_of_row=wavelength_of_row,
            psf_sigma=measured[0].blur,
        )  # fmt: skip
        tolerance = agreement_sigma * np.hypot(measured[0].y_err, whole_err) + agreement_floor
        if not abs(whole - measured[0].y) <= tolerance:
            reasons.append(
                f"the {measured[0].side} edge ({measured[0].y:+.3f} px, the only edge measured "
                f"to better than {max_edge_error:g} px) and the whole-spectrum template fit "
                f"({whole:+.3f} px) disagree by more than {tolerance:.3f} px"
            )
    elif found and not measured:
        reasons.append(f"no edge measured to better than {max_edge_error:g} px")
    for first, second in zip(measured[:-1], measured[1:]):
        tolerance = agreement_sigma * np.hypot(first.y_err, second.y_err) + agreement_floor
        if abs(first.y - second.y) > tolerance:
            reasons.append(
                f"the {first.side} ({first.y:+.3f} px) and {second.side} ({second.y:+.3f} px) "
                f"edges disagree by more than {tolerance:.3f} px"
            )
    if np.isfinite(y) and abs(y) > plausible_offset:
        reasons.append(
            f"{y:+.3f} px is beyond the plausibility limit of +/-{plausible_offset:g} px "
            "(pointing after target acquisition)"
        )
    return StaticOffsetEstimate(
        y_offset=y,
        y_offset_err=y_err,
        accepted=not reasons,
        reason="; ".join(reasons),
        edges=fits,
        whole_spectrum_y=float("nan") if whole is None else float(whole),
    )
