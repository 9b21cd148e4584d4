"""MIRISim's NGTS-10 products (not made by this package) through ``strun lrs_tso``.

With the offline cache, whose photom and specwcs model the package's simulator, the
static dispersion offset must be declined with a WARNING or applied within 0.5 px,
and one WARNING must say that synthetic references calibrated data the simulator did
not make (issue 23, items 1 and 4).
"""

from pathlib import Path

import pytest
from astropy.table import Table

REALDATA = Path(__file__).parent / "data" / "realdata"


@pytest.mark.subprocess
@pytest.mark.parametrize("kind", ["rateints", "calints"])
def test_ngts10_static_offset_declined_or_small(tmp_path, kind, offline_crds_cache, strun):
    source = REALDATA / f"ngts10_sim_mirisim_4int_{kind}.fits"
    result = strun("lrs_tso", source, "--output_dir", tmp_path / "out", cwd=tmp_path)
    log = result.stdout + result.stderr
    drift = Table.read(tmp_path / "out" / "ngts10_sim_mirisim_4int_drift.ecsv")
    if drift.meta["static_y_method"] == "declined":
        assert drift.meta["static_y_offset"] == 0.0
        assert drift.meta["static_y_declined_reason"]
        assert "Static y offset declined" in log
    else:
        assert abs(drift.meta["static_y_offset"]) <= 0.5
    assert drift.meta["crds_context"] == "jwst_9001.pmap"
    assert log.count("not made by jwst-tso-ext simulate") == 1
    assert "photom: jwst_miri_photom_9001.fits" in log
