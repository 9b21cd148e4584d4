"""Tell MIRISim (MIRI European Consortium simulator) products from flight data.

MIRISim writes its ramps through the MIRI SCA simulator (SCASim). Its products carry
three kinds of header evidence, any one of which is taken as proof:

* ``ORIGIN = 'MIRI European Consortium'`` in the primary header (flight products
  say ``STSCI``);
* the simulator named (``MIRISim``, ``SCASim``, ``MIRI SCA simulator``) in ``CREATOR``,
  in a ``HISTORY`` card or in the value of any other primary-header keyword;
* a simulator keyword, i.e. a keyword whose name contains ``MIRISIM`` or ``SCASIM``.

On a stdatamodels datamodel these surface in different places: ``ORIGIN`` is
``model.meta.origin``; keywords outside the schema (``CREATOR``, simulator keywords)
are kept in ``model.extra_fits.PRIMARY.header`` as ``[name, value, comment]``; ``HISTORY``
cards become the model's history entries. `primary_header_items` gathers them all.
"""

import os
import re
import warnings

from stdatamodels import DataModel

__all__ = [
    "MIRI_EC_ORIGIN",
    "OWN_HISTORY_PREFIXES",
    "primary_header_items",
    "mirisim_evidence",
    "is_mirisim",
]

#: ``ORIGIN`` written by MIRISim.
MIRI_EC_ORIGIN = "MIRI European Consortium"
#: History entries written by this package's steps; never counted as evidence.
OWN_HISTORY_PREFIXES = ("tsovisit_fix:", "mirisim_refpix_guard:")

_SIMULATOR_TEXT = re.compile(r"miri\s*sim|sca\s*sim|miri\s+sca\s+simulator", re.IGNORECASE)
_SIMULATOR_KEYWORD = re.compile(r"MIRISIM|SCASIM", re.IGNORECASE)


def _model_items(model):
    """(keyword, value) pairs of the primary header of a datamodel."""
    items = []
    origin = getattr(getattr(model, "meta", None), "origin", None)
    if origin is not None:
        items.append(("ORIGIN", origin))
    try:
        cards = model.extra_fits.PRIMARY.header
    except AttributeError:
        cards = []
    for card in cards or []:
        if len(card) >= 2:
            items.append((str(card[0]).upper(), card[1]))
    # Reading ``history`` warns that the attribute will be deprecated; reading it
    # is still the documented way to get the entries loaded from HISTORY cards.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            history = list(model.history)
        except AttributeError:
            history = []
    for entry in history:
        if isinstance(entry, dict) or hasattr(entry, "get"):
            text = entry.get("description", "")
        else:
            text = entry
        items.append(("HISTORY", str(text)))
    return items


def primary_header_items(header_like):
    """Return the primary-header evidence of ``header_like`` as (keyword, value) pairs.

    Parameters
    ----------
    header_like : datamodel, astropy.io.fits.Header, astropy.io.fits.HDUList, \
mapping, str or os.PathLike
        A stdatamodels datamodel; a FITS header or HDU list (primary header used);
        a mapping of keyword to value (``HISTORY`` may map to a string or a list of
        strings); or the path of a FITS file.

    Returns
    -------
    list of tuple (str, object)
        Upper-case keyword and value; ``HISTORY`` and ``COMMENT`` appear once per card.
    """
    if isinstance(header_like, (str, os.PathLike)):
        from astropy.io import fits

        header_like = fits.getheader(header_like, 0)
    if isinstance(header_like, DataModel):
        return _model_items(header_like)
    if hasattr(header_like, "cards") and hasattr(header_like, "tostring"):  # fits.Header
        return [(str(card.keyword).upper(), card.value) for card in header_like.cards]
    if hasattr(header_like, "index_of") and len(header_like):  # fits.HDUList
        return primary_header_items(header_like[0].header)
    if hasattr(header_like, "items"):
        items = []
        for key, value in header_like.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            items.extend((str(key).upper(), v) for v in values)
        return items
    raise TypeError(f"Cannot read header evidence from {type(header_like).__name__}")


def mirisim_evidence(header_like):
    """List the header evidence that ``header_like`` is a MIRISim product.

    Parameters
    ----------
    header_like : see `primary_header_items`
        The data to inspect.

    Returns
    -------
    list of str
        Human-readable reasons, empty for flight (or any non-MIRISim) data.
    """
    reasons = []
    for key, value in primary_header_items(header_like):
        text = value if isinstance(value, str) else None
        if key == "HISTORY" and text and text.startswith(OWN_HISTORY_PREFIXES):
            continue  # our own records of repairs are not provenance
        if key == "ORIGIN" and text and text.strip().lower() == MIRI_EC_ORIGIN.lower():
            reasons.append(f"ORIGIN = '{text.strip()}'")
        elif text and _SIMULATOR_TEXT.search(text):
            reasons.append(f"{key} names the simulator: '{text.strip()}'")
        elif _SIMULATOR_KEYWORD.search(key):
            reasons.append(f"simulator keyword {key}")
    return reasons


def is_mirisim(header_like):
    """Return True if ``header_like`` carries evidence of being a MIRISim product.

    Parameters
    ----------
    header_like : see `primary_header_items`
        The data to inspect.

    Returns
    -------
    bool
        True when `mirisim_evidence` finds anything.
    """
    return bool(mirisim_evidence(header_like))
