"""Tests of the MIRISim-like simulator (`jwst_tso_ext.simulate`) and its CLI."""

import argparse
import dataclasses

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from stdatamodels.jwst import datamodels

from jwst_tso_ext.cli import simulate as cli_simulate
from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import (
    TRUTH_COLUMNS,
    SimulationConfig,
    make_truth,
    noiseless_rates,
    ramps,
    scene,
    simulate_exposure,
)

# A still, noiseless star: only the effect under test varies.
QUIET = dict(
    noiseless=True,
    drift_x=0.0,
    drift_y=0.0,
    jitter_rms=0.0,
    ramp_amplitude=0.0,
    transit_depth=0.0,
)


def _slopes(path):
    """Slope images (DN/s) of noiseless ramps: (last - first linearized group) / time."""
    with fits.open(path) as hdul:
        data = hdul["SCI"].data.astype(float)
    linear = detector.linearized_from_raw(data)
    return (linear[:, -1] - linear[:, 0]) / ((data.shape[1] - 1) * geometry.FRAME_TIME)


def _star_only(slopes):
    """Remove background and dark and undo the flat: star count rate per pixel."""
    flat = detector.flat_field().astype(float)
    background = scene.background_rate_image().astype(float) * flat + detector.DARK_RATE_DN_S
    return (slopes - background) / flat


def _x_centroid(star):
    columns = np.arange(geometry.N_COLUMNS, dtype=float)
    profile = star[..., geometry.N_REFERENCE_COLUMNS :].sum(axis=-2)
    x = columns[geometry.N_REFERENCE_COLUMNS :]
    return (profile * x).sum(axis=-1) / profile.sum(axis=-1)


def test_x_offset_moves_trace_centroid(tmp_path):
    centroids = []
    for x_offset in (0.0, 0.1):
        config = SimulationConfig(
            nints=2, ngroups=3, x_offset=x_offset, root=f"x{x_offset}", **QUIET
        )
        path = simulate_exposure(config, tmp_path)[0]
        centroids.append(_x_centroid(_star_only(_slopes(path))))
    shift = centroids[1] - centroids[0]
    assert shift == pytest.approx([0.1, 0.1], abs=0.005)


def test_noiseless_ramps_match_rates_and_truth(tmp_path):
    config = SimulationConfig(nints=3, ngroups=4, noiseless=True, x_offset=0.3, y_offset=-0.2)
    path = simulate_exposure(config, tmp_path)[0]
    rate, truth = noiseless_rates(config)
    np.testing.assert_allclose(_slopes(path), rate, rtol=1e-4, atol=0.05)
    star = _star_only(_slopes(path)).sum(axis=(1, 2))
    np.testing.assert_allclose(star, truth["star_flux_dn_s"], rtol=1e-4)
    # a K ~ 9 star: ~1e5 DN/s over the trace
    assert 0.9e5 < truth["star_flux_unscaled_dn_s"][0] < 1.4e5
    written = Table.read(tmp_path / f"{config.root}_truth.ecsv")
    assert written.colnames == list(TRUTH_COLUMNS)
    np.testing.assert_allclose(written["x_shift"], 0.3 + written["x_drift"])
    np.testing.assert_allclose(written["y_shift"], -0.2 + written["y_drift"])
    assert written.meta["nints"] == 3 and written.meta["noiseless"] is True


@pytest.mark.parametrize("limb_darkening", [(0.0, 0.0), (0.1, 0.05)])
def test_transit_depth_in_noiseless_data(tmp_path, limb_darkening):
    config = SimulationConfig(
        nints=30, ngroups=3, limb_darkening=limb_darkening, **{**QUIET, "transit_depth": 0.006}
    )
    path = simulate_exposure(config, tmp_path)[0]
    truth = Table.read(tmp_path / f"{config.root}_truth.ecsv")
    flux = _star_only(_slopes(path)).sum(axis=(1, 2))
    relative = flux / flux[0]
    np.testing.assert_allclose(relative, truth["transit"] / truth["transit"][0], atol=2e-5)
    depth = 1.0 - relative.min()
    injected = 1.0 - truth["transit"].min()
    assert depth == pytest.approx(injected, rel=0.02)
    if limb_darkening == (0.0, 0.0):
        assert depth == pytest.approx(0.006, rel=0.02)
    # out of transit at the ends, in transit in the middle third
    assert truth["transit"][0] == 1.0 and truth["transit"][-1] == 1.0
    assert np.all(truth["transit"][12:18] < 1.0)


def test_mirisim_like_headers(tmp_path):
    config = SimulationConfig(nints=2, ngroups=5, seed=3)
    path = simulate_exposure(config, tmp_path)[0]
    with fits.open(path) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "PIXELDQ", "REFOUT", "ASDF"]
        primary = hdul[0].header
        assert primary["ORIGIN"] == "MIRI European Consortium"
        assert "SCASim" in primary["CREATOR"] and "MIRI SCA simulator" in primary["CREATOR"]
        assert any("MIRISim" in str(line) for line in primary["HISTORY"])
        assert primary["TELESCOP"] == "JWST"
        assert primary["INSTRUME"] == "MIRI" and primary["DETECTOR"] == "MIRIMAGE"
        assert primary["FILTER"] == "P750L" and primary["EXP_TYPE"] == "MIR_LRS-SLITLESS"
        assert primary["READPATT"] == "FAST"
        assert primary["NGROUPS"] == 5 and primary["NINTS"] == 2 and primary["NFRAMES"] == 1
        assert primary["SUBARRAY"] == "SLITLESSPRISM"
        assert (primary["SUBSTRT1"], primary["SUBSTRT2"]) == (1, 529)
        assert (primary["SUBSIZE1"], primary["SUBSIZE2"]) == (72, 416)
        # MIRISim timing: no reset frame between integrations
        assert primary["EFFINTTM"] == pytest.approx(5 * 0.15904)
        assert primary["EFFEXPTM"] == pytest.approx(2 * 5 * 0.15904)
        assert (primary["EXPEND"] - primary["EXPSTART"]) * 86400 == pytest.approx(2 * 5 * 0.15904)
        for keyword in ("TSOVISIT", "EXSEGNUM", "INTSTART"):
            assert all(keyword not in hdu.header for hdu in hdul)
        assert hdul["SCI"].header["WCSAXES"] == 3
        assert hdul["SCI"].data.shape == (2, 5, 416, 72)
        assert hdul["REFOUT"].data.shape == (2, 5, 104, 72)
        pixeldq = hdul["PIXELDQ"].data
    assert np.all(pixeldq[:, :4] != 0) and np.all(pixeldq[:, 4:] == 0)
    with datamodels.open(path) as model:
        assert isinstance(model, datamodels.RampModel)
        assert model.meta.visit.tsovisit is None
        assert model.int_times is None or len(model.int_times) == 0
        assert model.meta.wcsinfo.wcsaxes == 3
        assert model.meta.exposure.readpatt == "FAST"
        assert model.meta.origin == "MIRI European Consortium"
        assert model.data.dtype.kind == "f" and model.data.dtype.itemsize == 4


def test_segments_concatenate_to_unsegmented_run(tmp_path):
    whole = SimulationConfig(nints=7, ngroups=3, seed=11, cosmic_ray_rate=5.0, root="whole")
    split = dataclasses.replace(whole, segment_size=3, root="split")
    whole_paths = simulate_exposure(whole, tmp_path)
    split_paths = simulate_exposure(split, tmp_path)
    names = [path.name for path in split_paths[:3]]
    assert names == [f"split_seg00{n}_uncal.fits" for n in (1, 2, 3)]
    pieces = []
    for number, (path, (first, last)) in enumerate(
        zip(split_paths[:3], [(1, 3), (4, 6), (7, 7)], strict=True), start=1
    ):
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert (header["EXSEGNUM"], header["EXSEGTOT"]) == (number, 3)
            assert (header["INTSTART"], header["INTEND"]) == (first, last)
            assert header["NINTS"] == 7
            pieces.append(hdul["SCI"].data.copy())
        with datamodels.open(path) as model:
            assert model.meta.exposure.segment_number == number
            assert model.meta.exposure.integration_start == first
            assert model.meta.exposure.integration_end == last
    with fits.open(whole_paths[0]) as hdul:
        np.testing.assert_array_equal(np.concatenate(pieces), hdul["SCI"].data)
    truth = Table.read(tmp_path / "split_truth.ecsv")
    assert list(truth["segment"]) == [1, 1, 1, 2, 2, 2, 3]


def test_same_seed_identical_other_seed_differs(tmp_path):
    config = SimulationConfig(nints=2, ngroups=3, seed=5, root="a")
    first = simulate_exposure(config, tmp_path / "one")
    second = simulate_exposure(config, tmp_path / "two")
    other = simulate_exposure(dataclasses.replace(config, seed=6), tmp_path / "three")
    with fits.open(first[0]) as a, fits.open(second[0]) as b, fits.open(other[0]) as c:
        np.testing.assert_array_equal(a["SCI"].data, b["SCI"].data)
        assert not np.array_equal(a["SCI"].data, c["SCI"].data)
    assert Table.read(first[3]).values_equal(Table.read(second[3]))


def test_noise_statistics_follow_detector_model(tmp_path):
    config = SimulationConfig(nints=20, ngroups=2, cosmic_ray_rate=0.0, transit_depth=0.0)
    path = simulate_exposure(config, tmp_path)[0]
    with fits.open(path) as hdul:
        data = hdul["SCI"].data.astype(float)
    rate, _ = noiseless_rates(config)
    # background-only rows far from the trace, illuminated columns
    columns = slice(geometry.N_REFERENCE_COLUMNS, 20)
    diff = detector.linearized_from_raw(data[:, 1]) - detector.linearized_from_raw(data[:, 0])
    mean = rate[:, :, columns] * geometry.FRAME_TIME
    residual = diff[:, :, columns] - mean
    # the non-linearity scales read noise by d(lin)/d(raw) ~ 1 + 2 a raw
    gain_nl = 1.0 + 2.0 * detector.LINEARITY_QUADRATIC * detector.BIAS_DN
    expected = 2.0 * (detector.READ_NOISE_DN * gain_nl) ** 2 + mean / detector.GAIN
    assert residual.mean() == pytest.approx(0.0, abs=0.05)
    assert residual.var() == pytest.approx(expected.mean(), rel=0.03)


def test_cosmic_rays_are_recorded_and_injected(tmp_path):
    config = SimulationConfig(nints=4, ngroups=4, cosmic_ray_rate=6.0, seed=2)
    paths = simulate_exposure(config, tmp_path)
    truth = Table.read(paths[1])
    events = Table.read(paths[3])
    assert len(events) == truth["n_cosmic_rays"].sum() > 0
    assert np.all(events["amplitude_dn"] >= 200) and np.all(events["amplitude_dn"] <= 3000)
    with fits.open(paths[0]) as hdul:
        data = hdul["SCI"].data.astype(float)
    jumps = (
        data[events["int_num"] - 1, events["group"], events["row"], events["column"]]
        - data[events["int_num"] - 1, events["group"] - 1, events["row"], events["column"]]
    )
    assert np.all(jumps > 0.85 * events["amplitude_dn"] - 60)


def test_saturation_clip(tmp_path):
    config = SimulationConfig(nints=1, ngroups=20, star_flux_mjy=3000.0, **QUIET)
    path = simulate_exposure(config, tmp_path)[0]
    with fits.open(path) as hdul:
        data = hdul["SCI"].data
    assert data.max() == np.float32(detector.SATURATION_DN)
    saturated = data[0, -1] == np.float32(detector.SATURATION_DN)
    assert 0 < saturated.sum() < saturated.size // 2
    assert np.all(np.diff(data[0], axis=0) >= 0)


def test_read_ramps_noiseless_exact():
    rate = np.full((2, 3, 4), 100.0)
    raw = ramps.read_ramps(rate, ngroups=5, frame_time=0.5)
    linear = detector.linearized_from_raw(raw.astype(float))
    expected = detector.linearized_from_raw(detector.BIAS_DN) + 50.0 * np.arange(1, 6)
    np.testing.assert_allclose(linear[0, :, 0, 0], expected, rtol=1e-6)


def test_truth_wavelength_offset_sign():
    config = SimulationConfig(nints=3, ngroups=2, y_offset=1.0, **{**QUIET, "noiseless": False})
    truth, spectrum, cosmic = make_truth(config)
    # star moved to higher rows: row 300 now sees the nominal wavelength of row 299,
    # which is redder (wavelength increases toward lower rows)
    expected = geometry.wavelength_at_row(299.0) - geometry.wavelength_at_row(300.0)
    assert expected > 0
    np.testing.assert_allclose(truth["wavelength_offset"], expected)
    spacing = np.diff(truth["MJD_UTC"]) * 86400
    np.testing.assert_allclose(spacing, 3 * geometry.FRAME_TIME, rtol=1e-6)
    # FASTR1 timing as tsovisit_fix rebuilds it: mid of the first integration at ngroups/2
    assert truth["MJD_UTC"][0] == pytest.approx(config.start_mjd + 1.0 * 0.15904 / 86400)
    assert spectrum["flux"].unit == "Jy" and len(cosmic) == truth["n_cosmic_rays"].sum()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(nints=0), "nints"),
        (dict(ngroups=1), "ngroups"),
        (dict(segment_size=0), "segment_size"),
        (dict(nints=2.5), "nints"),
        (dict(transit_depth=-0.1), "transit_depth"),
        (dict(root="a/b"), "root"),
        (dict(jitter_rms=-1.0), "jitter_rms"),
        (dict(x_offset=float("nan")), "x_offset"),
        (dict(step_time=float("inf")), "step_time"),
    ],
)
def test_invalid_configuration(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        simulate_exposure(SimulationConfig(**change), tmp_path)
    assert not any(tmp_path.iterdir())


def test_refuses_to_overwrite(tmp_path):
    config = SimulationConfig(nints=1, ngroups=2, noiseless=True)
    simulate_exposure(config, tmp_path)
    with pytest.raises(FileExistsError, match="overwrite"):
        simulate_exposure(config, tmp_path)
    assert len(simulate_exposure(config, tmp_path, overwrite=True)) == 4


def _cli(argv):
    parser = argparse.ArgumentParser()
    cli_simulate.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", *argv])


def test_cli_writes_files_and_validates(tmp_path, capsys):
    args = _cli(
        [
            str(tmp_path),
            "--nints",
            "4",
            "--ngroups",
            "2",
            "--segment-size",
            "2",
            "--x-offset",
            "0.2",
            "--drift-y",
            "0.1",
            "--root",
            "demo",
            "--depth",
            "0.01",
        ]
    )
    assert cli_simulate.run(args) == 0
    printed = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[-1] for p in printed[:2]] == [
        "demo_seg001_uncal.fits",
        "demo_seg002_uncal.fits",
    ]
    truth = Table.read(tmp_path / "demo_truth.ecsv")
    assert truth.meta["transit_depth"] == 0.01 and truth.meta["drift_y"] == 0.1
    with pytest.raises(FileExistsError):
        cli_simulate.run(args)
    with pytest.raises(ValueError, match="ngroups"):
        cli_simulate.run(_cli([str(tmp_path / "new"), "--ngroups", "1"]))
    with pytest.raises(SystemExit):
        _cli([str(tmp_path), "--nints", "0"])


def test_chunking_does_not_change_output(tmp_path, monkeypatch):
    from jwst_tso_ext.simulate import simulator

    config = SimulationConfig(nints=5, ngroups=4, seed=9, cosmic_ray_rate=4.0)
    reference = simulate_exposure(config, tmp_path / "big")[0]
    monkeypatch.setattr(simulator, "_CHUNK_READS", 4)  # one integration per chunk
    chunked = simulate_exposure(config, tmp_path / "small")[0]
    with fits.open(reference) as a, fits.open(chunked) as b:
        np.testing.assert_array_equal(a["SCI"].data, b["SCI"].data)


@pytest.mark.slow
def test_detector1_with_offline_references_recovers_injected_rates(tmp_path, offline_crds_cache):
    """The official stage 1 with the offline references undoes exactly what was injected."""
    from jwst_tso_ext.pipeline.tso_detector1 import TsoDetector1Pipeline

    config = SimulationConfig(nints=3, ngroups=8, **QUIET)
    path = simulate_exposure(config, tmp_path)[0]
    result = TsoDetector1Pipeline.call(str(path))
    rate, _ = noiseless_rates(config)
    expected = rate.mean(axis=0) - detector.DARK_RATE_DN_S
    illuminated = np.s_[:, geometry.N_REFERENCE_COLUMNS :]
    np.testing.assert_allclose(
        result.data[illuminated], expected[illuminated], rtol=1e-4, atol=0.01
    )


def test_outliers_are_injected_as_the_truth_says(tmp_path):
    """Raised and telegraph pixels: the whole ramp is steeper by the truth's amplitude;
    last-group hits: one step in the last used group; nothing else changes."""
    kwargs = dict(nints=40, ngroups=5, noiseless=True, seed=4, root="out")
    plain_paths = simulate_exposure(SimulationConfig(**kwargs), tmp_path / "plain")
    config = SimulationConfig(
        **kwargs, outlier_integrations=6, outlier_telegraph_pixels=1, outlier_last_group_hits=4
    )
    paths = simulate_exposure(config, tmp_path / "out")
    assert paths[-1].name == "out_truth_outliers.ecsv" and len(paths) == len(plain_paths) + 1
    truth = Table.read(paths[-1])
    assert set(truth["kind"]) == {"integration", "telegraph", "last_group"}
    with fits.open(paths[0]) as hdul, fits.open(plain_paths[0]) as plain:
        signal = detector.linearized_from_raw(hdul["SCI"].data.astype(float))
        base = detector.linearized_from_raw(plain["SCI"].data.astype(float))
    extra = signal - base
    index = (truth["int_num"] - 1, slice(None), truth["row"], truth["column"])
    ramps = extra[index]  # (n_outliers, ngroups)
    rate_kind = truth["kind"] != "last_group"
    frame = config.frame_time
    amplitude = np.asarray(truth["amplitude"])
    expected = amplitude[rate_kind, None] * frame * np.arange(1, 6)
    np.testing.assert_allclose(ramps[rate_kind], expected, rtol=1e-3, atol=0.5)
    hits = ~rate_kind
    assert np.all(truth["group"][hits] == 3)
    np.testing.assert_allclose(ramps[hits][:, 3:], amplitude[hits, None] + 0 * ramps[hits][:, 3:],
                               rtol=1e-3, atol=0.5)
    np.testing.assert_allclose(ramps[hits][:, :3], 0, atol=0.5)
    extra[index] = 0
    assert np.abs(extra).max() < 0.5
