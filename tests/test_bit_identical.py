"""lrs_tso's products, serially and on 'local:2', against the digests stored in tests/data.

The digests (`bit_identical.py`) were made by the code before the restructuring of
issue 25; a science change that alters a product on purpose regenerates them with
``python tests/bit_identical.py --update`` (the failure names the product and column).
"""

import json

import bit_identical
import pytest


@pytest.mark.dask
@pytest.mark.subprocess
@pytest.mark.parametrize("scheduler", [None, "local:2"])
def test_products_equal_the_stored_digests(tmp_path, scheduler, offline_crds_cache):
    asn = bit_identical.simulate(tmp_path / "sim")
    out = bit_identical.run_lrs_tso(asn, tmp_path / "out", scheduler)
    expected = json.loads(bit_identical.DIGESTS.read_text())
    differences = bit_identical.differences(expected, bit_identical.product_digests(out))
    assert not differences, (
        f"lrs_tso (scheduler={scheduler}) differs from {bit_identical.DIGESTS.name} in:\n"
        + "\n".join(differences)
        + "\n(a deliberate science change: python tests/bit_identical.py --update)"
    )


def test_differences_name_the_product_and_column():
    expected = {"x_whtlt.ecsv": {"flux": "a", "time": "b"}, "x_drift.ecsv": {"x": "c"}}
    got = {"x_whtlt.ecsv": {"flux": "z", "time": "b"}, "x_tspec.ecsv": {"depth": "d"}}
    assert bit_identical.differences(expected, got) == [
        "x_drift.ecsv: missing from the run",
        "x_tspec.ecsv: not in the stored digests",
        "x_whtlt.ecsv: column flux differs",
    ]
    assert bit_identical.differences(expected, expected) == []
