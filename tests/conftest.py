"""Session-wide test setup: every test runs offline against the package's CRDS cache.

The cache is built once per session in a temporary directory and CRDS is put in its
official serverless mode for the whole session (`jwst_tso_ext.crds_cache.offline_crds`
also sets ``STPIPE_DISABLE_CRDS_STEPPARS``). Subprocesses (``strun``) inherit it.
"""

import os

import pytest

from jwst_tso_ext.crds_cache import build_cache, offline_crds

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def offline_crds_cache(tmp_path_factory):
    """Path of the session's offline CRDS cache, active for every test."""
    cache = build_cache(tmp_path_factory.mktemp("crds_cache"))
    with offline_crds(cache):
        yield cache
