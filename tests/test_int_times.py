"""Plain numeric tests of the integration timing (no datamodels)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from jwst_tso_ext.miri_lrs.geometry import FRAME_TIME
from jwst_tso_ext.tsovisit_fix import int_times as it

T0 = 60310.25  # MJD UTC, 2024-01-01 06:00
RA, DEC = 330.795, 18.884


@pytest.mark.parametrize(
    ("readpatt", "instrument", "keyword", "expected"),
    [
        ("FAST", "MIRI", None, 0),
        ("FASTR1", "MIRI", None, 1),
        ("FASTR100", "MIRI", None, 100),
        ("SLOWR1", "MIRI", None, 1),
        ("SLOW", "MIRI", None, 0),
        ("NISRAPID", "NIRISS", None, 1),
        ("FAST", "MIRI", 2, 2),
    ],
)
def test_resets_between_integrations(readpatt, instrument, keyword, expected):
    assert it.resets_between_integrations(readpatt, instrument, keyword) == expected


def test_lrs_fastr1_cycle_and_exposure_time():
    # 100 groups x 10 integrations, TFRAME 0.15904 s, FASTR1.
    read = it.integration_read_time(100, FRAME_TIME)
    cycle = it.integration_cycle_time(100, FRAME_TIME, nresets=1)
    assert read == pytest.approx(15.904, abs=1e-12)
    assert cycle == pytest.approx(16.06304, abs=1e-12)
    assert 10 * cycle == pytest.approx(160.6304, abs=1e-11)
    # FAST (what MIRISim claims): no reset frame.
    assert it.integration_cycle_time(100, FRAME_TIME, nresets=0) == pytest.approx(15.904)


def test_read_time_with_frames_and_gaps():
    # 3 groups of 4 frames, 1 dropped frame between groups: 12 + 2 = 14 frames.
    assert it.integration_read_time(3, 10.0, nframes=4, groupgap=1) == pytest.approx(140.0)
    assert it.integration_cycle_time(3, 10.0, 4, 1, nresets=1) == pytest.approx(150.0)


@pytest.mark.parametrize("args", [(0, 1.0), (5, 0.0), (5, 1.0, 0), (5, 1.0, 1, -1)])
def test_read_time_rejects_bad_input(args):
    with pytest.raises(ValueError, match="Invalid timing"):
        it.integration_read_time(*args)


def test_integration_times_values():
    numbers, start, mid, end = it.integration_times_mjd(T0, 16.06304, 15.904, 1, 10)
    np.testing.assert_array_equal(numbers, np.arange(1, 11))
    assert start[0] == T0
    # Integration 2 starts 16.06304 s later, integration 10 at 9 x 16.06304 = 144.56736 s.
    assert start[1] == pytest.approx(T0 + 16.06304 / 86400, abs=1e-11)
    assert start[9] == pytest.approx(T0 + 144.56736 / 86400, abs=1e-11)
    np.testing.assert_allclose(np.diff(start) * 86400, 16.06304, atol=1e-5)
    np.testing.assert_allclose((end - start) * 86400, 15.904, atol=1e-5)
    np.testing.assert_allclose((mid - start) * 86400, 7.952, atol=1e-5)
    # Last light of the exposure: 144.56736 + 15.904 = 160.47136 s after the start.
    assert end[-1] == pytest.approx(T0 + 160.47136 / 86400, abs=1e-11)


def test_segments_continue():
    full = it.integration_times_mjd(T0, 16.06304, 15.904, 1, 10)
    seg1 = it.integration_times_mjd(T0, 16.06304, 15.904, 1, 5)
    seg2 = it.integration_times_mjd(T0, 16.06304, 15.904, 6, 10)
    for a, b, c in zip(full, seg1, seg2, strict=True):
        np.testing.assert_array_equal(a, np.concatenate([b, c]))
    # INTSTART = 6 starts 5 cadences (80.3152 s) after the exposure start.
    assert seg2[1][0] == pytest.approx(T0 + 80.3152 / 86400, abs=1e-11)
    assert seg2[0][0] == 6


def test_integration_range_rejected():
    with pytest.raises(ValueError, match="integration range"):
        it.integration_times_mjd(T0, 1.0, 1.0, 0, 3)
    with pytest.raises(ValueError, match="integration range"):
        it.integration_times_mjd(T0, 1.0, 1.0, 5, 4)


def test_tdb_only_is_utc_plus_69_184_s():
    bjd, method = it.barycentric_tdb_mjd([T0, T0 + 0.5])
    assert method == it.BJD_TDB_ONLY
    # TDB - UTC = 37 leap seconds + 32.184 s, +-1.7 ms periodic terms.
    np.testing.assert_allclose((bjd - [T0, T0 + 0.5]) * 86400, 69.184, atol=2e-3)


def test_geocentre_matches_astropy_light_travel_time():
    mjd = T0 + np.linspace(0, 0.2, 5)
    bjd, method = it.barycentric_tdb_mjd(mjd, RA, DEC)
    assert method == it.BJD_GEOCENTRE
    times = Time(mjd, format="mjd", scale="utc")
    target = SkyCoord(RA * u.deg, DEC * u.deg)
    geocentre = EarthLocation.from_geocentric(0 * u.m, 0 * u.m, 0 * u.m)
    ltt = times.light_travel_time(target, location=geocentre)
    expected = (times.tdb + ltt).mjd
    np.testing.assert_allclose((bjd - expected) * 86400, 0.0, atol=1e-5)
    # Light travel time is at most ~8.3 min (here about -146 s, target near the Sun).
    delay = (bjd - times.tdb.mjd) * 86400
    assert np.all(np.abs(delay) < 500.0)
    assert np.all(np.abs(delay) > 100.0)


def test_spacecraft_offset_along_line_of_sight():
    # An observer 1.5e6 km from the geocentre towards the target sees the
    # wavefront 1.5e6 / 299792.458 = 5.003461 s earlier than the geocentre.
    ra, dec = np.deg2rad(RA), np.deg2rad(DEC)
    direction = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    geo, _ = it.barycentric_tdb_mjd(T0, RA, DEC)
    sc, method = it.barycentric_tdb_mjd(T0, RA, DEC, observer_geocentric_km=1.5e6 * direction)
    assert method == it.BJD_SPACECRAFT
    assert (sc - geo)[0] * 86400 == pytest.approx(1.5e6 / 299792.458, abs=1e-5)


def test_build_int_times_table():
    table, method = it.build_int_times(T0, 16.06304, 15.904, 6, 10, RA, DEC)
    assert table.dtype == it.INT_TIMES_DTYPE
    assert method == it.BJD_GEOCENTRE
    np.testing.assert_array_equal(table["integration_number"], [6, 7, 8, 9, 10])
    assert table["int_start_MJD_UTC"][0] == pytest.approx(T0 + 80.3152 / 86400, abs=1e-11)
    bjd, _ = it.barycentric_tdb_mjd(table["int_mid_MJD_UTC"], RA, DEC)
    np.testing.assert_array_equal(table["int_mid_BJD_TDB"], bjd)
    # Barycentric durations differ from 15.904 s by the Doppler factor v_r / c of the
    # Earth's orbital motion (<= 1e-4, i.e. <= 1.6 ms here).
    np.testing.assert_allclose(
        (table["int_end_BJD_TDB"] - table["int_start_BJD_TDB"]) * 86400, 15.904, atol=2e-3
    )
