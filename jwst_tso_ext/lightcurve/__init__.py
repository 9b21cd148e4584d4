"""
Light-curve analysis shared by the white-light and spectroscopic steps (plain numpy).

* :mod:`~jwst_tso_ext.lightcurve.binning`: spectra from an x1dints product, sums over
  one common set of good wavelength bins, gap filling;
* :mod:`~jwst_tso_ext.lightcurve.clipping`: running median and sigma clipping in time;
* :mod:`~jwst_tso_ext.lightcurve.transit_search`: the event search;
* :mod:`~jwst_tso_ext.lightcurve.orbit`: transit shape <-> orbit;
* :mod:`~jwst_tso_ext.lightcurve.model`: the systematics x astrophysics model and
  its least-squares (and emcee) fit;
* :mod:`~jwst_tso_ext.lightcurve.fit_selection`: the fit that finds its start and
  chooses its model;
* :mod:`~jwst_tso_ext.lightcurve.noise`: rms, expected noise, beta, BIC.
"""
