"""Measure and correct the drift of the MIRI LRS slitless trace between integrations."""

import logging

import numpy as np
from astropy.table import Table
from jwst.stpipe import Step
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.stpipe_logging import PackageLoggersMixin
from jwst_tso_ext.wavelength_drift import resample, shift_estimator, wavelength_solution

log = logging.getLogger(__name__)

__all__ = ["WavelengthDriftStep"]

_VARIANCES = ("var_poisson", "var_rnoise", "var_flat")


class WavelengthDriftStep(PackageLoggersMixin, Step):
    """Measure per-integration trace shifts, correct the static offset and resample the drift."""

    class_alias = "wavelength_drift"

    spec = """
    bad_dq_flags = force_list(default=list('DO_NOT_USE'))  # DQ flag names excluding a pixel from the fit
    reference = string(default='median')  # 'median' frame or 0-based integration index
    x_half_width = integer(default=7)  # half width (columns) of the fit window around the trace
    background_offset = integer(default=10)  # min distance (columns) of background pixels from trace
    background_rows = integer(default=9)  # rows averaged for the (smooth) local background
    row_threshold = float(default=0.05)  # fit rows where the reference spectrum exceeds this fraction of peak
    row_padding = integer(default=8)  # rows added on both sides of the bright rows (spectral edges)
    row_range = int_list(min=2, max=2, default=None)  # explicit first, last fitted row (overrides threshold)
    n_iterations = integer(default=3)  # Gauss-Newton iterations of the shift fits
    max_reference_frames = integer(default=500)  # integrations entering the median frame
    chunk_size = integer(default=256)  # integrations processed at once
    template = string(default=None)  # stellar F_nu template table (wavelength [um], flux columns) for the static y offset
    template_poly_degree = integer(default=2)  # degree (in row) of the unknown smooth response multiplying template x nominal response
    y_offset = float(default=None)  # user static dispersion offset (pixels); overrides the template
    correct_drift = option('resample', 'none', default='resample')  # resample integrations onto the reference position
    suffix = string(default='wavelength_drift')  # default suffix of the output product
    """  # noqa: E501

    reference_file_types = []

    def process(self, step_input):
        """
        Measure the drift, update the wavelength solution and resample the integrations.

        Parameters
        ----------
        step_input : str or `~stdatamodels.jwst.datamodels.CubeModel`
            Integrations after assign_wcs (and flat_field).

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.CubeModel`
            Copy of the input, resampled onto the reference position, with the shifted
            WCS and the drift table in ``result.drift_table``.

        Notes
        -----
        The static offset (median trace position against the nominal one) moves the
        WCS: a ``Shift(-dx) & Shift(-dy)`` is inserted after the detector frame, so each
        pixel carries the wavelength of where the star actually fell. The drift of the
        integrations about the reference is removed by resampling them onto the
        reference position (default ``correct_drift='resample'``): extraction and photom
        then see a fixed trace, and the official ``extract_1d`` works unchanged with a
        single WCS. With ``'none'`` only the table is produced.

        The drift table (columns ``int_num, MJD_UTC, x_shift, y_shift, x_shift_err,
        y_shift_err, trace_width``; shift = position minus reference position, pixels,
        positive toward higher column / row) is attached to the product as the
        structured array ``drift_table`` (an extra attribute that stdatamodels keeps in
        the ASDF extension of the FITS file), and written as ``<rootname>_drift.ecsv``
        when ``save_results`` is set. The static offsets are in
        ``meta.wavelength_drift``.
        """
        result = self.prepare_output(step_input, open_as_type=datamodels.CubeModel)
        exp_type = str(result.meta.exposure.type).upper()
        if exp_type != "MIR_LRS-SLITLESS" or result.data.ndim != 3:
            log.warning(
                "wavelength_drift needs MIR_LRS-SLITLESS integrations, got %s; skipped", exp_type
            )
            result.meta.cal_step.wavelength_drift = "SKIPPED"
            return result
        if result.meta.wcs is None:
            raise ValueError("wavelength_drift needs a WCS: run assign_wcs before this step")

        reference = self.reference
        if reference is not None and str(reference).lower() != "median":
            reference = int(reference)
        bad = 0
        for name in self.bad_dq_flags or []:
            bad |= dqflags.pixel[str(name).upper()]
        ref = shift_estimator.make_reference(
            result.data,
            result.err,
            result.dq,
            reference=reference,
            bad_flags=bad,
            x_half_width=self.x_half_width,
            background_offset=self.background_offset,
            row_threshold=self.row_threshold,
            row_padding=self.row_padding,
            row_range=self.row_range,
            max_frames=self.max_reference_frames,
            background_rows=self.background_rows,
        )
        shifts = shift_estimator.measure_shifts(
            result.data,
            result.err,
            result.dq,
            ref,
            bad_flags=bad,
            n_iterations=self.n_iterations,
            chunk_size=self.chunk_size,
        )

        failed = ~(np.isfinite(shifts["x_shift"]) & np.isfinite(shifts["y_shift"]))
        if failed.all():
            raise ValueError("wavelength_drift could not fit any integration (no usable pixels)")
        if failed.any():
            log.warning("%d integrations could not be fitted; left unshifted", failed.sum())

        # static offset
        if self.y_offset is not None:
            y_static = float(self.y_offset)
            log.info("Static y offset from the user: %.4f px", y_static)
        elif self.template is not None:
            y_static = self._template_offset(ref)
            log.info("Static y offset from template %s: %.4f px", self.template, y_static)
        else:
            y_static = 0.0
            log.info("No template or y_offset given: static y offset kept at 0")
        x_static = wavelength_solution.static_x_offset(ref.frame, ref.columns, ref.rows, y_static)
        log.info("Static x offset from the trace position: %.4f px", x_static)
        result.meta.wcs = wavelength_solution.shift_wcs(result.meta.wcs, x_static, y_static)
        if result.hasattr("wavelength") and np.any(result.wavelength):
            yy, xx = np.indices(result.wavelength.shape)
            result.wavelength = np.asarray(result.meta.wcs(xx, yy)[-1], dtype=np.float32)

        if self.correct_drift == "resample":
            variances = [getattr(result, name) for name in _VARIANCES if result.hasattr(name)]
            names = [name for name in _VARIANCES if result.hasattr(name)]
            xs = np.nan_to_num(shifts["x_shift"])
            ys = np.nan_to_num(shifts["y_shift"])
            data, out_v, dq = resample.shift_cube(
                result.data,
                -xs,
                -ys,
                variances=[np.square(result.err), *variances],
                dq=result.dq,
                flag=dqflags.pixel["DO_NOT_USE"],
                chunk_size=self.chunk_size,
            )
            result.data = data.astype(result.data.dtype)
            result.err = np.sqrt(out_v[0]).astype(result.err.dtype)
            for name, var in zip(names, out_v[1:]):
                setattr(result, name, var.astype(np.float32))
            result.dq = dq
            log.info("Integrations resampled onto the reference position")

        table = self._table(result, shifts)
        result.drift_table = table.as_array()
        result.meta.wavelength_drift = {
            "static_x_offset": x_static,
            "static_y_offset": y_static,
            "reference": str(self.reference),
            "correct_drift": self.correct_drift,
        }
        for name in ("x_shift", "y_shift"):
            log.info(
                "%s: mean %.5f px, rms %.5f px, median error %.5f px",
                name,
                np.nanmean(shifts[name]),
                np.nanstd(shifts[name]),
                np.nanmedian(shifts[name + "_err"]),
            )
        if self.save_results:
            path = self.make_output_path(basepath=result.meta.filename, suffix="drift", ext="ecsv")
            table.write(path, format="ascii.ecsv", overwrite=True)
            log.info("Drift table written to %s", path)
        result.meta.cal_step.wavelength_drift = "COMPLETE"
        return result

    def _template_offset(self, ref):
        """Static dispersion offset from the user template."""
        tab = Table.read(self.template)
        wave = np.asarray(tab.columns[0], dtype=float)
        flux = np.asarray(tab.columns[1], dtype=float)
        order = np.argsort(wave)
        spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
        variance = np.nansum(ref.variance[:, ref.columns], axis=1)
        return wavelength_solution.static_y_offset_from_template(
            spectrum,
            variance,
            np.arange(spectrum.size),
            wave[order],
            flux[order],
            poly_degree=self.template_poly_degree,
        )

    @staticmethod
    def _table(model, shifts):
        """Per-integration drift table."""
        nints = model.data.shape[0]
        start = model.meta.exposure.integration_start or 1
        int_num = np.arange(start, start + nints)
        mjd = np.full(nints, np.nan)
        try:
            times = model.int_times
            if times is not None and len(times) > 0:
                lookup = dict(zip(times["integration_number"], times["int_mid_MJD_UTC"]))
                mjd = np.array([lookup.get(i, np.nan) for i in int_num], dtype=float)
        except (AttributeError, KeyError, TypeError, ValueError):
            pass
        return Table(
            {
                "int_num": int_num,
                "MJD_UTC": mjd,
                "x_shift": shifts["x_shift"],
                "y_shift": shifts["y_shift"],
                "x_shift_err": shifts["x_shift_err"],
                "y_shift_err": shifts["y_shift_err"],
                "trace_width": shifts["trace_width"],
            }
        )
