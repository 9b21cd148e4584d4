"""
Orchestration: spectra arrays -> white light -> clipping -> fit -> output table.

No datamodels here: the step unpacks the x1dints model with
:func:`~jwst_tso_ext.lightcurve.binning.spectra_from_model` and passes
the arrays in.
"""

import logging
from collections import OrderedDict

import numpy as np
from astropy import units as u
from astropy.table import QTable

from jwst_tso_ext.lightcurve import noise
from jwst_tso_ext.lightcurve.binning import sum_white_light, time_axis
from jwst_tso_ext.lightcurve.clipping import running_median, sigma_clip_series
from jwst_tso_ext.lightcurve.fit_selection import detrend

log = logging.getLogger(__name__)

__all__ = ["make_detrended_light_curve"]


def make_detrended_light_curve(
    spectra, regressors=None, min_wave=5.0, max_wave=12.0, max_bad_fraction=0.5, fill_window=10,
    clip_sigma=5.0, clip_window=21, clip_maxiter=5, time_column="BJD_TDB", table_meta=None,
    regressor_smoothing=0, **fit_options,
):
    """
    Build the detrended white-light table from extracted spectra.

    Parameters
    ----------
    spectra : dict
        As returned by ``spectra_from_model``: ``int_num``, ``mjd_utc``, ``bjd_tdb``,
        ``wavelength``, ``flux``, ``error``, ``dq``, ``flux_unit``.
    regressors : dict of str to ndarray, optional
        Decorrelation regressors aligned with the integrations (raw values; also written
        as columns).
    min_wave, max_wave, max_bad_fraction, fill_window
        See :func:`~jwst_tso_ext.lightcurve.binning.sum_white_light`.
    clip_sigma, clip_window, clip_maxiter
        See :func:`~jwst_tso_ext.lightcurve.binning.sigma_clip_series`.
    time_column : {'BJD_TDB', 'MJD_UTC'}
        Time axis of the fit (falls back to ``MJD_UTC`` when BJD_TDB is missing).
    table_meta : dict, optional
        Metadata copied first into ``table.meta`` (instrument, target, ...).
    regressor_smoothing : int
        Window (integrations) of a running median applied to each regressor before the
        fit; 0 or 1 leaves them as measured. Measurement noise in a regressor biases its
        coefficient toward zero; a median keeps steps sharp.
    **fit_options
        Passed to :func:`~jwst_tso_ext.lightcurve.fit_selection.detrend`.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per integration (see the step documentation for columns).
    result : dict
        The ``detrend`` result, plus ``time_column`` and ``regressor_names``.
    """
    white, white_err, info = sum_white_light(
        spectra["wavelength"], spectra["flux"], spectra["error"], spectra.get("dq"),
        min_wave=min_wave, max_wave=max_wave, max_bad_fraction=max_bad_fraction,
        fill_window=fill_window,
    )
    mjd = np.asarray(spectra["mjd_utc"], float)
    bjd = np.asarray(spectra["bjd_tdb"], float)
    time, time_column = time_axis(spectra, time_column)
    clipped = sigma_clip_series(white, window=clip_window, nsigma=clip_sigma, maxiter=clip_maxiter)
    clipped |= ~np.isfinite(time)
    # integrations whose white light is mostly filled from neighbours (all NaN, flagged
    # or zero) carry no measurement of their own: excluded from the fit like clipped ones
    mostly_filled = info["n_filled"] > max_bad_fraction * info["bins_used"].size
    if mostly_filled.any():
        log.warning(f"{int(mostly_filled.sum())} integrations have more than "
                    f"{100 * max_bad_fraction:.0f}% bad bins (int_num "
                    f"{list(np.asarray(spectra['int_num'])[mostly_filled])}); "
                    "flagged as clipped and excluded from the fit.")
        clipped |= mostly_filled
    if clipped.any():
        log.info(f"Sigma clipping flagged {int(clipped.sum())} of {clipped.size} integrations "
                 "(kept in the table, excluded from the fit).")
    if regressors and regressor_smoothing and regressor_smoothing > 1:
        regressors = {name: running_median(values, regressor_smoothing)
                      for name, values in regressors.items()}
        log.info(f"Regressors smoothed with a {regressor_smoothing}-integration running median.")
    result = detrend(time, white, white_err, clip_mask=clipped, regressors=regressors,
                     **fit_options)
    fit = result["fit"]
    fit_mask = result["fit_mask"]
    cols = result["columns"]

    tbl = QTable(meta=OrderedDict(table_meta or {}))
    meta = tbl.meta
    unit = spectra.get("flux_unit")
    q = (lambda x: x << u.Unit(unit)) if unit else (lambda x: x)
    tbl["MJD_UTC"] = mjd
    tbl["BJD_TDB"] = bjd
    tbl["int_num"] = np.asarray(spectra["int_num"], int)
    tbl["whitelight_flux"] = q(white)
    tbl["whitelight_flux_err"] = q(white_err)
    tbl["n_filled_bins"] = info["n_filled"].astype(int)
    tbl["clipped"] = clipped
    tbl["used_in_fit"] = fit_mask
    tbl["systematics_model"] = q(cols["systematics_model"])
    tbl["astrophysical_model"] = cols["astrophysical_model"]
    tbl["detrended_flux"] = cols["detrended_flux"]
    tbl["detrended_flux_err"] = cols["detrended_flux_err"]
    tbl["residual"] = cols["residual"]
    model = result["model"]
    for name, values in (regressors or {}).items():
        tbl[name] = np.asarray(values, float)  # every candidate, kept or not

    # Metrics on the fitted points, relative to the full model
    metrics = noise.fit_metrics(white, white_err, fit["model"], fit_mask)
    rms, expected = metrics["rms_ppm"], metrics["expected_noise_ppm"]
    meta["min_wavelength"] = float(min_wave)
    meta["max_wavelength"] = float(max_wave)
    meta["n_wavelength_bins"] = int(info["bins_used"].size)
    meta["n_bins_excluded"] = int(info["bins_excluded"].size)
    meta["n_entries_filled"] = int(info["n_filled"].sum())
    meta["n_clipped"] = int(clipped.sum())
    meta["time_column"] = time_column
    meta["astrophysical"] = model.astrophysical
    meta["poly_order"] = model.poly_order
    meta["ramp_terms"] = model.n_ramp
    meta["regressors"] = list(model.regressor_names)
    selection = result["selection"]
    meta["regressors_dropped"] = list(selection["regressors_dropped"])
    meta["regressor_smoothing"] = int(regressor_smoothing or 0)
    meta["depth_regressor_correlation"] = dict(selection["depth_correlation"])
    meta["model_bic"] = {k: (v if isinstance(v, str) else float(v))
                         for k, v in selection["candidates"].items()}
    meta["start"] = selection["start"]
    if selection["impact_start"] is not None:
        meta["impact_start"] = selection["impact_start"]
    search = selection["search"]
    if search is not None:
        meta["search"] = {k: (v if isinstance(v, (str, bool)) or v is None else float(v))
                          for k, v in search.items()}
    if "phase_order" in selection:
        meta["phase_order"] = selection["phase_order"]
    meta["fit_status"] = selection["status"]
    meta["dropped"] = list(selection["dropped"])
    meta["free_parameters"] = list(fit["names"])
    for name, (value, err) in result["parameters"].items():
        meta[name] = value
        if err is not None:
            meta[f"{name}_err"] = err
    if model.astrophysical == "transit":
        rp = meta["rp"]
        meta["transit_depth"] = rp**2
        if "rp_err" in meta:
            meta["transit_depth_err"] = 2.0 * abs(rp) * meta["rp_err"]
    elif model.astrophysical == "eclipse" and "fp" in meta:
        meta["eclipse_depth"] = meta["fp"]
        if "fp_err" in meta:
            meta["eclipse_depth_err"] = meta["fp_err"]
    if fit["mcmc"] is not None:
        meta["mcmc"] = {k: list(v) for k, v in fit["mcmc"].items()}
    meta["chi2"] = fit["chi2"]
    meta["reduced_chi2"] = fit["reduced_chi2"]
    meta["n_points_fit"] = fit["n_points"]
    meta["n_free_parameters"] = fit["n_free"]
    meta["bic"] = noise.bic(fit["chi2"], fit["n_free"], fit["n_points"])
    meta["rms_ppm"] = rms
    meta["expected_noise_ppm"] = expected
    meta["rms_to_expected"] = metrics["rms_to_expected"]
    meta["beta"] = metrics["beta"]
    meta["fit_success"] = fit["success"]
    log.info(f"Fit: rms {rms:.0f} ppm, expected {expected:.0f} ppm "
             f"(ratio {meta['rms_to_expected']:.2f}), beta {meta['beta']:.2f}, "
             f"reduced chi2 {fit['reduced_chi2']:.2f}")
    if "transit_depth" in meta:
        log.info(f"Transit depth {1e6 * meta['transit_depth']:.0f} +/- "
                 f"{1e6 * meta.get('transit_depth_err', np.nan):.0f} ppm")
    result["time_column"] = time_column
    result["regressor_names"] = list(model.regressor_names)
    return tbl, result
