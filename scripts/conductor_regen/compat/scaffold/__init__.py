"""Scaffolding's shared reading: generated classes, the SDK's existing API adapters, and import styles.

The codemods that write are beside it: `scaffold_adapters` (new API and model adapters, wired into the
Orkes base client), `scaffold_tests` (a unit test for each new API adapter) and `scaffold_aliases`
(deprecated aliases for renamed operations).
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from conductor_regen.compat.codemods import import_key
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.references import module_bindings

log = logging.getLogger(__name__)

# Wrapped imports are only used past these widths: isort's default for backslashes, black's for parens.
BACKSLASH_WIDTH = 79
PAREN_WIDTH = 88


@dataclasses.dataclass(frozen=True)
class GeneratedClass:
    """One generated class: its module name (file stem) and class name."""

    module: str
    cls: str


@dataclasses.dataclass(frozen=True)
class ImportStyle:
    """How a file wraps its long `from x import y` lines: "single", "paren" or "backslash"."""

    wrap: str = "single"
    always: bool = False  # wrap even when the line would fit

    def render(self, module: str, names: str) -> str:
        """One import statement in this style, ending in a newline."""
        line = f"from {module} import {names}"
        width = BACKSLASH_WIDTH if self.wrap == "backslash" else PAREN_WIDTH
        if self.wrap == "single" or (not self.always and len(line) <= width):
            return line + "\n"
        if self.wrap == "paren":
            return f"from {module} import (\n    {names},\n)\n"
        return f"from {module} import \\\n    {names}\n"


def detect_import_style(code: str, prefix: str) -> ImportStyle:
    """The wrapping used by the file's imports from modules under `prefix`."""
    module = current_index().cst_of(code)
    styles: List[Tuple[str, bool]] = []  # (style, fits on one line)
    for stmt in module.body:
        key = import_key(stmt)
        if not key.startswith(prefix):
            continue
        text = cst.Module([]).code_for_node(stmt).strip()
        flat = " ".join(text.replace("\\\n", " ").replace("(", " ").replace(")", " ").split()).rstrip(",")
        style = "paren" if "(" in text else "backslash" if "\\\n" in text else "single"
        styles.append((style, len(flat) <= (BACKSLASH_WIDTH if style == "backslash" else PAREN_WIDTH)))
    wrapped = [s for s, _ in styles if s != "single"]
    if not wrapped:
        return ImportStyle("single")
    wrap = max(set(wrapped), key=wrapped.count)
    # Short lines wrapped anyway (the example SDK's adapters/models/__init__.py) mean "always wrap".
    always = all(s != "single" for s, _ in styles) and any(fits for s, fits in styles if s != "single")
    return ImportStyle(wrap, always)


def generated_classes(package_init: Path, package: str, suffix: str = "") -> List[GeneratedClass]:
    """The classes a generated `api`/`models` package exports, from its `__init__.py` (else its files)."""
    found: Dict[str, GeneratedClass] = {}
    folder = package_init.parent
    if package_init.is_file():
        bindings, _, _ = module_bindings(current_index().ast_of(package_init.read_text(encoding="utf-8")), package, True)
        for name, binding in bindings.items():
            if binding.kind == "from" and binding.source.startswith(package + "."):
                module = binding.source[len(package) + 1:]
                if "." not in module and (folder / f"{module}.py").is_file():
                    found[name] = GeneratedClass(module, binding.original)
    if not found:
        for path in sorted(folder.glob("*.py")):
            if path.name == "__init__.py":
                continue
            for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
                if isinstance(stmt, ast.ClassDef) and stmt.name.endswith(suffix):
                    found[stmt.name] = GeneratedClass(path.stem, stmt.name)
    usable = [g for g in found.values() if g.module.isidentifier() and g.cls.isidentifier()]
    for skipped in set(found.values()) - set(usable):
        log.warning("not scaffolding %s.%s: not a Python identifier", skipped.module, skipped.cls)
    return sorted(usable, key=lambda g: (g.module, g.cls))


# --- the SDK's existing adapters -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ApiAdapter:
    """An existing API adapter: its file, class, the generated class it wraps and how."""

    path: Path
    cls: str
    generated: str
    style: str  # "subclass" | "facade"
    import_source: str  # where it imports the generated class from
    attribute: str = ""  # facade: the attribute holding the generated API


def existing_api_adapters(api_dir: Path, package: str) -> List[ApiAdapter]:
    """API adapters in `adapters/api`, recognised by subclassing or holding a generated API class."""
    http_api = f"{package}.http.api"
    out: List[ApiAdapter] = []
    for path in sorted(api_dir.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = f"{package}.adapters.api.{path.stem}"
        tree = current_index().ast_of(path.read_text(encoding="utf-8"))
        bindings, _, _ = module_bindings(tree, module, False)
        generated = {name: b.source for name, b in bindings.items()
                     if b.kind == "from" and (b.source == http_api or b.source.startswith(http_api + "."))}
        for stmt in tree.body:
            if not isinstance(stmt, ast.ClassDef):
                continue
            bases = [b.id for b in stmt.bases if isinstance(b, ast.Name) and b.id in generated]
            if bases:
                out.append(ApiAdapter(path, stmt.name, bases[0], "subclass", generated[bases[0]]))
                continue
            held = _held_api(stmt, generated)
            if held:
                out.append(ApiAdapter(path, stmt.name, held[1], "facade", generated[held[1]], held[0]))
    return out


def _held_api(cls: ast.ClassDef, generated: Dict[str, str]) -> Optional[Tuple[str, str]]:
    for node in ast.walk(cls):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id in generated):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                    return target.attr, node.value.func.id
    return None


def adapter_style(adapters: Sequence[ApiAdapter]) -> str:
    facades = sum(a.style == "facade" for a in adapters)
    # The guide's style wins ties and empty folders.
    return "facade" if facades > len(adapters) - facades else "subclass"
