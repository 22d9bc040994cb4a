"""Layer and size check of src/bsct (issue #21, "Done when"): no import runs from a lower layer up to
a higher one and no .py file under src/ is over 600 lines.

Layers, bottom -> top (README, "Where things are"):

    runs < potentials < model < data < registry < metrics < report < scan < fsd < md < train
         < testing, study, validation < cli

A module's layer is its top-level name under ``bsct`` (``bsct.scan.api`` -> scan); ``cli.py``,
``command.py``, ``*_command.py``, ``__main__.py`` and ``bsct/__init__.py`` are the cli layer wherever they live, so a
library module that imports a command module (or ``bsct`` itself, which pulls in everything) is
reported. Imports between two modules of one top-level package are allowed (apart from the cli rule),
and so are imports between two packages of the same rank (testing, study). Every import counts:
module level, inside functions, under ``if TYPE_CHECKING:``, and a string that is exactly the
dotted name of a bsct module (the lazy ``importlib.import_module(...)`` tables of the package
``__init__`` files and of cli.py). Parsing only (``ast``), nothing is
imported, so it checks any revision of the tree.

    python benchmarks/check_layers.py [SRC_DIR]        (default: src/ of this repository)

prints each problem as ``file:line  importer-layer -> imported-layer (module)`` or
``file:lines  N lines > 600`` and exits 1 if there is any; importable (``check(src_dir)``) for
tests/test_layers.py.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("runs",), ("potentials",), ("model",), ("data",), ("registry",), ("metrics",), ("report",),
    ("scan",), ("fsd",), ("md",), ("train",), ("testing", "study", "validation"), ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MAX_LINES = 600
PACKAGE = "bsct"


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{_shown(self.path)}:{self.line}  {self.message}"


def _shown(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def module_name(path: Path, src_dir: Path) -> str:
    """Dotted name of a source file: ``src/bsct/scan/api.py`` -> ``bsct.scan.api``,
    ``src/bsct/scan/__init__.py`` -> ``bsct.scan``."""
    parts = list(path.relative_to(src_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_cli_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return dotted == PACKAGE or last in ("cli", "command", "__main__") or last.endswith("_command")


def layer(dotted: str) -> str:
    """Layer name of a module under ``bsct`` (``cli`` for command modules and ``bsct`` itself)."""
    if is_cli_module(dotted):
        return "cli"
    return dotted.split(".")[1]


def _modules(src_dir: Path) -> set[str]:
    return {module_name(p, src_dir) for p in (src_dir / PACKAGE).rglob("*.py")}


def _imported(node: ast.AST, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """The bsct modules an ``import``/``from ... import`` node names. ``from A import B`` is module
    ``A.B`` when that is a module of the tree, else ``A``; relative imports are resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != PACKAGE:
        return []
    targets = []
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        targets.append(candidate if candidate in known else source)
    return list(dict.fromkeys(targets))


def import_problems(path: Path, src_dir: Path, known: set[str]) -> list[Problem]:
    importer = module_name(path, src_dir)
    own = layer(importer)
    if own not in RANK:
        return [Problem(path, 1, f"{own} is in no layer (add it to LAYERS in benchmarks/check_layers.py)")]
    problems = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            targets = _imported(node, importer, path.name == "__init__.py", known)
        elif isinstance(node, ast.Constant) and node.value in known and node.value != PACKAGE:
            targets = [node.value]  # a lazy import by name: importlib.import_module("bsct.x.y")
        else:
            continue
        for target in targets:
            theirs = layer(target)
            same_package = importer.split(".")[:2] == target.split(".")[:2] and theirs != "cli"
            if same_package:
                continue
            if theirs not in RANK:
                problems.append(Problem(path, node.lineno, f"{own} -> {theirs}, in no layer ({target})"))
            elif RANK[theirs] > RANK[own]:
                problems.append(Problem(path, node.lineno, f"{own} -> {theirs} ({target})"))
    return sorted(set(problems), key=lambda p: (p.line, p.message))


def size_problems(path: Path, max_lines: int = MAX_LINES) -> list[Problem]:
    n = len(path.read_text().splitlines())
    return [Problem(path, n, f"{n} lines > {max_lines}")] if n > max_lines else []


def check(src_dir: Path | str) -> list[Problem]:
    """Every upward import under ``src_dir/bsct`` and every ``.py`` under ``src_dir`` over 600 lines."""
    src_dir = Path(src_dir)
    known = _modules(src_dir)
    problems = []
    for path in sorted(src_dir.rglob("*.py")):
        if path.is_relative_to(src_dir / PACKAGE):
            problems += import_problems(path, src_dir, known)
        problems += size_problems(path)
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "src"
    problems = check(src_dir)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {src_dir}" if problems else f"layers and sizes ok in {src_dir}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
