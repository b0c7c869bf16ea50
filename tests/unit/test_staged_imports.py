"""The import gate's imports run from staging before the swap: they see the new tree, never the live one.

Real trees and real child interpreters (this tool's Python); no generator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support.fake_sdk import PACKAGE, make_sdk, target_of

from conductor_regen.ahead import Ahead
from conductor_regen.commands.gate import Environment, ImportGate, StagedImports, third_party_imports, tree_stamp
from conductor_regen.errors import VerificationError
from conductor_regen.generator.verify import ImportCheck, StagedFolders, import_all
from conductor_regen.checkout.target import SdkTarget

PKG = "conductor.asyncio_client"


def _staging(root: Path, files: Dict[str, str]) -> Path:
    """A staging folder holding a copy of each live managed folder, with `files` written over it."""
    return _staging_into(root, root.parent / "staging", files)


def _staging_into(root: Path, staging: Path, files: Dict[str, str]) -> Path:
    for name in ("http", "adapters", "orkes"):
        shutil.copytree(root / PACKAGE / name, staging / name, symlinks=True)
    for rel, text in files.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_text(text)
    return staging


def _folders(target: SdkTarget, staging: Path) -> StagedFolders:
    return StagedFolders(PKG, staging, ("adapters", "http", "orkes"), target.package_dir)


def _live_env() -> Environment:
    return None, None  # no SDK environment: this tool's interpreter, as when one cannot be built


def test_the_staged_check_imports_the_staged_files_and_names_the_live_paths(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    staging = _staging(root, {
        "orkes/broken.py": "open(__file__ + '.missing')\n",  # the error message carries the file's path
        "http/api/workflow_resource_api.py": "class WorkflowResourceApi:\n    staged = True\n",
    })
    live = import_all([root / "src"], [PKG])
    staged = import_all([root / "src"], [PKG], staged=_folders(target, staging))

    assert live.failures == ()
    [(module, error)] = staged.failures
    assert module == f"{PKG}.orkes.broken"
    assert str(target.package_dir / "orkes" / "broken.py") in error and str(staging) not in error, error
    # The same modules import (the failing new one is not counted): the walk covered the staged folders.
    assert staged.modules == live.modules
    # Nothing was written to staging (no bytecode), so the swap moves exactly what was checked.
    assert not list(staging.rglob("__pycache__"))


def test_a_module_only_the_live_tree_has_is_not_imported_from_staging(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    staging = _staging(root, {})
    (staging / "orkes" / "orkes_clients.py").unlink()  # the new tree drops it
    (root / PACKAGE / "orkes" / "orkes_clients.py").write_text("raise RuntimeError('live only')\n")

    check = import_all([root / "src"], [PKG], staged=_folders(target, staging))

    assert check.failures == ()
    assert all("orkes_clients" not in m for m, _ in check.failures)


def _gate_after_staged_imports(tmp_path: Path, files: Dict[str, str]) -> Tuple[Path, ImportGate, str]:
    """A fake SDK, its staging tree with `files`, and a gate that took the staged imports (and its step line)."""
    root = make_sdk(tmp_path)
    target = target_of(root)
    imports = StagedImports(target, _staging(root, files), _live_env)
    imports.ready()
    gate = ImportGate(target)
    return root, gate, gate.take_staged(imports, imports.run())


def test_the_gate_takes_the_staged_verdict_and_a_failure_still_fails(tmp_path: Path) -> None:
    root, gate, detail = _gate_after_staged_imports(tmp_path, {"adapters/bad.py": "import no_such_package_here\n"})

    assert gate.checked is not None and [m for m, _ in gate.checked.failures] == [f"{PKG}.adapters.bad"]
    assert gate.checked.modules > 1 and detail == f"{gate.checked.modules} module(s) imported from staging, 1 failed"
    gate.before_swap()  # the live tree imports: nothing to excuse
    assert gate.baseline == ()
    with pytest.raises(VerificationError, match="adapters.bad"):
        gate.verdict()
    # Excused only when the live tree failed the same way before the swap.
    (root / PACKAGE / "adapters" / "bad.py").write_text("import no_such_package_here\n")
    gate.before_swap()
    assert gate.verdict() == [f"{PKG}.adapters.bad did not import before the swap either "
                              "(ModuleNotFoundError: No module named 'no_such_package_here')"]


def test_a_clean_staged_check_needs_no_baseline_and_is_the_verdict(tmp_path: Path) -> None:
    root, gate, _ = _gate_after_staged_imports(tmp_path, {})
    (root / PACKAGE / "orkes" / "broken.py").write_text("raise ImportError('live only')\n")
    gate.before_swap()
    assert gate.baseline == ()  # not looked up: nothing the staged tree did needs excusing
    assert gate.verdict() == []  # the staged check's, not an import of the live tree (which now fails)


def test_a_write_to_staging_after_the_check_started_discards_its_result(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    staging = _staging(root, {})
    imports = StagedImports(target, staging, _live_env)
    imports.ready()
    time.sleep(0.01)  # a later mtime even on coarse clocks
    edited = staging / "orkes" / "orkes_clients.py"
    edited.write_text(edited.read_text() + "# rewritten by a codemod\n")

    assert imports.unchanged(imports.run()) is None  # the gate then imports after the swap, as it always did


def test_cancel_stops_a_check_still_running(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    staging = _staging(root, {"orkes/slow.py": "import time\ntime.sleep(60)\n"})
    imports = StagedImports(target, staging, _live_env)
    ahead = Ahead()
    ahead.start("import new tree", imports.run, stop=imports.stop)
    imports.ready()
    deadline = time.monotonic() + 60
    while not imports._procs and time.monotonic() < deadline:  # noqa: SLF001 - wait until it has started
        time.sleep(0.05)
    ahead.cancel_all()  # waits for what it stops
    assert all(p.poll() is not None for p in imports._procs)  # noqa: SLF001


def test_tree_stamp_sees_new_files_and_rewrites(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.py").write_text("x = 1\n")
    first = tree_stamp(tmp_path)
    assert first == tree_stamp(tmp_path)
    (tmp_path / "b.py").write_text("")
    second = tree_stamp(tmp_path)
    assert second != first
    os.utime(tmp_path / "sub" / "a.py", ns=(1, 1))  # same bytes, rewritten
    assert tree_stamp(tmp_path) != second


def test_the_interpreter_starts_early_but_imports_the_tree_only_once_it_is_ready(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    (root / PACKAGE / "http" / "rest.py").write_text("import json\nimport shlex\n")  # warmed before the go
    staging = root.parent / "staging"
    staging.mkdir()
    imports = StagedImports(target, staging, _live_env)
    with Ahead() as ahead:
        ahead.start("import new tree", imports.run, stop=imports.stop)  # before the staged tree exists, as in a run
        deadline = time.monotonic() + 60
        while not imports._procs and time.monotonic() < deadline:  # noqa: SLF001 - the child is up (and waiting)
            time.sleep(0.05)
        _staging_into(root, staging, {"orkes/late.py": "raise ImportError('written after the start')\n"})
        imports.ready()
        checked = imports.unchanged(ahead.result("import new tree"))

    assert checked is not None and [m for m, _ in checked.failures] == [f"{PKG}.orkes.late"]


def test_warm_imports_are_third_party_only(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    (root / PACKAGE / "http" / "rest.py").write_text(
        "from __future__ import annotations\nimport json\nimport shlex as s\nfrom conductor import x\n"
        "import sibling\nif True:\n    import indented\n")
    (root / "src" / "sibling").mkdir()  # a package of the checkout: it might import the live client

    assert third_party_imports(target) == ("json", "shlex")


def test_a_clean_check_of_the_same_files_in_the_same_environment_is_not_imported_again(tmp_path: Path) -> None:
    """The verdict cache: by the bytes of `src/` and staging and by the interpreter; a failure is always rechecked."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv builds the virtualenvs this test imports in (a dev dependency)")
    pythons = []
    for name in ("venv", "other-venv"):
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(tmp_path / name)], check=True,
                       capture_output=True)
        pythons.append(tmp_path / name / "bin" / "python")
    verdicts = tmp_path / "verdicts"

    def check(name: str, files: Dict[str, str], python: Path = pythons[0]) -> Tuple[ImportCheck, StagedImports]:
        root = make_sdk(tmp_path / name)
        (root / PACKAGE / ".regen.lock").write_text(f"pid of {name}\n")  # a run's own file: not in the key
        imports = StagedImports(target_of(root), _staging(root, files), lambda: (python, None), verdicts=verdicts)
        imports.ready()
        return imports.run(), imports

    first, _ = check("first", {})
    assert first.modules > 1 and first.failures == () and not first.remembered
    # Another checkout with the same files: taken from the cache, its interpreter stopped before the tree.
    again, imports = check("again", {})
    assert (again.modules, again.failures, again.remembered) == (first.modules, (), True)
    assert [p.returncode for p in imports._procs] != [0]  # noqa: SLF001 - stopped, not run to the end
    detail = ImportGate(imports._target).take_staged(imports, again)  # noqa: SLF001
    assert detail == f"{first.modules} module(s) imported from staging, 0 failed (as before in this environment)"
    # One more file in the new tree, or another interpreter: imported again.
    edited, _ = check("edited", {"orkes/note.py": "NOTE = 1\n"})
    assert not edited.remembered and edited.modules == first.modules + 1
    elsewhere, _ = check("elsewhere", {}, pythons[1])
    assert not elsewhere.remembered and elsewhere.modules == first.modules
    # A failing check is never remembered: the next run imports (and fails) again.
    for name in ("broken", "broken-again"):
        failed, _ = check(name, {"adapters/bad.py": "import no_such_package_here\n"})
        assert [m for m, _ in failed.failures] == [f"{PKG}.adapters.bad"] and not failed.remembered
