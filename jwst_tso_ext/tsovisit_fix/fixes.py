"""Metadata repairs for time-series exposures (adapter between datamodels and `int_times`).

Each ``fix_*`` function inspects one aspect of a datamodel, repairs it in place when
needed and returns a list of human-readable descriptions of what it changed (empty
when nothing needed changing). All of them are no-ops on data they already fixed,
which makes the step idempotent.
"""

import logging

import numpy as np

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.mirisim_refpix_guard.provenance import mirisim_evidence
from jwst_tso_ext.tsovisit_fix import int_times

__all__ = [
    "TSO_CAPABLE_EXP_TYPES",
    "decide_mirisim",
    "exposure_nints",
    "segment_range",
    "fix_fastr1_timing",
    "fix_tsovisit",
    "fix_wcsaxes",
    "fix_int_times",
    "fix_integration_range",
    "fix_model",
]

log = logging.getLogger(__name__)

#: Exposure types that can be taken as a time series (``TSOVISIT = T``).
TSO_CAPABLE_EXP_TYPES = frozenset(
    {
        "MIR_LRS-SLITLESS",
        "MIR_IMAGE",
        "NRC_TSIMAGE",
        "NRC_TSGRISM",
        "NIS_SOSS",
        "NRS_BRIGHTOBJ",
    }
)


def decide_mirisim(model, data_origin="auto"):
    """Decide whether ``model`` is MIRISim output.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        The data.
    data_origin : {"auto", "mirisim", "flight"}
        ``auto`` inspects the header (`~jwst_tso_ext.mirisim_refpix_guard.provenance`);
        the other values force the answer.

    Returns
    -------
    is_mirisim : bool
        The decision.
    reasons : list of str
        Why, for the log.
    """
    if data_origin == "mirisim":
        return True, ["data_origin='mirisim' requested"]
    if data_origin == "flight":
        return False, ["data_origin='flight' requested"]
    reasons = mirisim_evidence(model)
    return bool(reasons), reasons or ["no MIRISim evidence in the primary header"]


def _data_nints(model):
    """Number of integrations held in the data array (None if not a 3-D/4-D array)."""
    try:
        shape = model.data.shape
    except AttributeError:
        return None
    return int(shape[0]) if len(shape) in (3, 4) else None


def exposure_nints(model):
    """Total number of integrations in the exposure (``NINTS``, else from the data shape)."""
    nints = model.meta.exposure.nints
    return int(nints) if nints is not None else _data_nints(model)


def segment_range(model):
    """First and last integration number (1-indexed, inclusive) held by ``model``.

    Uses ``INTSTART``/``INTEND`` when present, else the number of integrations in the
    data, else ``NINTS``.
    """
    start = model.meta.exposure.integration_start
    end = model.meta.exposure.integration_end
    held = _data_nints(model)
    start = 1 if start is None else int(start)
    if end is None:
        end = start - 1 + (held if held is not None else exposure_nints(model) or 1)
    end = int(end)
    if held is not None and end - start + 1 != held:
        log.warning(
            "INTSTART..INTEND (%d..%d) disagrees with the %d integrations in the data",
            start,
            end,
            held,
        )
    return start, end


def _is_time_series(model):
    nints = exposure_nints(model)
    return nints is not None and nints > 1


def _frame_time(model):
    """Frame time in seconds, falling back to the SLITLESSPRISM value for MIRI LRS."""
    frame_time = model.meta.exposure.frame_time
    if frame_time:
        return float(frame_time)
    if str(model.meta.subarray.name).upper() == "SLITLESSPRISM":
        log.info("TFRAME missing: using the SLITLESSPRISM frame time %s s", geometry.FRAME_TIME)
        return geometry.FRAME_TIME
    return None


def _set(obj, attr, value, label, changes, tolerance=None):
    """Set ``obj.attr = value`` if different; record the change."""
    old = getattr(obj, attr)
    if old is not None and tolerance is not None and value is not None:
        if abs(float(old) - float(value)) <= tolerance:
            return
    elif old == value:
        return
    setattr(obj, attr, value)
    changes.append(f"{label}: {old!r} -> {value!r}")


def fix_fastr1_timing(model, mode="auto", mirisim=False):
    """Correct MIRISim ``FAST`` timing to the ``FASTR1`` timing of flight LRS TSOs.

    MIRISim labels its ramps ``READPATT = 'FAST'``, but MIRI time series are taken in
    ``FASTR1``, which spends one extra reset frame between integrations. The pattern
    is set to ``FASTR1`` (so ``emicorr``, CRDS selection and the timing agree),
    ``NRESETS`` to 1, and the exposure times are recomputed: ``EFFINTTM`` becomes the
    integration cadence ``(ngroups + 1) * TFRAME``; ``EFFEXPTM``, ``XPOSURE`` and
    ``DURATION`` become ``NINTS`` times that; ``EXPEND``/``EXPMID`` follow.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place.
    mode : {"auto", "on", "off"}
        ``auto``: only MIRISim time series; ``on``: any MIRI ``FAST`` exposure.
    mirisim : bool
        Provenance decision (`decide_mirisim`).

    Returns
    -------
    list of str
        Changes made.
    """
    exposure = model.meta.exposure
    if mode == "off" or str(model.meta.instrument.name).upper() != "MIRI":
        return []
    if str(exposure.readpatt).upper() != "FAST":
        return []
    if mode == "auto" and not (mirisim and _is_time_series(model)):
        return []
    frame_time = _frame_time(model)
    ngroups = exposure.ngroups or _ramp_ngroups(model)
    nints = exposure_nints(model)
    if not frame_time or not ngroups or not nints:
        log.warning("Cannot correct FASTR1 timing: TFRAME, NGROUPS or NINTS missing")
        return []
    nframes = exposure.nframes or 1
    groupgap = exposure.groupgap or 0
    read_time = int_times.integration_read_time(ngroups, frame_time, nframes, groupgap)
    cycle = int_times.integration_cycle_time(ngroups, frame_time, nframes, groupgap, nresets=1)
    total = nints * cycle

    changes = []
    _set(exposure, "readpatt", "FASTR1", "READPATT", changes)
    _set(exposure, "nresets_between_ints", 1, "NRESETS", changes)
    _set(exposure, "integration_time", cycle, "EFFINTTM", changes, 1e-9)
    _set(exposure, "exposure_time", total, "EFFEXPTM", changes, 1e-9)
    _set(exposure, "effective_exposure_time", total, "XPOSURE", changes, 1e-9)
    _set(exposure, "duration", total, "DURATION", changes, 1e-9)
    if exposure.start_time is not None:
        last_end_s = (nints - 1) * cycle + read_time
        end = exposure.start_time + last_end_s / int_times.SECONDS_PER_DAY
        mid = exposure.start_time + 0.5 * last_end_s / int_times.SECONDS_PER_DAY
        _set(exposure, "end_time", end, "EXPEND", changes, 1e-10)
        _set(exposure, "mid_time", mid, "EXPMID", changes, 1e-10)
    if changes:
        changes[0] += (
            " (FAST as written by the simulator; flight time series use FASTR1:"
            " +1 reset frame per integration)"
        )
    return changes


def _ramp_ngroups(model):
    try:
        shape = model.data.shape
    except AttributeError:
        return None
    return int(shape[1]) if len(shape) == 4 else None


def fix_tsovisit(model, mode="auto", mirisim=False):
    """Set ``TSOVISIT = T`` on time series that lack it.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place.
    mode : {"auto", "force", "off"}
        ``auto``: set it on a time series (``NINTS`` > 1) of a TSO-capable exposure
        type when the keyword is missing, or when it is ``F`` on MIRISim data (which has
        no real visit); an explicit ``F`` on flight data is respected. ``force``: set it
        whenever it is not already ``T``.
    mirisim : bool
        Provenance decision (`decide_mirisim`).

    Returns
    -------
    list of str
        Changes made.
    """
    current = model.meta.visit.tsovisit
    if mode == "off" or current is True:
        return []
    if mode == "auto":
        exp_type = str(model.meta.exposure.type).upper()
        if exp_type not in TSO_CAPABLE_EXP_TYPES or not _is_time_series(model):
            return []
        if current is False and not mirisim:
            return []
    model.meta.visit.tsovisit = True
    return [f"TSOVISIT: {current!r} -> True"]


def fix_wcsaxes(model, mode="auto", mirisim=False):
    """Reset ``WCSAXES = 3`` (a MIRISim bug on P750L data) to 2.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place.
    mode : {"auto", "on", "off"}
        ``auto``: MIRISim P750L data only; ``on``: any P750L data.
    mirisim : bool
        Provenance decision (`decide_mirisim`).

    Returns
    -------
    list of str
        Changes made.
    """
    if mode == "off" or (mode == "auto" and not mirisim):
        return []
    try:
        wcsaxes = model.meta.wcsinfo.wcsaxes
    except AttributeError:
        return []
    if wcsaxes != 3 or str(model.meta.instrument.filter).upper() != "P750L":
        return []
    model.meta.wcsinfo.wcsaxes = 2
    return ["WCSAXES: 3 -> 2 (P750L slitless data have 2 WCS axes)"]


def fix_int_times(model, rebuild=False):
    """Build the INT_TIMES table when it is missing or empty (or ``rebuild`` is set).

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place. Models whose schema has no ``int_times`` are left alone.
    rebuild : bool
        Replace an existing table (used after the timing was corrected).

    Returns
    -------
    list of str
        Changes made.
    """
    try:
        model.get_dtype("int_times")
    except AttributeError:
        return []
    existing = model.int_times
    if existing is not None and len(existing) > 0 and not rebuild:
        return []
    if not _is_time_series(model):
        return []
    exposure = model.meta.exposure
    frame_time = _frame_time(model)
    ngroups = exposure.ngroups or _ramp_ngroups(model)
    if exposure.start_time is None or not frame_time or not ngroups:
        log.warning("Cannot build INT_TIMES: EXPSTART, TFRAME or NGROUPS missing")
        return []
    nframes = exposure.nframes or 1
    groupgap = exposure.groupgap or 0
    nresets = int_times.resets_between_integrations(
        exposure.readpatt, model.meta.instrument.name, exposure.nresets_between_ints
    )
    read_time = int_times.integration_read_time(ngroups, frame_time, nframes, groupgap)
    cycle = int_times.integration_cycle_time(ngroups, frame_time, nframes, groupgap, nresets)
    first, last = segment_range(model)

    ra, dec = model.meta.target.ra, model.meta.target.dec
    observer = None
    try:
        eph = model.meta.ephemeris
        xyz = (eph.spatial_x_geo, eph.spatial_y_geo, eph.spatial_z_geo)
        if all(v is not None for v in xyz):
            observer = xyz
    except AttributeError:
        pass
    table, method = int_times.build_int_times(
        exposure.start_time, cycle, read_time, first, last, ra, dec, observer
    )
    if method == int_times.BJD_TDB_ONLY:
        log.warning(
            "Target RA/Dec missing: BJD_TDB columns hold TDB at the observer with NO "
            "barycentric light-travel-time correction (error up to +-8.3 min)"
        )
    elif method == int_times.BJD_GEOCENTRE:
        log.warning(
            "No JWST ephemeris in the header: BJD_TDB computed for the geocentre "
            "(astropy builtin solar-system ephemeris); JWST at L2 differs by up to ~5 s"
        )
    else:
        log.info("BJD_TDB computed with the JWST geocentric position from the header")
    model.int_times = table
    action = "rebuilt" if existing is not None and len(existing) > 0 else "built"
    return [
        f"INT_TIMES {action}: integrations {first}..{last}, cadence {cycle:.6f} s "
        f"({ngroups} groups, {nresets} reset frame(s), TFRAME {frame_time} s), "
        f"BJD_TDB approximation '{method}'"
    ]


def fix_integration_range(model):
    """Fill the exposure keywords that say which integrations a file holds.

    The official TSO steps read ``NINTS``, ``INTSTART`` and ``INTEND`` (and
    ``EXSEGNUM`` / ``EXSEGTOT`` for the segment column of the spectra); MIRISim and
    products of older jwst versions may lack them, and ``extract_1d`` then warns and
    guesses. Missing values are filled from what the file shows, and what was assumed
    is part of the change recorded:

    * ``INTSTART``: the first integration number of a complete ``INT_TIMES`` table for
      exactly these integrations, else 1 (the file starts the exposure).
    * ``INTEND``: ``INTSTART`` + integrations in the data - 1.
    * ``NINTS``: ``INTEND`` when missing (the file ends the exposure).
    * ``EXSEGNUM`` / ``EXSEGTOT``: 1 / 1 when the integration range was missing too
      and the file holds the whole exposure.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place. Only 3-D / 4-D time series are touched.

    Returns
    -------
    list of str
        Changes made.
    """
    held = _data_nints(model)
    if held is None or not _is_time_series(model):
        return []
    exposure = model.meta.exposure
    changes = []
    start, end = exposure.integration_start, exposure.integration_end
    if start is None:
        start, reason = 1, "the file starts the exposure"
        if end is not None:
            start, reason = int(end) - held + 1, "INTEND - integrations in the data + 1"
        else:
            numbers = _int_times_numbers(model)
            if numbers is not None and numbers.size == held:
                start, reason = int(numbers[0]), "first integration of INT_TIMES"
        _set(exposure, "integration_start", start, f"INTSTART (assumed: {reason})", changes)
    if end is None:
        end = int(start) + held - 1
        _set(exposure, "integration_end", end, "INTEND (INTSTART + integrations - 1)", changes)
    if exposure.nints is None:
        _set(exposure, "nints", int(end), "NINTS (assumed: the file ends the exposure)", changes)
    if changes and int(start) == 1 and int(end) == exposure.nints:
        if exposure.segment_number is None:
            _set(exposure, "segment_number", 1, "EXSEGNUM (whole exposure in one file)", changes)
        if exposure.segment_total is None:
            _set(exposure, "segment_total", 1, "EXSEGTOT (whole exposure in one file)", changes)
    return changes


def _int_times_numbers(model):
    """Integration numbers of the INT_TIMES table, None when there is none."""
    try:
        table = model.int_times
    except AttributeError:
        return None
    if table is None or len(table) == 0:
        return None
    return np.asarray(table["integration_number"], dtype=int)


def fix_model(model, tsovisit="auto", fastr1_timing="auto", wcsaxes="auto", data_origin="auto"):
    """Apply every repair to ``model`` in place.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Modified in place.
    tsovisit, fastr1_timing, wcsaxes, data_origin : str
        Modes of `fix_tsovisit`, `fix_fastr1_timing`, `fix_wcsaxes`, `decide_mirisim`.

    Returns
    -------
    list of str
        Changes made, in order; empty if the model needed nothing.
    """
    mirisim, reasons = decide_mirisim(model, data_origin)
    log.info("Data origin: %s (%s)", "MIRISim" if mirisim else "flight", "; ".join(reasons))
    timing = fix_fastr1_timing(model, fastr1_timing, mirisim)
    changes = list(timing)
    changes += fix_tsovisit(model, tsovisit, mirisim)
    changes += fix_wcsaxes(model, wcsaxes, mirisim)
    changes += fix_integration_range(model)
    changes += fix_int_times(model, rebuild=bool(timing))
    return changes
