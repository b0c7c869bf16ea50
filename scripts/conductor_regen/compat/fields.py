"""Keep model fields the server's API removed but the SDK still uses, declared on the model's adapter.

Runs on the staged tree right after compat_keep. A field declared by a model of the previous http/ but
not by the same model of the new one, and mentioned by hand-written SDK code (as a keyword argument or
an attribute, by name or alias), is re-declared on the model's adapter class, marked deprecated.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import logging
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.compat import DEPRECATION_MARK
from conductor_regen.compat.codemods import append_to_class, ast_dotted, class_functions, dotted, imports_for, insert_import, used_names
from conductor_regen.compat.keep import POLICIES, spec_version
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.analysis.references import module_bindings
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE, sdk_root_of, staged_tree
from conductor_regen.analysis.code_index import current_index
from conductor_regen.file_tree import safe_join

log = logging.getLogger(__name__)

_BUILTINS = frozenset(dir(builtins))
# Python 3.9 has no sys.stdlib_module_names; these are the stdlib modules generated annotations use.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "typing", "datetime", "decimal", "uuid", "enum", "collections", "re", "json", "pprint"}


@dataclasses.dataclass(frozen=True)
class OldField:
    """One pydantic field declaration of a previous generated model."""

    model: str
    module: str  # file stem under http/models
    name: str
    alias: str
    node: cst.SimpleStatementLine


@dataclasses.dataclass(frozen=True)
class Usage:
    """A removed field and the first place the SDK mentions it."""

    field: OldField
    where: str


# --- reading the models -----------------------------------------------------------------------------

def _field_name(stmt: cst.BaseStatement) -> Optional[str]:
    """The field an annotated class-body assignment declares (None for ClassVars and private names)."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    ann = stmt.body[0]
    if not (isinstance(ann, cst.AnnAssign) and isinstance(ann.target, cst.Name)):
        return None
    name = ann.target.value
    annotation = ann.annotation.annotation
    head = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    if name.startswith("_") or dotted(head).split(".")[-1] == "ClassVar":
        return None
    return name


def _alias(stmt: cst.SimpleStatementLine) -> str:
    """The `alias=` of the field's `Field(...)` default, '' if it has none."""
    ann = stmt.body[0]
    assert isinstance(ann, cst.AnnAssign)
    for node in (ann.value, ann.annotation.annotation):
        for call in _calls(node):
            if dotted(call.func).split(".")[-1] != "Field":
                continue
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value in ("alias", "validation_alias") \
                        and isinstance(arg.value, cst.SimpleString):
                    value = arg.value.evaluated_value
                    if isinstance(value, str):
                        return value
    return ""


def _calls(node: Optional[cst.CSTNode]) -> List[cst.Call]:
    if node is None:
        return []
    found: List[cst.Call] = []

    class _Visitor(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            found.append(call)

    node.visit(_Visitor())
    return found


def _classes(module: cst.Module) -> Dict[str, cst.ClassDef]:
    return {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}


def _fields(cls: cst.ClassDef) -> Dict[str, cst.SimpleStatementLine]:
    if not isinstance(cls.body, cst.IndentedBlock):
        return {}
    out: Dict[str, cst.SimpleStatementLine] = {}
    for stmt in cls.body.body:
        name = _field_name(stmt)
        if name is not None:
            assert isinstance(stmt, cst.SimpleStatementLine)
            out[name] = stmt
    return out


def _ast_field_names(text: str) -> Optional[Dict[str, Set[str]]]:
    """Model -> field names as `_fields` reads them, from the ast; None when the ast may read them differently."""
    out: Dict[str, Set[str]] = {}
    for cls in current_index().ast_of(text).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        lines = [stmt.lineno for stmt in cls.body]
        if len(set(lines)) != len(lines):
            return None  # `a: int; b: int` is one libcst line that `_field_name` skips
        names: Set[str] = set()
        for stmt in cls.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            head = stmt.annotation.value if isinstance(stmt.annotation, ast.Subscript) else stmt.annotation
            if not stmt.target.id.startswith("_") and ast_dotted(head).split(".")[-1] != "ClassVar":
                names.add(stmt.target.id)
        out[cls.name] = names
    return out


def _none_removed(old_text: str, new_text: str) -> bool:
    """True when every field of every old model is still a field of the new one (a cheap, exact test)."""
    old, new = _ast_field_names(old_text), _ast_field_names(new_text)
    if old is None or new is None:
        return False
    return all(names <= new[model] for model, names in old.items() if model in new)


def removed_fields(old_http: Path, new_http: Path) -> List[OldField]:
    """Fields of models present in both trees that the old model declares and the new one does not."""
    out: List[OldField] = []
    new_models = new_http / "models"
    index = current_index()
    for old_path in sorted((old_http / "models").glob("*.py")):
        if old_path.name == "__init__.py":
            continue
        new_path = safe_join(new_models, old_path.name)
        if not new_path.is_file():
            continue
        old_text, new_text = index.read(old_path), index.read(new_path)
        if old_text == new_text or _none_removed(old_text, new_text):
            continue  # nothing removed, seen without a libcst parse
        old_classes = _classes(index.cst_of(old_text))
        new_classes = _classes(index.cst_of(new_text))
        for model, old_cls in old_classes.items():
            if model not in new_classes:
                continue
            new_fields = _fields(new_classes[model])
            # A field renamed on the Python side but still sent under the same wire name is not removed.
            new_wire = {_alias(s) or n for n, s in new_fields.items()}
            for name, stmt in _fields(old_cls).items():
                alias = _alias(stmt)
                if name in new_fields:
                    continue
                if (alias or name) in new_wire:
                    log.info("not keeping %s.%s: its wire name is taken by a new field", model, name)
                    continue
                out.append(OldField(model, old_path.stem, name, alias, stmt))
    return out


# --- finding uses -----------------------------------------------------------------------------------

def _patterns(name: str) -> re.Pattern[str]:
    word = re.escape(name)
    # Deliberately loose: a keyword argument (`name=`, not `==`) or an attribute (`.name`).
    return re.compile(rf"\b{word}\s*=(?!=)|\.{word}\b")


def first_usage(field: OldField, files: Sequence[Tuple[str, str]]) -> str:
    """`file:line` of the first mention of the field (or its alias) in `files`, '' if none."""
    patterns = [_patterns(n) for n in dict.fromkeys([field.name, field.alias]) if n]
    for display, text in files:
        hits = [m.start() for p in patterns for m in [p.search(text)] if m is not None]
        if hits:
            return f"{display}:{text.count(chr(10), 0, min(hits)) + 1}"
    return ""


# --- editing the adapters ---------------------------------------------------------------------------

def _base_names(cls: cst.ClassDef) -> Set[str]:
    return {dotted(b.value).split(".")[-1] for b in cls.bases}


def find_adapter(models_dir: Path, module: str, model: str) -> Optional[Path]:
    """The adapters/models file whose class subclasses `model` (conventional file name first)."""
    if not models_dir.is_dir():
        return None
    conventional = safe_join(models_dir, f"{module}_adapter.py")
    candidates = [conventional] + [p for p in sorted(models_dir.glob("*.py")) if p != conventional]
    for path in candidates:
        if not path.is_file() or path.name == "__init__.py":
            continue
        code = path.read_text(encoding="utf-8")
        if model not in code:
            continue
        if any(model in _base_names(c) for c in _classes(current_index().cst_of(code)).values()):
            return path
    return None


def _adapter_class(module: cst.Module, model: str) -> Optional[cst.ClassDef]:
    return next((c for c in _classes(module).values() if model in _base_names(c)), None)


def _import_group(line: str, package_root: str) -> int:
    """isort's sections: __future__, stdlib, third party, first party."""
    head = line.split()[1].lstrip(".").split(".")[0]
    if head == "__future__":
        return 0
    if head == package_root or line.split()[1].startswith("."):
        return 3
    return 1 if head in _STDLIB else 2


def _single_line_from(stmt: cst.CSTNode, module_name: str) -> Optional[cst.ImportFrom]:
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    small = stmt.body[0]
    if (isinstance(small, cst.ImportFrom) and not small.relative and dotted(small.module) == module_name
            and not isinstance(small.names, cst.ImportStar) and small.lpar is None):
        return small
    return None


def add_import(module: cst.Module, line: str, package_root: str) -> cst.Module:
    """Add `from m import a, b`: merged into a one-line import of m, else placed in its isort section."""
    new_stmt = cst.parse_statement(line)
    small = new_stmt.body[0] if isinstance(new_stmt, cst.SimpleStatementLine) else None
    if not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar):
        return insert_import(module, line)
    source = dotted(small.module)
    wanted = [a.name.value for a in small.names if isinstance(a.name, cst.Name) and a.asname is None]
    body = list(module.body)
    for index, stmt in enumerate(body):
        existing = _single_line_from(stmt, source)
        if existing is None or len(wanted) != len(small.names):
            continue
        assert not isinstance(existing.names, cst.ImportStar)
        have = [a.name.value if isinstance(a.name, cst.Name) else "" for a in existing.names]
        names = have + [n for n in wanted if n not in have]
        if have == sorted(have, key=str.lower):
            names = sorted(names, key=str.lower)
        aliases = {a.name.value: a for a in existing.names if isinstance(a.name, cst.Name)}
        merged = [aliases.get(n, cst.ImportAlias(name=cst.Name(n))) for n in names]
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        merged = [a.with_changes(comma=comma if i < len(merged) - 1 else cst.MaybeSentinel.DEFAULT)
                  for i, a in enumerate(merged)]
        assert isinstance(stmt, cst.SimpleStatementLine)
        body[index] = stmt.with_changes(body=[existing.with_changes(names=merged)])
        return module.with_changes(body=body)
    group = _import_group(line, package_root)
    imports = [(i, _import_group(cst.Module([]).code_for_node(s).strip(), package_root))
               for i, s in enumerate(body) if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1
               and isinstance(s.body[0], (cst.Import, cst.ImportFrom))]
    if not imports:
        return insert_import(module, line)
    same = [i for i, g in imports if g == group]
    later = [i for i, g in imports if g > group]
    blank = cst.EmptyLine(indent=False)
    if same:
        body.insert(same[-1] + 1, new_stmt)
    elif later:
        before = body[later[0]]
        assert isinstance(before, cst.SimpleStatementLine)
        body[later[0]] = before.with_changes(leading_lines=[blank])
        body.insert(later[0], new_stmt.with_changes(leading_lines=before.leading_lines))
    else:
        body.insert(imports[-1][0] + 1, new_stmt.with_changes(leading_lines=[blank]))
    return module.with_changes(body=body)


def _validators(old_cls: cst.ClassDef, kept: Set[str], present: Set[str]) -> List[cst.FunctionDef]:
    """The old class's field validators that only validate fields being kept (and are not there yet)."""
    out: List[cst.FunctionDef] = []
    for name, func in class_functions(old_cls).items():
        if name in present:
            continue
        for decorator in func.decorators:
            call = decorator.decorator
            if not (isinstance(call, cst.Call) and dotted(call.func).split(".")[-1] == "field_validator"):
                continue
            targets = [a.value.evaluated_value for a in call.args
                       if a.keyword is None and isinstance(a.value, cst.SimpleString)]
            if targets and set(targets) <= kept:
                out.append(func)
    return out


class _FieldKeeper:
    """One keep_removed_fields run over the staged adapters."""

    def __init__(self, old_http: Path, new_http: Path, sdk_package_dir: Path, staging: Path, package: str) -> None:
        self.old_http = old_http
        self.new_http = new_http
        self.staging = staging
        self.package = package
        self.models_dir = staging / "adapters" / "models"
        version = spec_version(new_http)
        self.spec = f"spec {version}" if version else "the new spec"
        tree = staged_tree(staging, sdk_package_dir, package)
        root = sdk_root_of(sdk_package_dir, package)
        self.files = [(tree.display_path(p, root), p.read_text(encoding="utf-8"))
                      for p, _ in tree.source_files(skip=("http",))]

    def usages(self) -> List[Usage]:
        """Removed fields the SDK mentions and whose adapter does not declare them yet."""
        out: List[Usage] = []
        for field in removed_fields(self.old_http, self.new_http):
            if self._already_declared(field):
                continue
            where = first_usage(field, self.files)
            if where:
                out.append(Usage(field, where))
        return out

    def _already_declared(self, field: OldField) -> bool:
        path = find_adapter(self.models_dir, field.module, field.model)
        if path is None:
            return False
        cls = _adapter_class(current_index().cst_file(path), field.model)
        return cls is not None and field.name in _fields(cls)

    def keep(self, model: str, module: str, usages: Sequence[Usage]) -> List[str]:
        """Declare the used removed fields of one model on its adapter; return notes."""
        names = ", ".join(f"{model}.{u.field.name}" for u in usages)
        path = find_adapter(self.models_dir, module, model)
        if path is None:
            return [f"cannot keep field {u.field.model}.{u.field.name}: removed from {self.spec}, still used by "
                    f"the SDK (at {u.where}), but no adapter in adapters/models subclasses {model}"
                    for u in usages]
        rel = path.relative_to(self.staging).as_posix()
        code = path.read_text(encoding="utf-8")
        tree = current_index().cst_of(code)
        old_path = safe_join(self.old_http / "models", f"{module}.py")
        old_code = old_path.read_text(encoding="utf-8")
        old_cls = _classes(current_index().cst_of(old_code)).get(model)
        cls = _adapter_class(tree, model)
        if old_cls is None or cls is None:
            return [f"cannot keep {names}: {rel} changed while it was read"]
        old_module = f"{self.package}.http.models.{module}"
        notes: List[str] = []
        nodes: List[cst.BaseStatement] = []
        kept: List[OldField] = []
        comment = cst.EmptyLine(comment=cst.Comment(
            f"# {DEPRECATION_MARK}: removed from the server's API ({self.spec}); deprecated"))
        for usage in usages:
            field = usage.field
            needed = _type_names(field.node) - _BUILTINS
            lines = imports_for(needed, old_code, old_module, code)
            missing = self._removed_models(lines)
            unbound = needed - _bound(code) - _bound("".join(lines))
            if missing or unbound:
                why = (f"its type needs {', '.join(missing)}, which {self.spec} removed" if missing
                       else f"cannot import {', '.join(sorted(unbound))} for its type")
                notes.append(f"cannot keep field {model}.{field.name} (used at {usage.where}): {why}")
                continue
            nodes.append(field.node.with_changes(leading_lines=[comment]))
            kept.append(field)
        if not nodes:
            return notes
        present = set(class_functions(cls))
        validators = [v.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
                      for v in _validators(old_cls, {f.name for f in kept}, present)]
        nodes += validators
        new_cls = append_to_class(cls, nodes)
        tree = tree.with_changes(body=[new_cls if s is cls else s for s in tree.body])
        root = self.package.split(".")[0]
        wanted = set().union(*(_type_names(f.node) for f in kept), used_names(validators)) - _BUILTINS
        for line in imports_for(wanted, old_code, old_module, code):
            tree = add_import(tree, line, root)
        new_code = tree.code  # generating code from a large tree is not free: once
        if new_code != code:
            write_text_no_follow(path, new_code)
        extra = f" (with {', '.join(v.name.value for v in validators)})" if validators else ""
        notes += [f"kept field {model}.{f.name} in {rel}{extra}: removed from {self.spec}, still used by the SDK; "
                  f"deprecated" for f in kept]
        return notes

    def _removed_models(self, lines: Sequence[str]) -> List[str]:
        """Classes the import lines take from generated model modules the new http/ lacks."""
        prefix = f"{self.package}.http.models."
        out: List[str] = []
        for line in lines:
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "from" and parts[1].startswith(prefix):
                rest = parts[1][len(prefix):]
                if not safe_join(self.new_http / "models", rest.replace(".", "/") + ".py").is_file():
                    out += [n.strip(",") for n in parts[3:] if n not in ("as",)]
        return out


def _type_names(stmt: cst.SimpleStatementLine) -> Set[str]:
    """Names a field declaration reads (its annotation and default), not the field it binds."""
    parsed = ast.parse(cst.Module([]).code_for_node(stmt.with_changes(leading_lines=[])).strip())
    ann = parsed.body[0]
    assert isinstance(ann, ast.AnnAssign)
    parts = [ann.annotation] + ([ann.value] if ann.value is not None else [])
    return {n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)}


def _bound(code: str) -> Set[str]:
    bindings, _, _ = module_bindings(current_index().ast_of(code), "", False)
    return set(bindings)


def keep_removed_fields(old_http: Path, new_http: Path, sdk_package_dir: Path, staging: Path,
                        policy: str = "keep", package: str = DEFAULT_PACKAGE) -> Tuple[str, ...]:
    """Apply the removed-but-referenced policy to model fields (declared on adapters); return notes."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown policy {policy!r} for removed API items",
                          f"use one of: {', '.join(POLICIES)}")
    if policy == "drop" or not (old_http / "models").is_dir() or not (new_http / "models").is_dir():
        return ()
    keeper = _FieldKeeper(old_http, new_http, sdk_package_dir, staging, package)
    usages = keeper.usages()
    if policy == "fail":
        if usages:
            shown = "; ".join(f"{u.field.model}.{u.field.name} (used at {u.where})" for u in usages[:8])
            more = f" (+{len(usages) - 8} more)" if len(usages) > 8 else ""
            raise VerificationError(
                f"{len(usages)} model field(s) removed from the server's API are still used by the SDK: "
                f"{shown}{more}",
                "update the SDK code that uses them, or rerun with the keep policy to declare them on the "
                "adapters as deprecated",
            )
        return ()
    by_model: Dict[Tuple[str, str], List[Usage]] = {}
    for usage in usages:
        by_model.setdefault((usage.field.model, usage.field.module), []).append(usage)
    notes: List[str] = []
    for (model, module), group in by_model.items():
        notes += keeper.keep(model, module, group)
    for note in notes:
        log.info("%s", note)
    return tuple(notes)
