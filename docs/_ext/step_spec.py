"""Sphinx directives that document stpipe parameters from the code and the presets.

``step-spec``
-------------

``.. step-spec:: jwst_tso_ext.steps.WavelengthDriftStep`` renders a table of the
parameters the class declares (name, type, default, help comment), read from the
class itself through stpipe, so the documentation cannot drift from the code.
The generic stpipe parameters (``output_dir``, ``skip``, ``save_results`` ...) are
left out unless the class changes their default (e.g. ``suffix``), and so are the
``override_<reftype>`` options.

Option ``:exclude-class: dotted.ClassName`` also leaves out the parameters that
this (base) class declares, e.g. those a step inherits from a jwst step.

``parameter-file``
------------------
``.. parameter-file:: step_configs/lrs_tso_mirisim.asdf`` (path relative to the
repository root) renders the class, description and every parameter an stpipe
ASDF parameter file sets, read from the file itself.
"""

import importlib
from pathlib import Path

from configobj import validate
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

_VALIDATOR = validate.Validator()


def _import(dotted):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _keys(cls):
    spec = cls.load_spec_file()
    return spec, [key for key in spec.scalars]


def _describe(check):
    """(type, default) texts for one configobj check string."""
    kind, args, kwargs, default = _VALIDATOR._parse_with_caching(check)
    if kind == "option":
        kind = "one of " + ", ".join(repr(a) if a != "None" else "None" for a in args)
    elif kwargs:
        kind += " (" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    if isinstance(default, list):
        default = ",".join(default) if default else "(empty)"
    elif default is None:
        default = "(required)"
    elif kind.startswith("one of") or kind == "string":
        default = default if default == "None" else repr(default)
    return kind, str(default)


class StepSpecDirective(SphinxDirective):
    """Table of the parameters declared in a Step's ``spec``."""

    required_arguments = 1
    option_spec = {"exclude-class": directives.unchanged}

    def run(self):
        cls = _import(self.arguments[0])
        spec, keys = _keys(cls)
        from stpipe import Pipeline, Step

        try:  # jwst's base classes set some generic defaults (e.g. output_ext)
            from jwst.stpipe import Pipeline as JwstPipeline
            from jwst.stpipe import Step as JwstStep
        except ImportError:
            JwstPipeline, JwstStep = Pipeline, Step
        if issubclass(cls, Pipeline):
            base = JwstPipeline if issubclass(cls, JwstPipeline) else Pipeline
        else:
            base = JwstStep if issubclass(cls, JwstStep) else Step
        # generic parameters are left out unless the class changes their default
        base_spec = base.load_spec_file()
        excluded = {
            key
            for key in base_spec.scalars
            if key not in spec or _describe(base_spec[key]) == _describe(spec[key])
        }
        if "exclude-class" in self.options:
            excluded |= set(_keys(_import(self.options["exclude-class"].strip()))[1])
        rows = []
        for key in keys:
            if key in excluded or key.startswith("override_"):
                continue
            kind, default = _describe(spec[key])
            comment = (spec.inline_comments.get(key) or "").lstrip("#").strip()
            rows.append((key, kind, default, comment))

        table = nodes.table(classes=["longtable"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (18, 22, 14, 46):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row(("Parameter", "Type", "Default", "Meaning"))
        body = nodes.tbody()
        group += body
        for row in rows:
            body += self._row(row, literal_columns=(0, 2))
        return [table]

    @staticmethod
    def _row(cells, literal_columns=()):
        row = nodes.row()
        for index, text in enumerate(cells):
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            if index in literal_columns:
                paragraph += nodes.literal(text=text)
            else:
                paragraph += nodes.Text(text)
            entry += paragraph
            row += entry
        return row


class ParameterFileDirective(SphinxDirective):
    """Description and settings of an stpipe ASDF parameter file."""

    required_arguments = 1

    def run(self):
        import asdf

        path = Path(self.env.srcdir).parent / self.arguments[0]
        self.env.note_dependency(str(path))
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = af.tree
            klass = str(tree.get("class", ""))
            description = str((tree.get("meta") or {}).get("description", ""))
            top = tree.get("parameters", {})
            rows = [("(top level)", key, value) for key, value in top.items()]
            for step in tree.get("steps", []):
                for key, value in step.get("parameters", {}).items():
                    rows.append((step["name"], key, value))
        intro = nodes.paragraph()
        intro += nodes.Text("Class ")
        intro += nodes.literal(text=klass)
        intro += nodes.Text(". " + description)
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 30, 40):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += StepSpecDirective._row(("Step", "Parameter", "Value"))
        body = nodes.tbody()
        group += body
        for step, key, value in rows:
            body += StepSpecDirective._row((step, key, repr(value)), literal_columns=(0, 1, 2))
        return [intro, table]


def setup(app):
    """Register the directives."""
    app.add_directive("step-spec", StepSpecDirective)
    app.add_directive("parameter-file", ParameterFileDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
