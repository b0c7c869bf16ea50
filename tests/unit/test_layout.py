"""The package's layout rule: stages import shared modules and lower stages only; cli/ is the edge over commands/."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import conductor_regen

PACKAGE = Path(conductor_regen.__file__).resolve().parent
SHARED = {"__init__", "__main__", "errors", "config", "config_sources", "progress", "atomic_io", "file_tree", "child_env",
          "ahead", "verdict_cache"}
# Rank of each stage: a module may import a stage of lower rank, never one of equal or higher rank (other than its own).
RANK: Dict[str, int] = {"spec": 1, "checkout": 1, "generator": 2, "analysis": 3, "compat": 4, "matrix": 5,
                        "commands": 6, "cli": 7}
# Module size follows cohesion, not a count: this only flags a module grown past what one reader holds in mind.
MAX_LINES = 900
MAX_TOP_LEVEL = 12
# Modules still over the budget while they are split; the list only shrinks.
OVER_BUDGET: Set[str] = set()


def _stage(module: str) -> str:
    """`conductor_regen.analysis.binding` -> `analysis`; a shared top-level module -> `shared`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "shared"


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, text: Optional[str] = None) -> Iterator[Tuple[int, str]]:
    """Every conductor_regen module `path` (or `text` as if it were there) imports, at any depth (function-level and
    TYPE_CHECKING included)."""
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8") if text is None else text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "conductor_regen":
                names = [f"{target}.{a.name}" for a in node.names]
                # `from conductor_regen.commands import tasks` names a submodule: judge by the submodule's stage.
                yield from ((node.lineno, n if _stage(n) != "shared" or target == "conductor_regen" else target)
                            for n in names)
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "conductor_regen")


def _sources() -> List[Path]:
    # The in-SDK-venv driver runs in the SDK's interpreter and never imports the package; data/ is package data
    # (the demo's example SDK is an SDK checkout, not the tool's code).
    data = PACKAGE / "data"
    return sorted(p for p in PACKAGE.rglob("*.py") if "in_sdk_venv" not in p.parts and data not in p.parents)


def test_stages_import_only_shared_modules_and_lower_stages() -> None:
    problems = []
    for path in _sources():
        own = _stage(_module_of(path))
        for line, target in _imports(path):
            other = _stage(target)
            if other == "shared" or other == own:
                continue
            if path.name == "__main__.py" and path.parent == PACKAGE and other == "cli":
                continue  # `python -m conductor_regen` is an edge, like tasks.py
            if own == "shared" or RANK[other] >= RANK[own]:
                problems.append(f"{path.relative_to(PACKAGE)}:{line}: {own} imports {target} ({other})")
    assert problems == []


def test_no_module_over_the_line_budget() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert set(long) <= OVER_BUDGET


def test_top_level_holds_only_shared_modules() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= SHARED and len(top) <= MAX_TOP_LEVEL
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(RANK)


def test_the_rule_sees_a_violation() -> None:
    # The checker itself must be able to fail: a lower stage importing commands/ is found. (Read as if it were in
    # spec/, never written there: other workers scan the package, and wheels are built from it meanwhile.)
    bad = PACKAGE / "spec" / "_layout_probe.py"
    found = [t for _, t in _imports(bad, "def f() -> None:\n    from conductor_regen.commands.assemble import assemble\n")]
    assert found == ["conductor_regen.commands.assemble.assemble"]
    assert RANK[_stage(found[0])] >= RANK["spec"]
