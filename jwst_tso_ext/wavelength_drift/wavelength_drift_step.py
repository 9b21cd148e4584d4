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
from jwst_tso_ext.wavelength_drift import (
    resample,
    response,
    shift_estimator,
    static_offset,
    wavelength_solution,
)

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
    template = string(default=None)  # stellar F_nu table (wavelength [um], flux columns) for the static y offset; overrides stellar_temperature
    stellar_temperature = float(default=None)  # K: blackbody F_nu model of the star for the static y offset when no template is given; None: Rayleigh-Jeans, F_nu ~ nu**2 (no standard JWST keyword carries Teff)
    template_poly_degree = integer(default=2, min=0)  # degree of the smooth correction (polynomial in 7.5 um / wavelength - 1) of the whole-spectrum static y fit that checks a single measured spectral edge
    dispersion_solution = option('specwcs', 'wcs', default='specwcs')  # nominal wavelength per row in the static y fit: the specwcs table interpolated linearly (its calibration nodes), or the exposure's WCS (jwst smooths the table with a spline that departs from the nodes by up to 0.025 um below 5 um)
    y_offset = float(default=None)  # user static dispersion offset (pixels); overrides the fit (0 keeps the nominal wavelength solution)
    plausible_y_offset = float(default=1.25)  # px: a fitted static y offset beyond this is declined (MIRI target acquisition places the star within 14 mas, 0.13 px, 1-sigma radial)
    max_shift = float(default=0.5)  # |x_shift| or |y_shift| (px) beyond which the Taylor-model fit is invalid: integration flagged (NaN shift, DO_NOT_USE)
    min_flux_scale = float(default=0.5)  # integrations whose fitted flux relative to the reference is below this are flagged likewise (trace lost)
    correct_drift = option('resample', 'none', default='resample')  # resample integrations onto the reference position
    y_smoothing = integer(default=25, min=1)  # running mean (integrations) of the measured y shifts applied in the resampling; 1: each integration's own y shift. The table keeps the raw measurements.
    x_smoothing = integer(default=1, min=1)  # same for x (x is measured to ~0.002 px per 1.6 s integration, below the jitter)
    suffix = string(default='wavelength_drift')  # default suffix of the output product
    """  # noqa: E501

    reference_file_types = ["photom", "specwcs"]

    def process(self, step_input, reference=None):
        """
        Measure the drift, update the wavelength solution and resample the integrations.

        Parameters
        ----------
        step_input : str or `~stdatamodels.jwst.datamodels.CubeModel`
            Integrations after assign_wcs (and flat_field).
        reference : str, optional
            What to measure against, as the ``reference`` parameter (which it
            overrides): the pipeline passes its exposure's ``_driftref.fits``.

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.CubeModel`
            Copy of the input, resampled onto the reference position, with the shifted
            WCS and the drift table in ``result.drift_table``.

        Notes
        -----
        The static offset (reference trace position against the nominal one) moves the
        WCS. Its dispersion (``y``) part is fitted by default: the reference spectrum
        against a stellar model (``template``, else a blackbody at
        ``stellar_temperature``, else Rayleigh-Jeans) times the instrument response of
        the ``photom`` reference selected for the exposure, dispersed with the
        exposure's WCS (its specwcs); ``y_offset`` overrides it and a photom reference
        of ``N/A`` leaves it at 0. The offset moves the
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
        when ``save_results`` is set. The static offsets, the error of ``y`` and how
        it was found are in ``meta.wavelength_drift`` and in the drift table's ``meta``
        (keys ``static_x_offset, static_y_offset, static_y_offset_err,
        static_y_method, stellar_template, photom_reference, static_y_fitted,
        static_y_fitted_err, static_y_declined_reason, static_y_checks``).

        The fitted y offset is judged before it is applied
        (`static_offset.estimate_static_y_offset`: reduced chi-square and residual
        structure of each edge fit, agreement of the blue and red edges, distance
        from the search range, ``plausible_y_offset``). If a test fails the offset is
        not applied: a WARNING says why, ``static_y_method`` is ``'declined'`` and
        the fitted value and the reason are recorded.
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

        bad = self._bad_flags()
        n_threads = thread_count(
            self.maximum_cores, -(-result.data.shape[0] // resample.CHUNK_SIZE)
        )
        if reference is None:
            reference = self.reference
        ref = self._make_reference(result, reference)
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
        static = self._static_y_offset(result, ref, reference)
        y_static = static["static_y_offset"]
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
        static_meta = {"static_x_offset": x_static, **static, "crds_context": _crds_context()}
        static_meta.update(reference=str(reference), correct_drift=self.correct_drift)
        result.meta.wavelength_drift = static_meta
        table.meta.update(static_meta)
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

    def _bad_flags(self):
        bad = 0
        for name in self.bad_dq_flags or []:
            bad |= dqflags.pixel[str(name).upper()]
        return bad

    def _make_reference(self, model, reference):
        """The `shift_estimator` reference of ``model`` against ``reference`` (see `process`)."""
        bad = self._bad_flags()
        reference_data, reference = _reference_source(reference, model)
        if isinstance(reference, int):
            _check_reference_integration(*reference_data, reference, bad)
        return shift_estimator.make_reference(
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

    def reference_frame(self, model):
        """The frame this step would measure ``model`` against, and its error.

        The pipeline writes it as the exposure's ``_driftref.fits`` before any segment's
        drift is measured, so that every segment shares one zero point.

        Parameters
        ----------
        model : `~stdatamodels.jwst.datamodels.CubeModel`
            Flat-fielded integrations (with a WCS).

        Returns
        -------
        frame, err : numpy.ndarray
            float32 images of the detector frame's shape.
        """
        ref = self._make_reference(model, self.reference)
        return ref.frame.astype(np.float32), np.sqrt(ref.variance).astype(np.float32)

    def _static_y_offset(self, model, ref, reference):
        """Static dispersion offset, its error and how it was found (``meta.wavelength_drift``).

        The fit (`static_offset.estimate_static_y_offset`) locates the sharp edges of
        the stellar template times the instrument response of the photom reference
        that CRDS selects for the exposure, dispersed with the exposure's own
        (specwcs) wavelength solution, fits the reference spectrum around each edge
        and judges the result; a declined fit leaves the offset at 0.
        """
        static = {
            "static_y_offset": 0.0,
            "static_y_offset_err": float("nan"),
            "static_y_method": "none",
            "stellar_template": "",
            "photom_reference": "",
            "dispersion_solution": "",
            "static_y_fitted": float("nan"),
            "static_y_fitted_err": float("nan"),
            "static_y_declined_reason": "",
            "static_y_checks": "",
        }
        if self.y_offset is not None:
            static.update(static_y_offset=float(self.y_offset), static_y_method="user")
            log.info("Static y offset from the user: %.4f px", static["static_y_offset"])
            return static
        if self.template is not None:
            template_wave, template_flux = self._read_template()
            static.update(static_y_method="template", stellar_template=str(self.template))
        else:
            template_wave, template_flux = wavelength_solution.stellar_template(
                self.stellar_temperature
            )
            if self.stellar_temperature is None:
                static.update(static_y_method="rayleigh_jeans", stellar_template="F_nu ~ nu**2")
            else:
                static.update(
                    static_y_method="blackbody",
                    stellar_template=f"blackbody {float(self.stellar_temperature):g} K",
                )
        photom_name, instrument_response = self._instrument_response(model)
        static["photom_reference"] = photom_name
        if instrument_response is None:
            static.update(static_y_method="none", stellar_template="")
            return static
        wavelength_of_row, static["dispersion_solution"] = self._wavelength_of_row(
            model, ref.x_center
        )
        spectrum = np.nansum(ref.frame[:, ref.columns], axis=1)
        # the reference is a median of n_frames integrations; ref.variance is that of one
        variance = np.nansum(ref.variance[:, ref.columns], axis=1) * (
            0.5 * np.pi / self.reference_frame_count(model, reference)
        )
        estimate = static_offset.estimate_static_y_offset(
            spectrum,
            variance,
            np.arange(spectrum.size),
            template_wave,
            template_flux,
            response=instrument_response,
            wavelength_of_row=wavelength_of_row,
            plausible_offset=self.plausible_y_offset,
            poly_degree=self.template_poly_degree,
        )
        static.update(
            static_y_fitted=estimate.y_offset,
            static_y_fitted_err=estimate.y_offset_err,
            static_y_checks=estimate.summary(),
        )
        log.info("Static y offset edge fits: %s", estimate.summary())
        if not estimate.accepted:
            static.update(
                static_y_method="declined",
                static_y_declined_reason=estimate.reason,
            )
            log.warning(
                "Static y offset declined, the nominal wavelength solution is kept "
                "(fitted %.4f +/- %.4f px with the %s template and the %s response): %s. "
                "Give y_offset (pixels) to set it, or a stellar template closer to the star.",
                estimate.y_offset,
                estimate.y_offset_err,
                static["stellar_template"],
                photom_name,
                estimate.reason,
            )
            return static
        static.update(static_y_offset=estimate.y_offset, static_y_offset_err=estimate.y_offset_err)
        log.info(
            "Static y offset (%s template, %s response, spectral edges): %.4f +/- %.4f px",
            static["stellar_template"],
            photom_name,
            estimate.y_offset,
            estimate.y_offset_err,
        )
        return static

    def reference_frame_count(self, model, reference):
        """Integrations whose median is the reference frame.

        ``'median'``: those of ``model`` the median takes; an integration index: 1; an
        image: the count it records (``meta.wavelength_drift.reference_frames``, written
        with the pipeline's ``_driftref.fits``), else 1.
        """
        text = str(reference).strip()
        if text.lower() == "median":
            nints = model.data.shape[0]
            return len(range(0, nints, max(1, -(-nints // self.max_reference_frames))))
        if not Path(text).is_file():
            return 1
        with datamodels.ImageModel(text) as image:
            count = getattr(image.meta, "wavelength_drift", None)
            count = getattr(count, "reference_frames", None) if count is not None else None
        if count is None:
            log.info("Reference image %s does not record how many integrations it is the "
                     "median of: its err is taken as its own", text)
            return 1
        return int(count)

    def _wavelength_of_row(self, model, x_center):
        """Nominal wavelength per row (specwcs table, or the exposure's WCS) and its source."""
        wcs_solution = _wcs_wavelength_of_row(model.meta.wcs, x_center), "WCS"
        if self.dispersion_solution == "wcs":
            return wcs_solution
        reference = self.get_reference_file(model, "specwcs")
        if isinstance(reference, str) and reference.strip() in ("", "N/A"):
            log.info("No specwcs reference: the static y fit uses the exposure's WCS")
            return wcs_solution
        try:
            if isinstance(reference, str):
                with datamodels.MiriLRSSpecwcsModel(reference) as specwcs:
                    wavetable = np.asarray(specwcs.wavetable).copy()
                    y_ref = specwcs.meta.y_ref_slitless
            else:
                wavetable = np.asarray(reference.wavetable)
                y_ref = reference.meta.y_ref_slitless
            if y_ref is None:
                raise ValueError("no y_ref_slitless (IMYSLTL) in the specwcs")
            solution = response.wavelength_of_row_from_wavetable(
                wavetable, y_ref, model.meta.subarray.ystart or 1
            )
        except Exception as error:  # noqa: BLE001 - fall back to the WCS built from it
            log.warning(
                "specwcs %s unusable for the static y fit (%s); using the exposure's WCS",
                reference,
                error,
            )
            return wcs_solution
        if isinstance(reference, str):
            return solution, f"specwcs {Path(reference).name}"
        name = getattr(reference.meta, "filename", None) or type(reference).__name__
        return solution, f"specwcs {name}"

    def _instrument_response(self, model):
        """Name of the photom reference and the instrument response it gives (or None)."""
        if model.meta.cal_step.photom == "COMPLETE":
            log.info("Input is flux calibrated (photom COMPLETE): flat instrument response")
            return "photom applied", wavelength_solution.flat_response
        reference = self.get_reference_file(model, "photom")
        if isinstance(reference, str) and reference.strip() in ("", "N/A"):
            log.warning(
                "No photom reference (N/A): the instrument response is unknown, static y "
                "offset not fitted and kept at 0 (give y_offset to set it)"
            )
            return "N/A", None
        if isinstance(reference, str):
            name = Path(reference).name
            try:
                with datamodels.MirLrsPhotomModel(reference) as photom:
                    table = np.asarray(photom.phot_table).copy()
            except Exception as error:  # noqa: BLE001 - any reader failure: one clear message
                raise ValueError(
                    f"photom reference {reference} cannot be read as a MIRI LRS photom "
                    f"table ({type(error).__name__}: {error})"
                ) from error
        else:
            name = str(getattr(reference.meta, "filename", None) or type(reference).__name__)
            table = np.asarray(reference.phot_table)
        try:
            instrument_response = response.response_from_phot_table(
                table,
                filter_name=model.meta.instrument.filter or "P750L",
                subarray=model.meta.subarray.name or "SLITLESSPRISM",
            )
        except ValueError as error:
            log.warning("%s: %s; static y offset not fitted and kept at 0", name, error)
            return name, None
        instrument_response.source = name
        return name, instrument_response

    def _read_template(self):
        """Wavelength (micron, increasing) and F_nu of the user template."""
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
        return wave[order], flux[order]

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


def _wcs_wavelength_of_row(wcs, x_center):
    """Nominal wavelength (micron) at a row coordinate, from the exposure's WCS.

    Evaluated at the trace column ``x_center`` without the bounding box; NaN outside
    the calibrated range of the specwcs.
    """

    def wavelength_of_row(rows):
        rows = np.asarray(rows, dtype=float)
        world = wcs(np.full_like(rows, x_center), rows, with_bounding_box=False)
        return np.asarray(world[-1], dtype=float)

    return wavelength_of_row


def _crds_context():
    """The CRDS context in use (recorded with the static offsets; '' if CRDS cannot say)."""
    try:
        from stpipe import crds_client

        return str(crds_client.get_context_used("jwst"))
    except Exception:  # noqa: BLE001 - provenance only, never a reason to fail
        return ""


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
