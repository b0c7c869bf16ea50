"""Verify a generated package tree: layout, async APIs, pydantic models, compiles, imports."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import re
import site
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from conductor_regen.child_env import Limit, child_env, communicate, start, stop
from conductor_regen.errors import VerificationError
from conductor_regen.generator import import_probe
from conductor_regen.generator.source_shape import Parse, check_generated_shape

# The import checks run import_probe.py by its path in a fresh interpreter (often the SDK's own, where this
# package is not installed), so a broken module cannot poison ours, and every failure is reported at once.
PROBE = Path(import_probe.__file__).resolve()


@dataclasses.dataclass(frozen=True)
class ImportCheck:
    """Outcome of importing every module of some packages in a fresh interpreter."""

    modules: int
    failures: Tuple[Tuple[str, str], ...]
    remembered: bool = False  # taken from the verdict cache: the same files imported cleanly here before


@dataclasses.dataclass(frozen=True)
class TreeCheck:
    """What the verified generated package holds."""

    api_modules: int
    model_modules: int
    python_files: int
    imported_modules: int


IMPORT_TIMEOUT = 600.0


def _import_limit(timeout: float) -> Limit:
    return Limit(timeout, "the import check", "import_timeout",
                 "if it is not just slow, a module hangs at import time: import the package by hand to find it",
                 VerificationError)


@dataclasses.dataclass(frozen=True)
class StagedFolders:
    """Subfolders of a package taken from a staging folder instead of the live tree (what a swap would do)."""

    package: str  # the package whose subpackages are replaced, e.g. conductor.asyncio_client
    staging: Path  # holds one folder per name
    names: Tuple[str, ...]
    live_dir: Path  # the package's live folder, named in error messages instead of the staging folder


def import_all(paths: Sequence[Path], packages: Sequence[str], python: Optional[str] = None,
               timeout: float = IMPORT_TIMEOUT, staged: Optional[StagedFolders] = None,
               started: Optional[Callable[["subprocess.Popen[str]"], None]] = None,
               warm: Sequence[str] = (), go: Optional[Callable[[], bool]] = None) -> ImportCheck:
    """Import every module under `packages` in a fresh subprocess with `paths` on sys.path.

    With `staged`, the named subpackages are imported from the staging folder, so the check sees the
    tree a swap would make live without touching it; messages name the live paths. `started` is given
    the child process (so a caller can stop it early). With `go`, the child starts at once, imports the
    `warm` modules (third-party ones: none of the tree it checks), then waits until `go()` returns: True
    when the tree is ready, False to stop it.
    """
    overlay = ["--staged", staged.package, str(staged.staging), ",".join(staged.names)] if staged else []
    early = (["--warm", ",".join(warm)] if warm else []) + (["--wait"] if go is not None else [])
    proc = start([python or sys.executable, str(PROBE), "packages", *early, *overlay, *packages],
                 stdin=subprocess.PIPE if go is not None else subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env_with(paths))
    try:
        if started is not None:
            started(proc)
        stopped = go is not None and not go()
    except BaseException:
        stop(proc)
        raise
    if stopped:
        stop(proc)
        raise VerificationError("the import check was stopped before it started", "")
    data = _output_of(proc, timeout, [proc], "go\n" if go is not None else None)
    failures = tuple((m, e) for m, e in data["failures"])
    if staged is not None:
        failures = tuple((m, e.replace(str(staged.staging), str(staged.live_dir))) for m, e in failures)
    return ImportCheck(int(data["count"]), failures)


def _env_with(paths: Sequence[Path]) -> Dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep trees byte-identical
    return env


def _output_of(proc: "subprocess.Popen[str]", timeout: float, stop: Sequence["subprocess.Popen[str]"],
               stdin: Optional[str] = None) -> Dict[str, Any]:
    """An import check's JSON result; on a timeout or an interrupt, `stop` (the check's processes) are killed first."""
    out, err = communicate(proc, _import_limit(timeout), stdin, [p for p in stop if p is not proc])
    return _parse(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


def _parse(done: "subprocess.CompletedProcess[str]") -> Dict[str, Any]:
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    except (ValueError, IndexError) as exc:
        raise VerificationError(
            f"import check crashed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}",
            "run the import by hand to see the traceback",
        ) from exc


def _check_exports(pkg_dir: Path, package: str) -> List[Tuple[str, str]]:
    """Every `from <package>.x import Name` in the package's __init__ files names a real module and name."""
    failures: List[Tuple[str, str]] = []
    prefix = package + "."
    for init in (pkg_dir / "__init__.py", pkg_dir / "api" / "__init__.py", pkg_dir / "models" / "__init__.py"):
        if not init.is_file():
            continue
        for module, names in re.findall(r"^from ([\w.]+) import ([\w, ]+)$", init.read_text(encoding="utf-8"), re.M):
            if not module.startswith(prefix):
                continue
            source = pkg_dir.joinpath(*module[len(prefix):].split(".")).with_suffix(".py")
            if not source.is_file():
                failures.append((str(init.relative_to(pkg_dir)), f"ModuleNotFoundError: {module}"))
                continue
            text = source.read_text(encoding="utf-8")
            for name in (n.split(" as ")[0].strip() for n in names.split(",")):
                if not re.search(rf"^(class {name}\b|{name}\s*=)", text, re.M):
                    failures.append((str(init.relative_to(pkg_dir)), f"ImportError: {name} not in {module}"))
    return failures


def interpreter_fingerprint(venv_python: Optional[Path] = None) -> str:
    """What an import check of a given tree in this interpreter (or a virtualenv's) depends on, as a hash: the
    interpreter, the inherited PYTHONPATH, the probe, and the distributions (with their versions) on the
    check's sys.path.

    The check's sys.path is the tree, PYTHONPATH, the standard library and the site folders: not this process's
    first entry (its working folder), which differs from run to run. Cheap (folder listings, no metadata
    read). A package edited in place (an editable install) changes none of it: `--no-cache` checks again."""
    pythonpath = os.environ.get("PYTHONPATH", "")
    folders = [p for p in pythonpath.split(os.pathsep) if p]
    if venv_python is None:
        executable, version = sys.executable, sys.version
        folders += list(site.getsitepackages())
        if site.ENABLE_USER_SITE:
            folders.append(site.getusersitepackages())
    else:  # a virtualenv without system site packages (as uv makes them): its pyvenv.cfg names the version
        venv = venv_python.parent.parent
        executable = str(venv_python)
        try:
            version = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
        except OSError:
            version = ""
        folders += sorted(str(p) for p in venv.glob("lib/python*/site-packages"))
    listings = []
    for folder in folders:
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth")))
        except OSError:
            names = []
        listings.append([folder, names])
    material = json.dumps([executable, version, pythonpath, hashlib.sha256(PROBE.read_bytes()).hexdigest(), listings])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


MODULES_PER_WORKER = 60  # below twice this, one interpreter imports the package (the example spec's ~40 modules)


def import_split(import_root: Path, package: str, workers: int = 2, timeout: float = IMPORT_TIMEOUT) -> ImportCheck:
    """Import every module of a generated package, split across `workers` fresh interpreters."""
    pkg_dir = import_root.joinpath(*package.split("."))
    modules = [f"{package}.{p.stem}" for p in sorted(pkg_dir.glob("*.py")) if p.stem != "__init__"]
    for sub in ("models", "api"):
        modules += [f"{package}.{sub}.{p.stem}" for p in sorted((pkg_dir / sub).glob("*.py"))
                    if p.stem != "__init__"]
    # A second interpreter pays off only for a big package: each one starts by importing pydantic and the rest.
    workers = max(1, min(workers, len(modules) // MODULES_PER_WORKER, os.cpu_count() or 1))
    # Round-robin over the sorted list spreads the costly API modules evenly.
    chunks = [modules[i::workers] for i in range(workers)]
    env = _env_with([import_root])
    # Each worker stubs the package and its api/models subpackages (their __init__ imports everything):
    # _check_exports checks the __init__ files statically instead.
    procs = [start([sys.executable, str(PROBE), "modules", package, str(pkg_dir), *chunk],
                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for chunk in chunks if chunk]
    try:
        count, failures = 0, _check_exports(pkg_dir, package)
        for proc in procs:
            data = _output_of(proc, timeout, procs)
            count += int(data["count"])
            failures += [(m, e) for m, e in data["failures"]]
    except BaseException:
        stop(*procs)  # no worker outlives the check, whatever ended it
        raise
    return ImportCheck(count, tuple(failures))


def compile_all(root: Path) -> int:
    """Compile every .py file in memory (no .pyc written); raise on the first syntax error."""
    count = 0
    for path in sorted(root.rglob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise VerificationError(
                f"{path}:{exc.lineno}: generated code does not compile: {exc.msg}",
                "check the generator version and the spec's names",
            ) from exc
        count += 1
    return count


def verify_package(import_root: Path, package: str, imports: bool = True, parse: Parse = ast.parse,
                   timeout: float = IMPORT_TIMEOUT, imported: Optional[int] = None) -> TreeCheck:
    """Check a generated package under `import_root` (for example a staging tree).

    Without `imports`, the modules are not imported here: a caller whose import gate imports the
    whole client later (regenerate) would otherwise pay for the same imports twice. With `imported`, they
    are known to import (this count of them): the same bytes passed in this interpreter before.
    """
    pkg_dir = import_root.joinpath(*package.split("."))
    problems: List[str] = []
    for sub in ("api", "models"):
        if not (pkg_dir / sub).is_dir():
            problems.append(f"missing {sub}/")
    if problems:
        raise VerificationError(f"generated tree {pkg_dir} is incomplete: {', '.join(problems)}",
                                "check the generator log; was the package name changed?")
    apis = sorted(p for p in (pkg_dir / "api").glob("*.py") if p.name != "__init__.py")
    not_async = [p.name for p in apis if "async def " not in p.read_text(encoding="utf-8")]
    if not_async:
        raise VerificationError(f"API modules without async methods: {', '.join(not_async[:5])}",
                                "the generator must run with library=asyncio")
    models = sorted(p for p in (pkg_dir / "models").glob("*.py") if p.name != "__init__.py")
    not_pydantic = [p.name for p in models if "pydantic" not in p.read_text(encoding="utf-8")]
    if not_pydantic:
        raise VerificationError(f"models not using pydantic: {', '.join(not_pydantic[:5])}",
                                "use OpenAPI Generator 7.x's python generator")
    # The second wall (the first is spec/safety.py): nothing imports a module before its shape is checked.
    files = check_generated_shape(pkg_dir, parse=parse)
    if not imports or imported is not None:
        return TreeCheck(len(apis), len(models), files, imported or 0)
    # Importing compiles every module; compile_all runs only to locate a syntax error precisely.
    check = import_split(import_root, package, timeout=timeout)
    if any("SyntaxError" in err for _, err in check.failures):
        compile_all(pkg_dir)
    if check.failures:
        mod, err = check.failures[0]
        raise VerificationError(
            f"{len(check.failures)} generated module(s) fail to import; first: {mod}: {err}",
            "check that the generated package's dependencies (pydantic, aiohttp) are installed",
        )
    return TreeCheck(len(apis), len(models), files, check.modules)
