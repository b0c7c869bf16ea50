"""The import gate after a swap, and the SDK interpreter it runs in."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from conductor_regen.ahead import Ahead
from conductor_regen.commands.plan import package_name
from conductor_regen.child_env import kill
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.file_tree import content_fingerprint, iter_entries
from conductor_regen.generator.verify import (IMPORT_TIMEOUT, ImportCheck, StagedFolders, import_all,
                                              interpreter_fingerprint)
from conductor_regen.progress import StepLog
from conductor_regen.verdict_cache import cached_count, store
from conductor_regen.checkout.target import RESERVED_PREFIX, SdkTarget


def import_failures(target: SdkTarget, timeout: float = IMPORT_TIMEOUT,
                    python: Optional[str] = None) -> Tuple[Tuple[str, str], ...]:
    """Modules of the SDK's async client that fail to import in a fresh interpreter, with their errors."""
    package = package_name(target)
    return import_all([target.root / "src"], [package], python, timeout=timeout).failures


def sdk_environment(target: SdkTarget, settings: Settings) -> Tuple[Optional[Path], Optional[VerificationError]]:
    """The SDK's own interpreter (see sdk_env), or the error that kept it from being built."""
    import sys

    from conductor_regen.checkout.env import sdk_python

    try:
        return sdk_python(target.root, settings.cache_dir, f"{sys.version_info[0]}.{sys.version_info[1]}",
                          settings.install_timeout), None
    except VerificationError as exc:
        return None, exc


Environment = Tuple[Optional[Path], Optional[VerificationError]]


def tree_stamp(root: Path) -> Tuple[Tuple[str, int, int], ...]:
    """Every file under `root` with its size and mtime: any write after the stamp changes it."""
    return tuple((rel, st.st_size, st.st_mtime_ns) for rel, path in iter_entries(root) for st in (os.lstat(path),))


def third_party_imports(target: SdkTarget) -> Tuple[str, ...]:
    """Top-level modules the live client imports at module level that are neither the SDK's nor `__future__`.

    Read with a line scan (no parse): a name it gets wrong costs one failed, ignored import in the child.
    """
    src = target.root / "src"
    own = {package_name(target).split(".")[0], "__future__"}
    found = set()
    for path in sorted(target.package_dir.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found.update(_TOP_IMPORT.findall(text))
    # Never a module of the checkout itself: it could import the live client before the staged finder is in place.
    return tuple(sorted(n for n in found - own if not (src / n).exists() and not (src / f"{n}.py").exists()))


_TOP_IMPORT = re.compile(r"^(?:from|import)\s+([A-Za-z_]\w*)", re.M)


# The names of the two steps run ahead (`Ahead`) for the import gate, the same as the steps that take their results.
SDK_ENVIRONMENT = "SDK environment"
IMPORT_NEW_TREE = "import new tree"


GATE_IMPORTS = "gate-imports"  # the verdict cache's kind for the import gate's clean verdicts


def tree_content(*roots: Path) -> str:
    """`content_fingerprint` of the files under `roots` (each root's by its place in the list): where the roots are
    does not matter, what they hold does. A run's own files (`.regen*`: its lock, journal, staging folder, the
    provenance record) are left out: they differ from run to run, no import reads them.
    """
    return content_fingerprint({f"{index}/{rel}": path for index, root in enumerate(roots)
                                for rel, path in iter_entries(root)
                                if not any(part.startswith(RESERVED_PREFIX) for part in rel.split("/"))})


class StagedImports:
    """The import gate's imports, run from the staging folder while the main thread runs the other checks.

    The swap renames exactly these folders into place, so importing them from staging is importing the
    tree the gate would see after the swap (the paths in messages are mapped back to the live ones).
    `run` is a step run ahead (`Ahead.start(IMPORT_NEW_TREE, imports.run, stop=imports.stop)`): its
    interpreter starts before the tree is written and imports the third-party packages meanwhile;
    `ready()` stamps the written tree and lets it import the tree. `unchanged(check)` is the check only if
    nothing in staging changed since the stamp.

    With `verdicts` (a cache folder), a clean check is remembered by what it read (the checkout's `src/` and
    staging, byte for byte) and the interpreter (`interpreter_fingerprint`): the same files in the same
    environment are not imported again (a failing check is always run).
    """

    def __init__(self, target: SdkTarget, staging: Path, interpreter: Callable[[], Environment],
                 timeout: float = IMPORT_TIMEOUT, verdicts: Optional[Path] = None) -> None:
        """`interpreter` gives the SDK's environment (waiting for it: the step finding it runs ahead too)."""
        self.staging, self._target, self._interpreter, self._timeout = staging, target, interpreter, timeout
        self._verdicts = verdicts
        self.stamp: Optional[Tuple[Tuple[str, int, int], ...]] = None
        # Every managed name: the finder falls back to the live folder for one staging lacks, as the swap does.
        self._staged = StagedFolders(package_name(target), staging, tuple(target.managed), target.package_dir)
        self._warm = third_party_imports(target)
        self._procs: List["subprocess.Popen[str]"] = []
        self._stopped = False
        self._ready = threading.Event()

    def run(self) -> ImportCheck:
        """Start the interpreter, import the client's third-party packages, then (once `ready()`) the staged tree."""
        exe = self._interpreter()[0]
        if self._stopped:
            raise VerificationError("the staged import check was stopped", "")
        key: Optional[Tuple[str, str]] = None  # (interpreter, files): set once the tree is ready
        known: Optional[int] = None  # modules of a clean import of the same key before

        def go() -> bool:
            nonlocal key, known
            if not self._go():
                return False
            if self._verdicts is None or exe is None:
                return True
            key = (interpreter_fingerprint(exe), tree_content(self._target.root / "src", self.staging))
            known = cached_count(self._verdicts, GATE_IMPORTS, *key)
            return known is None  # False stops the interpreter: these files imported cleanly here before

        try:
            check = import_all([self._target.root / "src"], [self._staged.package], str(exe) if exe else None,
                               self._timeout, self._staged, started=self._procs.append, warm=self._warm, go=go)
        except VerificationError:
            if known is not None:
                return ImportCheck(known, (), remembered=True)
            raise
        if key is not None and self._verdicts is not None and check.modules > 0 and not check.failures:
            store(self._verdicts, GATE_IMPORTS, *key, check.modules)
        return check

    def _go(self) -> bool:
        self._ready.wait()
        return not self._stopped

    def ready(self) -> None:
        """The staged tree is written: stamp it (once) and let the imports begin."""
        if self.stamp is None:
            self.stamp = tree_stamp(self.staging)
        self._ready.set()

    def unchanged(self, check: ImportCheck) -> Optional[ImportCheck]:
        """`check`, or None when staging changed since `ready()` (the gate then imports after the swap)."""
        return check if tree_stamp(self.staging) == self.stamp else None

    def stop(self) -> None:
        """Stop the child interpreter if it still runs (a run that ends early does not wait for it)."""
        self._stopped = True
        self._ready.set()
        kill(*(proc for proc in self._procs if proc.poll() is None))  # each with its process group


def gate_interpreter(target: SdkTarget, settings: Settings, steps: StepLog,
                     ahead: Optional[Ahead] = None) -> Tuple[Optional[str], Tuple[str, ...]]:
    """The SDK's own environment for the import gate; this tool's, with a warning, if it cannot be built.

    Taken from `ahead` when a run started finding it there (while the generator ran); asked inside the
    step, as building it was.
    """
    with steps.step(SDK_ENVIRONMENT) as step:
        early = ahead if ahead is not None and ahead.started(SDK_ENVIRONMENT) else None
        environment: Environment = (early.result(SDK_ENVIRONMENT) if early is not None
                                    else sdk_environment(target, settings))
        exe, exc = environment
        if exe is None:
            message = exc.message if exc is not None else "no interpreter"
            step.status = "skipped"
            step.detail = f"not built: {message}"
            return None, (f"warning: the import gate ran in this tool's environment, not the SDK's "
                          f"({message}); modules needing a package it lacks were excused",)
        step.detail = f"{exe.parent.parent.name} (the SDK and its declared dependencies)"
    return str(exe), ()


class ImportGate:
    """The import gate's verdict, in one place: every module of the async client imports after the swap,
    except those that already failed the same way before it.

    Its inputs arrive at three moments of a run, in this order:
    - `take_staged(imports, check)`: the same import of the same files, done from staging while the
      checks ran (`StagedImports`); kept only if nothing in staging changed since.
    - `before_swap()`: the live tree's own failures (the baseline), which may be excused; looked up
      only when there is something to excuse (no staged check, or one with failures).
    - `verdict()` after the swap: the staged check when there is one, else an import of the live tree.
    Run in the SDK's own environment (`python`), a missing third-party package is a real failure.
    """

    def __init__(self, target: SdkTarget, python: Optional[str] = None, timeout: float = IMPORT_TIMEOUT) -> None:
        self.target, self.python, self.timeout = target, python, timeout
        self.checked: Optional[ImportCheck] = None
        self.baseline: Tuple[Tuple[str, str], ...] = ()

    def take_staged(self, imports: StagedImports, check: ImportCheck) -> str:
        """Keep the staged imports' check unless staging changed meanwhile; a line for the step."""
        self.checked = imports.unchanged(check)
        if self.checked is None:
            return "staging changed meanwhile: the gate imports after the swap"
        if self.checked.remembered:
            return f"{self.checked.modules} module(s) imported from staging, 0 failed (as before in this environment)"
        return f"{self.checked.modules} module(s) imported from staging, {len(self.checked.failures)} failed"

    def before_swap(self) -> None:
        """Record what fails to import in the live tree now (only when a failure may need excusing)."""
        if self.checked is None or self.checked.failures:
            self.baseline = import_failures(self.target, self.timeout, self.python)

    def verdict(self) -> List[str]:
        """Raise VerificationError for a new failure (or nothing imported); else the lines for the excused ones."""
        excused = set(self.baseline)
        package = package_name(self.target)
        check = (self.checked if self.checked is not None
                 else import_all([self.target.root / "src"], [package], self.python, timeout=self.timeout))
        if check.modules == 0:
            # Excused or not, a gate that imported nothing verified nothing: that is not a pass.
            err = dict(check.failures).get(package, "no module found")
            raise VerificationError(
                f"the import gate imported nothing: {package} itself fails to import ({err})",
                "the backup was restored; make the package import (install its dependencies), then run again",
            )
        new = [f for f in check.failures if f not in excused]
        if new:
            mod, err = new[0]
            raise VerificationError(
                f"{len(new)} module(s) of the async client fail to import after the swap; first: {mod}: {err}",
                "the backup was restored; see the report, or rerun with --keep-failed to inspect",
            )
        return [f"{mod} did not import before the swap either ({err})" for mod, err in sorted(excused)]
