"""Sphinx configuration for jwst-tso-ext."""

project = "jwst-tso-ext"
author = "jwst-tso-ext developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_mock_imports = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
suppress_warnings = ["config.cache"]
