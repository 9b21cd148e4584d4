"""Measure and correct the drift of the MIRI LRS slitless trace between integrations."""

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table
from jwst.stpipe import Step
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.parallel import thread_count
from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.wavelength_drift import resample, shift_estimator, wavelength_solution

log = logging.getLogger(__name__)

__all__ = ["WavelengthDriftStep"]

_VARIANCES = ("var_poisson", "var_rnoise", "var_flat")


class WavelengthDriftStep(PackageStepMixin, Step):
    """Measure per-integration trace shifts, correct the static offset and resample the drift."""

    class_alias = "wavelength_drift"

    spec = """
    bad_dq_flags = force_list(default=list('DO_NOT_USE'))  # DQ flag names excluding a pixel from the fit
    reference = string(default='median')  # 'median' frame, a 0-based integration index, or a FITS image (SCI, ERR) to measure against, e.g. the _driftref.fits of an exposure's first segment
    x_half_width = integer(default=7)  # half width (columns) of the fit window around the trace
    background_offset = integer(default=10)  # min distance (columns) of background pixels from trace
    background_rows = integer(default=9)  # rows averaged for the (smooth) local background
    row_threshold = float(default=0.05)  # fit rows where the reference spectrum exceeds this fraction of peak
    row_padding = integer(default=8)  # rows added on both sides of the bright rows (spectral edges)
    row_range = int_list(min=2, max=2, default=None)  # explicit first, last fitted row (overrides threshold)
    n_iterations = integer(default=3)  # Gauss-Newton iterations of the shift fits
    y_weights = option('optimal', 'uniform', default='optimal')  # columns collapsed into the spectrum the y shift is fitted on: minimum-variance weights blind to an x shift (optimal) or a plain sum (uniform)
    max_reference_frames = integer(default=500)  # integrations entering the median frame
    chunk_size = integer(default=256)  # integrations measured at once
    maximum_cores = string(default='all')  # threads measuring and resampling chunks of integrations: an integer, 'quarter', 'half', 'all' or 'none' (threads share the cube: extra memory is one chunk per thread)
    template = string(default=None)  # stellar F_nu template table (wavelength [um], flux columns) for the static y offset
    template_poly_degree = integer(default=2)  # degree (in row) of the unknown smooth response multiplying template x nominal response
    y_offset = float(default=None)  # user static dispersion offset (pixels); overrides the template
    max_shift = float(default=0.5)  # |x_shift| or |y_shift| (px) beyond which the Taylor-model fit is invalid: integration flagged (NaN shift, DO_NOT_USE)
    min_flux_scale = float(default=0.5)  # integrations whose fitted flux relative to the reference is below this are flagged likewise (trace lost)
    correct_drift = option('resample', 'none', default='resample')  # resample integrations onto the reference position
    y_smoothing = integer(default=25, min=1)  # running mean (integrations) of the measured y shifts applied in the resampling; 1: each integration's own y shift. The table keeps the raw measurements.
    x_smoothing = integer(default=1, min=1)  # same for x (x is measured to ~0.002 px per 1.6 s integration, below the jitter)
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

        bad = 0
        for name in self.bad_dq_flags or []:
            bad |= dqflags.pixel[str(name).upper()]
        n_threads = thread_count(
            self.maximum_cores, -(-result.data.shape[0] // resample.CHUNK_SIZE)
        )
        reference_data, reference = _reference_source(self.reference, result)
        if isinstance(reference, int):
            _check_reference_integration(*reference_data, reference, bad)
        ref = shift_estimator.make_reference(
            *reference_data,
            reference=reference,
            bad_flags=bad,
            x_half_width=self.x_half_width,
            background_offset=self.background_offset,
            row_threshold=self.row_threshold,
            row_padding=self.row_padding,
            row_range=self.row_range,
            max_frames=self.max_reference_frames,
            background_rows=self.background_rows,
            y_weights=self.y_weights,
        )
        shifts = shift_estimator.measure_shifts(
            result.data,
            result.err,
            result.dq,
            ref,
            bad_flags=bad,
            n_iterations=self.n_iterations,
            chunk_size=self.chunk_size,
            n_threads=n_threads,
        )

        failed = ~(np.isfinite(shifts["x_shift"]) & np.isfinite(shifts["y_shift"]))
        with np.errstate(invalid="ignore"):
            too_far = ~failed & (
                (np.abs(shifts["x_shift"]) > self.max_shift)
                | (np.abs(shifts["y_shift"]) > self.max_shift)
                | ~(shifts["scale"] > self.min_flux_scale)
            )
        if too_far.any():
            log.warning(
                "Integrations %s: trace shift beyond max_shift=%.2f px or flux below "
                "min_flux_scale=%.2f of the reference; the fit is not valid there, "
                "integrations flagged DO_NOT_USE with NaN shifts",
                _int_numbers(result, too_far),
                self.max_shift,
                self.min_flux_scale,
            )
            for name in ("x_shift", "y_shift", "x_shift_err", "y_shift_err", "trace_width"):
                shifts[name] = np.where(too_far, np.nan, shifts[name])
            failed |= too_far
        if failed.all():
            raise ValueError(
                "wavelength_drift could not fit any integration (no usable pixels, or every "
                "trace shifted beyond max_shift / below min_flux_scale)"
            )
        if failed.any():
            log.warning(
                "Integrations %s could not be fitted: left unshifted and flagged DO_NOT_USE",
                _int_numbers(result, failed),
            )

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
            xs = resample.smooth_shifts(shifts["x_shift"], self.x_smoothing)
            ys = resample.smooth_shifts(shifts["y_shift"], self.y_smoothing)
            # the output is this step's own copy (or the pipeline's): shift it in place,
            # so that memory stays one cube plus one chunk
            resample.shift_cube_in_place(
                result.data,
                -xs,
                -ys,
                errors=[result.err],
                variances=[getattr(result, name) for name in _VARIANCES if result.hasattr(name)],
                dq=result.dq,
                flag=dqflags.pixel["DO_NOT_USE"],
                n_threads=n_threads,
            )
            log.info("Integrations resampled onto the reference position")

        if failed.any():
            result.dq[failed] |= dqflags.pixel["DO_NOT_USE"]
        table = self._table(result, shifts)
        result.drift_table = table.as_array()
        # the reference actually used, so that later segments can share it
        result.drift_reference = ref.frame.astype(np.float32)
        result.drift_reference_err = np.sqrt(ref.variance).astype(np.float32)
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
        path = self.template
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"wavelength_drift template {path!r} not found: give an existing table file "
                "(wavelength [um], flux columns), or use y_offset instead"
            )
        try:
            tab = Table.read(path)
            wave = np.asarray(tab.columns[0], dtype=float)
            flux = np.asarray(tab.columns[1], dtype=float)
        except Exception as error:  # noqa: BLE001 - any reader failure: one clear message
            raise ValueError(
                f"wavelength_drift template {path!r} is not a readable table with wavelength "
                f"[um] and flux columns ({type(error).__name__}: {error})"
            ) from error
        good = np.isfinite(wave) & np.isfinite(flux)
        if good.sum() < 2:
            raise ValueError(
                f"wavelength_drift template {path!r} has fewer than 2 finite "
                "(wavelength, flux) rows"
            )
        wave, flux = wave[good], flux[good]
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


def _reference_source(reference, model):
    """Arrays and index that `shift_estimator.make_reference` builds the reference from.

    Parameters
    ----------
    reference : str
        ``'median'``, an integration index, or the path of a FITS image holding a
        reference frame (SCI and ERR extensions, e.g. a ``_driftref.fits`` product).
    model : `~stdatamodels.jwst.datamodels.CubeModel`
        The integrations being measured.

    Returns
    -------
    arrays : tuple of numpy.ndarray
        ``(data, err, dq)`` cubes to build the reference from.
    index : str or int
        ``'median'`` or the integration index within ``arrays``.

    Raises
    ------
    ValueError
        If ``reference`` is neither 'median', an integer, nor a readable image of the
        model's frame shape.
    """
    text = str(reference).strip()
    if text.lower() == "median":
        return (model.data, model.err, model.dq), "median"
    try:
        return (model.data, model.err, model.dq), int(text)
    except ValueError:
        pass
    path = Path(text)
    if not path.is_file():
        raise ValueError(
            f"reference must be 'median', an integration index or an existing FITS image; "
            f"{text!r} is none of these"
        )
    try:
        with datamodels.ImageModel(str(path)) as image:
            data = np.asarray(image.data, dtype=np.float32)
            err = np.asarray(image.err, dtype=np.float32)
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad reference file
        raise ValueError(f"reference image {path} cannot be read: {error}") from error
    if data.shape != model.data.shape[1:]:
        raise ValueError(
            f"reference image {path} has shape {data.shape}; "
            f"the integrations are {model.data.shape[1:]}"
        )
    return (data[None], err[None], None), 0


def _int_numbers(model, mask):
    """Integration numbers (1-based, as in the drift table) where ``mask`` is set."""
    start = model.meta.exposure.integration_start or 1
    return ", ".join(str(start + i) for i in np.flatnonzero(mask))


def _check_reference_integration(data, err, dq, index, bad):
    """Raise a clear ValueError if the chosen reference integration has no usable pixel."""
    nints = data.shape[0]
    if not -nints <= index < nints:
        raise ValueError(f"reference integration {index} outside 0..{nints - 1}")
    frame = data[index]
    usable = np.isfinite(frame) & (frame != 0)
    if dq is not None:
        usable &= (dq[index] & bad) == 0
    if not usable.any():
        raise ValueError(
            f"reference integration {index} has no usable pixels (all NaN, zero or flagged); "
            "choose another integration or reference='median'"
        )
