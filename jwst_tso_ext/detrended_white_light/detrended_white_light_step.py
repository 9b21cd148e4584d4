"""Detrended white-light curve of a MIRI LRS slitless time-series observation."""

import logging

import numpy as np
from astropy.table import QTable, Table
from jwst.stpipe import Step

from jwst_tso_ext.detrended_white_light.light_curve import (
    detrend_white_light,
    make_detrended_light_curve,
)
from jwst_tso_ext.lightcurve.binning import spectra_from_model
from jwst_tso_ext.lightcurve.model import USER_PARAMS, regressors_from_drift_table
from jwst_tso_ext.lightcurve.products import find_drift_table, product_table_meta
from jwst_tso_ext.lightcurve.step_options import LightCurveFitOptions, LightCurveTableInput
from jwst_tso_ext.lightcurve.tables import (
    check_not_overwritten,
    is_light_curve_table,
    read_light_curve,
)
from jwst_tso_ext.step_mixin import PackageStepMixin

log = logging.getLogger(__name__)

__all__ = ["DetrendedWhiteLightStep", "fit_white_light"]


class DetrendedWhiteLightStep(PackageStepMixin, LightCurveFitOptions, LightCurveTableInput, Step):
    """Sum x1dints spectra (or read a light-curve table) and fit systematics and a transit."""

    class_alias = "detrended_white_light"

    spec = """
    min_wavelength = float(default=5.0)  # Lower limit (micron) of the white-light sum
    max_wavelength = float(default=12.0)  # Upper limit (micron) of the white-light sum
    time_column = option('BJD_TDB', 'MJD_UTC', default='BJD_TDB')  # Time axis of the fit; t0 in the same (MJD-like) days (a light-curve table: the column preferred when it holds both; t0 in the table's days)
    regressors = force_list(default=list('x_shift', 'y_shift'))  # Candidate regressors to decorrelate against: drift-table columns (x1dints input; trace_width is opt-in: it is measured from the same pixels as the flux and absorbs some white noise), or the table's own columns (light-curve table input, e.g. ypos,ywidth)
    regressor_smoothing = integer(default=0)  # Running-median window (integrations) applied to the regressors before the fit, against their measurement noise; steps stay sharp (0: as measured)
    poly_selection = option('bic', 'fixed', default='bic')  # bic: fit orders 0..poly_order, keep the lowest BIC; fixed: use poly_order
    ramp_selection = option('bic', 'fixed', default='bic')  # bic: fit none..ramp, keep the lowest BIC; fixed: use ramp
    astrophysical = option('transit', 'eclipse', 'out_of_transit', 'none', 'phase_curve', default='transit')  # Astrophysical part of the model (none: systematics only; phase_curve: transit, eclipse and the planet's phase variation over a full orbit, needs period)
    phase_order = option('bic', '1', '2', default='bic')  # phase_curve: order of the planet's phase function (sinusoids); bic: the second order only if it lowers the BIC
    windows = float_list(default=None)  # out_of_transit: start1, end1, start2, end2, ... times excluded from the fit
    free_params = force_list(default=None)  # Fitted astrophysical parameters; None: t0,rp,a,inc (transit), t0,fp,a (eclipse) or t0,rp,a,inc,fp_day,fp_night,phase_sin1 (phase_curve); a/inc are varied as the duration and impact parameter, u1/u2 as Kipping q1/q2
    t0 = float(default=None)  # Mid-transit (mid-eclipse) time in time_column days; None: found by a transit search (phase_curve: by a search for the transit and the eclipses)
    period = float(default=None)  # Orbital period (days); None: 1 d or 20x the exposure, whichever is longer (a single transit hardly constrains it)
    rp = float(default=0.1)  # Planet-to-star radius ratio (start from the search's depth when free)
    a = float(default=None)  # Semi-major axis in stellar radii; with inc, the given orbit wins over the search
    inc = float(default=None)  # Inclination (degrees)
    duration = float(default=None)  # Total transit duration T14 (days); None: from a and inc, else from the search
    b = float(default=None)  # Impact parameter; None: from a and inc, else the fit starts from several
    transit_shape = option('bic', 'physical', 'free_ingress', default='bic')  # physical: limb-darkened planet, ingress from rp and the orbit; free_ingress: flat-bottomed dip (u1 = u2 = 0, b = 0) with the ingress of radius ratio rp_shape, depth of rp; bic: free_ingress only if it lowers the BIC by more than 10
    rp_shape = float(default=None)  # Radius ratio setting the ingress when transit_shape is free_ingress (start); None: rp
    ecc = float(default=0.0)  # Eccentricity
    w = float(default=90.0)  # Argument of periastron (degrees)
    limb_darkening = option('bic', 'free', 'fixed', default='bic')  # Transit limb darkening (quadratic): free: fitted as Kipping q1, q2, uniform in [0, 1]; fixed: held at u1, u2; bic: fitted, and u1, u2 (when given) held instead only if that lowers the BIC
    u1 = float(default=None)  # Quadratic limb darkening u1 (e.g. from a stellar model): held (fixed), compared by BIC (bic), or the start of the fit (free); None: fitted from 0.1
    u2 = float(default=None)  # Quadratic limb darkening u2 (as u1)
    fp = float(default=0.001)  # Planet-to-star flux ratio (eclipse; start from the search's depth when free)
    search_min_snr = float(default=5.0)  # Significance (depth / error) a dip needs in the transit search to be fitted; it is kept only if it lowers the BIC
    save_plot = boolean(default=False)  # Write the diagnostic PNG (also written when save_results)
    output_ext = string(default='.ecsv')  # Output file type
    suffix = string(default='whtlt')  # Default suffix for output files
    """  # noqa: E501

    reference_file_types = []

    def process(self, input_data):
        """
        Build, detrend and fit the white-light curve of an x1dints product or a table.

        Parameters
        ----------
        input_data : str or `~stdatamodels.jwst.datamodels.TSOMultiSpecModel` or `~stdatamodels.jwst.datamodels.MultiSpecModel` or `~astropy.table.Table`
            The x1dints product or its path, or a light-curve table (one row per
            integration) or its ECSV, CSV or FITS file (see
            :func:`~jwst_tso_ext.lightcurve.tables.read_light_curve`); a table given
            is not modified.

        Returns
        -------
        `~astropy.table.QTable`
            One row per integration, like jwst's ``white_light`` (``MJD_UTC``,
            ``BJD_TDB``, ``whitelight_flux``) plus ``int_num``, ``whitelight_flux_err``,
            ``n_filled_bins``, ``clipped`` (sigma-clip mask), ``used_in_fit``,
            ``systematics_model`` (flux units, includes ``F0``), ``astrophysical_model``
            (1 out of transit), ``detrended_flux`` and ``detrended_flux_err`` (flux /
            systematics), ``residual`` (detrended - astrophysical) and one column per
            regressor.  ``meta`` holds the fitted parameters (``<name>``,
            ``<name>_err``), ``transit_depth`` / ``eclipse_depth``, ``rms_ppm``,
            ``expected_noise_ppm``, ``rms_to_expected``, ``beta``, ``chi2``,
            ``reduced_chi2``, ``bic``, for a phase curve ``fp_day``, ``fp_night``,
            ``phase_amplitude``, ``phase_offset_deg``, ``transit_depth`` (each with
            ``_err``) and ``phase_order``, the drift table used and
            ``meta['detrended_white_light']``: ``COMPLETE``, or ``SKIPPED`` (empty table)
            when the input holds no spectra.  Written as ``<rootname>_whtlt.ecsv`` (and
            the diagnostic ``_whtlt.png``) when ``save_results`` is set.  From a table,
            ``n_filled_bins`` is absent, the time goes to the ``BJD_TDB`` or ``MJD_UTC``
            column of its scale (the other is NaN), and ``meta`` says which columns were
            read and which time scale was assumed (``input_time_scale``).
        """  # noqa: E501
        table, result = self.white_light(input_data)
        if result is None:  # skipped
            return table
        return self._finish(table, result)

    def white_light(self, input_data):
        """
        The white-light table and its fit, as `process` makes them, without products.

        Parameters
        ----------
        input_data : str, model or `~astropy.table.Table`
            As in `process`.

        Returns
        -------
        table : `~astropy.table.QTable`
            As `process` returns it (``meta['detrended_white_light']`` set).
        result : dict or None
            The fit (see `make_detrended_light_curve`); None when the step is skipped.
        """
        if is_light_curve_table(input_data):
            return self._fit_table(input_data)
        # Only read from the input: no copy needed, and nothing is written back to it.
        model = self.prepare_output(input_data, make_copy=False)
        if not model.hasattr("spec") or len(model.spec) == 0:
            log.error("No valid input spectra found; step skipped.")
            return QTable(meta={self.class_alias: "SKIPPED"}), None
        if len(model.spec) > 1:
            log.warning(f"{len(model.spec)} spectra in the input; only the first is used.")

        spectra = spectra_from_model(model)
        if len(spectra["int_num"]) < 2:
            raise ValueError(
                f"The input holds {len(spectra['int_num'])} integration(s): a white-light "
                "curve needs a time series (NINTS > 1)."
            )
        if not (np.isfinite(spectra["mjd_utc"]).any() or np.isfinite(spectra["bjd_tdb"]).any()):
            raise ValueError(
                "The input spectra have no integration times (MJD-AVG / TDB-MID empty and no "
                "INT_TIMES table): run tsovisit_fix on the uncal or rateints (it builds "
                "INT_TIMES) before extraction, so that the fit has a time axis in days."
            )
        regressors = self._regressors(input_data, model, spectra["int_num"])
        table, result = make_detrended_light_curve(
            spectra, regressors=regressors, table_meta=product_table_meta(model),
            **self.light_curve_options(),
        )
        table.meta["drift_table"] = self._drift_path_used
        return self._with_status(table), result

    def _fit_table(self, source):
        """Read a light-curve table, fit it, write the products."""
        if self.save_results and not isinstance(source, Table):
            check_not_overwritten(source, self.make_output_path())
        light_curve = read_light_curve(source, regressors=self.regressors,
                                       prefer_time=self.time_column,
                                       **self.table_column_options())
        options = self.light_curve_options()
        for name in ("min_wave", "max_wave", "max_bad_fraction", "fill_window"):
            options.pop(name)  # of the wavelength sum, which a table has had
        if self.drift_table is not None:
            log.warning("drift_table is not used with a light-curve table: regressors are "
                        "the table's own columns (regressors parameter).")
        options["time_column"] = light_curve["time_scale"]
        table, result = detrend_white_light(light_curve, regressors=light_curve["regressors"],
                                            table_meta=light_curve["meta"], **options)
        return self._with_status(table), result

    def _with_status(self, table):
        """The table with the step's status in its meta."""
        # COMPLETE: the requested model (or its BIC choice) was fitted; REDUCED: the data
        # could not support part of it (meta['dropped'] says what and why)
        table.meta[self.class_alias] = table.meta["fit_status"]
        return table

    def _finish(self, table, result):
        """Write the products when asked, return the table."""
        if self.save_results:
            output_path = self.make_output_path()
            table.write(output_path, format="ascii.ecsv", overwrite=True)
            log.info(f"Saved {output_path}")
        if self.save_plot or self.save_results:
            from jwst_tso_ext.detrended_white_light.plotting import plot_diagnostics

            plot_diagnostics(
                table,
                self.make_output_path(ext="png"),
                regressor_names=result["regressor_names"],
                time_column=result["time_column"],
            )
        return table

    def light_curve_options(self):
        """
        This step's parameters as options of ``make_detrended_light_curve``.

        Returns
        -------
        dict
            Keyword arguments of
            :func:`~jwst_tso_ext.detrended_white_light.light_curve.make_detrended_light_curve`
            (all but the spectra, regressors and table metadata).
        """
        astro = self.astrophysical
        return dict(
            self.shared_fit_options(),
            min_wave=self.min_wavelength,
            max_wave=self.max_wavelength,
            time_column=self.time_column,
            regressor_smoothing=self.regressor_smoothing,
            poly_selection=self.poly_selection,
            ramp_selection=self.ramp_selection,
            astrophysical=astro,
            astro_params={k: getattr(self, k) for k in USER_PARAMS},
            free_params=self.free_params,
            windows=self.windows,
            search_min_snr=self.search_min_snr,
            transit_shape=self.transit_shape,
            phase_order=self.phase_order,
            limb_darkening=self.limb_darkening,
        )

    def _regressors(self, input_data, model, int_num):
        """
        Find the drift table and align the requested regressors to the integrations.

        Order: the ``drift_table`` parameter; a ``drift_table`` extension attached to the
        model (as ``wavelength_drift`` attaches it to its output); ``<rootname>_drift.ecsv``
        beside the input file.  What was used is logged and recorded in the table meta.
        """
        names = list(self.regressors or [])
        drift, self._drift_path_used = find_drift_table(input_data, model, self.drift_table,
                                                        self.input_dir)
        if drift is None:
            log.info("No drift table given, attached or found beside the input; "
                     "no regressors used.")
            return {}
        log.info(f"Using drift table {self._drift_path_used} for regressors {names}")
        return regressors_from_drift_table(drift, int_num, names)


def fit_white_light(input_data, **parameters):
    """
    The white light `DetrendedWhiteLightStep` fits, without running the step.

    For a step that needs a white light and was given none (``spectral_light_curves``
    used alone): the same table, with the step's default parameters updated by
    ``parameters``, and no products written, no CRDS lookup.

    Parameters
    ----------
    input_data : model or `~astropy.table.Table`
        An x1dints model or a light-curve table.
    **parameters
        Parameters of `DetrendedWhiteLightStep` (e.g. ``drift_table``).

    Returns
    -------
    `~astropy.table.QTable`
        As `DetrendedWhiteLightStep.process` returns it.
    """
    table, _ = DetrendedWhiteLightStep(**parameters).white_light(input_data)
    return table
