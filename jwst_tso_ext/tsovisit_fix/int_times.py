"""Integration timing of JWST exposures, on plain numbers and arrays.

Nothing here knows about datamodels: the step (`tsovisit_fix_step`) unpacks the
header values and calls these functions, so the arithmetic is tested on numbers.

Timing model
------------
An integration of ``ngroups`` groups, each of ``nframes`` read frames separated by
``groupgap`` dropped frames, takes ``read_time`` seconds to read out::

    read_time = (ngroups * nframes + (ngroups - 1) * groupgap) * frame_time

Between integrations the detector may spend ``nresets`` extra frame times in reset
(MIRI ``FASTR1``: one reset frame; MIRI ``FAST``: none, the reset is done line by line
during the read; near-infrared detectors: ``NRESETS``, normally one). The cadence of
the integrations is therefore::

    cycle_time = read_time + nresets * frame_time

Integration ``n`` (1-indexed over the whole exposure, so segment files continue where
the previous segment stopped) starts at ``exposure_start + (n - 1) * cycle_time`` and
collects light until ``read_time`` later; its mid time is halfway between.

For MIRI LRS slitless (``frame_time`` = 0.15904 s) with 100 groups in ``FASTR1`` the
cadence is (100 + 1) x 0.15904 s = 16.06304 s, and 10 integrations last 160.6304 s.
"""

import numpy as np

__all__ = [
    "SECONDS_PER_DAY",
    "INT_TIMES_DTYPE",
    "BJD_GEOCENTRE",
    "BJD_SPACECRAFT",
    "BJD_TDB_ONLY",
    "resets_between_integrations",
    "integration_read_time",
    "integration_cycle_time",
    "integration_times_mjd",
    "barycentric_tdb_mjd",
    "build_int_times",
]

SECONDS_PER_DAY = 86400.0

#: Columns of the INT_TIMES table, as in the stdatamodels ``int_times`` schema.
INT_TIMES_DTYPE = np.dtype(
    [
        ("integration_number", "<i4"),
        ("int_start_MJD_UTC", "<f8"),
        ("int_mid_MJD_UTC", "<f8"),
        ("int_end_MJD_UTC", "<f8"),
        ("int_start_BJD_TDB", "<f8"),
        ("int_mid_BJD_TDB", "<f8"),
        ("int_end_BJD_TDB", "<f8"),
    ]
)

#: Names of the approximations `barycentric_tdb_mjd` may use.
BJD_SPACECRAFT = "spacecraft"
BJD_GEOCENTRE = "geocentre"
BJD_TDB_ONLY = "tdb_only"

_SPEED_OF_LIGHT_KM_S = 299792.458


def resets_between_integrations(readpatt, instrument="MIRI", nresets_keyword=None):
    """Number of reset frames spent between two integrations.

    Parameters
    ----------
    readpatt : str or None
        Readout pattern (``READPATT``), e.g. ``"FAST"`` or ``"FASTR1"``.
    instrument : str, optional
        Instrument name; decides the default when neither the keyword nor the
        pattern name says.
    nresets_keyword : int or None, optional
        Value of ``NRESETS`` (``meta.exposure.nresets_between_ints``); used when given.

    Returns
    -------
    int
        Reset frames between integrations: ``nresets_keyword`` if given, else the
        ``R<n>`` suffix of a MIRI pattern (``FASTR1`` -> 1, ``FASTR100`` -> 100),
        else 0 for MIRI and 1 for the near-infrared instruments.
    """
    if nresets_keyword is not None:
        return int(nresets_keyword)
    pattern = (readpatt or "").upper()
    is_miri = (instrument or "").upper() == "MIRI"
    if is_miri:
        for prefix in ("FASTR", "SLOWR"):
            if pattern.startswith(prefix) and pattern[len(prefix) :].isdigit():
                return int(pattern[len(prefix) :])
        return 0
    return 1


def integration_read_time(ngroups, frame_time, nframes=1, groupgap=0):
    """Seconds from the first to the end of the last read frame of one integration.

    Parameters
    ----------
    ngroups : int
        Groups per integration.
    frame_time : float
        Frame time in seconds (``TFRAME``).
    nframes : int, optional
        Frames averaged per group.
    groupgap : int, optional
        Frames dropped between groups.

    Returns
    -------
    float
        ``(ngroups * nframes + (ngroups - 1) * groupgap) * frame_time``.
    """
    if ngroups < 1 or nframes < 1 or groupgap < 0 or not frame_time > 0:
        raise ValueError(
            f"Invalid timing: ngroups={ngroups}, nframes={nframes}, groupgap={groupgap}, "
            f"frame_time={frame_time}"
        )
    return (ngroups * nframes + (ngroups - 1) * groupgap) * frame_time


def integration_cycle_time(ngroups, frame_time, nframes=1, groupgap=0, nresets=0):
    """Seconds between the starts of two consecutive integrations.

    Parameters
    ----------
    ngroups, frame_time, nframes, groupgap
        As in `integration_read_time`.
    nresets : int, optional
        Reset frames between integrations (see `resets_between_integrations`).

    Returns
    -------
    float
        ``integration_read_time(...) + nresets * frame_time``.
    """
    if nresets < 0:
        raise ValueError(f"nresets must be >= 0, got {nresets}")
    return integration_read_time(ngroups, frame_time, nframes, groupgap) + nresets * frame_time


def integration_times_mjd(
    exposure_start_mjd, cycle_time, read_time, integration_start, integration_end
):
    """UTC start, mid and end times (MJD) of integrations ``integration_start..integration_end``.

    Parameters
    ----------
    exposure_start_mjd : float
        Start of the first integration of the exposure (``EXPSTART``), MJD UTC.
    cycle_time : float
        Seconds between integration starts (`integration_cycle_time`).
    read_time : float
        Seconds of light collection per integration (`integration_read_time`).
    integration_start, integration_end : int
        First and last integration numbers, 1-indexed over the exposure, inclusive
        (``INTSTART``, ``INTEND``).

    Returns
    -------
    numbers : numpy.ndarray of int
        Integration numbers.
    start, mid, end : numpy.ndarray of float
        MJD UTC times.
    """
    if integration_start < 1 or integration_end < integration_start:
        raise ValueError(
            f"Invalid integration range {integration_start}..{integration_end} (1-indexed)"
        )
    numbers = np.arange(integration_start, integration_end + 1, dtype=np.int32)
    # Offsets in seconds first, then one division, to keep the rounding small.
    start_s = (numbers - 1).astype(float) * cycle_time
    start = exposure_start_mjd + start_s / SECONDS_PER_DAY
    end = exposure_start_mjd + (start_s + read_time) / SECONDS_PER_DAY
    mid = exposure_start_mjd + (start_s + 0.5 * read_time) / SECONDS_PER_DAY
    return numbers, start, mid, end


def barycentric_tdb_mjd(mjd_utc, ra_deg=None, dec_deg=None, observer_geocentric_km=None):
    """Barycentric Julian Date (TDB), expressed as an MJD, for UTC times.

    Parameters
    ----------
    mjd_utc : float or array_like
        Times in MJD, UTC scale.
    ra_deg, dec_deg : float or None, optional
        Target ICRS coordinates in degrees. Without them only the UTC -> TDB
        time-scale change is applied (`BJD_TDB_ONLY`; off by up to +-8.3 min, the
        light travel time across the Earth's orbit).
    observer_geocentric_km : sequence of 3 float or None, optional
        Position of the observer relative to the geocentre, in km, axes of the
        ICRS/EME2000 frame (JWST ``JWST_GX/GY/GZ``), assumed fixed over the times
        given. Without it the geocentre is used (`BJD_GEOCENTRE`; JWST at L2 is up to
        ~1.5e6 km from the Earth, so the barycentric correction may be off by up to
        ~5 s).

    Returns
    -------
    bjd_tdb : numpy.ndarray
        BJD_TDB minus 2400000.5 (the convention of the INT_TIMES table).
    method : str
        `BJD_SPACECRAFT`, `BJD_GEOCENTRE` or `BJD_TDB_ONLY`.
    """
    # Imported here: astropy.coordinates is slow to import and only needed for this.
    from astropy import units as u
    from astropy.coordinates import get_body_barycentric
    from astropy.time import Time

    mjd = np.atleast_1d(np.asarray(mjd_utc, dtype=float))
    times = Time(mjd, format="mjd", scale="utc")
    tdb = times.tdb
    if ra_deg is None or dec_deg is None:
        return np.asarray(tdb.mjd, dtype=float), BJD_TDB_ONLY

    ra = np.deg2rad(float(ra_deg))
    dec = np.deg2rad(float(dec_deg))
    direction = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    # Earth (geocentre) position relative to the solar-system barycentre, ICRS axes.
    earth = get_body_barycentric("earth", tdb).xyz.to_value(u.km)  # shape (3, n)
    position = earth.reshape(3, -1)
    method = BJD_GEOCENTRE
    if observer_geocentric_km is not None:
        position = position + np.asarray(observer_geocentric_km, dtype=float).reshape(3, 1)
        method = BJD_SPACECRAFT
    delay_s = direction @ position / _SPEED_OF_LIGHT_KM_S
    return tdb.mjd + delay_s / SECONDS_PER_DAY, method


def build_int_times(
    exposure_start_mjd,
    cycle_time,
    read_time,
    integration_start,
    integration_end,
    ra_deg=None,
    dec_deg=None,
    observer_geocentric_km=None,
):
    """Build an INT_TIMES table for integrations ``integration_start..integration_end``.

    Parameters
    ----------
    exposure_start_mjd, cycle_time, read_time, integration_start, integration_end
        As in `integration_times_mjd`.
    ra_deg, dec_deg, observer_geocentric_km
        As in `barycentric_tdb_mjd`.

    Returns
    -------
    table : numpy.ndarray
        Structured array of dtype `INT_TIMES_DTYPE`, one row per integration.
    method : str
        Barycentric approximation used (see `barycentric_tdb_mjd`).
    """
    numbers, start, mid, end = integration_times_mjd(
        exposure_start_mjd, cycle_time, read_time, integration_start, integration_end
    )
    n = numbers.size
    bjd, method = barycentric_tdb_mjd(
        np.concatenate([start, mid, end]), ra_deg, dec_deg, observer_geocentric_km
    )
    table = np.zeros(n, dtype=INT_TIMES_DTYPE)
    table["integration_number"] = numbers
    table["int_start_MJD_UTC"] = start
    table["int_mid_MJD_UTC"] = mid
    table["int_end_MJD_UTC"] = end
    table["int_start_BJD_TDB"] = bjd[:n]
    table["int_mid_BJD_TDB"] = bjd[n : 2 * n]
    table["int_end_BJD_TDB"] = bjd[2 * n :]
    return table, method
