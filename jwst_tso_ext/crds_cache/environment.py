"""Point CRDS at an offline cache in its official serverless mode.

CRDS reads ``CRDS_PATH``, ``CRDS_CONTEXT``, ``CRDS_READONLY_CACHE`` and
``CRDS_OBSERVATORY`` from ``os.environ`` each time it needs them, so they can be set
after ``import crds``. Three pieces of state are *not* re-read and are handled
here explicitly:

* the server URL, fixed by ``crds/__init__.py`` at import time
  (``crds.client.api.set_crds_server``);
* the cache layout (``crds.core.config.CRDS_REF_SUBDIR_MODE``), read once per
  process from ``config/jwst/ref_cache_subdir_mode``;
* results of ``@utils.cached`` functions (server info, processing mode, context
  name, loaded mappings), cleared with ``crds.core.utils.clear_function_caches``.

crds also writes the defaults of its settings *into* ``os.environ`` at import
(``CRDS_CONFIG_URI=None``, ``CRDS_MODE=auto`` ...) and later relies on them, so
`offline_crds` sets those it depends on explicitly and, on exit, restores the
exact previous set of ``CRDS_*`` variables rather than deleting any.

With a URL containing "serverless" crds makes no network call: it raises a
ServiceError before any request and falls back to ``config/jwst/server_config``
of the cache. Users with their own CRDS setup are untouched unless they enter
`offline_crds`; on exit everything above is restored.
"""

import contextlib
import os
from pathlib import Path

from jwst_tso_ext.crds_cache.mappings import CONTEXT

__all__ = ["SERVERLESS_URL", "REDIRECTING_VARIABLES", "offline_crds", "offline_crds_env"]

#: CRDS_SERVER_URL of the official serverless mode (any URL containing "serverless").
SERVERLESS_URL = "https://jwst-serverless-mode.stsci.edu"

#: Variables that would redirect parts of the cache elsewhere: unset while offline
#: (and to be removed from a subprocess environment, see `offline_crds_env`).
REDIRECTING_VARIABLES = (
    "CRDS_PATH_SINGLE",
    "CRDS_MAPPATH",
    "CRDS_MAPPATH_SINGLE",
    "CRDS_REFPATH",
    "CRDS_REFPATH_SINGLE",
    "CRDS_CFGPATH",
    "CRDS_CFGPATH_SINGLE",
)


def offline_crds_env(path, context=None, disable_steppars=True):
    """Environment variables that run CRDS serverless from the cache at ``path``.

    Use it for subprocesses: start from ``os.environ``, drop the names in
    `REDIRECTING_VARIABLES`, then update with this dict. Besides the cache location,
    server URL and context it pins the crds settings a user's environment could
    otherwise override (``CRDS_*_URI`` to "none", S3 off, ``CRDS_MODE=auto``).

    Parameters
    ----------
    path : path-like
        Root of the cache (the ``CRDS_PATH``), as built by `build_cache`.
    context : str, optional
        Pipeline mapping to use; default the cache's own context.
    disable_steppars : bool, optional
        Also set ``STPIPE_DISABLE_CRDS_STEPPARS`` so stpipe does not look up
        ``pars-*`` references (they are all ``N/A`` in the cache anyway).

    Returns
    -------
    env : dict
        Variable name -> value.
    """
    env = {
        "CRDS_PATH": str(Path(path).resolve()),
        "CRDS_SERVER_URL": SERVERLESS_URL,
        "CRDS_CONTEXT": context or CONTEXT,
        "CRDS_READONLY_CACHE": "1",
        "CRDS_OBSERVATORY": "jwst",
        "CRDS_MODE": "auto",
        "CRDS_CONFIG_URI": "none",
        "CRDS_MAPPING_URI": "none",
        "CRDS_REFERENCE_URI": "none",
        "CRDS_PICKLE_URI": "none",
        "CRDS_S3_ENABLED": "false",
        "CRDS_S3_RETURN_URI": "false",
    }
    if disable_steppars:
        env["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    return env


def _is_managed(name):
    """Environment variables saved and restored by `offline_crds`."""
    return name.startswith("CRDS_") or name == "STPIPE_DISABLE_CRDS_STEPPARS"


def _reset_crds_state(server_url, subdir_mode, readonly):
    """Set crds's import-time and cached state; return the previous values."""
    from crds.client import api
    from crds.core import config, utils

    previous = (api.get_crds_server(), config.CRDS_REF_SUBDIR_MODE, config._CRDS_CACHE_READONLY)
    api.set_crds_server(server_url)
    config.CRDS_REF_SUBDIR_MODE = subdir_mode
    config._CRDS_CACHE_READONLY = readonly
    utils.clear_function_caches()
    return previous


@contextlib.contextmanager
def offline_crds(path, context=None, disable_steppars=True):
    """Run CRDS (and hence every jwst step) from the offline cache at ``path``.

    Sets the variables of `offline_crds_env` in ``os.environ``, points the already
    imported crds client at the serverless URL, resets crds's per-process caches,
    and restores the previous environment and crds state on exit. Not thread-safe
    (it changes ``os.environ``).

    Parameters
    ----------
    path : path-like
        Root of the cache built by `build_cache`.
    context : str, optional
        Pipeline mapping to use; default the cache's own context.
    disable_steppars : bool, optional
        Also set ``STPIPE_DISABLE_CRDS_STEPPARS``.

    Yields
    ------
    env : dict
        The variables that were set.

    Examples
    --------
    >>> from jwst_tso_ext.crds_cache import build_cache, offline_crds
    >>> cache = build_cache("~/tso_crds_cache")  # doctest: +SKIP
    >>> with offline_crds(cache):  # doctest: +SKIP
    ...     result = Detector1Pipeline.call("jw..._uncal.fits")
    """
    env = offline_crds_env(path, context=context, disable_steppars=disable_steppars)
    saved_env = {name: value for name, value in os.environ.items() if _is_managed(name)}
    for name in REDIRECTING_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(env)
    # "None" makes crds re-read config/jwst/ref_cache_subdir_mode of this cache.
    saved_state = _reset_crds_state(SERVERLESS_URL, "None", True)
    try:
        yield env
    finally:
        # crds writes its settings back into os.environ: restore the exact snapshot.
        for name in [name for name in os.environ if _is_managed(name)]:
            del os.environ[name]
        os.environ.update(saved_env)
        try:
            _reset_crds_state(*saved_state)
        except ImportError:  # interpreter shutdown with the context never exited
            pass
