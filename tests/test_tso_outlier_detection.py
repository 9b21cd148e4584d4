"""tso_outlier_detection: jwst's TSO-mode flags, segment context, simulated outliers."""

import logging
import warnings

import numpy as np
import pytest
from astropy.table import Table
from jwst.outlier_detection import OutlierDetectionStep
from jwst.resample.resample_utils import build_mask
from stdatamodels.jwst import datamodels

from jwst_tso_ext.miri_lrs import detector
from jwst_tso_ext.simulate import SimulationConfig, make_outliers, noiseless_rates
from jwst_tso_ext.steps import TsoOutlierDetectionStep
from jwst_tso_ext.tso_outlier_detection import products, rolling

OUTLIER = datamodels.dqflags.pixel["OUTLIER"]
DO_NOT_USE = datamodels.dqflags.pixel["DO_NOT_USE"]
JUMP_DET = datamodels.dqflags.pixel["JUMP_DET"]


def _cube(nints=50, ny=24, nx=16, seed=0, first_int=1):
    """A calints-like cube: noise, outliers, bad pixels, NaNs, a dead column."""
    rng = np.random.default_rng(seed)
    data = (1000.0 + 10.0 * rng.standard_normal((nints, ny, nx))).astype(np.float32)
    err = np.full(data.shape, 10.0, np.float32)
    dq = np.zeros(data.shape, np.uint32)
    hits = rng.random(data.shape) < 0.01
    data[hits] += rng.uniform(20.0, 200.0, hits.sum()).astype(np.float32)
    dq[rng.random(data.shape) < 0.003] |= DO_NOT_USE
    dq[:, 5, 7] |= DO_NOT_USE
    data[rng.random(data.shape) < 0.002] = np.nan
    model = datamodels.CubeModel(data=data, err=err, dq=dq)
    model.meta.instrument.name = "MIRI"
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.exposure.nints = nints
    model.meta.exposure.integration_start = first_int
    model.meta.exposure.integration_end = first_int + nints - 1
    model.meta.visit.tsovisit = True
    return model


@pytest.mark.parametrize("window", [25, 10, 7, 50, 80])
def test_flags_equal_jwst_outlier_detection_in_tso_mode(window):
    """Same DQ, data, err and NaNs as jwst's step, for odd, even and static windows."""
    model = _cube()
    official = OutlierDetectionStep.call(model, rolling_window_width=window)
    ours = TsoOutlierDetectionStep.call(
        model, rolling_window_width=window, ignore_nan_in_window=False
    )
    flagged = (official.dq & OUTLIER) > 0
    assert 50 < flagged.sum()  # something to compare
    assert np.array_equal(ours.dq, official.dq)
    assert np.array_equal(ours.data, official.data, equal_nan=True)
    assert np.array_equal(ours.err, official.err, equal_nan=True)
    assert ours.meta.cal_step.tso_outlier_detection == "COMPLETE"
    counts = np.asarray(ours.outlier_counts)
    assert np.array_equal(counts["n_outliers"], flagged.sum(axis=(1, 2)))
    assert list(counts["int_num"]) == list(range(1, 51))


def test_input_is_not_modified_and_bad_input_is_a_logged_skip(caplog):
    model = _cube()
    before = model.dq.copy(), model.data.copy()
    result = TsoOutlierDetectionStep.call(model)
    assert result is not model
    assert np.array_equal(model.dq, before[0])
    assert np.array_equal(model.data, before[1], equal_nan=True)
    with caplog.at_level(logging.WARNING):
        image = datamodels.ImageModel(data=np.ones((4, 4), np.float32))
        skipped = TsoOutlierDetectionStep.call(image)
    assert skipped.meta.cal_step.tso_outlier_detection == "SKIPPED"
    assert "needs a cube of integrations" in caplog.text


def _trend_cube(nints, first_int):
    """A steep linear ramp in time (3 err per integration), no noise."""
    model = _cube(nints=nints, seed=1, first_int=first_int)
    times = np.arange(first_int, first_int + nints, dtype=np.float32)
    model.data[:] = (1000.0 + 30.0 * times)[:, None, None]
    model.dq[:] = 0
    return model


def _tail(segment, step):
    """The end of ``segment`` that the next one takes as context (as lrs_tso saves it)."""
    good = build_mask(segment.dq, step.good_bits).astype(bool)
    return rolling.segment_tail(segment.data, good, step.maskpt, step.rolling_window_width)


def test_segment_context_gives_the_whole_exposure_flags():
    """With the previous segment's end as context, a segment's flags are those of one run
    over the whole exposure, except the last window // 2 integrations of earlier segments
    (their next neighbours are not calibrated yet)."""
    window, half = 10, 5
    whole = _cube(nints=60, seed=4)
    reference = TsoOutlierDetectionStep.call(whole, rolling_window_width=window)
    step = TsoOutlierDetectionStep(rolling_window_width=window)
    assert step.ignore_nan_in_window  # the default
    parts, tails = [], []
    for start, stop in [(0, 25), (25, 28), (28, 60)]:  # a segment shorter than the window
        segment = _cube(nints=stop - start, first_int=start + 1)
        for name in ("data", "err", "dq"):
            getattr(segment, name)[:] = getattr(whole, name)[start:stop]
        # the context as lrs_tso makes it: from the saved ends of the earlier segments
        context = rolling.chain_context(tails, window)
        given = None if context.data is None else context.data.copy()
        parts.append(step.run(segment, context).dq)
        if given is not None:  # the step does not change the context it is given
            np.testing.assert_array_equal(context.data, given)
        tails.append((_tail(segment, step), start + 1, stop))
    last = rolling.chain_context(tails, window)
    assert last.last_int_num == 60
    assert last.data.shape == (half, 24, 16)
    combined = np.concatenate(parts)
    flagged = (reference.dq & OUTLIER) > 0
    assert flagged.sum() > 50
    same = np.ones(60, bool)
    same[25 - half : 25] = False  # end of segment 1 (one-sided window)
    same[28 - half : 28] = False  # segments 1-2 tail
    assert np.array_equal(combined[same], reference.dq[same])


def test_segment_context_removes_false_flags_on_a_trend_at_a_segment_start():
    """A steep trend: without context the first integrations of a segment take the
    median of the segment's first window, up to 15 err away; with it they are centred."""
    window = 10
    first = _trend_cube(30, 1)
    second = _trend_cube(30, 31)
    alone = TsoOutlierDetectionStep.call(second, rolling_window_width=window)
    assert ((alone.dq[:3] & OUTLIER) > 0).all()
    step = TsoOutlierDetectionStep(rolling_window_width=window)
    context = rolling.chain_context([(_tail(first, step), 1, 30)], window)
    with_context = step.run(second, context)
    assert not ((with_context.dq[:5] & OUTLIER) > 0).any()
    # a context that does not end just before the segment is not used
    unrelated = step.run(second, rolling.SegmentContext(context.data, 10))
    assert np.array_equal(unrelated.dq, alone.dq)


def test_rolling_median_matches_numpy_per_window():
    rng = np.random.default_rng(2)
    cube = rng.standard_normal((30, 3, 4)).astype(np.float32)
    cube[7, 1, 2] = np.nan
    for window in (5, 6):
        out = rolling.rolling_median(cube, window)
        half = window // 2
        for j in range(half, 30 - window + half + 1):
            expected = np.median(cube[j - half : j - half + window].astype(np.float64), axis=0)
            if window % 2:
                expected = np.median(cube[j - half : j - half + window], axis=0)
            np.testing.assert_array_equal(out[j], expected)
        np.testing.assert_array_equal(out[0], out[half])
        assert np.isnan(out[7, 1, 2]) and not np.isnan(out[7, 0, 0])


def test_incomplete_bins_are_marked():
    npixels = np.array([[8.0, 8.0, 6.5], [7.0, 8.0, 6.5], [8.0, 8.0, 5.5]])
    marked = products.incomplete_bins(npixels)
    assert marked.tolist() == [[False, False, False], [True, False, False], [False, False, True]]


def test_counts_join_the_drift_table():
    drift = Table({"int_num": [3, 4, 5], "x_shift": [0.1, 0.2, 0.3]})
    model = datamodels.CubeModel((3, 2, 2))
    dtype = [("int_num", "i4"), ("n_outliers", "i4")]
    model.outlier_counts = np.array([(4, 2), (5, 1)], dtype=dtype)
    merged = products.add_outlier_counts(drift, model)
    assert list(merged["n_outliers"]) == [0, 2, 1]
    assert list(merged["x_shift"]) == [0.1, 0.2, 0.3]
    assert products.add_outlier_counts(None, model) is None


def test_simulated_outliers_are_flagged_and_little_else():
    """Rates of a small simulation with injected outliers, noise drawn from the pipeline's
    slope variances: >= 95 % of the outliers and < 0.01 % of the other aperture pixels."""
    config = SimulationConfig(
        nints=120, ngroups=10, seed=11, outlier_integrations=60, outlier_telegraph_pixels=2
    )
    rate, _ = noiseless_rates(config)
    truth = make_outliers(config)
    assert len(truth) >= 60 and set(truth["kind"]) == {"integration", "telegraph"}
    var_poisson, var_rnoise = detector.slope_variances(rate, config.ngroups)
    err = np.sqrt(var_poisson + var_rnoise).astype(np.float32)
    rng = np.random.default_rng(0)
    data = rate + err * rng.standard_normal(rate.shape).astype(np.float32)
    index = (truth["int_num"] - 1, truth["row"], truth["column"])
    np.add.at(data, index, truth["amplitude"].astype(np.float32))
    model = _cube(nints=120)
    model.data, model.err, model.dq = data, err, np.zeros(data.shape, np.uint32)
    result = TsoOutlierDetectionStep.call(model)
    flagged = (result.dq & OUTLIER) > 0
    assert flagged[index].mean() >= 0.95
    aperture = np.zeros(rate.shape[1:], bool)
    aperture[140:400, 31:45] = True
    others = flagged.copy()
    others[index] = False
    assert others[:, aperture].sum() / (120 * aperture.sum()) < 1e-4


def test_rank_bounded_flags_equal_the_full_rolling_median():
    """rolling_flags decides most pixels from rank bounds of every 4th sorted window; its
    flags equal the brute-force test against jwst's rolling median, with ties at the
    threshold, NaNs, context and edges, for every window width."""
    rng = np.random.default_rng(9)
    for _ in range(150):
        total = int(rng.integers(3, 50))
        window = int(rng.integers(2, total + 1))
        first = int(rng.integers(0, window // 2 + 1))
        series = (rng.normal(size=(total, 3, 5)) * rng.choice([1, 100])).astype(np.float32)
        integer = rng.random() < 0.5
        if integer:
            series = np.round(series)
        series[rng.random(series.shape) < 0.03] = np.nan
        data = series[first:].copy()
        data[rng.random(data.shape) < 0.02] = np.nan
        if integer:  # |data - median| == threshold happens
            threshold = rng.integers(0, 3, data.shape).astype(np.float32)
        else:
            threshold = (np.abs(rng.normal(size=data.shape)) * rng.choice([0.5, 5])).astype(
                np.float32
            )
        median = rolling.rolling_median(series, window)[first:]
        with np.errstate(invalid="ignore"):
            expected = np.abs(data.astype(np.float64) - median) > threshold
        got = rolling.rolling_flags(series, data, threshold, window, first=first)
        assert np.array_equal(got, expected), (total, window, first)


def test_lrs_tso_flags_simulated_outliers_across_segments(tmp_path, offline_crds_cache):
    """End to end on two segments with injected outliers: flags in the crfints, counts in
    the drift table, bins that lost a pixel marked DO_NOT_USE in the x1dints."""
    from jwst_tso_ext.pipeline import LrsTsoPipeline
    from jwst_tso_ext.simulate import simulate_exposure

    config = SimulationConfig(
        nints=60, ngroups=6, segment_size=30, seed=5, root="outl", outlier_integrations=60,
        outlier_telegraph_pixels=1, cosmic_ray_rate=0.0,
    )  # fmt: skip
    paths = simulate_exposure(config, tmp_path)
    truth = Table.read(tmp_path / "outl_truth_outliers.ecsv")
    pipeline = LrsTsoPipeline(output_dir=str(tmp_path), save_results=True)
    pipeline.detrended_white_light.skip = True
    pipeline.tso_outlier_detection.save_results = True
    combined = pipeline.run([str(p) for p in paths[:2]])
    flagged = np.concatenate([
        (datamodels.open(tmp_path / f"outl_seg00{n}_crfints.fits").dq & OUTLIER) > 0
        for n in (1, 2)
    ])  # fmt: skip
    jumped = np.concatenate([
        (datamodels.open(tmp_path / f"outl_seg00{n}_rateints.fits").dq & JUMP_DET) > 0
        for n in (1, 2)
    ])  # fmt: skip
    index = (truth["int_num"] - 1, truth["row"], truth["column"])
    # jump flags some of them (with few groups, bright pixels often); the step must find
    # the ones it did not
    unseen = ~jumped[index]
    assert unseen.sum() >= 12
    assert flagged[index][unseen].mean() >= 0.95
    others = flagged.copy()
    others[index] = False
    assert others.mean() < 1e-5  # 5-sigma noise over the frame: a few in 1.8 million
    assert others[:, 140:400, 31:45].mean() < 1e-4
    drift = Table.read(tmp_path / "outl_drift.ecsv", format="ascii.ecsv")
    assert np.array_equal(drift["n_outliers"], flagged.sum(axis=(1, 2)))
    dq = np.asarray(combined.spec[0].spec_table["DQ"])
    npixels = np.asarray(combined.spec[0].spec_table["NPIXELS"])
    lost = products.incomplete_bins(npixels[:30])
    assert lost.any() and np.all(dq[:30][lost] & DO_NOT_USE)


def _nan_median_flags(series, data, threshold, window, first):
    """Brute force: flags against the NaN-ignoring median of each jwst window."""
    total, half = series.shape[0], window // 2
    nwin = total - window + 1
    flags = np.zeros(data.shape, bool)
    for j in range(data.shape[0]):
        start = min(max(j + first - half, 0), nwin - 1)
        values = series[start : start + window].astype(np.float64)
        valid = np.sum(~np.isnan(values), axis=0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(values, axis=0)
            flags[j] = (np.abs(data[j] - median) > threshold[j]) & (2 * valid > window)
    return flags


def test_ignore_nan_in_window_uses_the_median_of_the_valid_values():
    """jwst's np.median gives NaN for a window holding a NaN (no flags there); with
    ignore_nan the flags are those against the NaN-ignoring median (majority valid), and
    identical to jwst's wherever the window has no NaN."""
    rng = np.random.default_rng(12)
    for _ in range(60):
        total = int(rng.integers(4, 50))
        window = int(rng.integers(2, total + 1))
        first = int(rng.integers(0, window // 2 + 1))
        series = rng.normal(size=(total, 3, 4)).astype(np.float32)
        series[rng.random(series.shape) < 0.08] = np.nan
        data = series[first:].copy()
        threshold = np.full(data.shape, np.float32(1.5))
        got = rolling.rolling_flags(series, data, threshold, window, first, ignore_nan=True)
        expected = _nan_median_flags(series, data, threshold, window, first)
        assert np.array_equal(got, expected), (total, window, first)
        jwst_like = rolling.rolling_flags(series, data, threshold, window, first)
        assert not (jwst_like & ~got).any()
