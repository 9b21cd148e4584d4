"""Static dispersion offset and the extracted wavelengths (issue 14, item 6).

A simulated exposure with a static pointing offset of +1 px along the dispersion
(``SimulationConfig.y_offset``: the star one row higher, so every row sees a bluer
wavelength), the simulator's default drift and jitter, and no stellar template:
``wavelength_drift`` (defaults: Rayleigh-Jeans star, response from the photom
reference) then ``photom`` and ``tso_extract_1d``. Two instruments:

* ``package``: the package's synthetic response (the offline CRDS cache's photom);
* ``other``: a response unlike the package's model, a cut-on edge at 4.8 um (the model
  has none) and an 8 %/um tilt, in the data and in the photom reference the steps are
  given (``override_photom``, as CRDS would select the flight one).

For each it reports the recovered static y offset and its error against the truth (the
median true position, the drift reference), the extracted wavelength at the row where
7.35 um truly falls against 7.35 um, the largest wavelength error over 5-12 um, and the
same without the correction (``y_offset=0``, the former default) and with the package's
response model on the ``other`` data (what the step used before).

Slopes come straight from the scene (`jwst_tso_ext.simulate.rates.noisy_slopes`: flat-
fielded rates with photon and read noise), the star positions from the simulator's own
truth (`make_truth`), the WCS from jwst's ``assign_wcs`` with the cache's references.

    python benchmarks/check_static_offset.py                  # 300 integrations, 10 groups
    python benchmarks/check_static_offset.py --nints 1000 --ngroups 20

Writes ``benchmarks/results/static_offset_<UTC>.md`` and prints it.
"""

import argparse
import datetime
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from jwst.assign_wcs.assign_wcs import load_wcs
from jwst.photom import PhotomStep
from scipy import special
from stdatamodels.jwst import datamodels

from jwst_tso_ext.crds_cache import build_cache, offline_crds, references
from jwst_tso_ext.miri_lrs import detector, geometry
from jwst_tso_ext.simulate import SimulationConfig, make_truth, scene
from jwst_tso_ext.simulate.rates import noisy_slopes
from jwst_tso_ext.steps import WavelengthDriftStep
from jwst_tso_ext.tso_extract import TsoExtract1dStep
from jwst_tso_ext.tsovisit_fix.int_times import build_int_times
from jwst_tso_ext.wavelength_drift import shift_estimator, wavelength_solution

RESULTS = Path(__file__).parent / "results"


def other_response(wavelength):
    """Cut-on edge at 4.8 um and an 8 %/um tilt on top of the package's response."""
    wavelength = np.asarray(wavelength, dtype=float)
    return (
        detector.relative_response(wavelength)
        * special.expit((wavelength - 4.8) / 0.04)
        * (1.0 + 0.08 * (wavelength - 7.5))
    )


def other_photom():
    """LRS photom reference of that instrument, tabulated every 0.01 um."""
    model = references.photom(other_response, np.arange(3.5, 14.5 + 1e-9, 0.01))
    model.meta.filename = "other_photom.fits"
    return model


def make_cube(x_shift, y_shift, ngroups, spectrum, wcs_references, seed):
    """Flat-fielded rateints-like CubeModel with the jwst WCS."""
    data, err, var_p, var_r = noisy_slopes(x_shift, y_shift, ngroups, seed, spectrum=spectrum)
    return wrap_cube(data, err, var_p, var_r, ngroups, wcs_references)


def wrap_cube(data, err, var_p, var_r, ngroups, wcs_references):
    """CubeModel of flat-fielded slopes with LRS slitless metadata and the jwst WCS."""
    nints = data.shape[0]
    model = datamodels.CubeModel(
        data=data,
        err=err,
        dq=np.zeros(data.shape, np.uint32),
        var_poisson=var_p,
        var_rnoise=np.full_like(data, var_r),
        var_flat=np.zeros_like(data),
    )
    meta = model.meta
    meta.filename = "jw_check_static_offset_rateints.fits"
    meta.instrument.name, meta.instrument.detector = "MIRI", "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.exposure.type = "MIR_LRS-SLITLESS"
    meta.exposure.nints, meta.exposure.integration_start = nints, 1
    meta.exposure.integration_end = nints
    meta.exposure.ngroups = ngroups
    meta.exposure.frame_time = meta.exposure.group_time = geometry.FRAME_TIME
    meta.observation.date, meta.observation.time = "2024-01-01", "06:00:00"
    meta.subarray.name = "SLITLESSPRISM"
    meta.subarray.xstart, meta.subarray.ystart = geometry.SUBSTRT1, geometry.SUBSTRT2
    meta.subarray.xsize, meta.subarray.ysize = geometry.N_COLUMNS, geometry.N_ROWS
    meta.target.ra, meta.target.dec = 10.0, -20.0
    meta.target.source_type = "POINT"
    w = meta.wcsinfo
    w.ra_ref, w.dec_ref, w.roll_ref = 10.0, -20.0, 0.0
    w.v2_ref, w.v3_ref, w.v3yangle, w.vparity = -378.6, -344.9, 4.45, -1
    cycle = (ngroups + 1) * geometry.FRAME_TIME
    model.int_times, _ = build_int_times(
        60310.0, cycle, ngroups * geometry.FRAME_TIME, 1, nints
    )
    model = load_wcs(model, wcs_references)
    model.meta.cal_step.flat_field = "COMPLETE"
    return model


def wcs_reference_files(directory):
    """The cache's distortion and specwcs written to ``directory``, for ``load_wcs``."""
    files = {
        "distortion": str(Path(directory) / "distortion.asdf"),
        "specwcs": str(Path(directory) / "specwcs.fits"),
    }
    references.distortion().save(files["distortion"])
    references.specwcs().save(files["specwcs"])
    return files


def wavelength_errors(x1d, y_fitted, y_true):
    """Extracted wavelength at the row where 7.35 um truly falls, and max error 5-12 um."""
    wave = np.asarray(x1d.spec[0].spec_table["WAVELENGTH"][0], dtype=float)
    good = np.isfinite(wave)
    # each element is one detector row: the corrected solution's row of the wavelength
    rows = np.round(geometry.row_at_wavelength(wave[good], y_fitted))
    truth = geometry.wavelength_at_row(rows, y_true)
    error = wave[good] - truth
    row_735 = np.round(geometry.row_at_wavelength(7.35, y_true))
    at = np.flatnonzero(rows == row_735)
    band = (truth > 5.0) & (truth < 12.0)
    return float(error[at[0]]) if at.size else float("nan"), float(np.nanmax(np.abs(error[band])))


def run_case(name, response_fn, photom_override, config, seed, wcs_references, extract_ref):
    truth, _, _ = make_truth(config)
    star = scene.blackbody_spectrum(config.star_temperature, config.star_flux_mjy)
    ratio = response_fn(star.wavelength) / detector.relative_response(star.wavelength)
    spectrum = scene.StellarSpectrum(star.wavelength, star.flux_jy * ratio)
    cube = make_cube(
        np.asarray(truth["x_shift"]),
        np.asarray(truth["y_shift"]),
        config.ngroups,
        spectrum,
        wcs_references,
        seed,
    )
    y_true = float(np.median(truth["y_shift"]))
    rows = []
    extra = {} if photom_override is None else {"override_photom": photom_override}
    for label, params in (
        ("corrected (default)", {}),
        ("uncorrected (y_offset=0)", {"y_offset": 0.0}),
    ):
        start = time.perf_counter()
        drift = WavelengthDriftStep.call(cube, **params, **extra)
        seconds = time.perf_counter() - start
        static = drift.meta.wavelength_drift
        calibrated = PhotomStep.call(drift, **extra)
        x1d = TsoExtract1dStep.call(calibrated, override_extract1d=extract_ref)
        at_735, worst = wavelength_errors(x1d, static.static_y_offset, y_true)
        rows.append(
            f"| {name} | {label} | {y_true:+.4f} | {static.static_y_offset:+.4f} | "
            f"{static.static_y_offset_err:.4f} | {static.static_y_offset - y_true:+.4f} | "
            f"{at_735:+.5f} | {worst:.5f} | {seconds:.1f} |"
        )
    # what the package's response model (the former behaviour with a template) gives here
    ref = shift_estimator.make_reference(cube.data, cube.err, cube.dq)
    wave, flux = wavelength_solution.stellar_template()
    y_package, y_package_err = wavelength_solution.fit_static_y_offset(
        np.nansum(ref.frame[:, ref.columns], axis=1),
        np.nansum(ref.variance[:, ref.columns], axis=1),
        np.arange(geometry.N_ROWS),
        wave,
        flux,
    )
    rows.append(
        f"| {name} | package response model | {y_true:+.4f} | {y_package:+.4f} | "
        f"{y_package_err:.4f} | {y_package - y_true:+.4f} | | | |"
    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nints", type=int, default=300)
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = SimulationConfig(
        nints=args.nints, ngroups=args.ngroups, seed=args.seed, y_offset=1.0, x_offset=0.2
    )
    lines = [
        f"# Static dispersion offset: +1 px in y, no template ({datetime.datetime.now(datetime.UTC):%Y-%m-%dT%H%MZ})",  # noqa: E501
        "",
        f"`python benchmarks/check_static_offset.py --nints {args.nints} --ngroups {args.ngroups} "
        f"--seed {args.seed}`; simulator defaults otherwise (drift 0.02/0.05 px, jitter 0.005 px, "
        "6230 K star). Truth y: median of the true y positions (the drift reference). "
        "Wavelength errors: extracted (tso_extract_1d) minus true wavelength of the row, um.",
        "",
        "| instrument | static y | true y | fitted y | error | fitted - true | "
        "d lambda at 7.35 um | max abs d lambda 5-12 um | step s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        cache = build_cache(scratch / "crds")
        wcs_references = wcs_reference_files(scratch)
        extract_ref = str(scratch / "extract1d.json")
        Path(extract_ref).write_text(__import__("json").dumps(references.extract1d()))
        with offline_crds(cache):
            lines += run_case(
                "package", detector.relative_response, None, config, 1, wcs_references, extract_ref
            )
            lines += run_case(
                "other", other_response, other_photom(), config, 2, wcs_references, extract_ref
            )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%MZ")
    (RESULTS / f"static_offset_{stamp}.md").write_text(text)
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
