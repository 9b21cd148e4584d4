"""Spectroscopic light curves: binning, per-bin fits against injected depths, the step."""

import batman
import numpy as np
import pytest
from astropy.table import Table
from jwst.datamodels.utils.tso_multispec import make_tso_specmodel
from stdatamodels.jwst import datamodels

from jwst_tso_ext.detrended_white_light.light_curve import make_detrended_light_curve
from jwst_tso_ext.lightcurve.binning import bin_edges, sum_bins, sum_white_light
from jwst_tso_ext.lightcurve.fit_selection import DEFAULT_FREE
from jwst_tso_ext.spectral_light_curves.spectral import fit_spectral_light_curves
from jwst_tso_ext.steps import SpectralLightCurvesStep

NINTS, NWAVE = 600, 160
CADENCE = 12.0 / 86400.0
BAND = (7.35, 0.7, 1500e-6)  # centre, full width (micron), amplitude


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")


def _scene(seed=3, nints=NINTS, ramp_amplitude=0.002):
    """Spectra whose per-column depth has a box band; one transit shape for all columns.

    Every column's light curve is ``1 - d_col * s(t)`` with the same unit-depth shape
    ``s``, so a bin's true depth is the flux-weighted mean of its columns' depths.
    """
    rng = np.random.default_rng(seed)
    t = 60000.0 + np.arange(nints) * CADENCE
    wave = np.linspace(4.6, 12.4, NWAVE)
    depth = 0.006 + BAND[2] * (np.abs(wave - BAND[0]) <= 0.5 * BAND[1])
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t[nints // 2], 1.0, 0.08, 8.0, 88.5, 0.0, 90.0
    p.limb_dark, p.u = "quadratic", [0.1, 0.1]
    shape = (1.0 - batman.TransitModel(p, t).light_curve(p)) / 0.0064
    star = 4e5 * np.exp(-0.5 * ((wave - 7.0) / 3.0) ** 2)
    ramp = 1.0 - ramp_amplitude * np.exp(-(t - t[0]) / 0.01)
    clean = star * (1.0 - depth[None, :] * shape[:, None]) * ramp[:, None]
    err = np.sqrt(clean)
    flux = clean + err * rng.standard_normal(clean.shape)
    spectra = {"int_num": np.arange(1, nints + 1), "mjd_utc": t - 8e-4, "bjd_tdb": t,
               "wavelength": wave, "flux": flux, "error": err,
               "dq": np.zeros(flux.shape, np.uint32), "flux_unit": None}
    return spectra, depth, star, shape


def _white(spectra):
    table, _ = make_detrended_light_curve(spectra, ramp_tau=[0.01])
    return table, {"meta": dict(table.meta), "int_num": np.asarray(table["int_num"]),
                   "systematics_model": np.asarray(table["systematics_model"]),
                   "residual": np.asarray(table["residual"]),
                   "clipped": np.asarray(table["clipped"])}


def _truth_per_bin(wave, depth, star, edges):
    index = np.searchsorted(edges, wave, side="right") - 1
    out = np.full(edges.size - 1, np.nan)
    for j in range(out.size):
        inside = index == j
        out[j] = np.sum(star[inside] * depth[inside]) / np.sum(star[inside])
    return out


def test_bin_edges_width_resolving_power_and_errors():
    np.testing.assert_allclose(bin_edges(5.0, 12.0, width=0.25), 5.0 + 0.25 * np.arange(29))
    edges = bin_edges(5.0, 12.0, resolving_power=50)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    np.testing.assert_allclose(centres / widths, 50.0)
    assert edges[-1] <= 12.0 and edges[-1] * 1.02 > 12.0
    np.testing.assert_allclose(bin_edges(edges=[5, 6, 8]), [5.0, 6.0, 8.0])
    with pytest.raises(ValueError, match="increase"):
        bin_edges(edges=[5, 8, 6])
    with pytest.raises(ValueError, match="exactly one"):
        bin_edges(5, 12, width=0.25, resolving_power=50)


def test_sum_bins_sums_columns_and_white_light_is_its_one_bin_case():
    spectra, *_ = _scene(nints=50)
    wave, flux, err = spectra["wavelength"], spectra["flux"], spectra["error"]
    edges = bin_edges(5.0, 12.0, width=0.5)
    binned, binned_err, info = sum_bins(wave, flux, err, edges=edges)
    for j in (0, 5, 13):
        inside = (wave >= edges[j]) & (wave < edges[j + 1])
        np.testing.assert_allclose(binned[:, j], flux[:, inside].sum(axis=1))
        np.testing.assert_allclose(binned_err[:, j], np.sqrt((err[:, inside] ** 2).sum(axis=1)))
        assert info["n_columns"][j] == inside.sum()
    white, white_err, _ = sum_white_light(wave, flux, err, min_wave=5.0, max_wave=12.0)
    one, one_err, _ = sum_bins(wave, flux, err, edges=[5.0, 12.0])
    np.testing.assert_array_equal(white, one[:, 0])
    np.testing.assert_array_equal(white_err, one_err[:, 0])


def test_sum_bins_no_jump_when_a_pixel_goes_bad():
    spectra, *_ = _scene(nints=200)
    wave, flux, err = spectra["wavelength"], spectra["flux"], spectra["error"]
    edges = bin_edges(5.0, 12.0, width=0.5)
    clean, clean_err, _ = sum_bins(wave, flux, err, edges=edges)
    bad_flux = flux.copy()
    column = np.flatnonzero((wave > 7.0) & (wave < 7.5))[1]
    bad_flux[100:, column] = np.nan  # the pixel dies half-way: 50 % bad, still kept
    binned, binned_err, info = sum_bins(wave, bad_flux, err, edges=edges)
    j = np.searchsorted(edges, wave[column], side="right") - 1
    assert info["n_filled"][:, j].sum() == 100
    # the filled sum tracks the clean one within its own error: no step at integration 100
    jump = np.mean(binned[100:, j] - clean[100:, j]) / np.mean(clean[:, j])
    assert abs(jump) < 3 * np.mean(clean_err[:, j]) / np.mean(clean[:, j]) / np.sqrt(100)
    # the filled entries carry at least the lost measurement's error
    assert np.all(binned_err[100:, j] >= clean_err[100:, j] * (1 - 1e-12))


def test_spectrum_recovers_injected_band_with_honest_errors():
    spectra, depth, star, shape = _scene()
    _, white = _white(spectra)
    edges = bin_edges(5.0, 12.0, width=0.5)
    tspec, speclc = fit_spectral_light_curves(spectra, white, edges, ramp_tau=[0.01],
                                              n_workers=2)
    truth = _truth_per_bin(spectra["wavelength"], depth, star, edges)
    pull = (np.asarray(tspec["depth"]) - truth) / np.asarray(tspec["depth_err"])
    assert np.all(np.abs(pull) < 3), pull
    assert np.sum(pull**2) / pull.size < 1.6
    # the band is seen: in-band bins against the continuum
    centres = np.asarray(tspec["wavelength"].value)
    band = np.abs(centres - BAND[0]) < 0.25
    continuum = np.abs(centres - BAND[0]) > 0.75
    d, e = np.asarray(tspec["depth"]), np.asarray(tspec["depth_err"])
    w_in, w_out = 1 / e[band] ** 2, 1 / e[continuum] ** 2
    excess = np.sum(w_in * d[band]) / w_in.sum() - np.sum(w_out * d[continuum]) / w_out.sum()
    error = np.sqrt(1 / w_in.sum() + 1 / w_out.sum())
    assert excess / error > 5
    assert abs(excess - BAND[2]) < 3 * error
    # errors: the photon-noise Cramer-Rao bound of a depth + normalisation fit, x <= 1.3
    for j in range(len(tspec)):
        rows = speclc["bin"] == j
        f, sig = np.asarray(speclc["flux"][rows]), np.asarray(speclc["flux_err"][rows])
        design = np.stack([np.ones_like(f), -np.median(f) * shape])
        fisher = (design / sig**2) @ design.T
        expected = np.sqrt(np.linalg.inv(fisher)[1, 1])
        assert 0.9 < tspec["depth_err"][j] / expected < 1.3
        assert 0.9 < tspec["rms_ppm"][j] / tspec["expected_ppm"][j] < 1.1
    # the long-form light curves: detrended = flux / systematics, model = systematics x astro
    rows = speclc["bin"] == 3
    np.testing.assert_allclose(
        speclc["model"][rows], speclc["systematics_model"][rows]
        * speclc["astrophysical_model"][rows])
    assert tspec.meta["orbit"]["t0"] == white["meta"]["t0"]
    assert tspec.meta["common_mode"] == "none"


def test_bins_keep_the_white_lights_ramp_that_their_own_bic_cannot_see():
    """A 0.04 % ramp: clear in the white light, below each 0.25-um bin's BIC penalty.

    Chosen per bin by BIC the ramp is left out and every bin's depth is biased alike
    (mean pull -0.9 here); the default fits each bin with the white light's ramp.
    """
    spectra, depth, star, _ = _scene(seed=3, ramp_amplitude=0.0004)
    _, white = _white(spectra)
    assert white["meta"]["ramp_terms"] == 1
    edges = bin_edges(5.0, 12.0, width=0.25)
    truth = _truth_per_bin(spectra["wavelength"], depth, star, edges)
    pulls = {}
    for selection in ("white_light", "bic"):
        tspec, _ = fit_spectral_light_curves(spectra, white, edges, ramp_tau=[0.01],
                                             ramp_selection=selection,
                                             poly_selection=selection)
        pulls[selection] = (np.asarray(tspec["depth"]) - truth) / np.asarray(tspec["depth_err"])
        if selection == "white_light":
            assert np.all(np.asarray(tspec["ramp_terms"]) == 1)
    # 28 bins: the mean pull of unbiased bins scatters by 0.19
    assert abs(np.mean(pulls["white_light"])) < 0.5
    assert np.mean(pulls["bic"]) < -0.5


def test_common_mode_residuals_removes_a_shared_jitter():
    spectra, depth, star, shape = _scene(seed=5)
    rng = np.random.default_rng(1)
    common = 1.0 + 1e-3 * rng.standard_normal(NINTS)  # achromatic, in every column
    spectra["flux"] = spectra["flux"] * common[:, None]
    _, white = _white(spectra)
    edges = bin_edges(5.0, 12.0, width=1.0)
    plain, _ = fit_spectral_light_curves(spectra, white, edges, ramp_tau=[0.01])
    divided, _ = fit_spectral_light_curves(spectra, white, edges, ramp_tau=[0.01],
                                           common_mode="residuals")
    # the shared noise is gone from every bin's scatter
    assert np.all(np.asarray(divided["rms_ppm"]) < 0.9 * np.asarray(plain["rms_ppm"]))
    # dividing by the white light makes the depths relative to it: its depth error is
    # common to all bins (meta), on top of each bin's depth_err
    truth = _truth_per_bin(spectra["wavelength"], depth, star, edges)
    d, e = np.asarray(divided["depth"]), np.asarray(divided["depth_err"])
    common_err = divided.meta["common_depth_err"]
    assert common_err == white["meta"]["transit_depth_err"]
    assert np.all(np.abs(d - truth) < 3 * np.hypot(e, common_err))
    w = 1 / e**2
    offset = np.sum(w * (d - truth)) / w.sum()
    assert abs(offset) < 3 * common_err
    assert np.all(np.abs(d - truth - offset) < 3 * e)
    assert divided.meta["common_mode"] == "residuals"


def _x1dints(spectra):
    wave, flux, err = spectra["wavelength"], spectra["flux"], spectra["error"]
    dtype = datamodels.SpecModel().get_dtype("spec_table")
    table = np.zeros(wave.size, dtype=dtype)
    spec = datamodels.SpecModel(spec_table=table)
    spec.spectral_order = 1
    nints = flux.shape[0]
    tso = make_tso_specmodel([spec] * nints)
    tso.spec_table["WAVELENGTH"][:] = wave
    tso.spec_table["FLUX"][:] = flux
    tso.spec_table["FLUX_ERROR"][:] = err
    tso.spec_table["MJD-AVG"][:] = spectra["mjd_utc"]
    tso.spec_table["TDB-MID"][:] = spectra["bjd_tdb"]
    model = datamodels.TSOMultiSpecModel()
    model.meta.instrument.name = "MIRI"
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.filename = "jw_spec_x1dints.fits"
    model.spec.append(tso)
    return model


def test_step_writes_products_with_white_light_and_drift_metadata(tmp_path):
    spectra, depth, star, _ = _scene(nints=400)
    model = _x1dints(spectra)
    table, _ = _white(spectra)
    table.meta["detrended_white_light"] = "COMPLETE"  # as the step writes it
    table.write(tmp_path / "jw_spec_whtlt.ecsv", format="ascii.ecsv")
    # jwst's own white-light product (no fit) beside an input is not mistaken for ours
    jwst_white = tmp_path / "jw_other_whtlt.ecsv"
    Table({"MJD": [1.0, 2.0]}).write(jwst_white, format="ascii.ecsv")
    with pytest.raises(ValueError, match="holds no fit"):
        SpectralLightCurvesStep.call(model, white_light_table=str(jwst_white))
    drift = Table({"int_num": spectra["int_num"], "x_shift": np.zeros(400),
                   "y_shift": np.zeros(400)},
                  meta={"static_y_offset": 0.021, "static_y_offset_err": 0.003,
                        "static_y_method": "template"})
    drift.write(tmp_path / "jw_spec_drift.ecsv", format="ascii.ecsv")
    path = tmp_path / "jw_spec_x1dints.fits"
    model.save(path)
    before = path.read_bytes()
    result = SpectralLightCurvesStep.call(str(path), output_dir=str(tmp_path), save_results=True,
                                          bin_width=1.0, ramp_tau=[0.01], maximum_cores="1")
    assert path.read_bytes() == before  # input untouched
    assert result.meta["spectral_light_curves"] == "COMPLETE"
    assert result.meta["white_light_table"].endswith("jw_spec_whtlt.ecsv")
    assert result.meta["wavelength_correction"]["static_y_offset"] == 0.021
    for name in ("jw_spec_tspec.ecsv", "jw_spec_speclc.ecsv", "jw_spec_tspec.png"):
        assert (tmp_path / name).is_file(), name
    written = Table.read(tmp_path / "jw_spec_tspec.ecsv", format="ascii.ecsv")
    assert {"wavelength", "bin_width", "depth", "depth_err", "rms_ppm", "expected_ppm",
            "beta"} <= set(written.colnames)
    truth = _truth_per_bin(spectra["wavelength"], depth, star, bin_edges(5, 12, width=1.0))
    assert np.all(np.abs(written["depth"] - truth) < 3 * written["depth_err"])
    curves = Table.read(tmp_path / "jw_spec_speclc.ecsv", format="ascii.ecsv")
    assert len(curves) == 400 * len(written)


def test_step_skips_without_a_transit_and_rejects_bad_bins(tmp_path):
    spectra, *_ = _scene(nints=200)
    model = _x1dints(spectra)
    flat = Table({"int_num": spectra["int_num"]},
                 meta={"astrophysical": "none", "detrended_white_light": "REDUCED"})
    result = SpectralLightCurvesStep.call(model, flat)
    assert result.meta["spectral_light_curves"] == "SKIPPED"
    # a skipped white-light step hands its input on instead of a table
    assert SpectralLightCurvesStep.call(model, model).meta["spectral_light_curves"] == "SKIPPED"
    with pytest.raises(ValueError, match="increase"):
        SpectralLightCurvesStep.call(model, flat, bin_edges=[5.0, 7.0, 6.0])


def test_eclipse_spectrum_fits_fp_per_bin():
    rng = np.random.default_rng(11)
    nints, wave = 500, np.linspace(4.6, 12.4, 80)
    t = 60000.0 + np.arange(nints) * CADENCE
    fp = 1e-3 + 1e-3 * (wave - 5.0) / 7.0  # a planet brighter to the red
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t[nints // 2] - 0.5, 1.0, 0.1, 8.0, 88.5, 0.0, 90.0
    p.limb_dark, p.u, p.fp, p.t_secondary = "quadratic", [0.1, 0.1], 1.0, t[nints // 2]
    visible = batman.TransitModel(p, t, transittype="secondary").light_curve(p) - 1.0
    star = 4e5 * np.exp(-0.5 * ((wave - 7.0) / 3.0) ** 2)
    clean = star * (1.0 + fp[None, :] * visible[:, None]) / (1.0 + fp[None, :])
    err = np.sqrt(clean)
    spectra = {"int_num": np.arange(1, nints + 1), "mjd_utc": t, "bjd_tdb": t,
               "wavelength": wave, "flux": clean + err * rng.standard_normal(clean.shape),
               "error": err, "dq": np.zeros(clean.shape, np.uint32), "flux_unit": None}
    table, _ = make_detrended_light_curve(
        spectra, astrophysical="eclipse", free_params=["fp"], ramp="none",
        astro_params={"t0": t[nints // 2], "period": 1.0, "a": 8.0, "inc": 88.5, "rp": 0.1})
    edges = bin_edges(5.0, 12.0, width=1.0)
    tspec, _ = fit_spectral_light_curves(spectra, {"meta": dict(table.meta)}, edges,
                                         ramp="none")
    truth = _truth_per_bin(wave, fp, star, edges)
    assert "depth" not in tspec.colnames
    assert np.all(np.abs(tspec["fp"] - truth) < 3 * tspec["fp_err"])
    assert np.all(tspec["fp_err"] < 2e-4)


@pytest.mark.slow
def test_long_form_table_refits_to_the_same_spectrum(tmp_path):
    """Our own _speclc.ecsv read back (long form) gives the spectrum of the x1dints run."""
    spectra, *_ = _scene(nints=400)
    rng = np.random.default_rng(5)
    x_shift = np.sin(np.arange(400) / 23.0) + 0.2 * rng.standard_normal(400)
    spectra["flux"] *= 1.0 + 3e-3 * x_shift[:, None]  # a pointing systematic in every bin
    Table({"int_num": spectra["int_num"], "x_shift": x_shift,
           "y_shift": rng.standard_normal(400)}).write(tmp_path / "jw_spec_drift.ecsv")
    table, _ = _white(spectra)
    table.meta["detrended_white_light"] = "COMPLETE"
    table.write(tmp_path / "jw_spec_whtlt.ecsv", format="ascii.ecsv")
    path = tmp_path / "jw_spec_x1dints.fits"
    _x1dints(spectra).save(path)
    options = {"ramp_tau": [0.01], "maximum_cores": "1", "save_results": True}
    first = SpectralLightCurvesStep.call(str(path), output_dir=str(tmp_path), bin_width=1.0,
                                         **options)
    curves = tmp_path / "jw_spec_speclc.ecsv"
    before = curves.read_bytes()
    with pytest.raises(ValueError, match="would overwrite the input table"):
        SpectralLightCurvesStep.call(str(curves), output_dir=str(tmp_path), **options)
    out = tmp_path / "refit"
    refit = SpectralLightCurvesStep.call(str(curves), output_dir=str(out), **options)
    assert curves.read_bytes() == before
    # the white light beside the table (root without _speclc) gives the orbit
    assert refit.meta["white_light_table"].endswith("jw_spec_whtlt.ecsv")
    assert refit.meta["time_column"] == "BJD_TDB" and refit.meta["bins"] == "the table's own"
    np.testing.assert_allclose(refit["wavelength"], first["wavelength"])
    np.testing.assert_allclose(refit["bin_width"], first["bin_width"])
    assert "x_shift" in "".join(first["regressors"])  # the drift regressor was needed
    assert list(refit["regressors"]) == list(first["regressors"])  # and read from the table
    np.testing.assert_allclose(refit["depth"], first["depth"], rtol=1e-6)
    np.testing.assert_allclose(refit["depth_err"], first["depth_err"], rtol=1e-6)
    for name in ("jw_spec_tspec.ecsv", "jw_spec_speclc.ecsv"):
        assert (out / name).is_file(), name


def _long_form(spectra, edges):
    """The bins of ``spectra`` as a long-form table (one row per time and bin)."""
    flux, err, _ = sum_bins(spectra["wavelength"], spectra["flux"], spectra["error"],
                            edges=edges)
    nints, nbins = flux.shape
    centres = 0.5 * (edges[1:] + edges[:-1])
    return Table({"wavelength": np.repeat(centres, nints),
                  "BJD_TDB": np.tile(spectra["bjd_tdb"], nbins),
                  "lcdata": flux.T.ravel(), "lcerr": err.T.ravel()})


def test_long_form_table_without_white_light_recovers_the_band():
    spectra, depth, star, _ = _scene(nints=400)  # 80 min: the transit and a baseline
    edges = bin_edges(5.0, 12.0, width=1.75)
    table = _long_form(spectra, edges)
    table["lcdata"][5] = np.nan  # one entry of the first bin: left out of its fit
    before = table.copy(copy_data=True)
    result = SpectralLightCurvesStep.call(table, ramp_tau=[0.01], maximum_cores="1")
    for name in table.colnames:  # the given table is not modified
        np.testing.assert_array_equal(table[name], before[name])
    assert result.meta["white_light_table"] == "fitted by spectral_light_curves"
    truth = _truth_per_bin(spectra["wavelength"], depth, star, edges)
    np.testing.assert_allclose(result["wavelength"].value, 0.5 * (edges[1:] + edges[:-1]))
    assert np.all(np.abs(result["depth"] - truth) < 3 * result["depth_err"])


@pytest.mark.parametrize("change, match", [
    (lambda t: t.remove_column("wavelength"), "no wavelength column"),
    (lambda t: t.__setitem__("BJD_TDB", np.where(np.arange(len(t)) == 3, t["BJD_TDB"][2],
                                                 t["BJD_TDB"])),
     r"times must increase within the bin at 5.5: 'BJD_TDB' of row 3 .* repeats"),
    (lambda t: t.__setitem__("lcerr", -t["lcerr"]), "zero or negative 'lcerr'"),
    (lambda t: t.rename_column("lcdata", "counts"), "no flux column found"),
])
def test_bad_long_form_tables(change, match):
    spectra, *_ = _scene(nints=50)
    table = _long_form(spectra, bin_edges(5.0, 12.0, width=1.0))
    change(table)
    with pytest.raises(ValueError, match=match) as error:
        SpectralLightCurvesStep.call(table)
    assert error.traceback[-1].path.name == "tables.py"


def _phase_curve_scene(seed=5, nints=700):
    """Spectra of a full orbit: transit, two eclipses, and day/night fluxes rising to the red.

    Drawn with the simulator's phase function and uniform-disk occultation
    (`jwst_tso_ext.simulate.phase_curve`), not the fitter's batman/planet_flux path.
    """
    from jwst_tso_ext.simulate import phase_curve as injected

    rng = np.random.default_rng(seed)
    t = 60000.0 + np.arange(nints) * CADENCE
    period = 0.08
    wave = np.linspace(4.6, 12.4, 80)
    fp_day = 1.5e-3 + 1.5e-3 * (wave - 5.0) / 7.0
    fp_night = 2e-4 + 4e-4 * (wave - 5.0) / 7.0
    relative = injected.relative_flux(t, t[nints // 2], period, 4.0, 0.2, 0.1, 10.0, fp_day,
                                      fp_night)
    star = 4e5 * np.exp(-0.5 * ((wave - 7.0) / 3.0) ** 2)
    clean = star * relative
    err = np.sqrt(clean)
    spectra = {"int_num": np.arange(1, nints + 1), "mjd_utc": t, "bjd_tdb": t,
               "wavelength": wave, "flux": clean + err * rng.standard_normal(clean.shape),
               "error": err, "dq": np.zeros(clean.shape, np.uint32), "flux_unit": None}
    return spectra, wave, star, fp_day, fp_night, period


@pytest.mark.slow
def test_phase_curve_spectrum_recovers_day_and_night_emission_per_bin(tmp_path):
    from jwst_tso_ext.detrended_white_light.plotting import plot_diagnostics
    from jwst_tso_ext.spectral_light_curves.plotting import plot_spectrum

    spectra, wave, star, fp_day, fp_night, period = _phase_curve_scene()
    table, _ = make_detrended_light_curve(spectra, astrophysical="phase_curve", ramp="none",
                                          poly_order=0, astro_params={"period": period},
                                          free_params=DEFAULT_FREE["phase_curve"])
    edges = bin_edges(5.0, 12.0, width=1.0)
    tspec, speclc = fit_spectral_light_curves(spectra, {"meta": dict(table.meta)}, edges,
                                              ramp="none", poly_order=0)
    assert tspec.meta["astrophysical"] == "phase_curve"
    assert tspec.meta["orbit"]["t0"] == table.meta["t0"]
    for name, truth in (("fp_day", fp_day), ("fp_night", fp_night)):
        expected = _truth_per_bin(wave, truth, star, edges)
        pull = (np.asarray(tspec[name]) - expected) / np.asarray(tspec[f"{name}_err"])
        assert np.all(np.abs(pull) < 3.5), (name, pull)
        assert np.all(np.asarray(tspec[f"{name}_err"]) < 2e-4)
    # the transit depth of every bin, and a red dayside brighter than the blue
    assert np.all(np.abs(tspec["depth"] - 0.01) < 3.5 * tspec["depth_err"])
    assert tspec["fp_day"][-1] > tspec["fp_day"][0] + 5 * tspec["fp_day_err"][0]
    assert np.all(np.isfinite(tspec["phase_offset_deg_err"]))
    assert len(speclc) == len(edges[:-1]) * len(spectra["int_num"])
    # the figures: white light (with its phase-curve figure beside) and spectrum
    plot_diagnostics(table, str(tmp_path / "pc_whtlt.png"))
    plot_spectrum(tspec, speclc, str(tmp_path / "pc_tspec.png"))
    for name in ("pc_whtlt.png", "pc_whtlt_phase.png", "pc_tspec.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    # the step takes a phase-curve white light (its table beside the x1dints) too
    table.meta["detrended_white_light"] = "COMPLETE"
    table.write(tmp_path / "jw_spec_whtlt.ecsv", format="ascii.ecsv")
    result = SpectralLightCurvesStep.call(_x1dints(spectra), output_dir=str(tmp_path),
                                          white_light_table=str(tmp_path / "jw_spec_whtlt.ecsv"),
                                          bin_width=1.0, save_results=True, maximum_cores="1",
                                          regressors=[])
    assert result.meta["spectral_light_curves"] == "COMPLETE"
    assert np.allclose(result["fp_day"], tspec["fp_day"], rtol=0, atol=0.1 * tspec["fp_day_err"])
    assert (tmp_path / "jw_spec_tspec.png").is_file()


def test_phase_binning_and_unwrapped_phase():
    from jwst_tso_ext.detrended_white_light.phase_curve_plotting import (
        binned_in_phase,
        unwrapped_phase,
    )

    centres, mean, error = binned_in_phase([0.0, 0.1, 0.2, 0.3, 0.9, 1.0], [1, 3, 5, 7, 2, 4], 2)
    assert np.allclose(centres, [0.25, 0.75]) and np.allclose(mean, [4.0, 3.0])
    assert np.allclose(error, [np.sqrt(20 / 3 / 4), 1.0])
    phase = unwrapped_phase([10.0, 10.5, 12.25], {"t0": 10.0, "period": 1.0})
    assert np.allclose(phase, [0.0, 0.5, 2.25])
