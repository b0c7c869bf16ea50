"""Scaffold adapters for new generated APIs and models (the guide's step 4), as idempotent codemods.

New API classes get `adapters/api/<module>.py` in the SDK's own style (a subclass one-liner, or a
facade holding the generated API), wired into the Orkes base client; new models get
`adapters/models/<module>_adapter.py` and an export line in `adapters/models/__init__.py`.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.compat.codemods import (
    add_to_all,
    append_to_class,
    class_functions,
    dotted,
    find_class,
    import_key,
    imports_for,
    insert_import,
    is_docstring,
    used_names,
)
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.references import module_bindings
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE
from conductor_regen.file_tree import safe_join
from conductor_regen.compat.scaffold import (
    ApiAdapter,
    adapter_style,
    GeneratedClass,
    ImportStyle,
    PAREN_WIDTH,
    detect_import_style,
    existing_api_adapters,
    generated_classes,
)

log = logging.getLogger(__name__)

def _subclass_module(import_source: str, base: str, adapter: str) -> str:
    return f"from {import_source} import {base}\n\n\nclass {adapter}({base}): ...\n"


class _Rename(cst.CSTTransformer):
    def __init__(self, names: Dict[str, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.names.get(updated.value, updated.value))

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        # Docstrings name the classes too ("Facade over the generated XApi").
        value = updated.value
        for old, new in self.names.items():
            value = re.sub(rf"\b{re.escape(old)}\b", new, value)
        return updated.with_changes(value=value)


def _facade_module(template: ApiAdapter, generated: GeneratedClass, adapter: str, new_http: Path,
                   package: str) -> str:
    """A facade adapter for `generated`, built like `template`: its __init__ (and __getattr__, if any)."""
    template_code = template.path.read_text(encoding="utf-8")
    template_cls = find_class(current_index().cst_of(template_code), template.cls)
    assert template_cls is not None
    kept = [f for n, f in class_functions(template_cls).items() if n.startswith("__") and n.endswith("__")]
    docstring = [s for s in template_cls.body.body[:1] if is_docstring(s)] \
        if isinstance(template_cls.body, cst.IndentedBlock) else []
    members: List[cst.BaseStatement] = [*docstring, *kept] or [cst.parse_statement("...\n")]
    renamed = template_cls.with_changes(body=cst.IndentedBlock(body=members), leading_lines=[])
    visited = renamed.visit(_Rename({template.cls: adapter, template.generated: generated.cls}))
    assert isinstance(visited, cst.ClassDef)
    renamed = visited
    gen_module = f"{package}.http.api.{generated.module}"
    gen_code = safe_join(new_http / "api", f"{generated.module}.py").read_text(encoding="utf-8")
    if "__getattr__" not in class_functions(template_cls):
        renamed = append_to_class(renamed, _delegates(gen_code, generated.cls, template.attribute))
    class_code = cst.Module(body=[renamed]).code
    # The template's own imports (ApiClient, typing) and whatever the copied signatures need.
    needed = used_names([renamed]) - {generated.cls}
    template_module = f"{package}.adapters.api.{template.path.stem}"
    lines = imports_for(needed, template_code, template_module, class_code)
    lines += imports_for(needed, gen_code, gen_module, class_code + "".join(lines))
    source = template.import_source if template.import_source == f"{package}.http.api" else gen_module
    lines.append(f"from {source} import {generated.cls}\n")
    return _import_block(lines, package) + "\n\n" + class_code


def _import_block(lines: Sequence[str], package: str) -> str:
    """Merge `from m import ...` lines per module; other packages first, then ours (isort's order)."""
    froms: Dict[str, Set[str]] = {}
    plain: Set[str] = set()
    for line in lines:
        if line.startswith("from "):
            module, names = line[5:].strip().split(" import ", 1)
            froms.setdefault(module, set()).update(n.strip() for n in names.split(","))
        else:
            plain.add(line.strip())
    ours = [m for m in froms if m == package or m.startswith(package + ".")]
    groups = [sorted(plain) + [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(set(froms) - set(ours))],
              [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(ours)]]
    return "\n".join("\n".join(g) + "\n" for g in groups if g)


def _delegates(gen_code: str, gen_cls: str, attribute: str) -> List[cst.BaseStatement]:
    """Methods that forward each public method of the generated class to `self.<attribute>`."""
    cls = find_class(current_index().cst_of(gen_code), gen_cls)
    if cls is None:
        return []
    out: List[cst.BaseStatement] = []
    for name, func in class_functions(cls).items():
        if name.startswith("_"):
            continue
        params = func.params
        named = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        args = [f"{a}={a}" for a in named if a != "self"]
        if isinstance(params.star_arg, cst.Param):
            args.append(f"*{params.star_arg.name.value}")
        if params.star_kwarg is not None:
            args.append(f"**{params.star_kwarg.name.value}")
        call = f"return {'await ' if func.asynchronous else ''}self.{attribute}.{name}("
        if len(call) + len(", ".join(args)) + 9 <= PAREN_WIDTH:
            code = call + ", ".join(args) + ")\n"
        else:
            code = call + "\n" + "".join(f"    {a},\n" for a in args) + ")\n"
        doc = cst.parse_statement(f'"""Forwards to {gen_cls}.{name}."""\n')
        out.append(func.with_changes(decorators=[], body=cst.IndentedBlock(body=[doc, cst.parse_statement(code)]),
                                     leading_lines=[cst.EmptyLine(indent=False)]))
    return out


class _Exports:
    """An `__init__.py` gaining exports: edited in memory, printed and written once (`save`).

    One print instead of one per export: the real SDK's models `__init__.py` has 400 imports.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.code = path.read_text(encoding="utf-8") if path.is_file() else ""
        self.tree = current_index().cst_of(self.code)
        self._styles: Dict[str, ImportStyle] = {}

    def style(self, prefix: str) -> ImportStyle:
        """The file's import style for `prefix`, read once: an import in that style never changes it."""
        if prefix not in self._styles:
            self._styles[prefix] = detect_import_style(self.code, prefix)
        return self._styles[prefix]

    def add(self, statement: str, public: str) -> bool:
        """Add the import and `public` to `__all__`; whether either was missing (the file changes)."""
        before = self.tree
        self.tree = add_to_all(insert_import(self.tree, statement), public)
        return self.tree is not before

    def save(self) -> None:
        """Write the file if any export changed it."""
        new_code = current_index().remember(self.tree)
        if new_code != self.code:
            write_text_no_follow(self.path, new_code)


@dataclasses.dataclass
class _Scaffolder:
    new_http: Path
    staging: Path
    package: str
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def adapters(self) -> Path:
        return self.staging / "adapters"

    def apis(self) -> List[Tuple[GeneratedClass, str]]:
        """Create missing API adapters; return (generated, adapter class) for each one created."""
        api_dir = self.adapters / "api"
        if not api_dir.is_dir():
            return []
        existing = existing_api_adapters(api_dir, self.package)
        covered = {a.generated for a in existing} | {a.cls for a in existing}
        style = adapter_style(existing)
        template = next((a for a in sorted(existing, key=lambda a: len(a.path.read_text(encoding="utf-8")))
                         if a.style == style), None)
        created: List[Tuple[GeneratedClass, str]] = []
        exports: Optional[_Exports] = None  # read when the first adapter is created
        for gen in generated_classes(self.new_http / "api" / "__init__.py", f"{self.package}.http.api", "Api"):
            adapter = f"{gen.cls}Adapter"
            if gen.cls in covered or adapter in covered:
                continue
            path = safe_join(api_dir, f"{gen.module}.py")
            if path.exists():
                log.warning("not scaffolding %s: %s exists but defines no adapter for it", gen.cls, path)
                continue
            if style == "facade" and template is not None:
                code = _facade_module(template, gen, adapter, self.new_http, self.package)
            else:
                source = template.import_source if template is not None else f"{self.package}.http.api"
                if source != f"{self.package}.http.api":
                    source = f"{self.package}.http.api.{gen.module}"
                code = _subclass_module(source, gen.cls, adapter)
            write_text_no_follow(path, code)
            created.append((gen, adapter))
            self.notes.append(f"created adapters/api/{path.name} ({adapter}, {style} style)")
            exports = exports or _Exports(safe_join(api_dir, "__init__.py"))
            self._export(exports, f"{self.package}.adapters.api", gen.module, adapter, adapter, only_if_exporting=True)
        if exports is not None:
            exports.save()
        return created

    def models(self) -> None:
        """Create missing model adapters and their exports."""
        model_dir = self.adapters / "models"
        if not model_dir.is_dir():
            return
        exports = _Exports(safe_join(model_dir, "__init__.py"))
        exported, _, _ = module_bindings(current_index().ast_of(exports.code), f"{self.package}.adapters.models", True)
        import_source = self._model_import_source(model_dir)
        for gen in generated_classes(self.new_http / "models" / "__init__.py", f"{self.package}.http.models"):
            adapter = f"{gen.cls}Adapter"
            path = safe_join(model_dir, f"{gen.module}_adapter.py")
            if not path.exists():
                source = import_source if import_source == f"{self.package}.http.models" \
                    else f"{self.package}.http.models.{gen.module}"
                write_text_no_follow(path, _subclass_module(source, gen.cls, adapter))
                self.notes.append(f"created adapters/models/{path.name} ({adapter})")
            elif adapter not in {s.name for s in current_index().ast_of(path.read_text(encoding="utf-8")).body
                                 if isinstance(s, ast.ClassDef)}:
                log.warning("not exporting %s: %s defines no %s", gen.cls, path, adapter)
                continue
            if gen.cls not in exported:
                self._export(exports, f"{self.package}.adapters.models", f"{gen.module}_adapter", adapter, gen.cls)
        exports.save()

    def _model_import_source(self, model_dir: Path) -> str:
        http_models = f"{self.package}.http.models"
        for path in sorted(model_dir.glob("*_adapter.py")):
            for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith(http_models):
                    return stmt.module
        return http_models

    def _export(self, exports: _Exports, parent: str, module: str, adapter: str, public: str,
                only_if_exporting: bool = False) -> None:
        """Add `from parent.module import adapter as public` (and `__all__`) to an `__init__.py`."""
        if only_if_exporting and not any(import_key(s).startswith(parent + ".") for s in exports.tree.body):
            return
        names = adapter if adapter == public else f"{adapter} as {public}"
        if exports.add(exports.style(parent + ".").render(f"{parent}.{module}", names), public):
            rel = exports.path.relative_to(self.staging).as_posix()
            self.notes.append(f"exported {public} from {rel}")

    def wire(self, created: Sequence[Tuple[GeneratedClass, str]]) -> None:
        """Give the Orkes base client an attribute for each new API adapter."""
        if not created or not (self.staging / "orkes").is_dir():
            return
        path = safe_join(self.staging, "orkes/orkes_base_client.py")
        if not path.is_file():
            return
        code = path.read_text(encoding="utf-8")
        tree = current_index().cst_of(code)
        prefix = f"{self.package}.adapters.api."
        style = detect_import_style(code, prefix)
        for gen, adapter in created:
            tree = self._wire_one(tree, gen, adapter, style, prefix)
        new_code = tree.code  # generating code from a large tree is not free: once
        if new_code != code:
            write_text_no_follow(path, new_code)

    def _wire_one(self, tree: cst.Module, gen: GeneratedClass, adapter: str, style: ImportStyle,
                  prefix: str) -> cst.Module:
        adapter_names = {_bound_name(s) for s in tree.body if import_key(s).startswith(prefix)} - {""}
        for stmt in tree.body:
            if not isinstance(stmt, cst.ClassDef):
                continue
            init = class_functions(stmt).get("__init__")
            if init is None or not isinstance(init.body, cst.IndentedBlock):
                continue
            body = list(init.body.body)
            made = [(i, a) for i, a in enumerate(_self_assignments(body)) if a is not None and a[1] in adapter_names]
            if not made:
                continue
            if any(a[1] == adapter for _, a in made if a is not None):
                return tree
            taken = {a[0] for a in _self_assignments(body) if a is not None}
            choices = [gen.module.replace("_resource_api", "_api"), gen.module]
            attr = next((c for c in choices if c not in taken), "")
            if not attr:
                self.notes.append(f"not wired: {adapter} (attributes {', '.join(choices)} are taken)")
                return tree
            index, last = made[-1]
            assert last is not None
            args = last[2]
            body.insert(index + 1, cst.parse_statement(f"self.{attr} = {adapter}({args})\n"))
            new_init = init.with_changes(body=init.body.with_changes(body=body))
            cls = stmt.with_changes(body=stmt.body.with_changes(
                body=[new_init if s is init else s for s in stmt.body.body]))
            tree = tree.with_changes(body=[cls if s is stmt else s for s in tree.body])
            tree = insert_import(tree, style.render(f"{prefix}{gen.module}", adapter))
            self.notes.append(f"wired self.{attr} = {adapter}(...) into orkes/orkes_base_client.py")
            return tree
        self.notes.append(f"not wired: {adapter} (no Orkes base client __init__ builds API adapters)")
        return tree


def _bound_name(stmt: cst.CSTNode) -> str:
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.ImportFrom):
        names = stmt.body[0].names
        if isinstance(names, Sequence) and len(names) == 1:
            alias = names[0]
            return alias.asname.name.value if alias.asname else dotted(alias.name)  # type: ignore[union-attr]
    return ""


def _self_assignments(body: Sequence[cst.BaseStatement]) -> List[Optional[Tuple[str, str, str]]]:
    """For each statement: (attribute, class, call arguments) if it is `self.attr = Class(args)`."""
    out: List[Optional[Tuple[str, str, str]]] = []
    for stmt in body:
        found: Optional[Tuple[str, str, str]] = None
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
            assign = stmt.body[0]
            target = assign.targets[0].target if len(assign.targets) == 1 else None
            if (isinstance(target, cst.Attribute) and dotted(target.value) == "self"
                    and isinstance(assign.value, cst.Call) and isinstance(assign.value.func, cst.Name)):
                args = cst.Module([]).code_for_node(assign.value).split("(", 1)[1].rsplit(")", 1)[0]
                found = (target.attr.value, assign.value.func.value, args)
        out.append(found)
    return out


def scaffold_adapters(new_http: Path, staging: Path, package: str = DEFAULT_PACKAGE) -> Tuple[str, ...]:
    """Create adapters (and exports, and base-client wiring) for generated classes that lack one."""
    scaffolder = _Scaffolder(new_http, staging, package)
    created = scaffolder.apis()
    scaffolder.models()
    scaffolder.wire(created)
    for note in scaffolder.notes:
        log.info("%s", note)
    return tuple(scaffolder.notes)
