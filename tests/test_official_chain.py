"""The official jwst stages run offline on simulated MIRISim-like data after tsovisit_fix.

Everything goes through the real ``strun`` executable, with only the offline CRDS cache
of the session (tests/conftest.py) in the environment.
"""

import hashlib

import pytest
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure


@pytest.mark.official
@pytest.mark.subprocess
def test_detector1_spec2_tso3_after_tsovisit_fix(
    tmp_path, offline_crds_cache, strun, association
):
    config = SimulationConfig(nints=8, ngroups=6, seed=5, root="official")
    uncal = simulate_exposure(config, tmp_path)[0]
    digest = hashlib.sha256(uncal.read_bytes()).hexdigest()

    strun("tsovisit_fix", uncal, cwd=tmp_path)
    fixed = tmp_path / "official_tsovisitfixstep.fits"
    strun("calwebb_detector1", fixed, cwd=tmp_path)
    strun("calwebb_spec2", tmp_path / "official_tsovisitfixstep_rateints.fits", cwd=tmp_path)
    asn = association(tmp_path, ["official_tsovisitfixstep_calints.fits"], "official3")
    strun("calwebb_tso3", asn, cwd=tmp_path)

    assert hashlib.sha256(uncal.read_bytes()).hexdigest() == digest
    whtlt = Table.read(tmp_path / "official3_whtlt.ecsv", format="ascii.ecsv")
    assert len(whtlt) == 8  # one row per integration: INT_TIMES built by tsovisit_fix
    with datamodels.open(tmp_path / "official_tsovisitfixstep_calints.fits") as calints:
        steps = calints.meta.cal_step.instance
        # the steps with references in the offline cache really ran
        for step in ("dq_init", "saturation", "linearity", "rscd", "dark_sub", "jump",
                     "ramp_fit", "assign_wcs", "flat_field", "photom"):  # fmt: skip
            assert steps[step] == "COMPLETE", step
