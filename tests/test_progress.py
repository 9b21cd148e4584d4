"""Progress on long runs: lines per segment, every ~10 % of integrations, bars on a tty."""

import io
import logging

from jwst_tso_ext.pipeline import LrsTsoPipeline
from jwst_tso_ext.progress import IntegrationProgress, progress_bar
from jwst_tso_ext.simulate import SimulationConfig, simulate_exposure

LOGGER = "jwst_tso_ext.test_progress"


def _lines(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_line_every_tenth_of_a_long_run(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    progress = IntegrationProgress(logging.getLogger(LOGGER), "extracted", 5000)
    for start in range(0, 5000, 256):
        progress.advance(min(256, 5000 - start))
    lines = _lines(caplog, "extracted:")
    assert len(lines) == 10
    assert lines[0].startswith("extracted: 512/5000 integrations (10 %)")
    assert lines[-1].startswith("extracted: 5000/5000 integrations (100 %)")


def test_short_runs_stay_quiet(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    progress = IntegrationProgress(logging.getLogger(LOGGER), "extracted", 1500)
    for _ in range(15):
        progress.advance(100)
    assert _lines(caplog, "extracted:") == []
    assert progress.done == 1500


def test_no_bar_without_a_terminal():
    assert progress_bar(100, "simulating", stream=io.StringIO()) is None


def test_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = progress_bar(100, "simulating", stream=stream)
    bar.update(40)
    bar.close()
    assert "simulating:  40%" in stream.getvalue() or "40/100" in stream.getvalue()


def test_simulator_reports_every_integration(tmp_path):
    done = []
    config = SimulationConfig(nints=7, ngroups=30, segment_size=3, seed=1)
    simulate_exposure(config, tmp_path, progress=done.append)
    assert sum(done) == 7 and len(done) > 1  # chunks of 100 // 30 = 3 integrations


def test_lrs_tso_logs_one_line_per_segment(tmp_path, caplog, offline_crds_cache):
    config = SimulationConfig(nints=9, ngroups=3, segment_size=3, seed=5, root="progress")
    uncal = [p for p in simulate_exposure(config, tmp_path) if p.name.endswith("_uncal.fits")]
    caplog.set_level(logging.INFO, logger="jwst_tso_ext.pipeline.lrs_tso")
    LrsTsoPipeline.call(
        [str(p) for p in uncal],
        output_dir=str(tmp_path),
        steps={"detrended_white_light": {"skip": True}},
    )
    lines = _lines(caplog, ": stages 1 and 2 done in ")
    assert [line.split(":")[0] for line in lines] == ["segment 1/3", "segment 2/3", "segment 3/3"]
    assert all(line.endswith(" s") for line in lines)
