"""Tests of the offline CRDS cache (jwst_tso_ext.crds_cache); all offline.

crds is imported at module level on purpose: `offline_crds` must work when crds was
imported (and fixed its server URL) before the environment was set.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import crds
import numpy as np
import pytest
from astropy.io import fits
from crds.client import api
from crds.core import config, rmap
from crds.core.exceptions import ChecksumError
from crds.refactoring import checksum
from scipy.special import erf
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.cli import crds_cache as cli
from jwst_tso_ext.crds_cache import (
    CONTEXT,
    SERVERLESS_URL,
    build_cache,
    cache_is_current,
    mappings,
    offline_crds,
    offline_crds_env,
    references,
)
from jwst_tso_ext.crds_cache import build as build_module
from jwst_tso_ext.miri_lrs import detector, geometry

REAL_TYPES = sorted(references.REFERENCE_NAMES)


@pytest.fixture(scope="module")
def cache(offline_crds_cache):
    """The session's cache (tests/conftest.py), built once for the run."""
    return offline_crds_cache


def lrs_ramp(nints=3, ngroups=5, readpatt="FASTR1", flux_jy=0.05):
    """Tiny noise-free MIRI LRS slitless RampModel built from the shared detector model.

    A star of constant ``flux_jy`` Jy on the flight trace (Gaussian cross-dispersion
    profile of ``detector.psf_sigma``), flat field, dark current, bias and
    non-linearity applied as the simulator does.
    """
    rows = np.arange(geometry.N_ROWS)
    cols = np.arange(geometry.N_COLUMNS)[None, :]
    wavelength = geometry.wavelength_at_row(rows)
    on_trace = np.isfinite(wavelength)
    wavelength = np.where(on_trace, wavelength, 7.0)
    row_rate = np.where(on_trace, flux_jy * detector.count_rate_per_jy(wavelength), 0.0)
    centre = (geometry.NOMINAL_X + geometry.trace_x_offset_at_row(rows))[:, None]
    scale = np.sqrt(2.0) * detector.psf_sigma(wavelength)[:, None]
    profile = 0.5 * (erf((cols + 0.5 - centre) / scale) - erf((cols - 0.5 - centre) / scale))
    rate = row_rate[:, None] * profile * detector.flat_field() + detector.DARK_RATE_DN_S
    rate[:, : geometry.N_REFERENCE_COLUMNS] = 0.0
    read_times = geometry.FRAME_TIME * np.arange(1, ngroups + 1)
    linear = detector.linearized_from_raw(detector.BIAS_DN) + rate * read_times[:, None, None]
    raw = detector.raw_from_linearized(linear)
    data = np.broadcast_to(raw, (nints, *raw.shape)).astype(np.float32)

    model = datamodels.RampModel(data=data.copy())
    meta = model.meta
    meta.filename = "jw09999001001_01101_00001-seg001_mirimage_uncal.fits"
    meta.telescope = "JWST"
    meta.instrument.name = "MIRI"
    meta.instrument.detector = "MIRIMAGE"
    meta.instrument.filter = "P750L"
    meta.subarray.name = "SLITLESSPRISM"
    meta.subarray.xstart = geometry.SUBSTRT1
    meta.subarray.ystart = geometry.SUBSTRT2
    meta.subarray.xsize = geometry.N_COLUMNS
    meta.subarray.ysize = geometry.N_ROWS
    meta.subarray.fastaxis = 1
    meta.subarray.slowaxis = 2
    exposure = meta.exposure
    exposure.type = "MIR_LRS-SLITLESS"
    exposure.readpatt = readpatt
    exposure.nints = nints
    exposure.ngroups = ngroups
    exposure.nframes = 1
    exposure.groupgap = 0
    exposure.frame_time = geometry.FRAME_TIME
    exposure.group_time = geometry.FRAME_TIME
    exposure.integration_time = geometry.FRAME_TIME * ngroups
    exposure.exposure_time = exposure.integration_time * nints
    exposure.effective_exposure_time = exposure.exposure_time
    exposure.nresets_at_start = 0
    exposure.nresets_between_ints = 1
    int_length = geometry.FRAME_TIME * (ngroups + 1) / 86400.0
    exposure.start_time = 60000.0
    exposure.mid_time = 60000.0 + nints * int_length / 2
    exposure.end_time = 60000.0 + nints * int_length
    meta.observation.date = "2023-01-01"
    meta.observation.time = "00:00:00"
    meta.visit.tsovisit = True
    meta.target.ra = 10.0
    meta.target.dec = -20.0
    meta.pointing.ra_v1 = 10.0
    meta.pointing.dec_v1 = -20.0
    meta.pointing.pa_v3 = 0.0
    wcsinfo = meta.wcsinfo
    wcsinfo.v2_ref = -378.63
    wcsinfo.v3_ref = -344.94
    wcsinfo.vparity = -1
    wcsinfo.v3yangle = 4.83
    wcsinfo.ra_ref = 10.0
    wcsinfo.dec_ref = -20.0
    wcsinfo.roll_ref = 0.0
    meta.velocity_aberration.scale_factor = 1.0

    columns = ["start", "mid", "end"]
    int_times = np.zeros(
        nints,
        dtype=[("integration_number", "<i4")]
        + [(f"int_{c}_MJD_UTC", "<f8") for c in columns]
        + [(f"int_{c}_BJD_TDB", "<f8") for c in columns],
    )
    int_times["integration_number"] = np.arange(1, nints + 1)
    for offset, column in enumerate(columns):
        mjd = 60000.0 + int_length * (np.arange(nints) + offset / 2)
        int_times[f"int_{column}_MJD_UTC"] = mjd
        int_times[f"int_{column}_BJD_TDB"] = mjd + 0.0008
    model.int_times = int_times
    return model


# ---------------------------------------------------------------------------- building


def test_build_layout_and_stamp(cache):
    assert cache_is_current(cache)
    for path in build_module.expected_files(cache):
        assert path.is_file(), path
    stamp = json.loads((cache / build_module.STAMP_NAME).read_text())
    assert stamp["real_reftypes"] == REAL_TYPES
    assert (cache / "config" / "jwst" / "ref_cache_subdir_mode").read_text() == "instrument"


def test_build_is_idempotent(cache):
    stamp = cache / build_module.STAMP_NAME
    mtime = stamp.stat().st_mtime_ns
    start = time.monotonic()
    assert build_cache(cache) == cache
    assert time.monotonic() - start < 5.0
    assert stamp.stat().st_mtime_ns == mtime  # reused, not rewritten


def test_incomplete_or_stale_cache_is_not_current(cache, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    assert cache_is_current(copy)
    (copy / "references" / "jwst" / "miri" / references.REFERENCE_NAMES["gain"]).unlink()
    assert not cache_is_current(copy)
    shutil.copytree(cache, copy, dirs_exist_ok=True)
    stamp = json.loads((copy / build_module.STAMP_NAME).read_text())
    stamp["build"]["sources_sha1"] = "0" * 40  # e.g. detector.py changed since the build
    (copy / build_module.STAMP_NAME).write_text(json.dumps(stamp))
    assert not cache_is_current(copy)


@pytest.mark.slow
def test_rebuild_repairs_a_damaged_cache(cache, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    (copy / "references" / "jwst" / "miri" / references.REFERENCE_NAMES["gain"]).unlink()
    build_cache(copy)
    assert cache_is_current(copy)


def test_rebuild_never_leaves_a_file_missing_for_a_running_pipeline(cache, tmp_path):
    """A rebuild (e.g. after an upgrade changed the sources) while a pipeline reads the
    cache: every file stays in place (crds would otherwise try to download it and fail,
    as a benchmark did when a demo rebuilt the shared cache under it)."""
    import threading

    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    gain = copy / "references" / "jwst" / "miri" / references.REFERENCE_NAMES["gain"]
    with open(gain, "rb") as held:
        old_bytes = held.read(2880)
        expected = build_module.expected_files(copy)
        worker = threading.Thread(target=build_cache, args=(copy,), kwargs={"force": True})
        worker.start()
        missing = set()
        while worker.is_alive():
            missing.update(p.name for p in expected if not p.exists())
        worker.join()
        held.seek(0)
        assert held.read(2880) == old_bytes  # an open file keeps its content
    assert missing == set()
    assert cache_is_current(copy)
    assert not list(copy.glob(".building-*"))


def test_build_refuses_foreign_crds_cache(tmp_path):
    foreign = tmp_path / "real_cache"
    (foreign / "config" / "jwst").mkdir(parents=True)
    (foreign / "config" / "jwst" / "server_config").write_text("{}")
    with pytest.raises(FileExistsError):
        build_cache(foreign)


# ---------------------------------------------------------------------------- mappings


def test_context_loads_and_mapping_checksums(cache):
    with offline_crds(cache):
        assert crds.get_context_name("jwst") == CONTEXT
        pmap = crds.get_cached_mapping(CONTEXT)
        imap = pmap.get_imap("MIRI")
        assert imap.basename == mappings.IMAP
        for reftype in REAL_TYPES:
            assert imap.get_rmap(reftype).basename == mappings.rmap_name(reftype)
        names = pmap.mapping_names()
    assert len(names) == 2 + len(REAL_TYPES)
    for name in names:
        checksum.verify_checksum(str(cache / "mappings" / "jwst" / name))  # raises if bad


def test_tampered_mapping_fails_checksum(cache, tmp_path):
    text = (cache / "mappings" / "jwst" / mappings.rmap_name("gain")).read_text()
    tampered = tmp_path / mappings.rmap_name("gain")
    tampered.write_text(text.replace("'MIRIMAGE'", "'MIRIFULONG'"))
    with pytest.raises(ChecksumError):
        rmap.load_mapping(str(tampered))


def test_reference_fits_checksums(cache):
    refdir = cache / "references" / "jwst" / "miri"
    fits_files = sorted(refdir.glob("*.fits"))
    assert len(fits_files) == 12
    for path in fits_files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns on a checksum mismatch
            with fits.open(path, checksum=True) as hdul:
                for hdu in hdul:
                    assert "CHECKSUM" in hdu.header, (path.name, hdu.name)
                    hdu.data  # noqa: B018  (reads and verifies DATASUM)


def test_imap_names_every_requested_type(cache):
    imap_text = (cache / "mappings" / "jwst" / mappings.IMAP).read_text()
    needed = mappings.needed_reftypes() + mappings.pars_reftypes()
    for reftype in needed:
        assert f"'{reftype}' :" in imap_text, reftype
    for reftype in mappings.OUR_PARS_TYPES + (
        "pars-detector1pipeline",
        "pars-spec2pipeline",
        "pars-tso3pipeline",
        "pars-jumpstep",
        "pars-extract1dstep",
    ):
        assert f"'{reftype}' : 'N/A'" in imap_text


# ---------------------------------------------------------------------------- bestrefs


@pytest.mark.parametrize("readpatt", ["FAST", "FASTR1"])
def test_bestrefs_resolve_every_needed_type(cache, readpatt):
    parameters = lrs_ramp(nints=1, ngroups=3, readpatt=readpatt).get_crds_parameters()
    wanted = mappings.needed_reftypes() + mappings.pars_reftypes()
    with offline_crds(cache):
        refs = crds.getreferences(parameters, reftypes=wanted, observatory="jwst")
    assert sorted(refs) == sorted(wanted)
    for reftype, ref in refs.items():
        if reftype in references.REFERENCE_NAMES:
            expected = cache / "references" / "jwst" / "miri" / references.REFERENCE_NAMES[reftype]
            assert ref == str(expected), reftype
            assert expected.is_file()
        else:
            assert ref == "NOT FOUND n/a", (reftype, ref)


def test_stpipe_client_sees_na_for_pars(cache):
    from stpipe import crds_client

    parameters = lrs_ramp(nints=1, ngroups=3).get_crds_parameters()
    with offline_crds(cache):
        refs = crds_client.get_multiple_reference_paths(
            parameters, ["gain", "pars-tsovisitfixstep", "pars-detector1pipeline", "ipc"], "jwst"
        )
    assert refs["gain"].endswith(references.REFERENCE_NAMES["gain"])
    assert refs["pars-tsovisitfixstep"] == refs["pars-detector1pipeline"] == refs["ipc"] == "N/A"


def test_other_subarray_does_not_match(cache):
    model = lrs_ramp(nints=1, ngroups=3)
    model.meta.subarray.name = "FULL"
    with offline_crds(cache):
        refs = crds.getrecommendations(
            model.get_crds_parameters(), reftypes=["gain"], observatory="jwst"
        )
    assert refs["gain"].startswith("NOT FOUND")


# ---------------------------------------------------------------------------- environment


def test_environment_and_crds_state_restored(cache):
    before_env = dict(os.environ)
    before_url = api.get_crds_server()
    before_mode = config.CRDS_REF_SUBDIR_MODE
    with offline_crds(cache, context=CONTEXT) as env:
        assert os.environ["CRDS_PATH"] == str(cache)
        assert os.environ["CRDS_SERVER_URL"] == SERVERLESS_URL
        assert os.environ["CRDS_CONTEXT"] == CONTEXT
        assert os.environ["CRDS_READONLY_CACHE"] == "1"
        assert api.get_crds_server() == SERVERLESS_URL
        assert config.get_cache_readonly()
        assert env == offline_crds_env(cache, context=CONTEXT)
        crds.get_context_name("jwst")
    assert dict(os.environ) == before_env
    assert api.get_crds_server() == before_url
    assert config.CRDS_REF_SUBDIR_MODE == before_mode


def test_environment_restored_after_error(cache):
    before_env = dict(os.environ)
    with pytest.raises(RuntimeError), offline_crds(cache):
        raise RuntimeError("boom")
    assert dict(os.environ) == before_env


@pytest.mark.subprocess
def test_env_dict_for_subprocess(cache):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRDS_") and k != "STPIPE_DISABLE_CRDS_STEPPARS"
    }
    env.update(offline_crds_env(cache))
    code = (
        "import crds\n"
        "p = {'meta.instrument.name': 'MIRI', 'meta.instrument.detector': 'MIRIMAGE',\n"
        "     'meta.instrument.filter': 'P750L', 'meta.subarray.name': 'SLITLESSPRISM',\n"
        "     'meta.exposure.type': 'MIR_LRS-SLITLESS', 'meta.exposure.readpatt': 'FAST',\n"
        "     'meta.observation.date': '2023-01-01', 'meta.observation.time': '00:00:00'}\n"
        "print(crds.getreferences(p, reftypes=['gain'], observatory='jwst')['gain'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(references.REFERENCE_NAMES["gain"])


def test_cli_prints_environment(cache, capsys):
    parser = argparse.ArgumentParser()
    sub = cli.add_parser(parser.add_subparsers(dest="command"))
    assert sub.prog.endswith("crds-cache")
    args = parser.parse_args(["crds-cache", str(cache)])  # current cache: reused
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert f"export CRDS_PATH={cache}" in out
    assert f"export CRDS_SERVER_URL={SERVERLESS_URL}" in out
    assert f"export CRDS_CONTEXT={CONTEXT}" in out


# ---------------------------------------------------------------------------- references


def _open_reference(cache, reftype):
    path = cache / "references" / "jwst" / "miri" / references.REFERENCE_NAMES[reftype]
    return datamodels.open(path)


@pytest.mark.parametrize(
    ("reftype", "model_class"),
    [
        ("mask", datamodels.MaskModel),
        ("saturation", datamodels.SaturationModel),
        ("linearity", datamodels.LinearityModel),
        ("rscd", datamodels.RSCDModel),
        ("reset", datamodels.ResetModel),
        ("dark", datamodels.DarkMIRIModel),
        ("gain", datamodels.GainModel),
        ("readnoise", datamodels.ReadnoiseModel),
        ("distortion", datamodels.DistortionModel),
        ("specwcs", datamodels.MiriLRSSpecwcsModel),
        ("flat", datamodels.FlatModel),
        ("photom", datamodels.MirLrsPhotomModel),
        ("apcorr", datamodels.MirLrsApcorrModel),
    ],
)
def test_reference_models_and_meta(cache, reftype, model_class):
    with _open_reference(cache, reftype) as model:
        assert type(model) is model_class
        meta = model.meta
        assert meta.reftype.upper() == reftype.upper()
        assert meta.instrument.name == "MIRI"
        assert meta.instrument.detector == "MIRIMAGE"
        assert meta.pedigree == "DUMMY"
        assert meta.useafter == references.USEAFTER
        assert meta.author and meta.description
        if reftype not in ("distortion", "rscd", "apcorr", "photom"):
            assert meta.subarray.name == "SLITLESSPRISM"
            assert (meta.subarray.xstart, meta.subarray.ystart) == (1, 529)
            assert (meta.subarray.xsize, meta.subarray.ysize) == (72, 416)


def test_detector_reference_values(cache):
    with _open_reference(cache, "gain") as model:
        assert model.data.shape == (416, 72)
        np.testing.assert_array_equal(model.data, np.float32(detector.GAIN))
    with _open_reference(cache, "readnoise") as model:
        np.testing.assert_array_equal(model.data, np.float32(detector.READ_NOISE_CDS_DN))
    with _open_reference(cache, "saturation") as model:
        np.testing.assert_array_equal(model.data, np.float32(detector.SATURATION_DN))
    with _open_reference(cache, "linearity") as model:
        assert model.coeffs.shape == (3, 416, 72)
        np.testing.assert_array_equal(model.coeffs[0], 0.0)
        np.testing.assert_array_equal(model.coeffs[1], 1.0)
        np.testing.assert_array_equal(model.coeffs[2], np.float32(detector.LINEARITY_QUADRATIC))
    with _open_reference(cache, "mask") as model:
        reference = dqflags.pixel["REFERENCE_PIXEL"]
        assert np.all(model.dq[:, :4] == reference)
        assert np.all(model.dq[:, 4:] == 0)
    with _open_reference(cache, "flat") as model:
        np.testing.assert_array_equal(model.data, detector.flat_field())
    with _open_reference(cache, "dark") as model:
        assert model.data.ndim == 4
        slope = np.diff(model.data, axis=1) / geometry.FRAME_TIME
        np.testing.assert_allclose(slope, detector.DARK_RATE_DN_S, rtol=1e-5)
    with _open_reference(cache, "reset") as model:
        assert not np.any(model.data)
    with _open_reference(cache, "rscd") as model:
        table = model.rscd_group_skip_table
        assert set(table["readpatt"]) == {"FAST", "FASTR1"}
        assert not np.any(table["group_skip"]) and not np.any(table["group_skip1"])


def test_flux_references_invert_the_count_rate(cache):
    with _open_reference(cache, "photom") as model:
        row = model.phot_table[0]
        assert row["filter"] == "P750L" and row["subarray"] == "SLITLESSPRISM"
        nelem = row["nelem"]
        wavelength = row["wavelength"][:nelem]
        factor = row["photmjsr"] * row["relresponse"][:nelem] * 1e6 * geometry.PIXEL_AREA_SR
        np.testing.assert_allclose(factor, 1.0 / detector.count_rate_per_jy(wavelength), rtol=1e-5)
        assert model.meta.photometry.pixelarea_steradians == pytest.approx(geometry.PIXEL_AREA_SR)
    with _open_reference(cache, "apcorr") as model:
        row = model.apcorr_table[0]
        wavelength = row["wavelength"][: row["nelem_wl"]]
        size = row["size"][: row["nelem_size"]]
        assert references.EXTRACT_WIDTH in size
        expected = 1.0 / detector.psf_fraction(wavelength[:, None], size[None, :] / 2.0)
        np.testing.assert_allclose(row["apcorr"], expected, rtol=1e-6)
    ref = json.loads(
        (cache / "references/jwst/miri" / references.REFERENCE_NAMES["extract1d"]).read_text()
    )
    (aperture,) = ref["apertures"]
    assert aperture["id"] == "MIR_LRS-SLITLESS"
    assert aperture["xstop"] - aperture["xstart"] + 1 == references.EXTRACT_WIDTH
    assert (aperture["xstart"] + aperture["xstop"]) / 2 == geometry.NOMINAL_X


def test_wcs_references(cache):
    with _open_reference(cache, "specwcs") as model:
        assert model.meta.x_ref_slitless == geometry.IMXSLTL == 38.5
        assert model.meta.y_ref_slitless == geometry.IMYSLTL == 829.0
        assert (model.meta.x_ref, model.meta.y_ref) == (326.13, 300.7)
        table = geometry.wavelength_table()
        assert len(model.wavetable) == len(table) == 388
        np.testing.assert_array_equal(model.wavetable["wavelength"], table["wavelength"])
    with _open_reference(cache, "distortion") as model:
        transform = model.model
        assert model.meta.input_units == "pixel" and model.meta.output_units == "arcsec"
        v2, v3 = transform(37.5, 828.0)
        assert (v2, v3) == pytest.approx((-378.60, -344.75))
        v2, v3 = transform(38.5, 828.0)
        assert (v2, v3) == pytest.approx((-378.60 - 0.10939, -344.75 + 0.00987))
        x, y = transform.inverse(*transform(12.3, 700.0))
        assert (x, y) == pytest.approx((12.3, 700.0))


# ---------------------------------------------------------------------------- end to end

DETECTOR1_COMPLETE = [
    "dq_init",
    "saturation",
    "lastframe",
    "reset",
    "linearity",
    "rscd",
    "dark_sub",
    "jump",
    "ramp_fit",
]
DETECTOR1_SKIPPED = [
    "group_scale",
    "emicorr",
    "ipc",
    "firstframe",
    "refpix",
    "charge_migration",
    "picture_frame",
    "clean_flicker_noise",
    "persistence",
    "gain_scale",
]
SPEC2_COMPLETE = ["assign_wcs", "srctype", "flat_field", "photom", "extract_1d"]
SPEC2_SKIPPED = [
    "badpix_selfcal",
    "msa_flagging",
    "imprint",
    "bkg_subtract",
    "targ_centroid",
    "straylight",
    "fringe",
    "pathloss",
    "barshadow",
    "residual_fringe",
    "adaptive_trace_model",
    "pixel_replace",
]


@pytest.mark.official
def test_official_pipelines_run_offline(cache, tmp_path):
    """calwebb_detector1, calwebb_spec2 (rateints -> calints, x1dints) and calwebb_tso3."""
    from jwst.pipeline import Detector1Pipeline, Spec2Pipeline

    flux_jy = 0.05
    model = lrs_ramp(nints=3, ngroups=5, readpatt="FASTR1", flux_jy=flux_jy)
    with offline_crds(cache):
        rate = Detector1Pipeline.call(
            model, steps={"refpix": {"skip": True}}, save_results=True, output_dir=str(tmp_path)
        )
        (rateints,) = glob.glob(str(tmp_path / "*_rateints.fits"))
        Spec2Pipeline.call(rateints, save_results=True, output_dir=str(tmp_path))
    assert rate is not model
    assert rate.meta.ref_file.crds.context_used == CONTEXT
    steps = rate.meta.cal_step.instance
    assert [s for s in DETECTOR1_COMPLETE if steps.get(s) != "COMPLETE"] == []
    assert [s for s in DETECTOR1_SKIPPED if steps.get(s) != "SKIPPED"] == []

    (x1dints_path,) = glob.glob(str(tmp_path / "*_x1dints.fits"))
    with datamodels.open(x1dints_path) as x1dints:
        steps = x1dints.meta.cal_step.instance
        assert [s for s in DETECTOR1_COMPLETE + SPEC2_COMPLETE if steps.get(s) != "COMPLETE"] == []
        assert [s for s in SPEC2_SKIPPED if steps.get(s) != "SKIPPED"] == []
        assert x1dints.meta.ref_file.photom.name.endswith(references.REFERENCE_NAMES["photom"])
        table = x1dints.spec[0].spec_table
        assert len(np.unique(table["INT_NUM"])) == 3
        for wavelength, flux in zip(table["WAVELENGTH"], table["FLUX"], strict=True):
            band = (wavelength > 5.0) & (wavelength < 12.0)
            # noise-free input: the calibrated spectrum is the injected flux
            np.testing.assert_allclose(flux[band], flux_jy, rtol=5e-3)

    # calwebb_tso3 on the calints also runs from the cache
    from jwst.associations import asn_from_list
    from jwst.associations.lib.rules_level3_base import DMS_Level3_Base
    from jwst.pipeline import Tso3Pipeline

    calints = [os.path.basename(path) for path in glob.glob(str(tmp_path / "*_calints.fits"))]
    asn = asn_from_list.asn_from_list(calints, rule=DMS_Level3_Base, product_name="offline_tso3")
    asn["asn_type"] = "tso3"
    asn_path = tmp_path / "offline_tso3_asn.json"
    asn_path.write_text(asn.dump()[1])
    with offline_crds(cache):
        Tso3Pipeline.call(str(asn_path), save_results=True, output_dir=str(tmp_path))
    assert (tmp_path / "offline_tso3_x1dints.fits").is_file()
    assert (tmp_path / "offline_tso3_whtlt.ecsv").is_file()
