"""An analytic MIRI LRS slitless WCS (and minimal metadata) for simulated products.

`lrs_slitless_wcs` maps detector pixels to (RA, Dec, wavelength) with the flight
wavelength table (`jwst_tso_ext.miri_lrs.geometry`) and a simple linear sky mapping.
It stands in for ``assign_wcs`` where a product needs a WCS without reference files
(extraction tests and benchmarks); the pipeline itself always uses ``assign_wcs``.
"""

import gwcs
import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling.models import Mapping, Scale, Shift, Tabular1D
from gwcs import coordinate_frames as cf
from jwst.assign_wcs.util import wcs_bbox_from_shape

from jwst_tso_ext.miri_lrs import geometry

__all__ = ["describe_calibrated_lrs_cube", "lrs_slitless_wcs"]


def lrs_slitless_wcs(shape=(geometry.N_ROWS, geometry.N_COLUMNS)):
    """Detector -> (RA, Dec, wavelength) with the flight slitless wavelength solution.

    Parameters
    ----------
    shape : tuple of int, optional
        (rows, columns) of the frame, for the bounding box.

    Returns
    -------
    wcs : gwcs.WCS
        Frames ``detector`` and ``world`` (ICRS sky + spectral, micron); wavelength is
        NaN outside the calibrated rows.
    """
    rows, waves, _ = geometry._monotonic_part()
    order = np.argsort(rows)
    wave = Tabular1D(
        points=rows[order], lookup_table=waves[order], bounds_error=False, fill_value=np.nan
    )
    ra = Shift(-geometry.NOMINAL_X) | Scale(-0.11 / 3600 / np.cos(np.deg2rad(-30))) | Shift(80.0)
    dec = Shift(-geometry.NOMINAL_X) | Scale(1e-7 / 3600) | Shift(-30.0)
    transform = Mapping((0, 0, 1), n_inputs=2) | ra & dec & wave
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(name="sky", axes_order=(0, 1), reference_frame=coord.ICRS())
    spec = cf.SpectralFrame(name="spec", axes_order=(2,), unit=(u.micron,), axes_names=("lambda",))
    world = cf.CompositeFrame([sky, spec], name="world")
    wcs = gwcs.WCS([(detector, transform), (world, None)])
    wcs.bounding_box = wcs_bbox_from_shape(shape)
    return wcs


def describe_calibrated_lrs_cube(model):
    """Give ``model`` the minimal metadata and WCS of a calibrated LRS slitless TSO.

    MIRI, P750L, MIR_LRS-SLITLESS, SLITLESSPRISM, a point source, ``photom`` done,
    ``NINTS`` from the data, ``TSOVISIT`` set, and `lrs_slitless_wcs`: what
    ``extract_1d`` and ``tso_extract_1d`` need to run on an in-memory cube (or slit
    model) made from simulated count rates. ``INT_TIMES`` is left to the caller.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.CubeModel` or `~stdatamodels.jwst.datamodels.SlitModel`
        Model with 3-D data (integrations, rows, columns); changed in place.

    Returns
    -------
    model
        The same model.
    """
    nints = model.data.shape[0]
    meta = model.meta
    meta.instrument.name, meta.instrument.detector = "MIRI", "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.observation.date, meta.observation.time = "2026-01-01", "00:00:00"
    meta.exposure.type = "MIR_LRS-SLITLESS"
    meta.exposure.nints = nints
    meta.exposure.integration_start, meta.exposure.integration_end = 1, nints
    meta.visit.tsovisit = True
    meta.subarray.name = "SLITLESSPRISM"
    meta.target.source_type = "POINT"
    meta.wcsinfo.dispersion_direction = 2
    meta.wcsinfo.spectral_order = 1
    meta.photometry.pixelarea_steradians = geometry.PIXEL_AREA_SR
    meta.cal_step.photom = "COMPLETE"
    meta.wcs = lrs_slitless_wcs(model.data.shape[1:])
    return model
