"""Synthetic MIRI LRS slitless reference files for the offline CRDS cache.

Every number comes from `jwst_tso_ext.miri_lrs.detector` and
`jwst_tso_ext.miri_lrs.geometry`, the same modules the simulator uses, so the
official calibration steps undo exactly what the simulator injects. The
references cover the SLITLESSPRISM subarray only (416 x 72, SUBSTRT1=1,
SUBSTRT2=529); they are realistic in form, not flight calibrations.

Each builder returns a datamodel (or, for ``extract1d``, a JSON-serialisable
dict); `write_references` saves them under the CRDS names of `REFERENCE_NAMES`.
FITS references carry CHECKSUM/DATASUM keywords (crds verifies them when
``CRDS_FITS_VERIFY_CHECKSUM`` is on, its default).
"""

import json
import logging
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.modeling import models
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.miri_lrs import detector, geometry

log = logging.getLogger(__name__)

__all__ = [
    "REFERENCE_NAMES",
    "USEAFTER",
    "DARK_NGROUPS",
    "APCORR_SIZES",
    "EXTRACT_WIDTH",
    "DISTORTION_MATRIX",
    "DISTORTION_TRANSLATION",
    "DISTORTION_ORIGIN",
    "build_reference",
    "write_references",
]

#: reftype -> file name in ``references/jwst/miri``. Standard CRDS names (crds derives
#: the cache sub-directory from them); serial 9001 marks them as synthetic.
REFERENCE_NAMES = {
    "mask": "jwst_miri_mask_9001.fits",
    "saturation": "jwst_miri_saturation_9001.fits",
    "linearity": "jwst_miri_linearity_9001.fits",
    "rscd": "jwst_miri_rscd_9001.fits",
    "reset": "jwst_miri_reset_9001.fits",
    "dark": "jwst_miri_dark_9001.fits",
    "gain": "jwst_miri_gain_9001.fits",
    "readnoise": "jwst_miri_readnoise_9001.fits",
    "distortion": "jwst_miri_distortion_9001.asdf",
    "specwcs": "jwst_miri_specwcs_9001.fits",
    "flat": "jwst_miri_flat_9001.fits",
    "photom": "jwst_miri_photom_9001.fits",
    "extract1d": "jwst_miri_extract1d_9001.json",
    "apcorr": "jwst_miri_apcorr_9001.fits",
}

#: USEAFTER of every reference (before launch, so it applies to all data).
USEAFTER = "2000-01-01T00:00:00"

#: Groups in the dark reference; stcal extrapolates linearly (from the last two
#: groups) when the science ramp is longer, which is exact for a linear dark.
DARK_NGROUPS = 10
#: Integrations in the dark reference (later science integrations reuse the last one).
DARK_NINTS = 1

#: Full extraction width in pixels of the extract1d box (as flight: 11 columns).
EXTRACT_WIDTH = 11
#: Aperture widths (pixels) tabulated in the apcorr reference.
APCORR_SIZES = np.array([3, 5, 7, 9, 11, 13, 15, 17, 19, 21], dtype=np.uint8)
#: Wavelength grid (micron) of the apcorr table.
_TABLE_WAVELENGTHS = np.linspace(4.0, 14.5, 106)
#: Wavelength grid (micron) of the photom table: the whole calibrated range of the
#: specwcs (3.7-14 micron), where the simulator puts light, so that photom calibrates
#: every illuminated row and the static offset fit of ``wavelength_drift`` sees the
#: simulated response down to the blue end of the spectrum.
_PHOTOM_WAVELENGTHS = np.linspace(3.5, 14.5, 111)

#: Linearised flight imager distortion (``jwst_miri_imager_distortion_flt9`` near the
#: slitless reference point; provenance: /work/shared/reference/README.md).
#: Full-frame 0-indexed pixel (x, y) -> (V2, V3) arcsec:
#: ``Shift(-x0) & Shift(-y0) | AffineTransformation2D(matrix, translation)``.
DISTORTION_ORIGIN = (37.5, 828.0)
DISTORTION_MATRIX = np.array([[-0.10939, 0.00856], [0.00987, 0.11005]])
DISTORTION_TRANSLATION = np.array([-378.60, -344.75])

_SHAPE = (geometry.N_ROWS, geometry.N_COLUMNS)


def _set_common_meta(model, reftype, description):
    """Fill the reference-file keywords CRDS and the jwst steps look at."""
    meta = model.meta
    meta.reftype = reftype.upper()
    meta.author = "jwst_tso_ext"
    meta.pedigree = "DUMMY"
    meta.useafter = USEAFTER
    meta.description = description
    meta.telescope = "JWST"
    meta.instrument.name = "MIRI"
    meta.instrument.detector = "MIRIMAGE"
    if _has_path(meta.instrument, "filter"):
        meta.instrument.filter = "P750L"
    if _has_path(meta, "exposure") and _has_path(meta.exposure, "type"):
        meta.exposure.type = "MIR_LRS-SLITLESS"
    if _has_path(meta, "exposure") and _has_path(meta.exposure, "p_exptype"):
        meta.exposure.p_exptype = "MIR_LRS-SLITLESS|"
    if _has_path(meta, "subarray"):
        for key, value in geometry.SUBARRAY_META.items():
            setattr(meta.subarray, key, value)
    model.add_history_entry(
        "Synthetic reference built by jwst_tso_ext.crds_cache from the shared MIRI LRS "
        "detector model (jwst_tso_ext.miri_lrs.detector); not a flight calibration."
    )
    return model


def _has_path(node, name):
    """True if the schema of ``node`` defines attribute ``name``."""
    try:
        getattr(node, name)
    except AttributeError:
        return False
    return True


def _reference_column_dq():
    """DQ image with the reference columns flagged REFERENCE_PIXEL."""
    dq = np.zeros(_SHAPE, dtype=np.uint32)
    dq[:, : geometry.N_REFERENCE_COLUMNS] = dqflags.pixel["REFERENCE_PIXEL"]
    return dq


def _dq_def():
    """DQ_DEF table listing the flags used by these references."""
    return np.array(
        [
            (0, 0, "GOOD", "Good pixel"),
            (31, dqflags.pixel["REFERENCE_PIXEL"], "REFERENCE_PIXEL", "Reference pixel"),
        ],
        dtype=[("BIT", "<i4"), ("VALUE", "<u4"), ("NAME", "S40"), ("DESCRIPTION", "S80")],
    )


def mask():
    """Bad-pixel mask: no bad pixels; columns 0-3 flagged REFERENCE_PIXEL."""
    model = datamodels.MaskModel(dq=_reference_column_dq(), dq_def=_dq_def())
    return _set_common_meta(model, "mask", "Synthetic mask: reference columns flagged")


def saturation():
    """Saturation level ``SATURATION_DN`` (raw DN, bias included) in every pixel."""
    model = datamodels.SaturationModel(
        data=np.full(_SHAPE, detector.SATURATION_DN, dtype=np.float32),
        dq=np.zeros(_SHAPE, dtype=np.uint32),
        dq_def=_dq_def(),
    )
    return _set_common_meta(model, "saturation", "Synthetic saturation: SATURATION_DN")


def linearity():
    """Linearity polynomial ``(0, 1, LINEARITY_QUADRATIC)`` applied to raw DN."""
    coeffs = np.zeros((3, *_SHAPE), dtype=np.float32)
    coeffs[1] = 1.0
    coeffs[2] = detector.LINEARITY_QUADRATIC
    model = datamodels.LinearityModel(
        coeffs=coeffs, dq=np.zeros(_SHAPE, dtype=np.uint32), dq_def=_dq_def()
    )
    return _set_common_meta(model, "linearity", "Synthetic linearity: raw + a*raw**2")


def rscd():
    """RSCD: skip no groups (no-op; the simulator injects no RSCD) for FAST and FASTR1.

    jwst still flags one group when a ramp has at most 5 groups (its own rule).
    """
    table = np.array(
        [("SLITLESSPRISM", readpatt, 0, 0) for readpatt in ("FAST", "FASTR1")],
        dtype=[
            ("subarray", "S17"),
            ("readpatt", "S12"),
            ("group_skip1", "<i4"),
            ("group_skip", "<i4"),
        ],
    )
    model = datamodels.RSCDModel(rscd_group_skip_table=table)
    return _set_common_meta(model, "rscd", "Synthetic RSCD: no groups skipped")


def reset():
    """Reset anomaly: zeros (the simulator injects no reset anomaly)."""
    shape = (1, 2, *_SHAPE)
    model = datamodels.ResetModel(
        data=np.zeros(shape, dtype=np.float32),
        err=np.zeros(shape, dtype=np.float32),
        dq=np.zeros(_SHAPE, dtype=np.uint32),
        dq_def=_dq_def(),
    )
    model.meta.exposure.readpatt = "ANY"
    model.meta.exposure.ngroups = shape[1]
    model.meta.exposure.nints = shape[0]
    return _set_common_meta(model, "reset", "Synthetic reset: zeros")


def dark():
    """MIRI 4-D dark: ``DARK_RATE_DN_S * FRAME_TIME * (group + 1)`` DN in every pixel.

    Group ``g`` (0-indexed) is read ``(g + 1)`` frame times after the reset. Only the
    slope matters for ramp fitting; longer science ramps are extrapolated linearly by
    stcal, which is exact here.
    """
    shape = (DARK_NINTS, DARK_NGROUPS, *_SHAPE)
    levels = detector.DARK_RATE_DN_S * geometry.FRAME_TIME * np.arange(1, DARK_NGROUPS + 1)
    data = np.broadcast_to(levels[None, :, None, None], shape).astype(np.float32)
    model = datamodels.DarkMIRIModel(
        data=data,
        err=np.zeros(shape, dtype=np.float32),
        dq=np.zeros((DARK_NINTS, 1, *_SHAPE), dtype=np.uint32),
        dq_def=_dq_def(),
    )
    model.meta.exposure.readpatt = "ANY"
    model.meta.exposure.nframes = 1
    model.meta.exposure.ngroups = DARK_NGROUPS
    model.meta.exposure.groupgap = 0
    return _set_common_meta(model, "dark", "Synthetic dark: DARK_RATE_DN_S uniform")


def gain():
    """Gain ``GAIN`` electrons/DN in every pixel."""
    model = datamodels.GainModel(data=np.full(_SHAPE, detector.GAIN, dtype=np.float32))
    return _set_common_meta(model, "gain", "Synthetic gain: GAIN e/DN")


def readnoise():
    """Read noise ``READ_NOISE_CDS_DN`` in every pixel: jwst's CDS convention.

    jwst's readnoise references give the noise of a two-read difference: stcal's ramp
    fit divides the value by ``sqrt(2 nframes)`` to get the per-read noise, and its
    jump detection treats it as CDS noise. The simulator adds ``READ_NOISE_DN`` to each
    read, so the reference carries ``sqrt(2) * READ_NOISE_DN``.
    """
    model = datamodels.ReadnoiseModel(
        data=np.full(_SHAPE, detector.READ_NOISE_CDS_DN, dtype=np.float32)
    )
    return _set_common_meta(model, "readnoise", "Synthetic read noise: CDS (two-read), DN")


def distortion_transform():
    """Full-frame 0-indexed (x, y) -> (V2, V3) arcsec, affine and exactly invertible."""
    affine = models.AffineTransformation2D(
        matrix=DISTORTION_MATRIX, translation=DISTORTION_TRANSLATION
    )
    transform = models.Shift(-DISTORTION_ORIGIN[0]) & models.Shift(-DISTORTION_ORIGIN[1]) | affine
    # Shift and AffineTransformation2D have analytic inverses, so the compound does too.
    transform.inverse  # noqa: B018  (fails early if not invertible)
    return transform


def distortion():
    """Imager distortion (asdf): the linearised flight model near the slitless point."""
    model = datamodels.DistortionModel(model=distortion_transform())
    model.meta.input_units = "pixel"
    model.meta.output_units = "arcsec"
    model = _set_common_meta(model, "distortion", "Synthetic distortion: linearised flight")
    model.meta.instrument.filter = "P750L"
    model.meta.instrument.band = "N/A"
    model.meta.instrument.channel = "N/A"
    model.meta.subarray.name = "GENERIC"
    model.meta.subarray.xstart = 1
    model.meta.subarray.ystart = 1
    model.meta.subarray.xsize = 1032
    model.meta.subarray.ysize = 1024
    return model


def specwcs():
    """Slitless specwcs with the flight wavelength table (``jwst_miri_specwcs_0006``)."""
    table = geometry.wavelength_table()
    names = ["x_center", "y_center", "wavelength", "x0", "y0", "x1", "y1", "x2", "y2", "x3", "y3"]
    wavetable = np.zeros(len(table), dtype=[(name, "<f8") for name in names])
    for name in names:
        wavetable[name] = table[name]
    model = datamodels.MiriLRSSpecwcsModel(wavetable=wavetable)
    model = _set_common_meta(model, "specwcs", "Synthetic specwcs: flight wavelength table")
    model.meta.x_ref = 326.13
    model.meta.y_ref = 300.7
    model.meta.x_ref_slitless = geometry.IMXSLTL
    model.meta.y_ref_slitless = geometry.IMYSLTL
    model.meta.input_units = "pixel"
    model.meta.output_units = "micron"
    return model


def flat():
    """Pixel flat ``detector.flat_field()`` (reference columns exactly 1)."""
    model = datamodels.FlatModel(
        data=detector.flat_field(),
        err=np.zeros(_SHAPE, dtype=np.float32),
        dq=np.zeros(_SHAPE, dtype=np.uint32),
        dq_def=_dq_def(),
    )
    return _set_common_meta(model, "flat", "Synthetic flat: detector.flat_field()")


def photom(relative_response=None, wavelengths=None):
    """LRS photom: ``photmjsr = PHOTMJSR``, ``relresponse = 1 / relative_response``.

    jwst multiplies DN/s by ``photmjsr * relresponse(lambda)`` to get MJy/sr and
    extract_1d multiplies by the pixel area to get Jy, so a spectrum of ``F`` Jy that
    the simulator turned into ``F * count_rate_per_jy(lambda)`` DN/s per row comes back
    as ``F``.

    Parameters
    ----------
    relative_response : callable, optional
        Relative response of wavelength (micron); default the package's
        ``detector.relative_response`` (tests and checks pass another instrument's).
    wavelengths : ndarray, optional
        Tabulation grid (micron); default 3.5-14.5 micron every 0.1 micron.
    """
    if relative_response is None:
        relative_response = detector.relative_response
    if wavelengths is None:
        wavelengths = _PHOTOM_WAVELENGTHS
    wavelengths = np.asarray(wavelengths, dtype=float)
    nelem = wavelengths.size
    table = np.zeros(
        1,
        dtype=[
            ("filter", "S12"),
            ("subarray", "S17"),
            ("photmjsr", "<f4"),
            ("uncertainty", "<f4"),
            ("nelem", "<i2"),
            ("wavelength", "<f4", (nelem,)),
            ("relresponse", "<f4", (nelem,)),
            ("reluncertainty", "<f4", (nelem,)),
        ],
    )
    table["filter"] = "P750L"
    table["subarray"] = "SLITLESSPRISM"
    table["photmjsr"] = detector.PHOTMJSR
    table["uncertainty"] = 0.0
    table["nelem"] = nelem
    table["wavelength"][0] = wavelengths
    table["relresponse"][0] = 1.0 / relative_response(wavelengths)
    table["reluncertainty"][0] = 0.0
    model = datamodels.MirLrsPhotomModel(phot_table=table)
    model = _set_common_meta(model, "photom", "Synthetic photom: shared flux model")
    model.meta.photometry.pixelarea_steradians = geometry.PIXEL_AREA_SR
    model.meta.photometry.pixelarea_arcsecsq = geometry.PIXEL_SCALE_ARCSEC**2
    return model


#: Background regions of the extract1d reference: (lower, upper) column limits as
#: jwst's ``bkg_coeff`` (constant polynomials), pixel-centre coordinates.
BACKGROUND_REGIONS = [[10.5], [21.5], [53.5], [64.5]]


def extract1d():
    """Extract1d JSON: an 11-column box centred on the nominal trace, background both sides.

    Limits are inclusive pixel centres: 32.5 .. 42.5 covers x = 32.0 .. 43.0, i.e.
    11 pixels centred on ``NOMINAL_X`` = 37.5. ``use_source_posn`` is off: the box
    stays at the nominal position like the flight slitless reference.
    """
    half = (EXTRACT_WIDTH - 1) / 2.0
    return {
        "reftype": "EXTRACT1D",
        "instrument": "MIRI",
        "telescope": "JWST",
        "exp_type": "MIR_LRS-SLITLESS",
        "pedigree": "DUMMY",
        "useafter": USEAFTER,
        "author": "jwst_tso_ext",
        "description": (
            "Synthetic extract1d: 11-pixel box on the slitless trace, median background either side"
        ),
        "apertures": [
            {
                "id": "MIR_LRS-SLITLESS",
                "region_type": "target",
                "dispaxis": 2,
                "xstart": geometry.NOMINAL_X - half,
                "xstop": geometry.NOMINAL_X + half,
                "use_source_posn": False,
                # Two 11-column background regions 16 columns either side of the trace
                # (beyond 3 PSF sigma at 14 micron), median per row, as in the seed
                # notebook's background-subtracted extraction. Set the step parameter
                # subtract_background=False to extract without it.
                "bkg_coeff": BACKGROUND_REGIONS,
                "bkg_fit": "median",
                "bkg_order": 0,
            }
        ],
    }


def apcorr():
    """LRS apcorr: ``1 / psf_fraction(lambda, size / 2)`` for the widths ``APCORR_SIZES``."""
    nwave = _TABLE_WAVELENGTHS.size
    nsize = APCORR_SIZES.size
    corrections = 1.0 / detector.psf_fraction(
        _TABLE_WAVELENGTHS[:, None], APCORR_SIZES[None, :] / 2.0
    )
    table = np.zeros(
        1,
        dtype=[
            ("subarray", "S17"),
            ("wavelength", "<f4", (nwave,)),
            ("nelem_wl", "<i2"),
            ("size", "u1", (nsize,)),
            ("nelem_size", "<i2"),
            ("apcorr", "<f4", (nwave, nsize)),
            ("apcorr_err", "<f4", (nwave, nsize)),
        ],
    )
    table["subarray"] = "SLITLESSPRISM"
    table["wavelength"][0] = _TABLE_WAVELENGTHS
    table["nelem_wl"] = nwave
    table["size"][0] = APCORR_SIZES
    table["nelem_size"] = nsize
    table["apcorr"][0] = corrections
    table["apcorr_err"][0] = 0.0
    model = datamodels.MirLrsApcorrModel(apcorr_table=table)
    model = _set_common_meta(model, "apcorr", "Synthetic apcorr: 1 / psf_fraction")
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.instrument.channel = "N/A"
    model.sizeunit = "pixels"
    return model


_BUILDERS = {
    "mask": mask,
    "saturation": saturation,
    "linearity": linearity,
    "rscd": rscd,
    "reset": reset,
    "dark": dark,
    "gain": gain,
    "readnoise": readnoise,
    "distortion": distortion,
    "specwcs": specwcs,
    "flat": flat,
    "photom": photom,
    "extract1d": extract1d,
    "apcorr": apcorr,
}


def build_reference(reftype):
    """Return the synthetic reference for ``reftype`` (a datamodel, or a dict for extract1d)."""
    try:
        return _BUILDERS[reftype]()
    except KeyError:
        raise ValueError(f"No synthetic {reftype!r} reference is provided") from None


def _add_fits_checksums(path):
    """Add CHECKSUM/DATASUM to every HDU of ``path``.

    Done with astropy rather than ``crds.data_file.add_checksum``: crds 14.0.3
    rewrites the file without the BZERO of unsigned integer arrays, which turns
    uint32 DQ values 0 <-> 2**31.
    """
    with fits.open(path, lazy_load_hdus=False) as hdul:
        hdul.writeto(path.with_suffix(".tmp"), checksum=True, overwrite=True)
    path.with_suffix(".tmp").replace(path)


def write_references(directory):
    """Write every synthetic reference into ``directory``; return {reftype: path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for reftype, name in REFERENCE_NAMES.items():
        path = directory / name
        reference = build_reference(reftype)
        if isinstance(reference, dict):
            path.write_text(json.dumps(reference, indent=2) + "\n")
        else:
            reference.validate()
            reference.save(path)
            reference.close()
            if path.suffix == ".fits":
                _add_fits_checksums(path)
        log.debug("Wrote %s reference %s", reftype, path)
        paths[reftype] = path
    return paths
