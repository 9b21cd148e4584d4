"""The parameter files ship with the package: ``jwst-tso-ext configs`` and `presets`."""

import subprocess
from pathlib import Path

import asdf
import pytest

from jwst_tso_ext import presets

STEP_CONFIGS = Path(__file__).resolve().parents[1] / "step_configs"


def _configs(command_path, *arguments, cwd):
    return subprocess.run(
        [command_path("jwst-tso-ext"), "configs", *arguments],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_every_file_of_step_configs_is_a_preset_with_its_purpose():
    found = presets.list_presets()
    assert [p.path.name for p in found] == sorted(p.name for p in STEP_CONFIGS.glob("*.asdf"))
    for preset in found:
        # the same bytes as the file in step_configs/ (one source of truth)
        assert preset.path.read_bytes() == (STEP_CONFIGS / preset.path.name).read_bytes()
        assert preset.class_name.startswith("jwst_tso_ext.pipeline.")
        assert len(preset.description) > 30 and "\n" not in preset.description
    by_name = {p.name: p for p in found}
    with asdf.open(STEP_CONFIGS / "lrs_tso_flight.asdf") as af:
        assert by_name["lrs_tso_flight"].description == " ".join(
            af.tree["meta"]["description"].split()
        )
    # a file without a description (export_config output) is described by its content
    assert "every parameter of LrsTsoPipeline" in by_name["lrs_tso_defaults"].description


@pytest.mark.subprocess
def test_configs_lists_locates_and_copies(tmp_path, command_path):
    listing = _configs(command_path, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    names = sorted(p.stem for p in STEP_CONFIGS.glob("*.asdf"))
    lines = listing.stdout.splitlines()
    for name in names:
        (line,) = [line for line in lines if line.startswith(name + " ")]
        assert "Pipeline: " in line
    assert f"Installed in {presets.preset_directory()}" in listing.stdout

    located = _configs(command_path, "--path", "lrs_tso_mirisim", cwd=tmp_path)
    assert located.returncode == 0
    path = Path(located.stdout.strip())
    assert (
        path.is_absolute()
        and path.read_bytes() == (STEP_CONFIGS / "lrs_tso_mirisim.asdf").read_bytes()
    )

    copied = _configs(command_path, "--copy", "mine", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert sorted(p.stem for p in (tmp_path / "mine").glob("*.asdf")) == names
    # editable copies: a second copy refuses to overwrite the user's edits
    (tmp_path / "mine" / "lrs_tso_flight.asdf").write_text("edited")
    again = _configs(command_path, "--copy", "mine", cwd=tmp_path)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (tmp_path / "mine" / "lrs_tso_flight.asdf").read_text() == "edited"


@pytest.mark.subprocess
def test_unknown_preset_names_the_installed_ones(tmp_path, command_path):
    result = _configs(command_path, "--path", "lrs_tso_nonsense", cwd=tmp_path)
    assert result.returncode == 2
    assert "lrs_tso_mirisim" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(FileNotFoundError, match="lrs_tso_flight"):
        presets.preset_path("nonsense")


def test_strun_takes_the_printed_path(tmp_path):
    """What ``configs --path`` prints is what strun loads (no input: --save-parameters)."""
    path = presets.preset_path("lrs_tso_mirisim.asdf")
    from stpipe import Step

    pipeline = Step.from_config_file(str(path))
    assert pipeline.tsovisit_fix.tsovisit == "force"
    assert (
        pipeline.detrended_white_light.min_wavelength,
        pipeline.detrended_white_light.max_wavelength,
    ) == (6.0, 10.0)
