"""Spectroscopic light curves and the transmission / emission spectrum of an LRS TSO."""

import logging
import os

import numpy as np
from astropy.table import QTable, Table
from jwst.stpipe import Step

from jwst_tso_ext.detrended_white_light.detrended_white_light_step import fit_white_light
from jwst_tso_ext.lightcurve.binning import bin_edges, spectra_from_model, sum_white_light
from jwst_tso_ext.lightcurve.model import regressors_from_drift_table
from jwst_tso_ext.lightcurve.products import (
    beside_input,
    find_drift_table,
    product_root,
    product_table_meta,
)
from jwst_tso_ext.lightcurve.step_options import LightCurveFitOptions, LightCurveTableInput
from jwst_tso_ext.lightcurve.tables import (
    check_not_overwritten,
    is_light_curve_table,
    read_long_form,
)
from jwst_tso_ext.parallel import thread_count
from jwst_tso_ext.spectral_light_curves.spectral import SHARED_KINDS, fit_spectral_light_curves
from jwst_tso_ext.step_mixin import PackageStepMixin

log = logging.getLogger(__name__)

__all__ = ["SpectralLightCurvesStep"]

#: Drift-table metadata copied into the spectrum's metadata (the wavelength correction).
DRIFT_META = ("static_y_offset", "static_y_offset_err", "static_y_method", "static_x_offset",
              "photom_reference", "stellar_template", "static_y_fitted", "static_y_fitted_err",
              "static_y_declined_reason", "crds_context")


class SpectralLightCurvesStep(PackageStepMixin, LightCurveFitOptions, LightCurveTableInput, Step):
    """Fit wavelength-binned light curves with the white light's orbit: the spectrum."""

    class_alias = "spectral_light_curves"

    spec = """
    min_wavelength = float(default=5.0)  # Lower edge (micron) of the first bin (bin_width or resolving_power)
    max_wavelength = float(default=12.0)  # Upper limit (micron) of the last bin
    bin_width = float(default=0.25)  # Constant bin width (micron); unused when bin_edges or resolving_power is given
    resolving_power = float(default=None)  # Constant resolving power lambda / delta lambda of the bins (replaces bin_width)
    bin_edges = float_list(default=None)  # Explicit bin edges (micron), increasing; win over the others
    white_light_table = string(default=None)  # detrended_white_light table (ECSV) with the shared orbit; None: <rootname>_whtlt.ecsv beside the input, else the white light is fitted here with its defaults
    regressors = force_list(default=list('x_shift', 'y_shift'))  # Candidate regressors each bin may decorrelate against (kept by BIC): drift-table columns (x1dints input) or the long-form table's own columns
    table_wavelength_column = string(default=None)  # Long-form table input: the bin-centre column (micron); None: wavelength
    poly_selection = option('white_light', 'bic', 'fixed', default='white_light')  # white_light: the white light's order (at most poly_order), coefficients free per bin; bic: orders 0..poly_order per bin, lowest BIC; fixed: poly_order
    ramp_selection = option('white_light', 'bic', 'fixed', default='white_light')  # white_light: the white light's ramp terms (at most ramp), amplitudes free per bin, timescales held at its; bic: none..ramp per bin, lowest BIC; fixed: ramp
    common_mode = option('none', 'systematics', 'residuals', default='none')  # Divide every bin by the white light's systematics model or by its residuals (1 + residual) before its fit
    limb_darkening = option('free', 'white_light', 'fixed', 'table', default='free')  # free: fitted per bin (Kipping q1, q2, uniform in [0, 1]) from the white light's u1, u2 (unbiased where the limb darkening changes with wavelength; depth errors ~15 % larger); white_light: the white-light fit's u1, u2 held in every bin; fixed: u1, u2 below; table: limb_darkening_table
    u1 = float(default=None)  # Quadratic limb darkening u1 (fixed; start of free instead of the white light's)
    u2 = float(default=None)  # Quadratic limb darkening u2 (fixed; start of free instead of the white light's)
    limb_darkening_table = string(default=None)  # ECSV with columns wavelength (micron), u1, u2, interpolated at the bin centres
    maximum_cores = string(default='all')  # Processes fitting bins in parallel: an integer, 'quarter', 'half', 'all' or 'none'
    save_plot = boolean(default=False)  # Write the spectrum figure <rootname>_tspec.png (also written when save_results)
    output_ext = string(default='.ecsv')  # Output file type
    suffix = string(default='tspec')  # Suffix of the spectrum table
    """  # noqa: E501

    reference_file_types = []

    def process(self, input_data, white_light=None):
        """
        Fit the spectroscopic light curves of an x1dints product or a long-form table.

        Parameters
        ----------
        input_data : str or `~stdatamodels.jwst.datamodels.TSOMultiSpecModel` or `~stdatamodels.jwst.datamodels.MultiSpecModel` or `~astropy.table.Table`
            The x1dints product (ours or jwst's ``extract_1d``) or its path, or the
            light curves in long form (one row per time and bin, as ``_speclc.ecsv``;
            see :func:`~jwst_tso_ext.lightcurve.tables.read_long_form`) or their
            ECSV, CSV or FITS file; a table given is not modified.
        white_light : `~astropy.table.Table` or str, optional
            The ``detrended_white_light`` table (or its path), as a pipeline passes it;
            otherwise the ``white_light_table`` parameter, ``<rootname>_whtlt.ecsv``
            beside the input, or a white-light fit made here.

        Returns
        -------
        `~astropy.table.QTable`
            The spectrum, one row per bin (``wavelength``, ``bin_width``, ``depth``,
            ``depth_err`` or ``fp``, ``fp_err``, ``rms_ppm``, ``expected_ppm``, ``beta``,
            ...; see the documentation), with the shared orbit, the common-mode choice
            and the wavelength correction in ``meta`` and
            ``meta['spectral_light_curves']`` ``COMPLETE`` (``SKIPPED``: empty table,
            when the input holds no spectra). Written as ``<rootname>_tspec.ecsv``,
            with ``<rootname>_speclc.ecsv`` (per-bin light curves, long form) and the
            figure ``<rootname>_tspec.png``, when ``save_results`` is set.
        """  # noqa: E501
        if white_light is not None and not isinstance(white_light, (str, Table)):
            # a skipped detrended_white_light hands back its input, not a fit
            log.warning("The white light given is not a table (was detrended_white_light "
                        "skipped?): there is no orbit to share; step skipped.")
            return QTable(meta={self.class_alias: "SKIPPED"})
        if is_light_curve_table(input_data):
            read = self._read_long_form(input_data)
        else:
            read = self._read_product(input_data)
            if read is None:
                return QTable(meta={self.class_alias: "SKIPPED"})
        spectra, edges, drift = read["spectra"], read["edges"], read["drift"]
        white, white_source = self._white_light(white_light, read["whtlt_beside"],
                                                read["fit_white"])
        kind = white["meta"].get("astrophysical")
        if kind not in SHARED_KINDS:
            log.warning(f"The white-light fit has no transit, eclipse or phase curve "
                        f"(astrophysical={kind!r}, "
                        f"status {white['meta'].get('detrended_white_light')!r}): there is no "
                        "orbit to share; step skipped. Give the white light t0 and the orbit "
                        "if its search missed the event.")
            return QTable(meta={self.class_alias: "SKIPPED", "white_light_table": white_source})
        ld_table = None
        if self.limb_darkening_table is not None:
            if not os.path.exists(self.limb_darkening_table):
                raise ValueError(f"limb_darkening_table {self.limb_darkening_table!r} "
                                 "does not exist.")
            ld_table = Table.read(self.limb_darkening_table, format="ascii.ecsv")
            missing = {"wavelength", "u1", "u2"} - set(ld_table.colnames)
            if missing:
                raise ValueError(f"limb_darkening_table lacks the columns {sorted(missing)}.")
        tspec, speclc = fit_spectral_light_curves(
            spectra, white, edges, regressors=read["regressors"], table_meta=read["table_meta"],
            limb_darkening_table=ld_table, **self.fit_options(len(edges) - 1),
        )
        meta = tspec.meta
        meta["white_light_table"] = white_source
        meta["drift_table"] = read["drift_source"]
        static = {k: drift.meta[k] for k in DRIFT_META
                  if drift is not None and drift.meta.get(k) is not None}
        meta["wavelength_correction"] = static or "none found (no drift table metadata)"
        if static:
            log.info(f"Wavelengths corrected for a static y offset of "
                     f"{static.get('static_y_offset', 0.0):.4f} +/- "
                     f"{static.get('static_y_offset_err', np.nan):.4f} px "
                     f"({static.get('static_y_method', 'unknown method')})")
        meta[self.class_alias] = "COMPLETE"
        _log_spectrum(tspec)

        if self.save_results:
            output_path = self.make_output_path()
            tspec.write(output_path, format="ascii.ecsv", overwrite=True)
            curves_path = self.make_output_path(suffix="speclc")
            speclc.write(curves_path, format="ascii.ecsv", overwrite=True)
            log.info(f"Saved {output_path} and {curves_path}")
        if self.save_plot or self.save_results:
            from jwst_tso_ext.spectral_light_curves.plotting import plot_spectrum

            plot_spectrum(tspec, speclc, self.make_output_path(ext="png"))
        return tspec

    def fit_options(self, nbins):
        """
        This step's parameters as options of ``fit_spectral_light_curves``.

        Parameters
        ----------
        nbins : int
            Number of bins (bounds the number of processes).

        Returns
        -------
        dict
            Keyword arguments (all but the spectra, white light, edges, regressors,
            table metadata and limb-darkening table).
        """
        return dict(
            self.shared_fit_options(),
            common_mode=self.common_mode,
            limb_darkening=self.limb_darkening,
            u1=self.u1,
            u2=self.u2,
            n_workers=thread_count(self.maximum_cores, nbins),
            poly_selection=self.poly_selection,
            ramp_selection=self.ramp_selection,
        )

    def _read_product(self, input_data):
        """The spectra, bins, regressors and white-light sources of an x1dints product."""
        # Only read from the input: no copy needed, and nothing is written back to it.
        model = self.prepare_output(input_data, make_copy=False)
        if not model.hasattr("spec") or len(model.spec) == 0:
            log.error("No valid input spectra found; step skipped.")
            return None
        spectra = spectra_from_model(model)
        if len(spectra["int_num"]) < 2:
            raise ValueError(f"The input holds {len(spectra['int_num'])} integration(s): "
                             "spectroscopic light curves need a time series (NINTS > 1).")
        edges = bin_edges(self.min_wavelength, self.max_wavelength,
                          width=None if self.resolving_power else self.bin_width,
                          resolving_power=self.resolving_power, edges=self.bin_edges)
        drift, drift_source = find_drift_table(input_data, model, self.drift_table,
                                               self.input_dir)
        regressors = {}
        if drift is not None and self.regressors:
            log.info(f"Using drift table {drift_source} for regressors {list(self.regressors)}")
            regressors = regressors_from_drift_table(drift, spectra["int_num"], self.regressors)

        def fit_white():
            return fit_white_light(model, drift_table=self.drift_table)

        return dict(spectra=spectra, edges=edges, regressors=regressors, drift=drift,
                    drift_source=drift_source, table_meta=product_table_meta(model),
                    fit_white=fit_white,
                    whtlt_beside=beside_input(input_data, model, "whtlt", self.input_dir))

    def _read_long_form(self, source):
        """The spectra, bins, regressors and white-light sources of a long-form table."""
        if self.save_results and not isinstance(source, Table):
            for suffix in (None, "speclc"):
                check_not_overwritten(source, self.make_output_path(suffix=suffix))
        spectra = read_long_form(source, wavelength_column=self.table_wavelength_column,
                                 regressors=self.regressors, prefer_time="BJD_TDB",
                                 **self.table_column_options())
        edges = bin_edges_around(spectra["wavelength"])
        log.info(f"The table's own {edges.size - 1} bins are fitted (edges halfway between "
                 "their centres); the binning parameters are not used.")
        if self.drift_table is not None:
            log.warning("drift_table is not used with a light-curve table: regressors are "
                        "the table's own columns (regressors parameter).")
        regressors = spectra.pop("regressors")
        table_meta = dict(spectra.pop("meta"), bins="the table's own")

        def fit_white():
            return self._white_light_from_bins(spectra, edges, regressors)

        beside = (None if isinstance(source, Table)
                  else beside_input(os.fspath(source), None, "whtlt", self.input_dir))
        return dict(spectra=spectra, edges=edges, regressors=regressors, drift=None,
                    drift_source=None, table_meta=table_meta, fit_white=fit_white,
                    whtlt_beside=beside)

    def _white_light_from_bins(self, spectra, edges, regressors):
        """The white light of a long-form table's bins, fitted as the white-light step does."""
        white, white_err, _ = sum_white_light(
            spectra["wavelength"], spectra["flux"], spectra["error"],
            min_wave=edges[0], max_wave=edges[-1], max_bad_fraction=self.max_bad_fraction,
            fill_window=self.fill_window)
        scale = spectra["time_scale"]
        time = spectra["bjd_tdb"] if scale == "BJD_TDB" else spectra["mjd_utc"]
        table = Table({scale: time, "whitelight_flux": white, "whitelight_flux_err": white_err,
                       "int_num": spectra["int_num"], **regressors})
        return fit_white_light(table, time_column=scale, regressors=list(regressors))

    def remove_suffix(self, name):
        """
        Remove a known product suffix from a file name, ours (``speclc``) included.

        Parameters
        ----------
        name : str
            A file name without extension.

        Returns
        -------
        root : str
            The name without its suffix.
        separator : str
            The separator of the suffix removed (``_``), or None.
        """
        return product_root(name)

    def _white_light(self, white_light, beside, fit_white):
        """
        The white-light table as a dict of its meta and columns, and where it came from.

        The one given, else the ``white_light_table`` parameter, else ``beside`` (the
        ``_whtlt.ecsv`` beside the input), else ``fit_white()``.
        """
        source = None
        if white_light is None:
            path = self.white_light_table
            if path is not None and not os.path.exists(path):
                raise ValueError(f"white_light_table {path!r} does not exist.")
            path = path or beside
            if path is not None:
                white_light, source = path, str(path)
        elif not isinstance(white_light, str):
            source = "given by the caller"
        if isinstance(white_light, str):
            source = white_light
            white_light = Table.read(white_light, format="ascii.ecsv")
        if white_light is not None and "detrended_white_light" not in white_light.meta:
            # e.g. jwst's own white_light product beside an official x1dints: no fit in it
            if source == self.white_light_table or source == "given by the caller":
                raise ValueError(f"The white-light table ({source}) holds no fit: give the "
                                 "table written by detrended_white_light (<root>_whtlt.ecsv).")
            log.info(f"{source} holds no detrended_white_light fit (jwst's white_light "
                     "product?); not used.")
            white_light, source = None, None
        if white_light is None:
            log.info("No white-light table given or found beside the input: fitting the "
                     "white light here (detrended_white_light defaults).")
            white_light = fit_white()
            source = "fitted by spectral_light_curves"
        log.info(f"Shared orbit from the white light ({source})")
        columns = {}
        for name in ("int_num", "systematics_model", "residual", "clipped"):
            if name in white_light.colnames:
                columns[name] = np.asarray(getattr(white_light[name], "value", white_light[name]))
        return dict(columns, meta=dict(white_light.meta)), source


def bin_edges_around(centers):
    """
    Bin edges halfway between increasing bin centres (the outer ones mirrored).

    Parameters
    ----------
    centers : ndarray (nbins,)
        Increasing bin centres (micron).

    Returns
    -------
    ndarray (nbins + 1,)
        Edges; a single bin is 1 micron wide.
    """
    centers = np.asarray(centers, float)
    if centers.size == 1:
        return centers[0] + np.array([-0.5, 0.5])
    middle = 0.5 * (centers[1:] + centers[:-1])
    return np.concatenate([[2 * centers[0] - middle[0]], middle, [2 * centers[-1] - middle[-1]]])


def _log_spectrum(tspec):
    """One INFO line per bin."""
    names = (["depth", "fp_day", "fp_night"] if "fp_day" in tspec.colnames
             else ["fp"] if "fp" in tspec.colnames else ["depth"])
    for row in tspec:
        values = ", ".join(f"{name} {1e6 * row[name]:8.0f} +/- {1e6 * row[name + '_err']:5.0f}"
                           for name in names)
        log.info(f"{float(row['wavelength'].value):6.3f} um: {values} ppm, "
                 f"rms {row['rms_ppm']:6.0f} ppm (expected {row['expected_ppm']:6.0f}), "
                 f"beta {row['beta']:.2f}")
