"""The stpipe entry point lists every step and pipeline of the package, and only those."""

import importlib
import inspect
import pkgutil
import subprocess

import pytest
from stpipe import Pipeline, Step

import jwst_tso_ext
from jwst_tso_ext.integration import get_steps

EXPECTED_ALIASES = {
    "tsovisit_fix",
    "mirisim_refpix_guard",
    "wavelength_drift",
    "detrended_white_light",
    "tso_detector1",
    "lrs_tso",
    "detrended_tso3",
}


def _import(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _package_step_classes():
    """Every Step subclass defined in a module of jwst_tso_ext."""
    found = set()
    for info in pkgutil.walk_packages(jwst_tso_ext.__path__, "jwst_tso_ext."):
        if ".cli" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Step) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_listed_class_imports_with_its_alias():
    for class_path, alias, is_pipeline in get_steps():
        cls = _import(class_path)
        assert cls.class_alias == alias, class_path
        assert issubclass(cls, Pipeline) == is_pipeline, class_path


def test_aliases_are_the_documented_ones():
    assert {alias for _, alias, _ in get_steps()} >= EXPECTED_ALIASES


def test_every_step_class_is_listed():
    listed = {_import(path) for path, _, _ in get_steps()}
    missing = {cls.__qualname__ for cls in _package_step_classes() - listed}
    assert not missing, f"Step classes missing from integration.get_steps: {missing}"


@pytest.mark.subprocess
def test_stpipe_list_shows_the_aliases(command_path):
    stpipe = command_path("stpipe")
    assert stpipe, "stpipe executable not found next to the interpreter or on PATH"
    listing = subprocess.run(
        [stpipe, "list"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    for alias in EXPECTED_ALIASES:
        assert alias in listing
