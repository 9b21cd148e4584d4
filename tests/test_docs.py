"""The Sphinx documentation builds without a single warning (warnings are errors),
and the tutorial's blocks run in order with the values its comments quote."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from doc_blocks import clean_environment, code_blocks

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: Integrations of the tutorial's exposure in the default (reduced) run.
SMALL_NINTS = 40


@pytest.mark.docs
@pytest.mark.subprocess
def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    html = tmp_path / "html"
    for page in (
        "index",
        "tutorial",
        "steps",
        "pipeline",
        "parameter_files",
        "crds_cache",
        "simulator",
        "api",
    ):
        assert (html / f"{page}.html").is_file(), page
    # the parameter tables are generated from the code
    steps = (html / "steps.html").read_text()
    assert "correct_drift" in steps and "integrations_per_chunk" in steps


# --- the tutorial, run as a reader runs it -------------------------------------------

RUNNER = Path(__file__).with_name("doc_blocks.py")
TUTORIAL = DOCS / "tutorial.rst"


def _run_tutorial(tmp_path, *replacements):
    """Run every block of the tutorial in order in ``tmp_path``; returns stdout."""
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(TUTORIAL), *(f"--replace={r}" for r in replacements)],
        cwd=tmp_path,
        env=clean_environment(home),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    assert "all blocks ran" in result.stdout
    return result.stdout


def _check_products(tmp_path, nints):
    work = tmp_path / "tutorial_output"
    for path in (
        work / "detrended" / "tutorial_stage3_whtlt.ecsv",  # DetrendedTso3Pipeline
        work / "lrs_tso" / "tutorial_whtlt.ecsv",  # the last block's LrsTsoPipeline
    ):
        curve = Table.read(path, format="ascii.ecsv")
        assert len(curve) == nints, path
        assert np.isfinite(curve.meta["transit_depth"])


def test_tutorial_blocks_are_all_run_but_the_illustrative_one():
    blocks = code_blocks(TUTORIAL.read_text())
    illustrative = [b for b in blocks if b.illustrative]
    # the read-noise override (a file the reader supplies) and the phase curve's
    # 9,000-integration run and its check
    assert len(illustrative) == 3 and "my_readnoise.fits" in illustrative[0].code
    assert all("phase" in block.code for block in illustrative[1:])
    assert {b.language for b in blocks} == {"python", "bash"}


@pytest.mark.docs
@pytest.mark.subprocess
def test_tutorial_runs_on_a_smaller_exposure(tmp_path):
    """The default suite's form: every block, 40 integrations instead of 120."""
    out = _run_tutorial(tmp_path, f"120={SMALL_NINTS}")
    assert "illustrative, skipped" in out
    _check_products(tmp_path, SMALL_NINTS)


@pytest.mark.docs
@pytest.mark.subprocess
def test_tutorial_runs_as_written(tmp_path):
    _run_tutorial(tmp_path)
    _check_products(tmp_path, 120)
