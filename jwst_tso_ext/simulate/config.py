"""Parameters of a simulated MIRI LRS slitless exposure."""

import dataclasses
import math
import re
from dataclasses import dataclass

from jwst_tso_ext.miri_lrs import geometry
from jwst_tso_ext.simulate import chromatic, effects, phase_curve

__all__ = ["SimulationConfig"]

_ROOT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class SimulationConfig:
    """Every tunable of the simulator, with defaults for a short demo exposure.

    Times are in seconds from the start of the exposure on the true (FASTR1) clock:
    integration ``i`` (0-based) starts at ``i * (ngroups + 1) * frame_time`` and
    collects light for ``ngroups * frame_time``.
    Positions are in pixels relative to the nominal slitless position (positive toward
    higher column / row numbers).

    Attributes
    ----------
    nints, ngroups : int
        Integrations and groups per integration (FAST readout, 1 frame per group).
    segment_size : int or None
        Integrations per ``<root>_segNNN_uncal.fits`` file; None writes one
        ``<root>_uncal.fits`` file.
    seed : int
        Seed of every random draw; the output depends only on it and the parameters,
        not on ``segment_size``.
    noiseless : bool
        No photon noise, read noise or cosmic rays (bias, dark, non-linearity and
        saturation stay).
    root : str
        Root of the output file names.
    start_mjd : float
        Exposure start, MJD UTC.
    star_temperature, star_flux_mjy, star_reference_wavelength : float
        Blackbody star (K), normalised to ``star_flux_mjy`` at the reference
        wavelength (micron). Default: the seed notebook's 6230 K, 20 mJy at 2 micron.
    background : bool
        Include the thermal background.
    transit_depth : float
        (Rp/Rs)**2; 0 switches the transit off.
    transit_t0 : float or None
        Mid-transit time (s); None is the middle of the exposure.
    transit_duration : float or None
        First-to-fourth contact duration (s); None is a third of the exposure (or
        follows from ``orbital_period``). The orbital period follows from it, ``a_rs``
        and ``impact_parameter``.
    orbital_period : float or None
        Orbital period (s); give it instead of ``transit_duration`` (which then follows
        from it, ``a_rs`` and ``impact_parameter``), e.g. for a phase curve.
    a_rs, impact_parameter : float
        Scaled semi-major axis and impact parameter of the circular orbit.
    limb_darkening : tuple of float
        Quadratic limb-darkening coefficients (u1, u2).
    depth_band_shape : str
        Wavelength-dependent depth (`jwst_tso_ext.simulate.chromatic`): ``'none'``,
        ``'gaussian'`` or ``'box'`` band added to ``transit_depth``.
    depth_band_center, depth_band_width : float
        Band centre and width (micron; FWHM of the Gaussian, full width of the box).
    depth_band_amplitude_ppm : float
        Band amplitude (ppm of depth; negative for a dip).
    depth_slope_ppm_per_micron, depth_pivot_wavelength : float
        Linear depth slope (ppm per micron) about the pivot wavelength (micron), where
        the continuum depth is ``transit_depth``.
    fp_day, fp_night : float
        Planet-to-star flux at orbital phase 0.5 (the eclipse depth) and at phase 0
        (`jwst_tso_ext.simulate.phase_curve`); at ``depth_pivot_wavelength`` when a
        temperature shapes the spectrum. Both 0 (default): no planet emission.
    phase_offset_deg : float
        Hotspot offset (degrees, east positive: the flux peaks before the eclipse, at
        phase ``0.5 - offset / 360``); below 90 in magnitude.
    planet_day_temperature, planet_night_temperature : float or None
        Blackbody temperature (K) shaping the dayside / nightside emission spectrum:
        ``fp(lambda)`` follows ``B_nu(T_planet) / B_nu(star_temperature)``; None is a
        flat spectrum.
    ramp_amplitude, ramp_timescale : float
        Response ramp: the flux is multiplied by ``1 - A exp(-t / tau)``. A
        timescale of None is ``min(600 s, exposure / 6)``.
    x_offset, y_offset : float
        Static target-acquisition offset (px).
    drift_x, drift_y : float
        Linear pointing drift over the whole exposure (px, end minus start).
    drift_quadratic_x, drift_quadratic_y : float
        Quadratic drift term: displacement ``q * (t / T)**2`` (px at the end).
    jitter_rms : float
        Gaussian pointing jitter per integration and axis (px rms).
    step_time : float or None
        Time (s) of a sudden pointing step; None for no step.
    step_x, step_y : float
        Size of the step (px).
    cosmic_ray_rate : float
        Mean number of cosmic-ray hits on the subarray per integration.
    cosmic_ray_min_dn, cosmic_ray_max_dn : float
        Range of cosmic-ray amplitudes (DN, log-uniform).
    outlier_integrations, outlier_telegraph_pixels, outlier_last_group_hits : int
        Outliers that ``jump`` cannot see, on the bright trace (see
        `jwst_tso_ext.simulate.outliers`): pixels raised for one whole integration,
        telegraph pixels (each raised in several short runs of integrations), and hits
        in the last group that ramp fitting uses. Truth in ``<root>_truth_outliers.ecsv``.
    outlier_sigma_min, outlier_sigma_max : float
        Range of their amplitudes in units of the pixel's nominal slope noise
        (log-uniform).
    """

    nints: int = 300
    ngroups: int = 10
    segment_size: int | None = None
    seed: int = 1
    noiseless: bool = False
    root: str = "jw_sim_mirilrs_tso"
    start_mjd: float = 60400.25
    star_temperature: float = 6230.0
    star_flux_mjy: float = 20.0
    star_reference_wavelength: float = 2.0
    background: bool = True
    transit_depth: float = 0.006
    transit_t0: float | None = None
    transit_duration: float | None = None
    orbital_period: float | None = None
    a_rs: float = 8.0
    impact_parameter: float = 0.0
    limb_darkening: tuple = (0.1, 0.05)
    depth_band_shape: str = "none"
    depth_band_center: float = 7.35
    depth_band_width: float = 0.7
    depth_band_amplitude_ppm: float = 0.0
    depth_slope_ppm_per_micron: float = 0.0
    depth_pivot_wavelength: float = 7.5
    fp_day: float = 0.0
    fp_night: float = 0.0
    phase_offset_deg: float = 0.0
    planet_day_temperature: float | None = None
    planet_night_temperature: float | None = None
    ramp_amplitude: float = 0.004
    ramp_timescale: float | None = None
    x_offset: float = 0.0
    y_offset: float = 0.0
    drift_x: float = 0.02
    drift_y: float = 0.05
    drift_quadratic_x: float = 0.0
    drift_quadratic_y: float = 0.0
    jitter_rms: float = 0.005
    step_time: float | None = None
    step_x: float = 0.0
    step_y: float = 0.0
    cosmic_ray_rate: float = 3.0
    cosmic_ray_min_dn: float = 200.0
    cosmic_ray_max_dn: float = 3000.0
    outlier_integrations: int = 0
    outlier_telegraph_pixels: int = 0
    outlier_last_group_hits: int = 0
    outlier_sigma_min: float = 10.0
    outlier_sigma_max: float = 50.0

    @property
    def frame_time(self):
        """Frame (= group) time of SLITLESSPRISM FAST readout, s."""
        return geometry.FRAME_TIME

    @property
    def integration_duration(self):
        """True duration of one integration including the FASTR1 reset, s."""
        return (self.ngroups + 1) * self.frame_time

    @property
    def exposure_duration(self):
        """True duration of the exposure, s."""
        return self.nints * self.integration_duration

    @property
    def has_outliers(self):
        """Whether any outlier is injected."""
        return (
            self.outlier_integrations + self.outlier_telegraph_pixels + self.outlier_last_group_hits
        ) > 0

    @property
    def nsegments(self):
        """Number of output files."""
        if self.segment_size is None:
            return 1
        return math.ceil(self.nints / self.segment_size)

    def resolved_transit_t0(self):
        """Mid-transit time (s from exposure start)."""
        return 0.5 * self.exposure_duration if self.transit_t0 is None else float(self.transit_t0)

    @property
    def has_phase_curve(self):
        """Whether the planet's emission (phase curve and eclipse) is injected."""
        return self.fp_day != 0 or self.fp_night != 0

    def resolved_transit_duration(self):
        """Transit duration (s)."""
        if self.orbital_period is not None:
            return float(
                effects.transit_duration(
                    self.orbital_period, self.transit_depth, self.a_rs, self.impact_parameter
                )
            )
        if self.transit_duration is None:
            return self.exposure_duration / 3.0
        return float(self.transit_duration)

    def resolved_orbital_period(self):
        """Orbital period (s)."""
        if self.orbital_period is not None:
            return float(self.orbital_period)
        return float(
            effects.orbital_period(
                self.resolved_transit_duration(),
                self.transit_depth,
                self.a_rs,
                self.impact_parameter,
            )
        )

    def resolved_ramp_timescale(self):
        """Response-ramp timescale (s)."""
        if self.ramp_timescale is None:
            return min(600.0, self.exposure_duration / 6.0)
        return float(self.ramp_timescale)

    def validate(self):
        """Raise ValueError with a clear message for any invalid parameter."""
        for name in (
            "nints", "ngroups", "seed", "outlier_integrations", "outlier_telegraph_pixels",
            "outlier_last_group_hits",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if name.startswith("outlier_") and value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")
        if self.nints < 1:
            raise ValueError(f"nints must be at least 1, got {self.nints}")
        if self.ngroups < 2:
            raise ValueError(
                f"ngroups must be at least 2 (a ramp needs two reads), got {self.ngroups}"
            )
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.segment_size is not None:
            if isinstance(self.segment_size, bool) or not isinstance(self.segment_size, int):
                raise ValueError(
                    f"segment_size must be an integer or None, got {self.segment_size!r}"
                )
            if self.segment_size < 1:
                raise ValueError(f"segment_size must be at least 1, got {self.segment_size}")
            if self.nsegments > 999:
                raise ValueError("segment_size too small: more than 999 segments")
        if not isinstance(self.root, str) or not _ROOT_PATTERN.match(self.root):
            raise ValueError(
                f"root must be a plain file-name root (letters, digits, '_', '-', '.', '+'), "
                f"got {self.root!r}"
            )
        finite = [f.name for f in dataclasses.fields(self) if f.type in (float, "float")]
        for name in finite:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        optional = (
            "transit_t0", "transit_duration", "orbital_period", "ramp_timescale", "step_time",
            "planet_day_temperature", "planet_night_temperature",
        )  # fmt: skip
        for name in optional:
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                raise ValueError(f"{name} must be a finite number or None, got {value!r}")
        if self.star_temperature <= 0 or self.star_flux_mjy <= 0:
            raise ValueError("star_temperature and star_flux_mjy must be positive")
        if not 0.0 <= self.transit_depth < 1.0:
            raise ValueError(f"transit_depth must be in [0, 1), got {self.transit_depth}")
        if self.a_rs <= 1.0:
            raise ValueError(f"a_rs must exceed 1, got {self.a_rs}")
        if not 0.0 <= self.impact_parameter < 1.0:
            raise ValueError(f"impact_parameter must be in [0, 1), got {self.impact_parameter}")
        if self.transit_duration is not None and self.transit_duration <= 0:
            raise ValueError(f"transit_duration must be positive, got {self.transit_duration}")
        if self.orbital_period is not None:
            if self.transit_duration is not None:
                raise ValueError("give orbital_period or transit_duration, not both")
            if self.orbital_period <= 0:
                raise ValueError(f"orbital_period must be positive, got {self.orbital_period}")
            chord = math.sqrt((1 + math.sqrt(self.transit_depth)) ** 2 - self.impact_parameter**2)
            if chord >= math.sqrt(self.a_rs**2 - self.impact_parameter**2):
                raise ValueError("a_rs too small for this impact parameter and radius ratio")
        if len(self.limb_darkening) != 2:
            raise ValueError("limb_darkening must be a pair (u1, u2)")
        if not 0.0 <= self.ramp_amplitude < 1.0:
            raise ValueError(f"ramp_amplitude must be in [0, 1), got {self.ramp_amplitude}")
        if self.ramp_timescale is not None and self.ramp_timescale <= 0:
            raise ValueError(f"ramp_timescale must be positive, got {self.ramp_timescale}")
        if self.jitter_rms < 0:
            raise ValueError(f"jitter_rms must be non-negative, got {self.jitter_rms}")
        if self.cosmic_ray_rate < 0:
            raise ValueError(f"cosmic_ray_rate must be non-negative, got {self.cosmic_ray_rate}")
        if not 0 < self.cosmic_ray_min_dn <= self.cosmic_ray_max_dn:
            raise ValueError(
                "cosmic-ray amplitudes need 0 < cosmic_ray_min_dn <= cosmic_ray_max_dn"
            )
        if not 0 < self.outlier_sigma_min <= self.outlier_sigma_max:
            raise ValueError("outlier amplitudes need 0 < outlier_sigma_min <= outlier_sigma_max")
        for name in ("x_offset", "y_offset"):
            if abs(getattr(self, name)) > 10.0:
                raise ValueError(f"{name} beyond 10 px would move the trace off the subarray")
        chromatic.validate_config(self)
        phase_curve.validate_config(self)
        return self

    def scalar_meta(self):
        """Parameters as a plain dict (for the truth-table metadata)."""
        meta = dataclasses.asdict(self)
        meta["limb_darkening"] = [float(u) for u in self.limb_darkening]
        meta["frame_time"] = self.frame_time
        meta["integration_duration"] = self.integration_duration
        meta["exposure_duration"] = self.exposure_duration
        meta["resolved_transit_t0"] = self.resolved_transit_t0()
        meta["resolved_transit_duration"] = self.resolved_transit_duration()
        meta["resolved_ramp_timescale"] = self.resolved_ramp_timescale()
        meta["resolved_orbital_period"] = self.resolved_orbital_period()
        return meta
