"""Import modules of a package tree in this interpreter and print one JSON line: how many imported, which failed.

The import checks (`verify.import_all`, `verify.import_split`) run this file in a fresh interpreter, so a
broken module cannot poison the tool's own, and every failure is reported at once:

    python import_probe.py packages [--warm NAMES] [--wait] [--staged PARENT FOLDER NAMES] TOP...
    python import_probe.py modules PACKAGE PACKAGE_DIR MODULE...

The interpreter is often not the tool's: the import gate runs it in the SDK's own virtualenv (Python 3.9 or
later), where conductor_regen is not installed. So it is run by its file path and uses the standard library
only (no conductor_regen import, Python 3.9 syntax); `python -m conductor_regen.generator.import_probe`
works too where the package is importable. The trees to import come from PYTHONPATH, first on sys.path.

Output, the last line of stdout: `{"count": N, "failures": [[module, "ErrorType: first line"], ...]}`.
"""

from __future__ import annotations

import os
import sys

# Run by path, Python puts this file's folder first on sys.path: its siblings (naming.py, run.py, ...) would
# shadow the tree's modules of the same name. Drop it before anything else is imported.
if __name__ == "__main__" and sys.path and \
        os.path.realpath(sys.path[0] or os.curdir) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import pkgutil  # noqa: E402
import types  # noqa: E402
from importlib.machinery import ModuleSpec  # noqa: E402
from typing import List, Optional, Sequence, Set, Tuple  # noqa: E402

Failure = Tuple[str, str]


def describe(exc: BaseException) -> str:
    """`ValueError: its first line`, or the type's name alone when the message is empty."""
    text = str(exc)
    msg = text.splitlines()[0] if text.splitlines() else ""
    return type(exc).__name__ + (": " + msg if msg else "")


def _try_import(name: str, failures: List[Failure]) -> Optional[types.ModuleType]:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        failures.append((name, describe(exc)))
        return None


class StagedFinder(importlib.abc.MetaPathFinder):
    """The tree a swap would make live: these subpackages of `parent` come from the staging folder."""

    def __init__(self, parent: str, folder: str, names: Set[str]) -> None:
        self.parent, self.folder, self.names = parent, folder, names

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[types.ModuleType] = None) -> Optional[ModuleSpec]:
        head, _, tail = fullname.rpartition(".")
        if head != self.parent or tail not in self.names:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.folder])


def warm_up(names: Sequence[str]) -> None:
    """Third-party packages the client imports, imported while the caller is still writing the tree."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass  # the module that needs it fails the same way later, and is reported then


def import_packages(tops: Sequence[str], staged: Optional[StagedFinder] = None) -> Tuple[int, List[Failure]]:
    """Each package in `tops` and every module under it; with `staged`, its folders come from staging."""
    if staged is not None:
        sys.meta_path.insert(0, staged)
    failures: List[Failure] = []
    count = 0
    for top in tops:
        pkg = _try_import(top, failures)
        if pkg is None:
            continue
        count += 1
        path = list(getattr(pkg, "__path__", []))
        if staged is not None and staged.parent == top:
            path.append(staged.folder)  # after the live folder: the walk lists names in the same order as after a swap
        for info in pkgutil.walk_packages(path, top + "."):
            if _try_import(info.name, failures) is not None:
                count += 1
    return count, failures


def import_modules(package: str, package_dir: str, modules: Sequence[str]) -> Tuple[int, List[Failure]]:
    """One worker of a split import check: the modules, with the package and its api/models subpackages stubbed.

    The stubs keep their __init__ (which imports everything) from running in every worker; the caller
    checks the __init__ files statically instead.
    """
    for name, path in ((package, package_dir), (package + ".api", package_dir + "/api"),
                       (package + ".models", package_dir + "/models")):
        stub = types.ModuleType(name)
        stub.__path__ = [path]
        sys.modules[name] = stub
    failures: List[Failure] = []
    for mod in modules:
        _try_import(mod, failures)
    return len(modules), failures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="import_probe.py", allow_abbrev=False,
                                     description="Import a package tree's modules; print a JSON line.")
    sub = parser.add_subparsers(dest="mode", required=True)
    every = sub.add_parser("packages", allow_abbrev=False, help="each package and every module under it")
    every.add_argument("--warm", default="", help="comma-separated modules to import first, failures ignored")
    every.add_argument("--wait", action="store_true",
                       help="after warming, wait for a line on stdin (none: exit without importing)")
    every.add_argument("--staged", nargs=3, metavar=("PARENT", "FOLDER", "NAMES"),
                       help="import PARENT's subpackages NAMES (comma-separated) from FOLDER")
    every.add_argument("tops", nargs="*", metavar="TOP")
    some = sub.add_parser("modules", allow_abbrev=False, help="the named modules, their package stubbed")
    some.add_argument("package")
    some.add_argument("package_dir")
    some.add_argument("modules", nargs="*", metavar="MODULE")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run one check; print its JSON line. 0 even when modules fail: the failures are the result."""
    opts = _parser().parse_args(list(argv))
    if opts.mode == "modules":
        count, failures = import_modules(opts.package, opts.package_dir, opts.modules)
    else:
        warm_up([n for n in opts.warm.split(",") if n])
        if opts.wait and not sys.stdin.readline():
            return 0  # the caller stopped before the tree was ready
        staged = None
        if opts.staged:
            parent, folder, names = opts.staged
            staged = StagedFinder(parent, folder, set(names.split(",")))
        count, failures = import_packages(opts.tops, staged)
    print(json.dumps({"count": count, "failures": [list(f) for f in failures]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
