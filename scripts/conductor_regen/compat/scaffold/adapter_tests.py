"""A unit test for each new API adapter (the guide's step 5.5), written outside the managed folders."""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Set

import libcst as cst

from conductor_regen.errors import VerificationError
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE
from conductor_regen.file_tree import safe_join
from conductor_regen.compat.scaffold import (
    ApiAdapter,
    GeneratedClass,
    ImportStyle,
    detect_import_style,
    existing_api_adapters,
    generated_classes,
)

log = logging.getLogger(__name__)

# Where the SDK keeps its async unit tests; the test sessions collect `test_async_*` there.
ADAPTER_TESTS_DIR = "tests/unit/orkes"


@dataclasses.dataclass(frozen=True)
class OutsideFile:
    """A file a run adds outside the managed folders: SDK-root-relative path, content, and what it is for."""

    path: str
    content: str
    about: str


def _public_operations(code: str, cls_name: str) -> List[str]:
    """Public `async def` names of a generated API class, in file order."""
    for stmt in current_index().ast_of(code).body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == cls_name:
            return [f.name for f in stmt.body if isinstance(f, ast.AsyncFunctionDef) and not f.name.startswith("_")]
    return []


def _required_init_args(path: Path, cls_name: str) -> Optional[int]:
    """How many positional arguments (besides self) the class's own __init__ requires; None if unknown."""
    for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
        if not (isinstance(stmt, ast.ClassDef) and stmt.name == cls_name):
            continue
        for func in stmt.body:
            if isinstance(func, ast.FunctionDef) and func.name == "__init__":
                args = func.args
                if args.kwonlyargs and any(d is None for d in args.kw_defaults):
                    return None
                positional = [*args.posonlyargs, *args.args][1:]
                return len(positional) - len(args.defaults)
    return None


def _test_import_style(tests_dir: Path, package: str) -> ImportStyle:
    """The import wrapping of the SDK's existing async tests (its backslash style, in the real SDK)."""
    for path in sorted(tests_dir.glob("test_async_*.py")):
        try:
            return detect_import_style(path.read_text(encoding="utf-8"), package + ".")
        except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
            continue
    return ImportStyle("single")


def _adapter_test_module(adapter: ApiAdapter, gen: GeneratedClass, operations: Sequence[str], package: str,
                         style: ImportStyle) -> str:
    """A pytest module checking that `adapter` imports, wraps `gen` and keeps its operations async."""
    imports = {f"{package}.adapters.api.{adapter.path.stem}": adapter.cls, f"{package}.http.api.{gen.module}": gen.cls}
    lines: List[str] = []
    if adapter.style == "facade":
        required = _required_init_args(adapter.path, adapter.cls)
        if required in (0, 1):
            imports[f"{package}.http.api_client"] = "ApiClient"
            lines += [f"    adapter = {adapter.cls}({'ApiClient()' if required else ''})",
                      f"    assert isinstance(adapter.{adapter.attribute}, {gen.cls})"]
        else:
            # An __init__ this test cannot satisfy: check the class holds the API, without an instance.
            lines.append(f"    assert {gen.cls}.__name__ in inspect.getsource({adapter.cls})")
    else:
        lines += [f"    assert issubclass({adapter.cls}, {gen.cls})", f"    adapter = {adapter.cls}"]
    members = f"getattr({gen.cls}, name), getattr(adapter, name)" if any("adapter =" in x for x in lines) \
        else f"getattr({gen.cls}, name),"
    listed = "".join(f'    "{name}",\n' for name in operations)
    header = (
        f'"""{adapter.cls} imports, wraps the generated {gen.cls} and keeps its operations async."""\n'
        "# Written by conductor-regen when it scaffolded the adapter; later runs never overwrite it.\n"
        "from __future__ import annotations\n\n"
        "import inspect\n\n"
        + "".join(style.render(m, n) for m, n in sorted(imports.items()))
        + f"\n# {gen.cls}'s operations when the adapter was scaffolded.\n"
        + (f"OPERATIONS = (\n{listed})\n\n\n" if listed else "OPERATIONS: tuple = ()\n\n\n")
    )
    body = "\n".join([
        f"def test_{adapter.path.stem}_adapter():",
        *lines,
        f"    public = [name for name, _ in inspect.getmembers({gen.cls}, inspect.isfunction)",
        '              if not name.startswith("_")]',
        "    assert public and set(OPERATIONS) <= set(public)",
        "    for name in public:",
        f"        for member in ({members}):",
        "            # pydantic's validate_call wraps each operation; releases before 2.7 hid the coroutine flag.",
        "            assert inspect.iscoroutinefunction(member) or \\",
        "                inspect.iscoroutinefunction(inspect.unwrap(member)), name",
    ])
    return header + body + "\n"


def adapter_tests(http: Path, staging: Path, live_package_dir: Path, sdk_root: Path,
                  package: str = DEFAULT_PACKAGE) -> List[OutsideFile]:
    """A test module for each API adapter that is new in `staging`, where the SDK has none yet."""
    staged_api, live_api = staging / "adapters" / "api", live_package_dir / "adapters" / "api"
    if not staged_api.is_dir():
        return []
    try:
        tests_dir = safe_join(sdk_root, ADAPTER_TESTS_DIR)
    except VerificationError:
        log.warning("not writing adapter tests: %s leads out of the SDK", ADAPTER_TESTS_DIR)
        return []
    new = [a for a in existing_api_adapters(staged_api, package) if not (live_api / a.path.name).exists()]
    if not new:
        return []
    if not tests_dir.is_dir():
        log.info("not writing adapter tests: the SDK has no %s/ folder", ADAPTER_TESTS_DIR)
        return []
    generated = {g.cls: g for g in generated_classes(http / "api" / "__init__.py", f"{package}.http.api", "Api")}
    style = _test_import_style(tests_dir, package)
    out: List[OutsideFile] = []
    seen: Set[str] = set()
    for adapter in new:
        gen = generated.get(adapter.generated)
        rel = f"{ADAPTER_TESTS_DIR}/test_async_{adapter.path.stem}_adapter.py"
        if gen is None or rel in seen or safe_join(sdk_root, rel).exists():
            continue
        seen.add(rel)
        code = safe_join(http / "api", f"{gen.module}.py").read_text(encoding="utf-8")
        content = _adapter_test_module(adapter, gen, _public_operations(code, gen.cls), package, style)
        out.append(OutsideFile(rel, content, adapter.cls))
    return out
