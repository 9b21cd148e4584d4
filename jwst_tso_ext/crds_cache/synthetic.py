"""Say so when the offline cache's synthetic references calibrate data the simulator did not make.

The offline cache (`jwst_tso_ext.crds_cache`) holds references built from the
package's own detector and flux model (serial 9001, context ``jwst_9001.pmap``).
They calibrate the package's simulations exactly, and nothing else: on MIRISim or
flight data the flat, the photom response, the apcorr and the other synthetic
references are wrong. `synthetic_reference_warning` builds the one message that says
which references were used and that science needs the real CRDS context.
"""

import logging

from jwst_tso_ext.crds_cache.mappings import CONTEXT
from jwst_tso_ext.mirisim_refpix_guard.provenance import primary_header_items
from jwst_tso_ext.simulate.uncal import MIRISIM_HISTORY

log = logging.getLogger(__name__)

__all__ = [
    "SIMULATOR_MARK",
    "made_by_simulator",
    "synthetic_references",
    "synthetic_reference_warning",
    "warn_if_synthetic",
]

#: The HISTORY entry `jwst-tso-ext simulate` writes into every exposure it makes.
SIMULATOR_MARK = MIRISIM_HISTORY[-1]
#: Serial of the offline cache's mappings and references.
_SERIAL = "_9001."


def made_by_simulator(items):
    """True when header ``(keyword, value)`` pairs carry the simulator's HISTORY mark."""
    return any(SIMULATOR_MARK in str(value) for _, value in items)


def synthetic_references(ref_file):
    """Names of the offline cache's references in a ``meta.ref_file`` mapping.

    Parameters
    ----------
    ref_file : dict
        ``{reftype: {'name': ...}, 'crds': {'context_used': ...}}`` as in
        ``model.meta.ref_file.instance``.

    Returns
    -------
    list of str
        ``'reftype: file'`` for each synthetic reference, sorted.
    """
    names = []
    for reftype, entry in (ref_file or {}).items():
        if reftype == "crds" or not isinstance(entry, dict):
            continue
        name = str(entry.get("name", ""))
        if _SERIAL in name:
            names.append(f"{reftype}: {name.removeprefix('crds://')}")
    return sorted(names)


def synthetic_reference_warning(ref_file, items):
    """The warning for synthetic references on data the simulator did not make, or None.

    Parameters
    ----------
    ref_file : dict
        The product's ``meta.ref_file`` mapping.
    items : iterable of (str, object)
        The exposure's primary-header evidence (`primary_header_items`).

    Returns
    -------
    str or None
    """
    names = synthetic_references(ref_file)
    context = str((ref_file or {}).get("crds", {}).get("context_used", ""))
    if not names and context != CONTEXT:
        return None
    if made_by_simulator(items):
        return None
    used = ", ".join(names) if names else "(none recorded)"
    return (
        f"This exposure was not made by jwst-tso-ext simulate, but it was calibrated with "
        f"the offline cache's synthetic references (CRDS context {context or CONTEXT}; "
        f"{used}). They model the package's simulator, not this instrument: the fluxes, "
        "the spectrum and the static wavelength offset are not science grade. Science "
        "needs the real CRDS context (unset CRDS_PATH/CRDS_CONTEXT from the offline cache "
        "and use the CRDS server or its cache)."
    )


def warn_if_synthetic(model, header_like):
    """Log `synthetic_reference_warning` for ``model`` (a product) once, return it.

    Parameters
    ----------
    model : datamodel
        A calibrated product (its ``meta.ref_file`` names the references used).
    header_like : datamodel, str or os.PathLike
        The exposure as given (its primary header says whether the simulator made it).

    Returns
    -------
    str or None
        The message logged, if any.
    """
    ref_file = model.meta.instance.get("ref_file", {}) if hasattr(model, "meta") else {}
    try:
        items = primary_header_items(header_like)
    except (OSError, TypeError, ValueError):
        items = []
    message = synthetic_reference_warning(ref_file, items)
    if message:
        log.warning(message)
    return message
