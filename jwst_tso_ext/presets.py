"""The stpipe parameter files (presets) installed with the package.

The presets are kept in ``step_configs/`` at the repository root and installed as
the data-only package ``jwst_tso_ext.step_configs`` (``setup.py`` maps one onto the
other), so a clone, an editable install and a wheel all read the same files.
``strun`` takes a preset by its path, which `preset_path` (and
``jwst-tso-ext configs``) gives.
"""

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["Preset", "copy_presets", "list_presets", "preset_directory", "preset_path"]

#: Package that holds the installed parameter files.
PRESET_PACKAGE = "jwst_tso_ext.step_configs"

_PACKAGE_ROOT = Path(__file__).resolve().parent
#: Where the files are: installed from a wheel (``jwst_tso_ext/step_configs``), or in
#: the source tree of a clone or an editable install (``<repository>/step_configs``;
#: setuptools' editable finder does not resolve a data-only sub-package).
_CANDIDATES = (_PACKAGE_ROOT / "step_configs", _PACKAGE_ROOT.parent / "step_configs")


@dataclass(frozen=True)
class Preset:
    """One installed parameter file.

    Attributes
    ----------
    name : str
        File name without ``.asdf`` (e.g. ``lrs_tso_mirisim``).
    path : pathlib.Path
        Installed file.
    class_name : str
        The step or pipeline class the file configures.
    description : str
        What the preset is for (the file's ``meta.description``; for a file without
        one, a description of its content).
    """

    name: str
    path: Path
    class_name: str
    description: str


def preset_directory():
    """Directory holding the installed parameter files.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the package was installed without its parameter files.
    """
    for candidate in _CANDIDATES:
        if any(candidate.glob("*.asdf")):
            return candidate
    raise FileNotFoundError(
        f"no parameter files installed with jwst_tso_ext ({PRESET_PACKAGE} is missing or "
        "empty): reinstall the package"
    )


def list_presets():
    """Every installed parameter file, sorted by name.

    Returns
    -------
    list of Preset
    """
    return [_read(path) for path in sorted(preset_directory().glob("*.asdf"))]


def preset_path(name):
    """Path of the installed preset ``name`` (with or without ``.asdf``).

    Parameters
    ----------
    name : str
        Preset name as `list_presets` gives it, e.g. ``lrs_tso_mirisim``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If no installed preset has that name (the message lists those that exist).
    """
    stem = name[: -len(".asdf")] if name.endswith(".asdf") else name
    path = preset_directory() / f"{stem}.asdf"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(preset_directory().glob("*.asdf")))
        raise FileNotFoundError(f"no preset named {name!r}; installed presets: {known}")
    return path


def copy_presets(destination, names=None, overwrite=False):
    """Copy installed presets to ``destination`` (created if missing) for editing.

    Parameters
    ----------
    destination : path-like
        Target directory.
    names : list of str, optional
        Presets to copy (default all).
    overwrite : bool, optional
        Replace files that exist; otherwise an existing target raises before anything
        is copied.

    Returns
    -------
    list of pathlib.Path
        The copies.

    Raises
    ------
    FileExistsError
        If a target exists and ``overwrite`` is False.
    FileNotFoundError
        If a named preset does not exist.
    """
    destination = Path(destination)
    sources = (
        [preset.path for preset in list_presets()]
        if names is None
        else [preset_path(name) for name in names]
    )
    targets = [destination / source.name for source in sources]
    existing = [str(target) for target in targets if target.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"refusing to overwrite existing files (use --overwrite): {', '.join(existing)}"
        )
    destination.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, targets, strict=True):
        shutil.copyfile(source, target)
        log.debug("copied %s -> %s", source, target)
    return targets


def _read(path):
    """`Preset` of one parameter file, read with asdf (no stpipe classes imported)."""
    import asdf

    with asdf.open(path, lazy_load=False, memmap=False) as af:
        tree = af.tree
        class_name = str(tree.get("class", "?"))
        meta = tree.get("meta") or {}
        description = meta.get("description")
        steps = tree.get("steps") or []
        parameters = tree.get("parameters") or {}
    if not description or description == "<SPECIFY>":
        short = class_name.rsplit(".", 1)[-1]
        if steps and all("skip" in (step.get("parameters") or {}) for step in steps):
            description = (
                f"every parameter of {short} and of its {len(steps)} steps, as "
                "--save-parameters writes them: a complete file to start your own from"
            )
        else:
            count = len(parameters) + sum(len(s.get("parameters") or {}) for s in steps)
            description = f"{count} parameters of {short}"
    return Preset(path.stem, path, class_name, " ".join(str(description).split()))
