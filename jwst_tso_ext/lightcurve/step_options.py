"""
The light-curve fit options that the white-light and spectral steps share.

`LightCurveFitOptions` is a mixin for the two light-curve steps: stpipe merges the
``spec`` of every class in a step's MRO, so the parameters declared here (clipping,
bad-bin filling, systematics model, errors and sampling) are parameters of both steps,
with one default and one help text, and `LightCurveFitOptions.shared_fit_options`
reads them into keyword arguments of the light-curve functions in one place.
`LightCurveTableInput` does the same for the columns of a light-curve table given as
input (see :mod:`~jwst_tso_ext.lightcurve.tables`). Each step
declares in its own ``spec`` only what is its own (wavelength range, the event for the
white light; bins, limb darkening and the white light's choices for the spectrum).
"""

import logging

from jwst_tso_ext.lightcurve.tables import is_light_curve_table

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RAMP_TAU", "LightCurveFitOptions", "LightCurveTableInput"]

#: Initial ramp timescales (days) when ``ramp_tau`` is not given: a start only (the
#: fit also starts from 2-25 % of the exposure and keeps the best); 0.01 d is near
#: the package simulator's ramp (10 min), not a measured MIRI value.
DEFAULT_RAMP_TAU = (0.01, 0.05)


class LightCurveFitOptions:
    """Mixin: the parameters shared by the light-curve steps, and their reader."""

    spec = """
    max_bad_fraction = float(default=0.5)  # Wavelength columns bad in more than this fraction of integrations are excluded everywhere
    fill_window = integer(default=10)  # Half-width (integrations) of the neighbourhood that fills a bad column
    clip_sigma = float(default=5.0)  # Sigma-clipping threshold of a light curve against a running median
    clip_window = integer(default=21)  # Running-median window (integrations) for clipping
    clip_maxiter = integer(default=5)  # Maximum clipping iterations
    drift_table = string(default=None)  # wavelength_drift ECSV; None: table attached to the input, else <rootname>_drift.ecsv beside it
    regressor_selection = option('bic', 'all', default='bic')  # bic: forward selection, a regressor is kept only while it lowers the BIC; all: use every regressor
    regressor_min_delta_bic = float(default=10.0)  # A regressor is kept only if it lowers the BIC by more than this (10: very strong evidence)
    poly_order = integer(default=1)  # Highest order of the polynomial in time (0: constant)
    ramp = option('none', 'single', 'double', default='single')  # Most exponential ramp terms
    ramp_tau = float_list(default=None)  # Initial ramp timescale(s) in days; default 0.01 (and 0.05)
    min_out_of_transit = integer(default=20)  # Fewest fitted points outside the event for the event to be fitted (else systematics only)
    scale_by_chi2 = boolean(default=True)  # Scale parameter errors by the reduced chi2 when it exceeds 1
    mcmc = boolean(default=False)  # Sample the posterior with emcee after the least-squares fit
    nwalkers = integer(default=32)  # emcee walkers
    nsteps = integer(default=2000)  # emcee steps per walker
    burn_fraction = float(default=0.5)  # Fraction of each chain discarded as burn-in
    seed = integer(default=None)  # Random seed for emcee initialization
    """  # noqa: E501

    def shared_fit_options(self):
        """
        The shared parameters as keyword arguments of the light-curve functions.

        Returns
        -------
        dict
            ``max_bad_fraction``, ``fill_window``, the clipping options and the
            options of :func:`~jwst_tso_ext.lightcurve.fit_selection.detrend` that
            both steps pass (``drift_table`` is not in it: the steps read the table).
        """
        if not self.ramp_tau and self.ramp != "none":
            log.info(f"ramp_tau not given: the ramp fit starts from the package's "
                     f"{', '.join(f'{t:g}' for t in DEFAULT_RAMP_TAU)} d (a model value) "
                     "and from 2-25 % of the exposure, and keeps the best.")
        return dict(
            max_bad_fraction=self.max_bad_fraction,
            fill_window=self.fill_window,
            clip_sigma=self.clip_sigma,
            clip_window=self.clip_window,
            clip_maxiter=self.clip_maxiter,
            regressor_selection=self.regressor_selection,
            regressor_min_delta_bic=self.regressor_min_delta_bic,
            poly_order=self.poly_order,
            ramp=self.ramp,
            ramp_tau=list(self.ramp_tau) if self.ramp_tau else list(DEFAULT_RAMP_TAU),
            min_out_of_transit=self.min_out_of_transit,
            scale_by_chi2=self.scale_by_chi2,
            mcmc=self.mcmc,
            nwalkers=self.nwalkers,
            nsteps=self.nsteps,
            burn_fraction=self.burn_fraction,
            seed=self.seed,
        )


class LightCurveTableInput:
    """Mixin: the light-curve steps also take a light-curve table (or its file)."""

    spec = """
    table_time_column = string(default=None)  # Light-curve table input: the time column; None: found by name (BJD_TDB, bjd, MJD_UTC, mjd, time, ...)
    table_flux_column = string(default=None)  # Light-curve table input: the flux column; None: flux, whitelight_flux or lcdata
    table_error_column = string(default=None)  # Light-curve table input: the flux-error column; None: flux_err, whitelight_flux_err or lcerr
    """  # noqa: E501

    def table_column_options(self):
        """
        The table-column parameters as keyword arguments of the table readers.

        Returns
        -------
        dict
            ``time_column``, ``flux_column`` and ``error_column`` of
            :func:`~jwst_tso_ext.lightcurve.tables.read_light_curve` and
            :func:`~jwst_tso_ext.lightcurve.tables.read_long_form`.
        """
        return dict(time_column=self.table_time_column, flux_column=self.table_flux_column,
                    error_column=self.table_error_column)

    @classmethod
    def build_config(cls, input, **kwargs):  # noqa: A002 (stpipe's name)
        """
        Build the configuration as stpipe does, without a CRDS lookup for a table.

        Parameters
        ----------
        input : object
            The step's input (what ``call`` was given first).
        **kwargs
            Parameters and ``config_file``, as for stpipe.

        Returns
        -------
        config : configobj.ConfigObj
            The configuration.
        config_file : str or None
            The configuration file.
        """
        if is_light_curve_table(input):
            log.info("Input is a light-curve table: no CRDS parameter reference is "
                     "looked up.")
            input = None  # noqa: A001
        return super().build_config(input, **kwargs)

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """
        Get the step parameters from CRDS, except for a light-curve table.

        A table carries no JWST metadata to select a parameter reference with: none is
        looked up (stpipe would try to read it as a datamodel and log a warning).

        Parameters
        ----------
        dataset : object
            The step's input.
        disable : bool, optional
            Do not retrieve parameters from CRDS.
        crds_observatory : str, optional
            Observatory name.

        Returns
        -------
        configobj.ConfigObj
            The parameters from CRDS, empty for a table.
        """
        if is_light_curve_table(dataset):
            log.info("Input is a light-curve table: no CRDS parameter reference is "
                     "looked up.")
            return cls._empty_config()
        return super().get_config_from_reference(dataset, disable=disable,
                                                 crds_observatory=crds_observatory)
