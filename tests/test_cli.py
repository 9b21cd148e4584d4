"""The ``jwst-tso-ext`` command line: the offline demo and clean errors."""

import subprocess

import pytest


@pytest.mark.subprocess
def test_demo_runs_offline_and_reports_recovered_values(tmp_path, offline_crds_cache, command_path):
    result = subprocess.run(
        [
            command_path("jwst-tso-ext"),
            "demo",
            "--outdir",
            str(tmp_path),
            "--crds-cache",
            str(offline_crds_cache),
            "--nints",
            "60",
            "--ngroups",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for line in ("[1/4] Simulating", "[3/4] strun", "transit depth: fitted", "drift x:"):
        assert line in out
    for name in (
        "jw_demo_mirilrs_tso_uncal.fits",
        "jw_demo_mirilrs_tso_x1dints.fits",
        "jw_demo_mirilrs_tso_whtlt.ecsv",
        "jw_demo_mirilrs_tso_demo_summary.png",
        "lrs_tso.log",
    ):
        assert (tmp_path / name).is_file(), name


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["simulate", "OUT", "--nints", "0"], "positive integer"),
        (["crds-cache"], "required"),
    ],
)
@pytest.mark.subprocess
def test_bad_arguments_give_a_clean_error(arguments, message, tmp_path, command_path):
    arguments = [a.replace("OUT", str(tmp_path / "out")) for a in arguments]
    result = subprocess.run(
        [command_path("jwst-tso-ext"), *arguments], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
