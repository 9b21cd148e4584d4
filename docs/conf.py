"""Sphinx configuration for jwst-tso-ext."""

import sys
from pathlib import Path

# local extensions (the ``step-spec`` directive)
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "jwst-tso-ext"
author = "jwst-tso-ext developers"
extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "step_spec",
]

# No network: no intersphinx, no remote images.
intersphinx_mapping = {}

# numpydoc: the package's docstrings use numpy style; the Step / Pipeline classes
# have many inherited members, so only what is documented explicitly is shown.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
autodoc_inherit_docstrings = False
# Single backquotes in docstrings name Python objects; with nitpicky off an unresolved
# name (jwst, stdatamodels: no inventory offline) is rendered as code without a warning.
default_role = "py:obj"

exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
suppress_warnings = ["config.cache"]
