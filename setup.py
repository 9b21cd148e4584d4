"""Package layout that ``pyproject.toml`` cannot express on its own.

The stpipe parameter files live in ``step_configs/`` at the repository root (one
copy, edited and reviewed there) and are installed with the package as
``jwst_tso_ext/step_configs/*.asdf``: the data-only package
``jwst_tso_ext.step_configs`` is mapped onto that directory. Every other setting
is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["jwst_tso_ext", "jwst_tso_ext.*"]),
        "jwst_tso_ext.step_configs",
    ],
    package_dir={"jwst_tso_ext.step_configs": "step_configs"},
)
