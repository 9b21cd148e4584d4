"""Run the code blocks of a reStructuredText page in order, as a reader would.

``python tests/doc_blocks.py docs/tutorial.rst`` executes, in the current directory:

* every ``.. code-block:: python`` in one Python session (one namespace), one
  top-level statement at a time;
* every ``.. code-block:: bash`` (or ``shell``/``console``) with ``bash -e``, in the
  environment that the Python session has at that point;
* no block marked ``:class: illustrative`` (a block that only shows the form of a
  call, e.g. with a file the reader supplies).

Printed values quoted in comments are checked loosely (`check_printed`): the comment
on a ``print(...)`` line, or on comment lines right below it, must agree with what
the statement printed. Exit status 0 if every block ran and every quoted value
matched; otherwise 1, with the page line of the failure.

``--replace OLD=NEW`` (repeatable) replaces whole-word ``OLD`` by ``NEW`` in every
block first, e.g. ``--replace 120=40`` for a smaller exposure.
"""

import argparse
import ast
import contextlib
import io
import math
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Block",
    "check_printed",
    "clean_environment",
    "code_blocks",
    "commented_prints",
    "run_blocks",
]

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<language>\S+)\s*$")
_OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")
SHELLS = ("bash", "shell", "console", "sh")


@dataclass
class Block:
    """One code block of a page."""

    language: str
    code: str
    line: int  # page line of the code's first line (1-based)
    options: dict = field(default_factory=dict)

    @property
    def illustrative(self):
        return "illustrative" in self.options.get("class", "").split()


def code_blocks(text):
    """The ``code-block`` directives of a reStructuredText text, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match["indent"])
        options = {}
        while i < len(lines) and (option := _OPTION.match(lines[i])):
            options[option["name"]] = option["value"].strip()
            i += 1
        body = []
        first = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            if line.strip() and first is None:
                first = i + 1
            if first is not None:
                body.append(line)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        blocks.append(Block(match["language"], code, first or i, options))
    return blocks


def commented_prints(code):
    """``print`` statements (or loops that print) that quote their output in comments.

    Returns
    -------
    dict
        Top-level statement index -> list of comment texts (without ``#``): those on
        the statement's lines, then those on comment-only lines directly below it.
    """
    tree = ast.parse(code)
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = code.splitlines()
    found = {}
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Expr) and _is_print(node.value):
            texts = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        elif isinstance(node, ast.For) and any(_is_print(n) for n in ast.walk(node)):
            texts = []  # a loop that prints: only the comment lines below it
        else:
            continue
        n = node.end_lineno + 1
        while n <= len(lines) and lines[n - 1].strip().startswith("#"):
            texts.append(comments[n])
            n += 1
        if texts:
            found[index] = texts
    return found


def _is_print(node):
    return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"


_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_PARENTHETICAL = re.compile(r"\([^()]*[A-Za-z][^()]*\)")
_QUOTED = re.compile(r"'([^']*)'")
_WORD = re.compile(r"[A-Za-z_][\w.\-]*")


def _expected_text(comments):
    """The quoted-value part of the comments: before ': ', without remarks in ()."""
    parts = [comment.split(": ", 1)[0] for comment in comments]
    return " ".join(_PARENTHETICAL.sub(" ", part) for part in parts)


def _decimals(text):
    mantissa = re.split("[eE]", text)[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def check_printed(comments, output):
    """Problems with a statement's output against the values its comments quote.

    Loose by design: in the comment text before ``": "`` (the rest is explanation),
    without parenthesised remarks that contain words, every number must be matched
    by a number of the output (to 2 %, or to the last digit quoted; to 25 % after
    "about"), and every word that looks like a value (contains a capital, ``_`` or
    ``.``, or is quoted) must appear in the output. Lower-case words are prose.

    Parameters
    ----------
    comments : list of str
        Comment texts of the statement.
    output : str
        What the statement printed.

    Returns
    -------
    list of str
        Empty if everything matched.
    """
    expected = _expected_text(comments)
    problems = []
    if not output.strip():
        return [f"printed nothing, comment quotes {expected!r}"]
    printed = [float(m) for m in _NUMBER.findall(output)]
    approximate = "about" in expected.split()
    for match in _NUMBER.finditer(expected):
        value = float(match.group())
        tolerance = max(0.5 * 10.0 ** -_decimals(match.group()), 0.02 * abs(value))
        if approximate:
            tolerance = max(tolerance, 0.25 * abs(value))
        if not any(math.isclose(p, value, rel_tol=0, abs_tol=tolerance) for p in printed):
            problems.append(f"quoted number {match.group()} not in the output")
    words = set(_QUOTED.findall(expected))
    for word in _WORD.findall(_QUOTED.sub(" ", expected)):
        if any(c.isupper() for c in word) or "_" in word or "." in word:
            words.add(word.rstrip(".,"))
    for word in sorted(words):
        if word not in output:
            problems.append(f"quoted {word!r} not in the output")
    return problems


#: Variables of a test session's offline setup that a page must set up itself.
SESSION_VARIABLES = ("STPIPE_DISABLE_CRDS_STEPPARS",)


def clean_environment(home):
    """This process's environment without its CRDS setup, with HOME moved to ``home``.

    A page run in it must take itself offline (``jwst-tso-ext crds-cache``,
    ``offline_crds``) as a reader would; ``~`` is the temporary ``home``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRDS_") and k not in SESSION_VARIABLES
    }
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MPLBACKEND"] = "Agg"
    return env


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream = stream
        self.buffer_ = io.StringIO()

    def write(self, text):
        self.stream.write(text)
        return self.buffer_.write(text)

    def flush(self):
        self.stream.flush()


def _run_python(block, namespace, source):
    tree = ast.parse(block.code)
    ast.increment_lineno(tree, block.line - 1)
    printed = commented_prints(block.code)
    failures = []
    for index, node in enumerate(tree.body):
        module = ast.Module(body=[node], type_ignores=[])
        tee = _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            exec(compile(module, source, "exec"), namespace)  # noqa: S102
        if index in printed:
            for problem in check_printed(printed[index], tee.buffer_.getvalue()):
                failures.append(f"{source}:{node.lineno}: {problem}")
    return failures


def run_blocks(path, replacements=()):
    """Run the blocks of page ``path`` in the current directory; returns failures."""
    blocks = code_blocks(Path(path).read_text())
    namespace = {"__name__": "__main__"}
    failures = []
    for number, block in enumerate(blocks, start=1):
        for old, new in replacements:
            block.code = re.sub(rf"\b{re.escape(old)}\b", new, block.code)
        where = f"{path}:{block.line}"
        if block.illustrative:
            sys.stdout.write(f"--- block {number} ({where}): illustrative, skipped\n")
            continue
        sys.stdout.write(f"--- block {number} ({where}): {block.language}\n")
        sys.stdout.flush()
        if block.language == "python":
            failures += _run_python(block, namespace, str(path))
        elif block.language in SHELLS:
            result = subprocess.run(["bash", "-e", "-c", block.code], env=dict(os.environ))
            if result.returncode != 0:
                failures.append(f"{where}: bash block exited with {result.returncode}")
                break
        else:
            failures.append(f"{where}: no way to run a {block.language!r} block")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="reStructuredText file")
    parser.add_argument("--replace", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args(argv)
    replacements = [tuple(item.split("=", 1)) for item in args.replace]
    failures = run_blocks(args.page, replacements)
    for failure in failures:
        sys.stdout.write(f"FAILED {failure}\n")
    sys.stdout.write("all blocks ran\n" if not failures else f"{len(failures)} failure(s)\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
