"""Tiny generated clients (old and new) plus hand-written SDK code, analysed by the real functions.

`MiniSdk` writes a live package (`http/` as the generator lays it out: one class per API module,
each operation with its `_<name>_serialize` helper naming method and path; pydantic models) and a
staged `http/` for the new client, then runs what `invoke diff` and `regenerate` run on an assembled
tree: the call binding check, `usage_from`, and `analyze` with the new spec's operations.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.analysis.binding import BindingResult, check_bindings
from conductor_regen.analysis.changes import Change, analyze
from conductor_regen.analysis.impact import usage_from
from conductor_regen.analysis.source_tree import SourceTree, staged_tree

PACKAGE = "conductor.asyncio_client"
PACKAGE_PATH = Path("src/conductor/asyncio_client")


@dataclasses.dataclass(frozen=True)
class Op:
    """One generated operation: `async def name(self, <params>) -> returns`, sending METHOD path."""

    name: str
    method: str
    path: str
    params: str = ""
    returns: str = "None"


def api_module(cls: str, ops: Sequence[Op], imports: str = "") -> str:
    """A generated API module in the generator's layout (what `module_operations` reads)."""
    out = [f"from typing import Any, Dict, List, Optional\nfrom pydantic import StrictInt, StrictStr\n{imports}\n\n",
           f"class {cls}:\n    def __init__(self, api_client=None) -> None:\n        self.api_client = api_client\n"]
    for op in ops:
        params = f"self, {op.params}, " if op.params else "self, "
        out.append(f"\n    async def {op.name}(\n        {params}_request_timeout: Optional[float] = None,\n"
                   f"    ) -> {op.returns}:\n        _param = self._{op.name}_serialize()\n"
                   f"        return await self.api_client.call(_param)\n"
                   f"\n    def _{op.name}_serialize(self) -> Dict[str, Any]:\n"
                   f"        return dict(method='{op.method}', resource_path='{op.path}')\n")
    return "".join(out)


def model_module(cls: str, body: str) -> str:
    """A generated pydantic model with the given class body (indented by the caller or not)."""
    return ("import re\nfrom typing import Any, Dict, List, Optional\n"
            "from pydantic import BaseModel, Field, StrictInt, StrictStr, field_validator\n"
            "from typing_extensions import Annotated\n\n\n"
            f"class {cls}(BaseModel):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")


def _init(entries: Mapping[str, str], sub: str) -> str:
    return "".join(f"from {PACKAGE}.http.{sub}.{module} import {cls}\n" for module, cls in sorted(entries.items()))


def write_http(root: Path, apis: Mapping[str, Tuple[str, Sequence[Op]]], models: Mapping[str, Tuple[str, str]],
               api_imports: str = "") -> Path:
    """An http/ folder: {module: (class, ops)} and {module: (class, body)}; returns the folder."""
    files: Dict[str, str] = {"__init__.py": "", "api/__init__.py": _init({m: c for m, (c, _) in apis.items()}, "api"),
                             "models/__init__.py": _init({m: c for m, (c, _) in models.items()}, "models")}
    for module, (cls, ops) in apis.items():
        files[f"api/{module}.py"] = api_module(cls, ops, api_imports)
    for module, (cls, body) in models.items():
        files[f"models/{module}.py"] = model_module(cls, body)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def spec_for(apis: Mapping[str, Tuple[str, Sequence[Op]]], drop: Sequence[str] = ()) -> Dict[str, object]:
    """A spec whose paths are the operations of `apis` (less those named in `drop`): what the server has."""
    paths: Dict[str, Dict[str, object]] = {}
    for _module, (_cls, ops) in apis.items():
        for op in ops:
            if op.name not in drop:
                paths.setdefault(op.path, {})[op.method.lower()] = {"operationId": op.name}
    return {"openapi": "3.0.1", "paths": paths}


@dataclasses.dataclass
class MiniSdk:
    """An SDK checkout under `root` with a live http/, a staged new http/, and hand-written code."""

    root: Path

    @property
    def package_dir(self) -> Path:
        return self.root / PACKAGE_PATH

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    def write(self, rel: str, text: str) -> Path:
        """A hand-written file of the package (`orkes/client.py`, `adapters/models/x_adapter.py`)."""
        path = self.package_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in list(path.relative_to(self.package_dir).parents)[:-1]:
            init = self.package_dir / parent / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def clients(self, old_apis: Mapping[str, Tuple[str, Sequence[Op]]], new_apis: Mapping[str, Tuple[str, Sequence[Op]]],
                old_models: Mapping[str, Tuple[str, str]] = {}, new_models: Optional[Mapping[str, Tuple[str, str]]] = None,
                api_imports: str = "") -> None:
        """The live http/ (old) and the staged one (new); models unchanged unless `new_models` is given."""
        (self.package_dir / "__init__.py").parent.mkdir(parents=True, exist_ok=True)
        (self.package_dir / "__init__.py").write_text("", encoding="utf-8")
        write_http(self.package_dir / "http", old_apis, old_models, api_imports)
        write_http(self.staging / "http", new_apis, old_models if new_models is None else new_models, api_imports)

    def binding(self) -> BindingResult:
        """The call binding check of the hand-written code against the staged client."""
        live = SourceTree(PACKAGE, self.package_dir)
        new = staged_tree(self.staging, self.package_dir, PACKAGE)
        return check_bindings(live, new, self.root)

    def analyze(self, new_spec: Optional[Mapping[str, object]] = None, notes: Sequence[str] = (),
                binding: Optional[BindingResult] = None) -> List[Change]:
        """Every change, tagged with its impact, as `compare APIs` computes it."""
        found = binding if binding is not None else self.binding()
        usage = usage_from(found, [*notes, *found.rewritten])
        return list(analyze(self.package_dir / "http", self.staging / "http", None, new_spec, usage=usage))


def only(changes: Sequence[Change], subject: str, kind: Optional[str] = None) -> Change:
    """The one change about `subject` (of `kind`)."""
    found = [c for c in changes if c.operation == subject and (kind is None or c.kind == kind)]
    assert len(found) == 1, [(c.kind, c.operation, c.detail) for c in changes]
    return found[0]
