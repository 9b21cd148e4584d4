"""An analytic MIRI LRS slitless WCS for simulated products.

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

__all__ = ["lrs_slitless_wcs"]


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
