"""Import structure of the package, read from the source (no module is imported).

Every ``import`` statement counts, also those inside functions: a module imported
lazily still closes a circle when it runs.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jwst_tso_ext"


def _modules(root):
    """``{dotted name: path}`` of every module under the package directory ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(name, path, modules):
    """Modules named by the import statements of module ``name`` (anywhere in it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return found


def import_graph(root):
    """``{module: set of package modules it makes Python run}`` for the package at ``root``.

    Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``; a module's own parent packages
    are left out (Python starts them before the module, so they close no circle).
    """
    modules = _modules(root)
    graph = {}
    for name, path in modules.items():
        ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        targets = set()
        for target in _imported(name, path, modules):
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                prefix = ".".join(parts[:k])
                if prefix in modules and prefix not in ancestors and prefix != name:
                    targets.add(prefix)
        graph[name] = targets
    return graph


def import_circles(graph):
    """The strongly connected groups of more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(circles)


def test_no_module_imports_one_that_imports_it_back():
    circles = import_circles(import_graph(PACKAGE))
    assert circles == [], "import circles (each line: modules importing one another):\n" + (
        "\n".join(" <-> ".join(group) for group in circles)
    )


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    # as spectral_light_curves once did: a step reaching another through the facade
    package = tmp_path / "pkg"
    for folder in ("steps", "lc"):
        (package / folder).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "steps" / "__init__.py").write_text("from pkg.lc import Step\n")
    (package / "lc" / "__init__.py").write_text("from pkg.lc.step import Step\n")
    (package / "lc" / "step.py").write_text("class Step:\n    def f(self):\n"
                                            "        from pkg.steps import Step\n")
    (package / "c.py").write_text("from . import d\n")
    (package / "d.py").write_text("import pkg.c\n")
    (package / "e.py").write_text("from pkg.lc import step\n")  # no circle
    assert import_circles(import_graph(package)) == [
        ["pkg.c", "pkg.d"],
        ["pkg.lc", "pkg.lc.step", "pkg.steps"],
    ]


@pytest.mark.parametrize(
    "module", ["jwst_tso_ext.pipeline.scheduler", "jwst_tso_ext.pipeline.executor"]
)
def test_the_scheduler_imports_no_jwst(module):
    """The phase graph is tested with fake phases: it and what it imports need no jwst."""
    modules = _modules(PACKAGE)
    graph = import_graph(PACKAGE)
    reached, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    imports = {
        imported
        for name in reached
        for imported in _imported(name, modules[name], modules)
    }
    assert not {i for i in imports if i == "jwst" or i.startswith("jwst.")}, sorted(reached)
