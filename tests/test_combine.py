"""Combining per-segment x1dints products into one row per integration."""

import numpy as np
import pytest
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from stdatamodels.jwst import datamodels

from jwst_tso_ext.pipeline.combine import combine_tables, combine_x1dints, exposure_root


def _segment(first, count, nwave=5):
    """A TSOMultiSpecModel holding integrations first .. first + count - 1."""
    model = datamodels.TSOMultiSpecModel()
    model.meta.filename = f"sim_seg{first:03d}_x1dints.fits"
    int_num = np.arange(first, first + count)
    spectra = []
    for number in int_num:
        spectrum = datamodels.SpecModel()
        table = np.zeros(nwave, dtype=spectrum.get_dtype("spec_table"))
        table["WAVELENGTH"] = np.linspace(5, 12, nwave)
        table["FLUX"] = number
        spectrum.spec_table = table
        spectra.append(spectrum)
    spec = make_tso_specmodel(spectra)
    spec.spec_table["INT_NUM"] = int_num  # as extract_1d sets it from INT_TIMES
    model.spec.append(spec)
    times = np.zeros(count, dtype=model.get_dtype("int_times"))
    times["integration_number"] = int_num
    times["int_mid_MJD_UTC"] = 60000.0 + int_num / 1440.0
    model.int_times = times
    return model


def test_segments_in_any_order_give_one_row_per_integration_in_time_order():
    combined = combine_x1dints([_segment(6, 5), _segment(1, 5), _segment(11, 3)])
    assert len(combined.spec) == 1
    table = combined.spec[0].spec_table
    assert list(table["INT_NUM"]) == list(range(1, 14))
    assert np.array_equal(table["FLUX"][:, 0], np.arange(1, 14))
    assert list(combined.int_times["integration_number"]) == list(range(1, 14))
    assert np.all(np.diff(combined.int_times["int_mid_MJD_UTC"]) > 0)
    assert (combined.meta.exposure.integration_start, combined.meta.exposure.integration_end) == (
        1,
        13,
    )


def test_overlapping_segments_are_refused():
    with pytest.raises(ValueError, match="same integration"):
        combine_x1dints([_segment(1, 5), _segment(5, 5)])


def test_nothing_to_combine_is_a_clear_error():
    with pytest.raises(ValueError, match="no x1dints"):
        combine_x1dints([])


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("lrs_sim_seg002_uncal.fits", "lrs_sim"),
        ("lrs_sim_seg001_x1dints.fits", "lrs_sim"),
        ("lrs_sim_rateints.fits", "lrs_sim"),
        ("/data/jw01_mirimage_calints.fits", "jw01_mirimage"),
    ],
)
def test_exposure_root(name, root):
    assert exposure_root(name) == root


def test_drift_tables_are_stacked_in_integration_order():
    from astropy.table import Table

    first = Table({"int_num": [4, 5, 6], "x_shift": [0.4, 0.5, 0.6]})
    second = Table({"int_num": [1, 2, 3], "x_shift": [0.1, 0.2, 0.3]})
    stacked = combine_tables([first, None, second])
    assert list(stacked["int_num"]) == [1, 2, 3, 4, 5, 6]
    assert list(stacked["x_shift"]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
