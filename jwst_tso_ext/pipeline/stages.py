"""Which stage a product is at and which calibration steps it has already been through.

Plain functions on dictionaries of ``meta.cal_step`` values, so that what
`~jwst_tso_ext.pipeline.LrsTsoPipeline` and
`~jwst_tso_ext.pipeline.DetrendedTso3Pipeline` will skip is decided (and tested)
without running any step. A thin adapter, `cal_steps_of`, reads the values from a
datamodel; products from older jwst versions, whose ``cal_step`` entries may carry
older names, are mapped to today's names on the way.

Stages, in processing order:

``uncal``
    Ramps (4-D): stage 1 has to run (steps already COMPLETE on a saved ``_ramp``
    are skipped one by one).
``rateints``
    Slopes per integration (3-D), no stage-2 step applied yet.
``calints``
    3-D with at least one stage-2 step COMPLETE: stage 2 resumes where it stopped.
``x1dints``
    Extracted spectra: only the white-light curve remains.
"""

import logging

__all__ = [
    "STAGES",
    "STAGE1_STEPS",
    "STAGE2_STEPS",
    "STEP_CAL_STEP",
    "LEGACY_CAL_STEP_NAMES",
    "cal_step_name",
    "normalise_cal_steps",
    "cal_steps_of",
    "is_complete",
    "product_kind",
    "product_stage",
    "completed_steps",
    "check_wcs_for_resume",
]

log = logging.getLogger(__name__)

#: Product stages in processing order.
STAGES = ("uncal", "rateints", "calints", "x1dints")

#: Stage-1 steps of lrs_tso in the order jwst's Detector1Pipeline runs them for MIRI,
#: with the MIRISim refpix guard in place of refpix.
STAGE1_STEPS = (
    "tsovisit_fix",
    "group_scale",
    "dq_init",
    "emicorr",
    "saturation",
    "ipc",
    "firstframe",
    "lastframe",
    "reset",
    "linearity",
    "rscd",
    "dark_current",
    "mirisim_refpix_guard",
    "jump",
)

#: Stage-2 steps of lrs_tso (pipeline step names), in the order they run.
STAGE2_STEPS = ("assign_wcs", "srctype", "flat_field", "wavelength_drift", "photom")

#: ``meta.cal_step`` entry recording each pipeline step, where it differs from the
#: step's name in the pipeline.
STEP_CAL_STEP = {
    "dark_current": "dark_sub",
    "mirisim_refpix_guard": "refpix",
    "tso_extract_1d": "extract_1d",
}

#: Older names of ``meta.cal_step`` entries (jwst 1.x / 2.x schemas) -> today's name.
#: The FITS keywords (``S_BKDSUB`` ...) did not change, so products read through
#: their FITS header already land on today's names; these cover entries read from
#: the ASDF tree of old products.
LEGACY_CAL_STEP_NAMES = {
    "back_sub": "bkg_subtract",
}

#: Statuses meaning the step was applied.
_DONE = "COMPLETE"


def cal_step_name(step):
    """The ``meta.cal_step`` entry recording pipeline step ``step``.

    Parameters
    ----------
    step : str
        Step name in the pipeline (``"dark_current"``, ``"tso_extract_1d"`` ...).

    Returns
    -------
    str
        E.g. ``"dark_sub"`` for ``"dark_current"``, ``"extract_1d"`` for
        ``"tso_extract_1d"``; the step name itself otherwise.
    """
    return STEP_CAL_STEP.get(step, step)


def normalise_cal_steps(raw):
    """Map ``cal_step`` entries to today's names and statuses to upper case.

    Parameters
    ----------
    raw : mapping of str to str
        ``meta.cal_step`` as read from a product (any jwst version).

    Returns
    -------
    steps : dict of str to str
        Today's entry names -> ``"COMPLETE"``, ``"SKIPPED"``, ...; empty values dropped.
    assumptions : list of str
        One sentence per renamed entry, for the log.
    """
    steps = {}
    assumptions = []
    for name, status in dict(raw or {}).items():
        if status is None or str(status).strip() == "":
            continue
        status = str(status).strip().upper()
        current = LEGACY_CAL_STEP_NAMES.get(name, name)
        if current != name:
            if current in raw and raw[current]:
                continue  # both spellings present: today's wins
            assumptions.append(
                f"cal_step '{name}' (older jwst schema) read as '{current}' = {status}"
            )
        steps[current] = status
    return steps, assumptions


def cal_steps_of(model):
    """``meta.cal_step`` of a datamodel as a plain dictionary of today's names.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.JwstDataModel`
        Any product.

    Returns
    -------
    steps : dict of str to str
        As from `normalise_cal_steps`.
    assumptions : list of str
        As from `normalise_cal_steps`.
    """
    try:
        raw = model.meta.cal_step.instance
    except AttributeError:
        raw = {}
    return normalise_cal_steps(raw)


def is_complete(cal_steps, step):
    """Whether pipeline step ``step`` is recorded COMPLETE in ``cal_steps``.

    Parameters
    ----------
    cal_steps : mapping of str to str
        As from `cal_steps_of`.
    step : str
        Step name in the pipeline.

    Returns
    -------
    bool
    """
    return cal_steps.get(cal_step_name(step)) == _DONE


def completed_steps(cal_steps, steps):
    """The steps of ``steps`` recorded COMPLETE, in the order given.

    Parameters
    ----------
    cal_steps : mapping of str to str
        As from `cal_steps_of`.
    steps : iterable of str
        Step names in the pipeline.

    Returns
    -------
    list of str
    """
    return [step for step in steps if is_complete(cal_steps, step)]


def product_kind(ndim=None, has_spectra=False):
    """What a product holds: ``"ramp"`` (4-D), ``"cube"`` (3-D) or ``"spectra"``.

    Parameters
    ----------
    ndim : int or None
        Dimensions of the SCI array (None when the product has none).
    has_spectra : bool
        The product holds extracted spectra (``spec``).

    Returns
    -------
    str or None
        None for anything else (e.g. a 2-D rate image).
    """
    if has_spectra:
        return "spectra"
    return {4: "ramp", 3: "cube"}.get(ndim)


def product_stage(kind, cal_steps):
    """The stage (one of `STAGES`) of a product.

    Parameters
    ----------
    kind : str or None
        As from `product_kind`.
    cal_steps : mapping of str to str
        As from `cal_steps_of`.

    Returns
    -------
    str
        ``"uncal"`` for ramps, ``"x1dints"`` for spectra; a cube is ``"calints"``
        when any stage-2 step is COMPLETE, ``"rateints"`` otherwise.

    Raises
    ------
    ValueError
        If ``kind`` is none of the product kinds lrs_tso processes.
    """
    if kind == "ramp":
        return "uncal"
    if kind == "spectra":
        return "x1dints"
    if kind == "cube":
        return "calints" if completed_steps(cal_steps, STAGE2_STEPS) else "rateints"
    raise ValueError(
        "not a time-series product lrs_tso can start from: expected ramps (uncal, 4-D), "
        "integrations (rateints / calints, 3-D) or extracted spectra (x1dints)"
    )


def check_wcs_for_resume(cal_steps, has_wcs, name):
    """Refuse to resume stage 2 on a product that lost the WCS it was calibrated with.

    ``photom`` (and ``wavelength_drift``, which shifts the WCS) convert the data with
    the wavelengths of the WCS they saw. Assigning a fresh nominal WCS after them
    would pair calibrated data with a WCS they were not calibrated with, so the
    pipeline does not guess.

    Parameters
    ----------
    cal_steps : mapping of str to str
        As from `cal_steps_of`.
    has_wcs : bool
        The product carries a WCS (``meta.wcs`` is set).
    name : str
        The product's name, for the message.

    Raises
    ------
    ValueError
        If ``photom`` or ``wavelength_drift`` is COMPLETE and there is no WCS.
    """
    if has_wcs:
        return
    done = completed_steps(cal_steps, ("wavelength_drift", "photom"))
    if done:
        raise ValueError(
            f"{name}: {' and '.join(done)} COMPLETE but the product carries no WCS: the "
            "wavelengths it was calibrated with are unknown and lrs_tso will not guess "
            "them. Start from the rateints (or a calints saved with its WCS)."
        )
