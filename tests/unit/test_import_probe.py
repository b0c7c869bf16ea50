"""The import probe: the program the import checks run in a fresh interpreter (often the SDK's, without this tool).

Real child interpreters on small trees; its JSON line is asserted as the checks read it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

from conductor_regen.generator import import_probe
from conductor_regen.generator.verify import PROBE, import_all

BAD_SYNTAX = "def broken(:\n    pass\n"


def _probe(tree: Path, *args: str, flags: Sequence[str] = (), module: bool = False,
           stdin: Optional[str] = None, cwd: Optional[Path] = None) -> "subprocess.CompletedProcess[str]":
    """Run the probe by its path (as the checks do), or with `-m`, with `tree` alone on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    target = ["-m", "conductor_regen.generator.import_probe"] if module else [str(PROBE)]
    return subprocess.run([sys.executable, *flags, *target, *args], env=env, input=stdin or "", cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _result(done: "subprocess.CompletedProcess[str]") -> Dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A package with a good module, one raising ImportError, one that does not compile, and a subpackage."""
    return _write(tmp_path / "tree", {
        "demo_pkg/__init__.py": "",
        "demo_pkg/good.py": "X = 1\n",
        "demo_pkg/missing.py": "raise ImportError('cannot import name Gone from demo_pkg\\nsecond line')\n",
        "demo_pkg/syntax.py": BAD_SYNTAX,
        "demo_pkg/sub/__init__.py": "",
        "demo_pkg/sub/leaf.py": "from demo_pkg.good import X\n",
    })


def test_packages_imports_every_module_and_reports_each_failure(tree: Path) -> None:
    data = _result(_probe(tree, "packages", "demo_pkg"))
    failures = {m: e for m, e in data["failures"]}
    assert set(data) == {"count", "failures"}
    assert data["count"] == 4  # the package, good, sub, sub.leaf
    assert sorted(failures) == ["demo_pkg.missing", "demo_pkg.syntax"]
    assert failures["demo_pkg.missing"] == "ImportError: cannot import name Gone from demo_pkg"  # its first line
    assert failures["demo_pkg.syntax"].startswith("SyntaxError: ")


def test_a_package_that_fails_to_import_is_one_failure(tmp_path: Path) -> None:
    tree = _write(tmp_path, {"broken/__init__.py": "raise RuntimeError()\n", "broken/child.py": ""})
    data = _result(_probe(tree, "packages", "broken", "not_there"))
    assert data == {"count": 0, "failures": [["broken", "RuntimeError"],
                                             ["not_there", "ModuleNotFoundError: No module named 'not_there'"]]}


def test_modules_imports_only_the_named_ones_with_the_package_stubbed(tmp_path: Path) -> None:
    tree = _write(tmp_path, {
        "gen/__init__.py": "raise RuntimeError('the package __init__ must not run')\n",
        "gen/api/__init__.py": "raise RuntimeError('nor api/__init__')\n",
        "gen/models/__init__.py": "raise RuntimeError('nor models/__init__')\n",
        "gen/models/pet.py": "class Pet:\n    pass\n",
        "gen/api/pet_api.py": "from gen.models.pet import Pet\n",
        "gen/api/bad_api.py": "import no_such_dependency_here\n",
        "gen/models/bad.py": BAD_SYNTAX,
    })
    pkg_dir = str(tree / "gen")
    data = _result(_probe(tree, "modules", "gen", pkg_dir, "gen.api.pet_api", "gen.api.bad_api", "gen.models.bad"))
    assert data["count"] == 3
    assert data["failures"][0] == ["gen.api.bad_api", "ModuleNotFoundError: No module named 'no_such_dependency_here'"]
    assert [m for m, _ in data["failures"]] == ["gen.api.bad_api", "gen.models.bad"]
    assert data["failures"][1][1].startswith("SyntaxError: ")


def test_a_tree_module_named_like_a_sibling_of_the_probe_comes_from_the_tree(tmp_path: Path) -> None:
    """Run by path, the probe's folder (generator/: naming.py, run.py, ...) is not on sys.path ahead of the tree."""
    siblings = {p.stem for p in PROBE.parent.glob("*.py")}
    assert {"naming", "run", "verify"} <= siblings  # the premise: these names would shadow the tree's
    tree = _write(tmp_path, {
        "naming/__init__.py": "import sys\nORIGIN = 'tree'\nFIRST = sys.path[0]\n",
        "naming/check.py": "import naming\nassert naming.ORIGIN == 'tree', naming.__file__\n",
        "run.py": "raise ImportError('the tree run.py')\n",
    })
    data = _result(_probe(tree, "packages", "naming", "run"))
    assert data == {"count": 2, "failures": [["run", "ImportError: the tree run.py"]]}
    # The same through the check the tool runs, and the tree is first on sys.path (the probe's folder is gone).
    (tree / "naming" / "first.py").write_text(
        f"import sys\nassert sys.path[0] == {str(tree)!r}, sys.path[:3]\n"
        f"assert {str(PROBE.parent)!r} not in sys.path, sys.path\n")
    check = import_all([tree], ["naming"])
    assert (check.modules, check.failures) == (3, ())


def test_it_needs_no_site_packages_and_never_imports_the_tool(tmp_path: Path) -> None:
    """As in the SDK's virtualenv, where conductor_regen is not installed (-S: no site-packages at all)."""
    tree = _write(tmp_path, {"spy/__init__.py": "import sys\nTOOL = sorted(m for m in sys.modules "
                                                "if m.split('.')[0] == 'conductor_regen')\n",
                             "spy/report.py": "import spy\nassert spy.TOOL == [], spy.TOOL\n"})
    assert _result(_probe(tree, "packages", "spy", flags=["-S"])) == {"count": 2, "failures": []}


def test_it_runs_as_a_module_too(tree: Path) -> None:
    data = _result(_probe(tree, "packages", "demo_pkg", module=True))
    assert data["count"] == 4 and len(data["failures"]) == 2


def test_wait_without_a_go_line_imports_nothing(tree: Path) -> None:
    done = _probe(tree, "packages", "--warm", "json,no_such_warm_module", "--wait", "demo_pkg", stdin="")
    assert (done.returncode, done.stdout) == (0, "")
    assert _result(_probe(tree, "packages", "--warm", "no_such_warm_module", "--wait", "demo_pkg",
                          stdin="go\n"))["count"] == 4  # a warm module that fails is not a failure


def test_bad_arguments_end_without_a_json_line(tree: Path) -> None:
    done = _probe(tree, "everything", "demo_pkg")
    assert done.returncode == 2 and done.stdout == "" and "invalid choice" in done.stderr


@pytest.mark.parametrize("exc, text", [(ValueError(), "ValueError"), (ValueError("a\nb"), "ValueError: a"),
                                       (KeyError("k"), "KeyError: 'k'"), (OSError("\nlater"), "OSError")])
def test_describe_gives_the_type_and_first_line(exc: BaseException, text: str) -> None:
    assert import_probe.describe(exc) == text


def _imports(tree: ast.Module) -> List[str]:
    names: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative import: the probe runs as a script"
            names.append(node.module or "")
    return names


def test_the_probe_is_standard_library_python_3_9() -> None:
    """It runs in the SDK's interpreter: Python 3.9 syntax, stdlib imports only, annotations never evaluated."""
    source = PROBE.read_text(encoding="utf-8")
    module = ast.parse(source, feature_version=(3, 9))  # a match statement or other newer syntax fails here
    imported = _imports(module)
    assert "__future__" in imported and "from __future__ import annotations" in source
    assert {n.split(".")[0] for n in imported} <= set(sys.stdlib_module_names)
    assert PROBE == Path(import_probe.__file__).resolve() and PROBE.parent.name == "generator"
