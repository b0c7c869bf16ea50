"""Verify a generated package tree: layout, async APIs, pydantic models, compiles, imports."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from conductor_regen.child_env import child_env
from conductor_regen.errors import VerificationError

# Run in a fresh interpreter so a broken module cannot poison ours, and report every failure at once.
_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys, traceback
failures = []
count = 0
for top in sys.argv[1:]:
    try:
        pkg = importlib.import_module(top)
    except Exception as exc:
        failures.append([top, type(exc).__name__ + ": " + str(exc).splitlines()[0] if str(exc) else type(exc).__name__])
        continue
    count += 1
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), top + "."):
        try:
            importlib.import_module(info.name)
            count += 1
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else ""
            failures.append([info.name, type(exc).__name__ + (": " + msg if msg else "")])
print(json.dumps({"count": count, "failures": failures}))
"""


# One worker of a split import check: the package and its api/models subpackages are stubbed so their
# __init__ (which imports everything) does not run in every worker; the __init__ files are checked
# statically instead (see _check_exports).
_IMPORT_SOME = r"""
import importlib, json, sys, types
pkg, pkg_dir = sys.argv[1], sys.argv[2]
for name, path in ((pkg, pkg_dir), (pkg + ".api", pkg_dir + "/api"), (pkg + ".models", pkg_dir + "/models")):
    stub = types.ModuleType(name)
    stub.__path__ = [path]
    sys.modules[name] = stub
failures = []
for mod in sys.argv[3:]:
    try:
        importlib.import_module(mod)
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else ""
        failures.append([mod, type(exc).__name__ + (": " + msg if msg else "")])
print(json.dumps({"count": len(sys.argv) - 3, "failures": failures}))
"""


@dataclasses.dataclass(frozen=True)
class ImportCheck:
    """Outcome of importing every module of some packages in a fresh interpreter."""

    modules: int
    failures: Tuple[Tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class TreeCheck:
    """What the verified generated package holds."""

    api_modules: int
    model_modules: int
    python_files: int
    imported_modules: int


IMPORT_TIMEOUT = 600.0


def _import_timeout(timeout: float) -> VerificationError:
    return VerificationError(
        f"the import check did not finish in {timeout:g}s (a module hangs at import time?)",
        "find the module by importing the package by hand; raise import_timeout (REGEN_IMPORT_TIMEOUT) "
        "if it is just slow",
    )


def import_all(paths: Sequence[Path], packages: Sequence[str], python: Optional[str] = None,
               timeout: float = IMPORT_TIMEOUT) -> ImportCheck:
    """Import every module under `packages` in a fresh subprocess with `paths` on sys.path."""
    try:
        done = subprocess.run([python or sys.executable, "-c", _IMPORT_ALL, *packages],
                              capture_output=True, text=True, env=_env_with(paths), check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _import_timeout(timeout) from None
    data = _parse(done)
    return ImportCheck(int(data["count"]), tuple((m, e) for m, e in data["failures"]))


def _env_with(paths: Sequence[Path]) -> Dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep trees byte-identical
    return env


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


def import_split(import_root: Path, package: str, workers: int = 2, timeout: float = IMPORT_TIMEOUT) -> ImportCheck:
    """Import every module of a generated package, split across `workers` fresh interpreters."""
    pkg_dir = import_root.joinpath(*package.split("."))
    modules = [f"{package}.{p.stem}" for p in sorted(pkg_dir.glob("*.py")) if p.stem != "__init__"]
    for sub in ("models", "api"):
        modules += [f"{package}.{sub}.{p.stem}" for p in sorted((pkg_dir / sub).glob("*.py"))
                    if p.stem != "__init__"]
    # Round-robin over the sorted list spreads the costly API modules evenly.
    chunks = [modules[i::workers] for i in range(workers)]
    env = _env_with([import_root])
    procs = [subprocess.Popen([sys.executable, "-c", _IMPORT_SOME, package, str(pkg_dir), *chunk],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for chunk in chunks if chunk]
    count, failures = 0, _check_exports(pkg_dir, package)
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.communicate()
            raise _import_timeout(timeout) from None
        data = _parse(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        count += int(data["count"])
        failures += [(m, e) for m, e in data["failures"]]
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


def verify_package(import_root: Path, package: str) -> TreeCheck:
    """Check a generated package under `import_root` (for example a staging tree)."""
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
    # Importing compiles every module; compile_all runs only to locate a syntax error precisely.
    check = import_split(import_root, package)
    if any("SyntaxError" in err for _, err in check.failures):
        compile_all(pkg_dir)
    files = sum(1 for _ in pkg_dir.rglob("*.py"))
    if check.failures:
        mod, err = check.failures[0]
        raise VerificationError(
            f"{len(check.failures)} generated module(s) fail to import; first: {mod}: {err}",
            "check that the generated package's dependencies (pydantic, aiohttp) are installed",
        )
    return TreeCheck(len(apis), len(models), files, check.modules)
