"""Pipelines of jwst-tso-ext (listed in `jwst_tso_ext.integration`).

The pipeline classes are imported when first used: ``jwst_tso_ext.pipeline.X`` works
as always, but importing `jwst_tso_ext.pipeline.lrs_tso` (as every Dask worker does to
run a segment) no longer imports ``jwst.pipeline``, whose package imports every jwst
pipeline (about 2.5 s).
"""

import importlib

#: Public class -> the module that defines it.
_MODULES = {
    "DetrendedTso3Pipeline": "jwst_tso_ext.pipeline.detrended_tso3",
    "LrsTsoPipeline": "jwst_tso_ext.pipeline.lrs_tso",
    "TsoDetector1Pipeline": "jwst_tso_ext.pipeline.tso_detector1",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_MODULES])
