"""Build (or reuse) the offline CRDS cache for MIRI LRS slitless.

Layout under the cache root (the ``CRDS_PATH``)::

    config/jwst/server_config            server info read in serverless mode
    config/jwst/ref_cache_subdir_mode    "instrument"
    mappings/jwst/jwst_9001.pmap         -> jwst_miri_9001.imap -> jwst_miri_<type>_9001.rmap
    references/jwst/miri/jwst_miri_<type>_9001.{fits,asdf,json}
    jwst_tso_ext_cache.json              stamp: what built the cache, and from which sources

A cache whose stamp matches the installed package, jwst, crds and the shared
detector/geometry sources is reused as is; otherwise it is rebuilt in place.
"""

import datetime
import hashlib
import json
import logging
import os
import pprint
import shutil
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

from jwst_tso_ext.crds_cache import mappings, references

log = logging.getLogger(__name__)

__all__ = ["CACHE_FORMAT", "STAMP_NAME", "build_cache", "cache_is_current", "expected_files"]

#: Bump when the layout or content rules change.
CACHE_FORMAT = 1
#: Stamp file at the cache root.
STAMP_NAME = "jwst_tso_ext_cache.json"

#: Package sources whose content determines the cache (a change forces a rebuild).
_SOURCES = (
    ("jwst_tso_ext.miri_lrs", "detector.py"),
    ("jwst_tso_ext.miri_lrs", "geometry.py"),
    ("jwst_tso_ext", "data/miri_lrs_slitless_wavelength_table.csv"),
    ("jwst_tso_ext.crds_cache", "references.py"),
    ("jwst_tso_ext.crds_cache", "mappings.py"),
    ("jwst_tso_ext.crds_cache", "build.py"),
)


def _version(name):
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _stamp():
    """What a cache built now would record."""
    digest = hashlib.sha1()
    for package, name in _SOURCES:
        digest.update((files(package) / name).read_bytes())
    return {
        "format": CACHE_FORMAT,
        "context": mappings.CONTEXT,
        "jwst_tso_ext": _version("jwst-tso-ext"),
        "jwst": _version("jwst"),
        "crds": _version("crds"),
        "sources_sha1": digest.hexdigest(),
    }


def expected_files(path):
    """Every file a complete cache at ``path`` holds (the stamp excluded)."""
    path = Path(path)
    mapdir = path / "mappings" / "jwst"
    refdir = path / "references" / "jwst" / "miri"
    paths = [
        path / "config" / "jwst" / "server_config",
        path / "config" / "jwst" / "ref_cache_subdir_mode",
        mapdir / mappings.CONTEXT,
        mapdir / mappings.IMAP,
    ]
    paths += [mapdir / mappings.rmap_name(reftype) for reftype in references.REFERENCE_NAMES]
    paths += [refdir / name for name in references.REFERENCE_NAMES.values()]
    return paths


def cache_is_current(path):
    """True if ``path`` holds a complete cache built from the installed sources."""
    path = Path(path)
    try:
        stamp = json.loads((path / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("build") == _stamp() and all(p.is_file() for p in expected_files(path))


def _server_config():
    """Server info as ``crds.core.heavy_client.load_server_info`` reads it (a Python literal)."""
    context = mappings.CONTEXT
    crds_version = _version("crds")
    return {
        "observatory": "jwst",
        "operational_context": context,
        "latest_context": context,
        "edit_context": context,
        "versions_context": context,
        "bad_files": "",
        "bad_files_list": [],
        "force_remote_mode": False,
        "crds_version": {"str": crds_version},
        "last_synced": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "mapping_url": "none",
        "reference_url": "none",
        "config_url": "none",
        "pickle_url": "none",
        "connected": False,
        "status": "cache",
        "server": "jwst_tso_ext offline cache (serverless)",
    }


def build_cache(path, force=False):
    """Build the offline CRDS cache at ``path``, or reuse it if already current.

    Parameters
    ----------
    path : path-like
        Cache root (becomes ``CRDS_PATH``). Created if missing.
    force : bool, optional
        Rebuild even if the stamp says the cache is current. A directory that
        looks like someone else's CRDS cache (``config/jwst/server_config``
        without our stamp) is refused unless ``force`` is set.

    Returns
    -------
    path : pathlib.Path
        The resolved cache root.
    """
    path = Path(path).expanduser().resolve()
    if not force and cache_is_current(path):
        log.info("Offline CRDS cache at %s is current; reusing it", path)
        return path
    if (path / "config" / "jwst" / "server_config").exists() and not (path / STAMP_NAME).exists():
        if not force:
            raise FileExistsError(
                f"{path} holds a CRDS cache not built by jwst_tso_ext; refusing to overwrite "
                "it (choose another directory or pass force=True)"
            )
    start = time.monotonic()
    (path / STAMP_NAME).unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    # Build in a staging directory, then move each file into place with an atomic
    # rename: a pipeline already running from this cache never finds a file missing
    # or half written (crds would then try to download it, which fails offline).
    # Files of an older build that this one does not write are left in place, for
    # the same reason; crds ignores files no mapping names.
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=path))
    try:
        cfgdir = staging / "config" / "jwst"
        cfgdir.mkdir(parents=True)
        (cfgdir / "server_config").write_text(pprint.pformat(_server_config()) + "\n")
        (cfgdir / "ref_cache_subdir_mode").write_text("instrument")
        refdir = staging / "references" / "jwst" / "miri"
        refdir.mkdir(parents=True)
        references.write_references(refdir)
        mapdir = staging / "mappings" / "jwst"
        mapdir.mkdir(parents=True)
        selections = mappings.write_mappings(
            mapdir, references.REFERENCE_NAMES, references.USEAFTER
        )
        for built in sorted(f for f in staging.rglob("*") if f.is_file()):
            target = path / built.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stamp = {
        "build": _stamp(),
        "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "real_reftypes": sorted(t for t, v in selections.items() if v != "N/A"),
    }
    partial = path / f"{STAMP_NAME}.{os.getpid()}"
    partial.write_text(json.dumps(stamp, indent=2) + "\n")
    os.replace(partial, path / STAMP_NAME)
    log.info("Built offline CRDS cache at %s in %.1f s", path, time.monotonic() - start)
    return path
