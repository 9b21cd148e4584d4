"""Offline CRDS cache for MIRI LRS slitless, used through CRDS's serverless mode.

`build_cache` writes a small, self-consistent CRDS cache (server config, a
pmap/imap/rmaps context and synthetic references built from the shared detector
model) and `offline_crds` points CRDS at it, so the official jwst pipelines run
without network access. See `jwst_tso_ext.crds_cache.build` for the layout.
"""

from jwst_tso_ext.crds_cache.build import build_cache, cache_is_current
from jwst_tso_ext.crds_cache.environment import SERVERLESS_URL, offline_crds, offline_crds_env
from jwst_tso_ext.crds_cache.mappings import CONTEXT

__all__ = [
    "CONTEXT",
    "SERVERLESS_URL",
    "build_cache",
    "cache_is_current",
    "offline_crds",
    "offline_crds_env",
]
