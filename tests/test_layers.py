"""The layer and size rules of issue #21 (benchmarks/check_layers.py): first the checker on small
made-up trees, then on the real src/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "benchmarks" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check_layers = _load_checker()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in {"bsct/__init__.py": "", **files}.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


def _messages(src: Path) -> list[str]:
    return [f"{p.path.relative_to(src).as_posix()}:{p.line}  {p.message}" for p in check_layers.check(src)]


def test_downward_sideways_and_same_package_imports_pass(tmp_path):
    src = _tree(tmp_path, {
        "bsct/runs.py": "import json\n",
        "bsct/potentials/__init__.py": "from .pair import Morse\n",
        "bsct/potentials/pair.py": "from bsct.runs import fingerprint\n",
        "bsct/scan/__init__.py": "",
        "bsct/scan/api.py": "from bsct.potentials import pair\nfrom . import geometry\n",
        "bsct/scan/geometry.py": "from bsct.scan.api import run_bsct\n",  # one package: allowed
        "bsct/study.py": "from bsct import testing\n",  # testing and study share a rank
        "bsct/testing.py": "import bsct.study\n",
        "bsct/cli.py": "import bsct.study\nfrom bsct.scan import command\n",
        "bsct/scan/command.py": "from bsct.scan.api import run_bsct\n",
    })
    assert _messages(src) == []


def test_upward_imports_are_found_at_module_function_and_type_checking_level(tmp_path):
    src = _tree(tmp_path, {
        "bsct/metrics/__init__.py": "",
        "bsct/metrics/score.py": (
            "from typing import TYPE_CHECKING\n"
            "from bsct.scan.runner import ScanCurve\n"          # line 2: module level
            "if TYPE_CHECKING:\n"
            "    from bsct.report import plots\n"                # line 4
            "def f():\n"
            "    import bsct.md.run\n"                           # line 6: lazy
            "    from ..scan import runner\n"                    # line 7: relative
            "    from bsct import __version__\n"                 # line 8: bsct itself is the cli layer
        ),
        "bsct/scan/__init__.py": "",
        "bsct/scan/runner.py": "",
        "bsct/report/__init__.py": "",
        "bsct/report/plots.py": "",
        "bsct/md/__init__.py": "",
        "bsct/md/run.py": "",
    })
    assert _messages(src) == [
        "bsct/metrics/score.py:2  metrics -> scan (bsct.scan.runner)",
        "bsct/metrics/score.py:4  metrics -> report (bsct.report.plots)",
        "bsct/metrics/score.py:6  metrics -> md (bsct.md.run)",
        "bsct/metrics/score.py:7  metrics -> scan (bsct.scan.runner)",
        "bsct/metrics/score.py:8  metrics -> cli (bsct)",
    ]


def test_a_library_module_may_not_import_its_own_packages_command(tmp_path):
    src = _tree(tmp_path, {
        "bsct/md/__init__.py": "",
        "bsct/md/run.py": "from bsct.md.command import parse\n",
        "bsct/md/command.py": "",
        "bsct/md/fit_command.py": "",
        "bsct/md/results.py": "from . import fit_command\n",
    })
    assert _messages(src) == [
        "bsct/md/results.py:1  md -> cli (bsct.md.fit_command)",
        "bsct/md/run.py:1  md -> cli (bsct.md.command)",
    ]


def test_lazy_import_tables_count_and_unknown_packages_are_named(tmp_path):
    src = _tree(tmp_path, {
        "bsct/model/__init__.py": '_EXPORTS = {"train": "bsct.train.loop"}\nVERSIONS = {"bsct": "1"}\n',
        "bsct/train/__init__.py": "",
        "bsct/train/loop.py": "",
        "bsct/extras.py": "",
    })
    assert _messages(src) == [
        "bsct/extras.py:1  extras is in no layer (add it to LAYERS in benchmarks/check_layers.py)",
        "bsct/model/__init__.py:1  model -> train (bsct.train.loop)",
    ]


def test_files_over_600_lines_are_reported(tmp_path):
    src = _tree(tmp_path, {"bsct/runs.py": "x = 1\n" * 600, "bsct/registry.py": "x = 1\n" * 601})
    assert _messages(src) == ["bsct/registry.py:601  601 lines > 600"]


def test_main_prints_each_problem_and_exits_1(tmp_path, capsys):
    src = _tree(tmp_path, {"bsct/runs.py": "from bsct.registry import resolve\n", "bsct/registry.py": ""})
    assert check_layers.main([str(src)]) == 1
    assert "runs.py:1  runs -> registry (bsct.registry)" in capsys.readouterr().out
    assert check_layers.main([str(_tree(tmp_path / "ok", {}))]) == 0


def test_src_has_no_upward_import_and_no_file_over_600_lines():
    problems = check_layers.check(ROOT / "src")
    if problems:
        pytest.fail("layer or size rule broken (benchmarks/check_layers.py):\n" + "\n".join(map(str, problems)))
