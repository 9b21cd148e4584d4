"""Shared test setup: the test tiers, the offline CRDS cache, ``strun`` and simulations.

Tiers
-----
``python -m pytest`` (the README's command) runs the fast tier: every test not marked
``slow`` (pyproject.toml adds ``-m 'not slow'``). ``python -m pytest -m slow`` runs the
slower tier, after the fast one in ``.ci/run``. A test marked with one of
`SLOW_TIER_MARKERS` (it starts a subprocess, builds or runs the docs, starts a Dask
cluster or runs the official jwst chain) is marked ``slow`` too, here, so it cannot
end up in the fast tier by a forgotten marker.

CRDS
----
No test reaches a CRDS server. A test that needs CRDS (a pipeline, a step with
reference files, ``strun``) asks for ``offline_crds_cache``, itself or through one of
its fixtures: the package's offline cache, built once per run (the xdist workers share
it) and active from then on; subprocesses inherit it. Every other test runs with CRDS
pointed at an empty cache, whatever ran before it, so a forgotten request fails at
once (CRDS names ``.../no_crds_cache_requested...``) instead of depending on the order.
"""

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from jwst_tso_ext.crds_cache import build_cache, offline_crds

os.environ.setdefault("MPLBACKEND", "Agg")

#: Markers that put a test in the slower tier (each implies ``slow``).
SLOW_TIER_MARKERS = ("subprocess", "docs", "dask", "official")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test with one of `SLOW_TIER_MARKERS` (before ``-m`` selects)."""
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_TIER_MARKERS):
            item.add_marker(pytest.mark.slow)


# --- CRDS --------------------------------------------------------------------------


def _shared_directory(tmp_path_factory):
    """A directory of this run that every xdist worker sees (the parent of its base temp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def offline_crds_cache(tmp_path_factory):
    """Path of the run's offline CRDS cache, active from the first test that asks for it."""
    shared = _shared_directory(tmp_path_factory)
    with FileLock(shared / "crds_cache.lock"):
        cache = build_cache(shared / "crds_cache")  # reused when another worker built it
    with offline_crds(cache):
        yield cache


@pytest.fixture(scope="session")
def _no_crds_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("no_crds_cache_requested__use_the_offline_crds_cache_fixture")


@pytest.fixture(autouse=True)
def _crds_only_where_requested(request, _no_crds_cache):
    """CRDS on an empty cache for a test that does not ask for ``offline_crds_cache``."""
    if "offline_crds_cache" in request.fixturenames:
        yield
    else:
        with offline_crds(_no_crds_cache):
            yield


# --- executables ---------------------------------------------------------------------


def executable(name):
    """Path of console script ``name`` of this environment (beside the interpreter)."""
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else shutil.which(name)


def run_strun(*arguments, cwd, check=True, timeout=1200, env=None):
    """``strun ARGUMENTS`` in ``cwd`` (environment ``env``, default this process's); the
    completed process (exit status 0 if ``check``)."""
    result = subprocess.run(
        [executable("strun"), *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def strun():
    """`run_strun`: ``strun(*arguments, cwd, check=True, timeout=1200, env=None)``."""
    return run_strun


@pytest.fixture(scope="session")
def command_path():
    """`executable`: ``command_path("jwst-tso-ext")`` is the installed console script."""
    return executable


# --- simulations ---------------------------------------------------------------------


def write_association(directory, members, product):
    """A level-3 association of ``members`` (file names) written as ``<product>_asn.json``."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base

    asn = asn_from_list([Path(m).name for m in members], rule=DMS_Level3_Base, product_name=product)
    path = Path(directory) / f"{product}_asn.json"
    path.write_text(asn.dump(format="json")[1])
    return path


@pytest.fixture(scope="session")
def association():
    """`write_association`: ``association(directory, members, product)`` -> asn path."""
    return write_association


# --- logs ----------------------------------------------------------------------------


class _Messages(logging.Handler):
    def __init__(self, messages):
        super().__init__(logging.DEBUG)
        self.messages = messages

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_log(level=logging.INFO):
    """The messages of every logger, ``level`` and up, while the context is open (a list).

    For module- and session-scoped fixtures, where ``caplog`` is not available.
    """
    messages = []
    handler = _Messages(messages)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield messages
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture(scope="session")
def log_messages():
    """`captured_log`: ``with log_messages() as messages: ...``."""
    return captured_log
