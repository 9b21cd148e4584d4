"""Tiny in-memory JWST models shaped like MIRISim output and like flight output."""

import numpy as np
from stdatamodels.jwst import datamodels

from jwst_tso_ext.miri_lrs.geometry import FRAME_TIME
from jwst_tso_ext.tsovisit_fix.int_times import INT_TIMES_DTYPE

__all__ = ["EXPSTART", "TARG_RA", "TARG_DEC", "mirisim_ramp", "flight_ramp", "flight_int_times"]

EXPSTART = 60310.25  # MJD UTC
TARG_RA = 330.795  # HD 209458-like
TARG_DEC = 18.884
MIRISIM_CREATOR = "MIRI SCA simulator (SCASim) 4.2 via MIRISim 2.4.2"


def _base(nints, ngroups, nrows, ncols, subarray="SLITLESSPRISM"):
    model = datamodels.RampModel((nints, ngroups, nrows, ncols))
    model.data[...] = np.arange(ngroups, dtype=np.float32)[None, :, None, None] * 10.0
    meta = model.meta
    meta.instrument.name = "MIRI"
    meta.instrument.detector = "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.exposure.type = "MIR_LRS-SLITLESS"
    meta.exposure.nints = nints
    meta.exposure.ngroups = ngroups
    meta.exposure.nframes = 1
    meta.exposure.groupgap = 0
    meta.exposure.frame_time = FRAME_TIME
    meta.exposure.group_time = FRAME_TIME
    meta.exposure.start_time = EXPSTART
    meta.target.ra = TARG_RA
    meta.target.dec = TARG_DEC
    meta.subarray.name = subarray
    if subarray == "FULL":
        meta.subarray.xstart, meta.subarray.ystart = 1, 1
    else:
        meta.subarray.xstart, meta.subarray.ystart = 1, 529
    meta.subarray.xsize, meta.subarray.ysize = ncols, nrows
    meta.subarray.fastaxis, meta.subarray.slowaxis = 1, 2
    meta.observation.date = "2024-01-01"
    meta.observation.time = "06:00:00"
    return model


def mirisim_ramp(nints=10, ngroups=100, nrows=8, ncols=8, subarray="SLITLESSPRISM"):
    """A ramp with the header of a MIRISim LRS slitless time series (FAST, no TSOVISIT ...)."""
    model = _base(nints, ngroups, nrows, ncols, subarray)
    model.meta.origin = "MIRI European Consortium"
    model.meta.exposure.readpatt = "FAST"
    model.meta.wcsinfo.wcsaxes = 3
    model.extra_fits = {"PRIMARY": {"header": [["CREATOR", MIRISIM_CREATOR, "software"]]}}
    model.add_history_entry("Simulated with MIRISim 2.4.2 (MIRI European Consortium)")
    return model


def flight_int_times(first, last, cycle, read, start=EXPSTART):
    """A hand-made INT_TIMES table (BJD columns offset by an arbitrary 0.001 d)."""
    numbers = np.arange(first, last + 1)
    table = np.zeros(numbers.size, dtype=INT_TIMES_DTYPE)
    table["integration_number"] = numbers
    table["int_start_MJD_UTC"] = start + (numbers - 1) * cycle / 86400
    table["int_end_MJD_UTC"] = table["int_start_MJD_UTC"] + read / 86400
    table["int_mid_MJD_UTC"] = 0.5 * (table["int_start_MJD_UTC"] + table["int_end_MJD_UTC"])
    for which in ("start", "mid", "end"):
        table[f"int_{which}_BJD_TDB"] = table[f"int_{which}_MJD_UTC"] + 0.001
    return table


def flight_ramp(nints=3, ngroups=5, nrows=8, ncols=8, subarray="SLITLESSPRISM"):
    """A ramp with a complete, correct flight header (FASTR1, TSOVISIT=T, INT_TIMES ...)."""
    model = _base(nints, ngroups, nrows, ncols, subarray)
    model.meta.origin = "STSCI"
    model.meta.exposure.readpatt = "FASTR1"
    model.meta.exposure.nresets_between_ints = 1
    model.meta.exposure.integration_start = 1
    model.meta.exposure.integration_end = nints
    model.meta.visit.tsovisit = True
    model.meta.wcsinfo.wcsaxes = 2
    read = ngroups * FRAME_TIME
    model.int_times = flight_int_times(1, nints, read + FRAME_TIME, read)
    return model
