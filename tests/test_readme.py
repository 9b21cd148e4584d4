"""The README's usage lines, run as written in an empty directory, offline.

The ``bash`` block under "## Usage" is run verbatim with ``bash -e`` in a temporary
directory with a temporary ``HOME`` (its ``~/crds_offline`` cache is built there)
and without the session's CRDS settings, so its own ``crds-cache`` line is what
takes it offline. The sizes of the simulation are those written in the README.
"""

import re
import subprocess
from pathlib import Path

import pytest
from astropy.table import Table
from doc_blocks import check_printed, clean_environment, code_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def usage_block(text):
    """The first ```bash block of the "## Usage" section."""
    section = text.split("\n## Usage", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "no ```bash block under ## Usage"
    return match.group(1)


def test_usage_block_is_the_documented_one():
    block = usage_block(README.read_text())
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("jwst-tso-ext simulate sim/")
    assert any(line.startswith("strun lrs_tso ") for line in lines)
    assert any(line.startswith("strun step_configs/lrs_tso_mirisim.asdf ") for line in lines)
    assert any("jwst-tso-ext crds-cache" in line for line in lines)


@pytest.mark.docs
@pytest.mark.subprocess
def test_readme_usage_lines_run_as_written(tmp_path):
    block = usage_block(README.read_text())
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=tmp_path,
        env=clean_environment(home),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-6000:])
    # both strun lines ran to the white light, offline from the README's own cache
    assert (home / "crds_offline").is_dir()
    assert "segment 1/1: stages 1 and 2 done in" in result.stderr
    whtlt = Table.read(tmp_path / "out" / "jw_sim_mirilrs_tso_whtlt.ecsv", format="ascii.ecsv")
    truth = Table.read(tmp_path / "sim" / "jw_sim_mirilrs_tso_truth.ecsv", format="ascii.ecsv")
    assert len(whtlt) == len(truth)
    # the last run is the preset's: white light over 6-10 micron
    assert (whtlt.meta["min_wavelength"], whtlt.meta["max_wavelength"]) == (6.0, 10.0)
    # with no orbit given, the fit found the transit and recovered its depth
    assert whtlt.meta["start"] == "search"
    depth, error = whtlt.meta["transit_depth"], whtlt.meta["transit_depth_err"]
    assert abs(depth - truth.meta["transit_depth"]) < 2 * error
    # the copied presets are the installed ones
    assert sorted(p.name for p in (tmp_path / "step_configs").glob("*.asdf")) == sorted(
        p.name for p in (README.parent / "step_configs").glob("*.asdf")
    )


def test_docs_runner_reads_blocks_and_checks_quoted_values():
    """The tutorial runner's own logic, on a small page (fast)."""
    page = """
Text.

.. code-block:: python

    x = 3
    print(x, "FAST")        # 3 FAST: explanation

.. code-block:: python
    :class: illustrative

    open("your_file.fits")

.. code-block:: bash

    echo hi
"""
    blocks = code_blocks(page)
    assert [b.language for b in blocks] == ["python", "python", "bash"]
    assert [b.illustrative for b in blocks] == [False, True, False]
    assert blocks[0].line == 6
    assert check_printed(["3 FAST: explanation"], "3 FAST\n") == []
    assert check_printed(["about 0.31 (injected 0.3)"], "0.29\n") == []
    assert check_printed(["1.5904"], "1.59041\n") == []
    assert check_printed(["SKIPPED (our choice)", "COMPLETE"], "SKIPPED COMPLETE") == []
    # drift between the text and the code is caught
    assert check_printed(["3 FAST"], "4 FAST\n")
    assert check_printed(["3 FAST"], "3 FASTR1\n") == []  # loose: substring
    assert check_printed(["True FASTR1"], "True FAST\n")
    assert check_printed(["1.5904"], "1.7494\n")
    assert check_printed(["about 0.31"], "0.2\n")
    assert check_printed(["['int_num', 'x_shift']"], "['int_num', 'y_shift']\n")
    assert check_printed(["None"], "")
