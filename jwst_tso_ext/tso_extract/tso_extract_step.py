"""Vectorised 1-D extraction of MIRI LRS slitless time series (x1dints)."""

import logging

import numpy as np
from jwst.datamodels.utils import flat_multispec
from jwst.extract_1d import extract, spec_wcs
from jwst.extract_1d.apply_apcorr import select_apcorr
from jwst.lib import pipe_utils
from jwst.stpipe import Step
from stdatamodels.jwst import datamodels

from jwst_tso_ext.parallel import thread_count
from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.tso_extract import box_extraction, optimal_extraction

__all__ = ["TsoExtract1dStep"]

log = logging.getLogger(__name__)

#: Exposure types this step extracts; anything else is skipped.
SUPPORTED_EXP_TYPES = ("MIR_LRS-SLITLESS",)

_TIME_COLUMNS = {
    "MJD-BEG": "int_start_MJD_UTC",
    "MJD-AVG": "int_mid_MJD_UTC",
    "MJD-END": "int_end_MJD_UTC",
    "TDB-BEG": "int_start_BJD_TDB",
    "TDB-MID": "int_mid_BJD_TDB",
    "TDB-END": "int_end_BJD_TDB",
}

_UNITS = {
    True: {"flux": "Jy", "f_var": "Jy^2", "sb": "MJy/sr", "sb_var": "MJy^2 / sr^2"},
    False: {"flux": "DN/s", "f_var": "DN^2 / s^2", "sb": "DN/s", "sb_var": "DN^2 / s^2"},
}


class TsoExtract1dStep(PackageStepMixin, Step):
    """Extract 1-D spectra from every integration of a MIRI LRS slitless cube at once."""

    class_alias = "tso_extract_1d"

    spec = """
    subtract_background = boolean(default=None)  # subtract background? None: as the EXTRACT1D reference
    apply_apcorr = boolean(default=True)  # apply the aperture correction (point sources)?
    use_source_posn = boolean(default=None)  # center the aperture on the source (WCS)? None: reference/default
    position_offset = float(default=0)  # extra cross-dispersion shift of the aperture (pixels)
    smoothing_length = integer(default=None)  # background boxcar smoothing along the dispersion; None: reference
    bkg_fit = option("poly", "mean", "median", None, default=None)  # background fit per row; None: reference
    bkg_order = integer(default=None, min=0)  # polynomial order for bkg_fit='poly'; None: reference
    method = option("box", "optimal", default="box")  # box (as jwst) or optimal (Horne 1986)
    optimal_clip_sigma = float(default=5.0, min=0)  # optimal: outlier rejection threshold (sigma)
    optimal_max_iter = integer(default=5, min=0)  # optimal: max rejection iterations
    integrations_per_chunk = integer(default=64, min=1)  # integrations per vectorised block (memory)
    maximum_cores = string(default='all')  # threads extracting blocks (box): an integer, 'quarter', 'half', 'all' or 'none'; a few blocks in memory at a time
    suffix = string(default="x1dints")  # output suffix, as calwebb_tso3's extract_1d
    """  # noqa: E501

    reference_file_types = ["extract1d", "apcorr"]

    def process(self, input_data):
        """
        Extract spectra from all integrations.

        Parameters
        ----------
        input_data : str or `~stdatamodels.jwst.datamodels.CubeModel` or \
                     `~stdatamodels.jwst.datamodels.SlitModel`
            Calibrated (photom) MIRI LRS slitless exposure with 3-D data and a WCS.

        Returns
        -------
        `~stdatamodels.jwst.datamodels.TSOMultiSpecModel`
            The x1dints product, or a copy of the input marked SKIPPED.
        """
        # The input is only read; a copy is made on the skip path only.
        model = self.prepare_output(input_data, make_copy=False)

        reason = _unsupported_reason(model)
        if reason is not None:
            log.warning(f"{reason}; tso_extract_1d will be skipped.")
            return self._skip(model, input_data)

        extract_ref = self.get_reference_file(model, "extract1d")
        apcorr_ref = "N/A"
        if self.apply_apcorr and self.method == "optimal":
            log.warning("Turning off aperture correction for optimal extraction")
        elif self.apply_apcorr:
            apcorr_ref = self.get_reference_file(model, "apcorr")
        if extract_ref != "N/A":
            log.info(f"Using EXTRACT1D reference file {extract_ref}")
        else:
            log.warning("No EXTRACT1D reference file: extracting the whole array, as jwst does.")
        if apcorr_ref != "N/A":
            log.info(f"Using APCORR reference file {apcorr_ref}")

        result = extract_cube(
            model,
            extract_ref,
            apcorr_ref,
            subtract_background=self.subtract_background,
            use_source_posn=self.use_source_posn,
            position_offset=self.position_offset,
            smoothing_length=self.smoothing_length,
            bkg_fit=self.bkg_fit,
            bkg_order=self.bkg_order,
            chunk_size=self.integrations_per_chunk,
            n_threads=thread_count(
                self.maximum_cores, -(-model.data.shape[0] // self.integrations_per_chunk)
            ),
            method=self.method,
            clip_sigma=self.optimal_clip_sigma,
            max_iter=self.optimal_max_iter,
        )
        if result is None:
            return self._skip(model, input_data)
        result.meta.cal_step.extract_1d = "COMPLETE"
        if model is not input_data:
            model.close()
        return result

    @staticmethod
    def _skip(model, input_data):
        """Return a copy of the input marked SKIPPED."""
        output = model.copy() if model is input_data else model
        output.meta.cal_step.extract_1d = "SKIPPED"
        return output


def _unsupported_reason(model):
    """Return why ``model`` cannot be extracted here, or None if it can."""
    if not isinstance(model, (datamodels.CubeModel, datamodels.SlitModel)):
        return f"Input is a {type(model).__name__}, not a CubeModel or SlitModel"
    if model.data is None or model.data.ndim != 3:
        return "Input data are not a 3-D (integrations) array"
    exp_type = model.meta.exposure.type
    if exp_type not in SUPPORTED_EXP_TYPES:
        return f"EXP_TYPE {exp_type} is not supported (only {', '.join(SUPPORTED_EXP_TYPES)})"
    if getattr(model.meta, "wcs", None) is None:
        return "Input has no WCS (run assign_wcs)"
    return None


def _array(model, name):
    """Return an array extension if it is set, without creating a default one."""
    if name in model.instance:
        return model.instance[name]
    return None


def _source_type(model):
    """Source type as jwst's extract_1d determines it (without touching the model)."""
    source_type = (
        getattr(model, "source_type", None) if isinstance(model, datamodels.SlitModel) else None
    )
    if source_type is None:
        source_type = model.meta.target.source_type
    return source_type


def extract_cube(
    model,
    extract_ref="N/A",
    apcorr_ref="N/A",
    subtract_background=None,
    use_source_posn=None,
    position_offset=0.0,
    smoothing_length=None,
    bkg_fit=None,
    bkg_order=None,
    chunk_size=64,
    n_threads=1,
    method="box",
    clip_sigma=5.0,
    max_iter=5,
):
    """
    Extract all integrations of ``model`` into a TSOMultiSpecModel.

    The aperture, background regions, wavelengths and aperture correction are
    set up with jwst's own functions (``get_extract_parameters``,
    ``define_aperture``, the APCORR classes), so they are those of
    ``Extract1dStep``; the per-integration extraction is vectorised
    (`box_extraction.box_extract`).  ``model`` is not modified.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.CubeModel` or `~stdatamodels.jwst.datamodels.SlitModel`
        Input with 3-D data and a WCS.
    extract_ref, apcorr_ref : str
        EXTRACT1D (JSON) and APCORR reference file paths, or "N/A".
    subtract_background, use_source_posn, position_offset, smoothing_length, bkg_fit, bkg_order
        As the parameters of ``Extract1dStep`` (None: from the reference file).
    chunk_size : int
        Integrations per vectorised block.
    n_threads : int
        Blocks extracted in parallel by the box extraction.
    method : {"box", "optimal"}
        Box extraction (identical to jwst's) or optimal extraction (Horne 1986,
        profile from the data, see `optimal_extraction`); surface brightness is
        zero for "optimal", as in jwst.
    clip_sigma, max_iter
        Outlier rejection of the optimal extraction.

    Returns
    -------
    `~stdatamodels.jwst.datamodels.TSOMultiSpecModel` or None
        None if no spectrum can be extracted (logged).
    """
    exp_type = model.meta.exposure.type
    slitname = exp_type
    sp_order = extract.get_spectral_order(model)
    if sp_order == 0 and not extract.is_prism(model):
        log.warning("Spectral order 0 is a direct image; nothing to extract.")
        return None

    s_photom = model.meta.cal_step.photom
    photom_done = s_photom is not None and s_photom.upper() == "COMPLETE"
    if not photom_done:
        log.warning("The photom step has not been run.")
    pixel_solid_angle = None
    if photom_done:
        pixel_solid_angle = model.meta.photometry.pixelarea_steradians
        if pixel_solid_angle is None:
            pixel_solid_angle = 1.0
            log.warning("Pixel area (solid angle) is not populated; the flux will not be correct.")

    source_type = _source_type(model)
    if source_type != "POINT" and use_source_posn is None:
        use_source_posn = False
        log.info(f"Setting use_source_posn to False for source type {source_type}")

    ref_dict = extract.read_extract1d_ref(extract_ref)
    params = extract.get_extract_parameters(
        ref_dict,
        model,
        slitname,
        sp_order,
        model.meta,
        smoothing_length=smoothing_length,
        bkg_fit=bkg_fit,
        bkg_order=bkg_order,
        subtract_background=subtract_background,
        use_source_posn=use_source_posn,
        position_offset=position_offset,
        extraction_type="box",
        psf_ref_name="N/A",
    )
    if params["match"] == extract.NO_MATCH:
        raise ValueError(f"No aperture for {slitname} in the EXTRACT1D reference {extract_ref}.")
    if params["match"] == extract.PARTIAL:
        log.warning(f"Spectral order {sp_order} not in the EXTRACT1D reference; nothing extracted.")
        return None
    params["dispaxis"] = model.meta.wcsinfo.dispersion_direction
    if params["dispaxis"] is None:
        log.warning("The dispersion direction is missing; nothing extracted.")
        return None

    ra, dec, wavelength, profile, bg_profile, _, limits = extract.define_aperture(
        model, None, params, exp_type
    )
    valid = np.isfinite(wavelength)
    if not np.any(valid):
        log.error("Spectrum is empty; no valid data.")
        return None
    wavelength = wavelength[valid]

    subtract = params["subtract_background"] and bg_profile is not None
    log.info(
        f"{method.capitalize()} extraction of {model.data.shape[0]} integrations at once "
        f"({'background: ' + params['bkg_fit'] if subtract else 'no background'})"
    )
    arrays = (
        model.data,
        _array(model, "var_poisson"),
        _array(model, "var_rnoise"),
        _array(model, "var_flat"),
        profile,
        bg_profile if subtract else None,
    )
    options = {
        "dq": _array(model, "dq"),
        "err": _array(model, "err"),
        "bkg_fit": params["bkg_fit"],
        "bkg_order": params["bkg_order"],
        "smoothing_length": params["smoothing_length"],
        "dispaxis": params["dispaxis"],
        "chunk_size": chunk_size,
    }
    if method == "optimal":
        sums = optimal_extraction.optimal_extract(
            *arrays, clip_sigma=clip_sigma, max_iter=max_iter, **options
        )
    else:
        sums = box_extraction.box_extract(*arrays, n_threads=n_threads, **options)
    columns = box_extraction.finalize_spectra(
        sums, pixel_solid_angle if photom_done else None, surface_brightness=method != "optimal"
    )
    columns = {name: values[:, valid] for name, values in columns.items()}
    columns["WAVELENGTH"] = np.broadcast_to(wavelength, columns["FLUX"].shape)

    point = source_type is not None and source_type.upper() == "POINT"
    if apcorr_ref != "N/A" and point and method != "optimal":
        columns = _aperture_correct(model, columns, apcorr_ref, ra, dec, wavelength, slitname)

    output = _make_output(model, columns, ra, dec, wavelength, params, limits, slitname, sp_order,
                          photom_done)  # fmt: skip
    return output


def _aperture_correct(model, columns, apcorr_ref, ra, dec, wavelength, slitname):
    """Apply the APCORR correction, evaluated like jwst for every integration."""
    log.info("Creating aperture correction.")
    ref_model = extract.read_apcorr_ref(apcorr_ref, model.meta.exposure.type)
    try:
        apcorr_class = select_apcorr(model)
        apcorr = apcorr_class(
            model,
            ref_model.apcorr_table,
            ref_model.sizeunit,
            location=(ra, dec, wavelength.min()),
            slit_name=slitname,
        )
        npixels = columns["NPIXELS"]
        correction = apcorr.apcorr_func(npixels.ravel(), columns["WAVELENGTH"].ravel(), grid=False)
        correction = np.reshape(correction, npixels.shape)
    finally:
        ref_model.close()
    return box_extraction.apply_aperture_correction(columns, correction)


def _make_output(model, columns, ra, dec, wavelength, params, limits, slitname, sp_order,
                 photom_done):  # fmt: skip
    """Build the TSOMultiSpecModel exactly as jwst's extract_1d does for 3-D input."""
    output = datamodels.TSOMultiSpecModel()
    if getattr(model, "int_times", None) is not None:
        output.int_times = model.int_times.copy()
    if getattr(model, "int_times_stripe", None) is not None:
        output.int_times_stripe = model.int_times_stripe.copy()
    output.update(model, only="PRIMARY")

    units = _UNITS[photom_done]
    column_units = {
        "WAVELENGTH": "um",
        "FLUX": units["flux"],
        "FLUX_ERROR": units["flux"],
        "FLUX_VAR_POISSON": units["f_var"],
        "FLUX_VAR_RNOISE": units["f_var"],
        "FLUX_VAR_FLAT": units["f_var"],
        "SURF_BRIGHT": units["sb"],
        "SB_ERROR": units["sb"],
        "SB_VAR_POISSON": units["sb_var"],
        "SB_VAR_RNOISE": units["sb_var"],
        "SB_VAR_FLAT": units["sb_var"],
        "BACKGROUND": units["sb"],
        "BKGD_ERROR": units["sb"],
        "BKGD_VAR_POISSON": units["sb_var"],
        "BKGD_VAR_RNOISE": units["sb_var"],
        "BKGD_VAR_FLAT": units["sb_var"],
    }

    # Metadata of one spectrum (first integration), set as jwst sets it.
    spec_dtype = datamodels.SpecModel().get_dtype("spec_table")
    first = np.zeros(wavelength.size, dtype=spec_dtype)
    for name in spec_dtype.names:
        first[name] = columns[name][0]
    # the per-spectrum models are filled field by field and validated once, when
    # complete (validation on every assignment cost more than the extraction)
    spec = datamodels.SpecModel(spec_table=first, validate_on_assignment=False)
    spec.meta.wcs = spec_wcs.create_spectral_wcs(ra, dec, wavelength)
    for name, unit in column_units.items():
        spec.spec_table.columns[name.lower()].unit = unit
    spec.slit_ra = ra
    spec.slit_dec = dec
    spec.spectral_order = sp_order
    spec.dispersion_direction = params["dispaxis"]
    spec.detector = model.meta.instrument.detector
    spec.position_angle = model.meta.aperture.position_angle
    lower, upper, left, right = limits
    if spec.dispersion_direction == extract.HORIZONTAL:
        spec.extraction_xstart, spec.extraction_xstop = left + 1, right + 1
        spec.extraction_ystart, spec.extraction_ystop = lower + 1, upper + 1
    else:
        spec.extraction_xstart, spec.extraction_xstop = lower + 1, upper + 1
        spec.extraction_ystart, spec.extraction_ystop = left + 1, right + 1
    extract.copy_keyword_info(model, slitname, spec)
    if isinstance(model, datamodels.SlitModel) and spec.source_type is None:
        # jwst fills a SlitModel's empty source_type from meta.target before copying
        spec.source_type = model.meta.target.source_type

    # All integrations in one flat table (jwst's make_tso_specmodel layout).
    tso_spec = datamodels.TSOSpecModel(validate_on_assignment=False)
    in_cols = spec.schema["properties"]["spec_table"]["datatype"]
    out_cols = tso_spec.schema["properties"]["spec_table"]["datatype"]
    all_cols, is_vector = flat_multispec.determine_vector_and_meta_columns(in_cols, out_cols)
    nints, nwave = columns["FLUX"].shape
    defaults = tso_spec.schema["properties"]["spec_table"]["default"]
    table = flat_multispec.make_empty_recarray(nwave, nints, all_cols, is_vector, defaults=defaults)
    for name in spec_dtype.names:
        table[name] = columns[name]
    table["N_ALONGDISP"] = nwave
    segment = model.meta.exposure.segment_number
    table["SEGMENT"] = 1 if segment is None else segment
    table["INT_NUM"] = np.arange(1, nints + 1)
    for key in _TIME_COLUMNS:
        table[key] = np.nan
    tso_spec.spec_table = table
    flat_multispec.copy_column_units(spec, tso_spec)
    for key in _TIME_COLUMNS:
        tso_spec.spec_table.columns[key].unit = "d"
    tso_spec.update(spec)
    tso_spec.meta.wcs = spec.meta.wcs
    tso_spec.validate()
    output.spec.append(tso_spec)

    if pipe_utils.is_tso(model):
        _populate_time_columns(model, output)
    elif getattr(output, "int_times", None) is not None:
        del output.int_times

    output.meta.wcs = None
    output.meta.target.source_type = None
    return output


def _populate_time_columns(model, output):
    """Copy INT_TIMES into the time columns (vectorised ``populate_time_keywords``)."""
    int_times = getattr(model, "int_times", None)
    if int_times is None or len(int_times) == 0:
        log.warning("INT_TIMES table not found - time keywords will not be populated.")
        return
    nints_data = model.data.shape[0]
    nints = model.meta.exposure.nints
    int_start = model.meta.exposure.integration_start
    if int_start is None:
        log.warning("INTSTART not found; assuming a value of 1.")
        int_start = 1
    int_end = model.meta.exposure.integration_end
    if int_end is None:
        log.warning(f"INTEND not found; assuming a value of {nints}.")
        int_end = nints
    if nints_data > len(int_times):
        log.warning(
            "Not using INT_TIMES table because the data shape is "
            "not consistent with the number of table rows."
        )
        return
    int_num = np.asarray(int_times["integration_number"])
    data_range = (int_start - 1, int_end - 1)
    table_range = (int_num[0] - 1, int_num[-1] - 1)
    offset = data_range[0] - table_range[0]
    if data_range[0] < table_range[0] or data_range[1] > table_range[1] or offset > table_range[1]:
        log.warning(
            "Not using the INT_TIMES table because it does not include "
            "rows for all integrations in the data."
        )
        return
    for spec in output.spec:
        spec.time_scale = "UTC"
        table = spec.spec_table
        rows = np.arange(len(table)) + offset
        table["INT_NUM"] = int_num[rows]
        for column, source in _TIME_COLUMNS.items():
            table[column] = np.asarray(int_times[source])[rows]
