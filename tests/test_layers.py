"""The package's folders are its layers, and imports only point down.

    core  <  train, eval  <  studies  <  book  <  cli

``core`` (the DDPM maths and networks) imports torch (and tqdm) only; ``data`` and ``io`` are
utilities that every layer above ``core`` may use. The checker parses every module's imports
(absolute and relative, at any depth in the module, so lazy imports count too).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ddpm_mnist"

ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "io": {"io"},
    "data": {"core", "io"},
    "train": {"core", "train", "io", "data"},
    "eval": {"core", "eval", "io", "data"},
    "studies": {"core", "train", "eval", "studies", "io", "data"},
    "book": {"core", "train", "eval", "studies", "book", "io", "data"},
    "cli": {"core", "train", "eval", "studies", "book", "io", "data", "cli"},
    "__init__": set(),
}
"""What each layer (a folder, or a top-level module) may import from the package; besides, any
module may read the package's ``__version__`` (its ``__init__`` holds nothing else)."""

CORE_THIRD_PARTY = {"torch", "tqdm"}
"""Outside the standard library, what ``core`` may import."""


def layer_of(module: str) -> str:
    """``ddpm_mnist.core.sampling`` -> ``core``; ``ddpm_mnist.cli`` -> ``cli``; ``ddpm_mnist`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path, root: Path) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import in the module at ``path`` of the
    package rooted at ``root`` (relative imports resolved; ``from pkg import mod`` gives ``pkg.mod``)."""
    package_parts = list(path.relative_to(root.parent).parent.parts)  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from ddpm_mnist import book` imports the subpackage ddpm_mnist.book
            names = [a.name for a in node.names]
            if target == root.name:  # a subpackage or module of the root, else a name of its __init__ (the version)
                out += [(f"{target}.{n}" if (root / n).is_dir() or (root / f"{n}.py").exists() else target, node.lineno)
                        for n in names]
            else:
                out.append((target, node.lineno))
    return out


def layer_violations(root: Path = PACKAGE) -> list[str]:
    """Every import of the package at ``root`` that points up or sideways, one line each."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__") if path.name == "__init__.py" else ".".join(rel.parts)
        mine = layer_of(module)
        for target, line in imports_of(path, root):
            top = target.split(".")[0]
            where = f"{path.relative_to(root.parent)}:{line}"
            if top == root.name:
                theirs = layer_of(target)
                if theirs != "__init__" and theirs not in ALLOWED[mine]:
                    bad.append(f"{where}: {mine} imports {target} ({theirs})")
            elif mine == "core" and top not in CORE_THIRD_PARTY and top not in sys.stdlib_module_names and top != "__future__":
                bad.append(f"{where}: core imports {target}, outside torch and the standard library")
    return bad


def test_every_import_points_down():
    assert layer_violations() == []


def test_every_module_belongs_to_a_layer():
    layers = {layer_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in PACKAGE.rglob("*.py")}
    assert layers <= set(ALLOWED)
    assert {"core", "train", "eval", "studies", "book"} <= {p.name for p in PACKAGE.iterdir() if p.is_dir()}


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ddpm_mnist"
    for name, text in {"__init__.py": "", "data.py": "", "core/__init__.py": "", "studies/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("source", [
    "from ..studies import runner\n",
    "from ddpm_mnist.studies.runner import run\n",
    "def f():\n    from ..studies import runner\n",  # a lazy import counts too
    "from .. import data\n",
    "import pandas\n",
])
def test_the_checker_catches_a_core_module_importing_upwards(tmp_path, source):
    root = _fake_package(tmp_path, {"core/schedules.py": source, "studies/runner.py": "run = 1\n"})
    found = layer_violations(root)
    assert len(found) == 1 and found[0].startswith("ddpm_mnist/core/schedules.py")


def test_the_checker_allows_what_points_down(tmp_path):
    root = _fake_package(tmp_path, {"core/schedules.py": "import math\nimport torch\nfrom . import diffusion\n",
                                    "core/diffusion.py": "", "studies/runner.py": "from ..core import schedules\nimport pandas\n"})
    assert layer_violations(root) == []
