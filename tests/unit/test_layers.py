"""The import graph points down only (CONTRIBUTING.md, "The house"): every module of the
package has a layer, and no module imports one from a higher layer, at the top of the file or
inside a function. A new module must be given its layer here, so the test fails until it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "ablate"

# Lowest first. A module's layer is that of its longest matching prefix.
LAYERS: dict[str, int] = {
    # 0 plumbing: no knowledge of the domain beyond the shapes of its records
    "ablate": 0,  # the package's __init__ (version only)
    "ablate.files": 0,
    "ablate.errors": 0,
    "ablate.registry": 0,
    "ablate.layout": 0,
    "ablate.records": 0,
    "ablate.stats": 0,
    "ablate.branching": 0,  # the branching factor from samples' entropy sums (pure)
    # 1 config and plan (pure), and the pure analysis of results
    "ablate.config": 1,
    "ablate.plan": 1,
    "ablate.analysis": 1,
    "ablate.search": 1,  # a search's space and bookkeeping (pure)
    # 2 components
    "ablate.data": 2,
    "ablate.models": 2,
    "ablate.judge": 2,
    "ablate.ledger": 2,
    "ablate.tasks": 2,  # task metrics: problems, scorers, evaluation (no judge)
    "ablate.dialogues": 2,  # multi-turn evaluation: conversations, continuation, judging
    # 3 stages
    "ablate.stages": 3,
    # 4 the driver's parts: scheduling, tracking, reporting, reading results, checks
    "ablate.runner": 4,
    "ablate.tracking": 4,
    "ablate.report": 4,
    "ablate.search_report": 4,
    "ablate.search_session": 4,  # a search in a sweep folder: its trials, budget, running it
    "ablate.plots": 4,
    "ablate.objective_plots": 4,
    "ablate.results": 4,
    "ablate.answer": 4,
    "ablate.checks": 4,
    "ablate.estimate": 4,
    "ablate.progress": 4,
    "ablate.ui": 4,
    # 5 the public functions, 6 the command line
    "ablate.api": 5,
    "ablate.cli": 6,
    "ablate.__main__": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if prefixes == ["ablate"] and module != "ablate":
        raise KeyError(module)
    return LAYERS[max(prefixes, key=len)]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `ablate` module the file imports, wherever the import stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ablate")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ablate"):
            found.append((node.lineno, str(node.module)))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    missing = []
    for path in MODULES:
        try:
            layer(module_name(path))
        except KeyError:
            missing.append(module_name(path))
    assert not missing, f"give these modules a layer in LAYERS: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down_or_sideways(path: Path) -> None:
    own = layer(module_name(path))
    upward = [
        f"line {line}: {target} (layer {layer(target)})"
        for line, target in imports_of(path)
        if layer(target) > own
    ]
    assert not upward, f"{module_name(path)} (layer {own}) imports upward: {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The detector itself: a function-level import of the api from a component is caught.
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from ablate.api import run\n", encoding="utf-8")
    assert imports_of(source) == [(2, "ablate.api")]
    assert layer("ablate.api") > layer("ablate.judge.parse")
