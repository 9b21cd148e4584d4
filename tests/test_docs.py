"""The Sphinx documentation builds without a single warning (warnings are errors)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")

DOCS = Path(__file__).resolve().parents[1] / "docs"


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
