"""Simulator option: a transit depth that varies with wavelength (band + slope)."""

import argparse

import numpy as np
import pytest
from astropy.table import Table

from jwst_tso_ext.cli import simulate as simulate_cli
from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import (
    SimulationConfig,
    chromatic,
    effects,
    noiseless_rates,
    simulate_exposure,
)

DEPTH = 0.006
BAND = {"depth_band_center": 7.35, "depth_band_width": 0.7, "depth_band_amplitude_ppm": 1000.0}
SLOPE = 100.0  # ppm per micron, about 7.5 micron


def quiet_config(**changes):
    """Noiseless, no background / ramp / drift: a pixel row's flux is the star's only."""
    values = dict(
        nints=9,
        ngroups=2,
        noiseless=True,
        background=False,
        ramp_amplitude=0.0,
        drift_x=0.0,
        drift_y=0.0,
        jitter_rms=0.0,
        y_offset=1.0,
        transit_depth=DEPTH,
        depth_band_shape="gaussian",
        depth_slope_ppm_per_micron=SLOPE,
        **BAND,
    )
    values.update(changes)
    return SimulationConfig(**values)


def expected_depth(wavelength, shape="gaussian"):
    wavelength = np.asarray(wavelength, dtype=float)
    if shape == "gaussian":
        sigma = 0.7 / (2 * np.sqrt(2 * np.log(2)))
        band = 1e-3 * np.exp(-0.5 * ((wavelength - 7.35) / sigma) ** 2)
    else:
        band = 1e-3 * (np.abs(wavelength - 7.35) <= 0.35)
    return DEPTH + 1e-6 * SLOPE * (wavelength - 7.5) + band


def star_rows(rate):
    """Star count rate per row (DN/s), flat field and dark removed."""
    star = (rate.astype(float) - detector.DARK_RATE_DN_S) / detector.flat_field()
    return star.sum(axis=2)


@pytest.mark.parametrize("shape", ["gaussian", "box"])
def test_pixel_rows_have_the_injected_depth(shape):
    config = quiet_config(depth_band_shape=shape)
    rate, truth = noiseless_rates(config)
    spectrum_table, rows_table = (
        chromatic.depth_truth_table(config),
        chromatic.row_depths(
            config,
            simulate_spectrum(config),
            chromatic.chromatic_transit(config, np.asarray(truth["time_mid_s"])),
        ),
    )
    # the fine-grid truth is the requested function
    np.testing.assert_allclose(
        spectrum_table["depth"], expected_depth(spectrum_table["wavelength"], shape), atol=1e-12
    )

    rows = star_rows(rate)
    out, mid = 0, 4  # integration 0 before the transit, 4 in its flat bottom
    assert truth["transit"][out] == 1.0 and truth["transit"][mid] < 1.0 - DEPTH
    lit = rows[out] > 1e-3 * rows[out].max()
    ratio = rows[mid, lit] / rows[out, lit]
    period = truth.meta["orbital_period_days"] * 86400.0
    expected = np.array(
        [
            effects.transit_model(
                truth["time_mid_s"][mid : mid + 1],
                depth,
                config.resolved_transit_t0(),
                config.resolved_transit_duration(),
                a_rs=config.a_rs,
                impact_parameter=config.impact_parameter,
                u=config.limb_darkening,
                period=period,
            )[0]
            for depth in rows_table["depth"][lit]
        ]
    )
    # every pixel row's noiseless light curve has the depth the truth table gives it
    np.testing.assert_allclose(ratio, expected, rtol=0, atol=5e-7)

    # and that depth is the requested one at the row's wavelength (star at y_offset = +1 px):
    # exactly on the slope, and at the band's centre up to the blur of a pixel and the PSF
    far = np.isclose(rows_table["wavelength"], 10.0, atol=0.03)
    assert np.any(far)
    np.testing.assert_allclose(
        rows_table["depth"][far], expected_depth(rows_table["wavelength"][far], shape), atol=1e-6
    )
    row = int(np.round(geometry.row_at_wavelength(7.35, 1.0)))
    assert rows_table["wavelength"][row] == pytest.approx(7.35, abs=0.03)
    centre = expected_depth(rows_table["wavelength"][row], shape)
    assert rows_table["depth"][row] == pytest.approx(centre, abs=15e-6)
    # the band really is at 7.35 um: one row is not 1000 ppm deeper than the slope
    rows_off = int(np.round(geometry.row_at_wavelength(8.5, 1.0)))
    assert rows_table["depth"][rows_off] == pytest.approx(DEPTH + 1e-6 * SLOPE, abs=2e-6)


def simulate_spectrum(config):
    from jwst_tso_ext.simulate import scene

    return scene.blackbody_spectrum(
        config.star_temperature, config.star_flux_mjy, config.star_reference_wavelength
    )


def test_truth_files_and_command_line_flags(tmp_path):
    parser = argparse.ArgumentParser()
    simulate_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "simulate",
            str(tmp_path),
            "--nints", "4", "--ngroups", "2", "--noiseless", "--root", "band",
            "--depth-band", "box", "--depth-band-center", "7.35", "--depth-band-width", "0.7",
            "--depth-band-amplitude", "1000", "--depth-slope", "100",
        ]
    )  # fmt: skip
    config = simulate_cli.config_from_args(args)
    assert config.depth_band_shape == "box"
    assert config.depth_band_amplitude_ppm == 1000.0 and config.depth_slope_ppm_per_micron == 100
    paths = simulate_exposure(config, tmp_path)
    names = [path.name for path in paths]
    assert names[-2:] == ["band_truth_depth.ecsv", "band_truth_depth_rows.ecsv"]
    depth = Table.read(tmp_path / "band_truth_depth.ecsv")
    np.testing.assert_allclose(depth["depth"], expected_depth(depth["wavelength"], "box"))
    assert depth.meta["depth_band_shape"] == "box"
    rows = Table.read(tmp_path / "band_truth_depth_rows.ecsv")
    assert len(rows) == geometry.N_ROWS
    truth = Table.read(tmp_path / "band_truth.ecsv")
    assert truth.meta["depth_band_amplitude_ppm"] == 1000.0

    # without the option: the usual three truth tables only
    plain = simulate_exposure(SimulationConfig(nints=2, ngroups=2, root="plain"), tmp_path)
    assert [path.name for path in plain][-1] == "plain_truth_cosmic_rays.ecsv"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth_band_shape": "lorentz"}, "depth_band_shape must be one of"),
        ({"depth_band_width": 0.0}, "depth_band_width must be positive"),
        ({"transit_depth": 0.0}, "needs transit_depth > 0"),
        ({"depth_slope_ppm_per_micron": 2000.0}, "outside \\[0, 1\\)"),
    ],
)
def test_bad_depth_options_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        quiet_config(**changes).validate()


def test_white_light_truth_is_the_total_star_flux():
    config = quiet_config()
    rate, truth = noiseless_rates(config)
    total = star_rows(rate).sum(axis=1)
    np.testing.assert_allclose(total / total[0], truth["transit"] / truth["transit"][0], atol=2e-7)
    np.testing.assert_allclose(truth["star_flux_dn_s"], total, rtol=1e-5)
