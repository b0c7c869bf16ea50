"""Operation identity: an operation is its HTTP method and path, never the name the generator gave it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from conductor_regen.errors import VerificationError
from conductor_regen.generator.naming import HTTP_METHOD_ORDER, api_class_name

log = logging.getLogger(__name__)

OperationKey = Tuple[str, str]  # ("GET", "/workflow/search")

# Generated API modules are flat: one class, methods indented by four spaces. The serialize
# helper of an operation ends at the next method (decorated or not) or at the end of the file.
_CLASS_RE = re.compile(r"^class (\w+)\b", re.M)
_SERIALIZE_RE = re.compile(r"^    def _(\w+)_serialize\(", re.M)
_NEXT_MEMBER_RE = re.compile(r"^    (?:@|def |async def )", re.M)
_METHOD_RE = re.compile(r"\bmethod=(['\"])(\w+)\1")
_PATH_RE = re.compile(r"\bresource_path=(['\"])(.*?)\1")
_ASYNC_DEF_RE = re.compile(r"^    async def (\w+)\(", re.M)


class _Identified:
    """What every operation record shares: its identity (method, path) and how it is written."""

    method: str
    path: str

    @property
    def key(self) -> OperationKey:
        """The operation's identity."""
        return (self.method, self.path)

    @property
    def label(self) -> str:
        """`GET /workflow/search`."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class ClientOperation(_Identified):
    """One operation of a generated client: where it lives and what Python calls it."""

    method: str
    path: str
    module: str  # "workflow_resource_api"
    class_name: str  # "WorkflowResourceApi"
    name: str  # "search1"
    # An operation with several tags is generated into several classes; the others are listed here.
    also_in: Tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """`WorkflowResourceApi.search`."""
        return f"{self.class_name}.{self.name}"

    @property
    def classes(self) -> Tuple[str, ...]:
        """Every class that holds the operation, its own first."""
        return (self.class_name, *self.also_in)


@dataclass(frozen=True)
class SpecOperation(_Identified):
    """One operation of a spec document."""

    method: str
    path: str
    operation_id: Optional[str]
    tags: Tuple[str, ...]

    @property
    def tag(self) -> str:
        """The first tag (the generator's default group when there is none)."""
        return self.tags[0] if self.tags else "default"

    @property
    def class_names(self) -> Tuple[str, ...]:
        """The API classes the generator puts this operation in, one per distinct tag."""
        names = tuple(dict.fromkeys(api_class_name(t) for t in self.tags)) if self.tags else ()
        return names or ("DefaultApi",)


def operation_key(method: str, path: str) -> OperationKey:
    """Normalise a method and path into an operation key."""
    return (method.upper(), path)


def label(key: OperationKey) -> str:
    """`GET /workflow/search` for a key."""
    return f"{key[0]} {key[1]}"


def module_operations(source: str, module: str) -> Tuple[Optional[str], Dict[OperationKey, str]]:
    """The class name and {key: method name} of one generated API module."""
    class_match = _CLASS_RE.search(source)
    public = set(_ASYNC_DEF_RE.findall(source))
    found: Dict[OperationKey, str] = {}
    for match in _SERIALIZE_RE.finditer(source):
        name = match.group(1)
        end = _NEXT_MEMBER_RE.search(source, match.end())
        body = source[match.end(): end.start() if end else len(source)]
        method, path = _METHOD_RE.search(body), _PATH_RE.search(body)
        if name not in public or not method or not path:
            log.debug("%s: _%s_serialize is not an operation helper; skipped", module, name)
            continue
        key = operation_key(method.group(2), path.group(2))
        if key in found:
            # Only a hand-edited module could do this; keep the first, as Python would not.
            log.warning("%s: %s is served by both %s and %s", module, label(key), found[key], name)
            continue
        found[key] = name
    return (class_match.group(1) if class_match else None), found


def read_client_operations(http_dir: Path) -> Dict[OperationKey, ClientOperation]:
    """Every operation of a generated client (`http_dir/api/*.py`), keyed by (METHOD, path)."""
    api_dir = http_dir / "api"
    if not api_dir.is_dir():
        raise VerificationError(
            f"{http_dir} has no api/ folder, so it is not a generated client",
            "point at the SDK's src/conductor/asyncio_client/http (or a staging tree's package)",
        )
    sites: Dict[OperationKey, list[Tuple[str, str, str]]] = {}
    for file in sorted(api_dir.glob("*.py")):
        if file.name == "__init__.py":
            continue
        class_name, ops = module_operations(file.read_text(encoding="utf-8"), file.stem)
        if class_name is None:
            log.debug("%s has no class; skipped", file.name)
            continue
        for key, name in ops.items():
            sites.setdefault(key, []).append((file.stem, class_name, name))
    result: Dict[OperationKey, ClientOperation] = {}
    for key in sorted(sites):
        (module, class_name, name), *others = sites[key]
        result[key] = ClientOperation(key[0], key[1], module, class_name, name,
                                      tuple(other[1] for other in others))
    return result


def spec_operations(document: Mapping[str, Any]) -> Dict[OperationKey, SpecOperation]:
    """Every operation of a spec document, keyed by (METHOD, path), in the generator's order."""
    result: Dict[OperationKey, SpecOperation] = {}
    paths = document.get("paths")
    for path, item in (paths.items() if isinstance(paths, dict) else ()):
        if not isinstance(item, dict):
            continue
        # The generator walks each path's operations in this fixed order, whatever the JSON order.
        for method in HTTP_METHOD_ORDER:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            op_id = operation.get("operationId")
            tags = operation.get("tags")
            result[operation_key(method, path)] = SpecOperation(
                method.upper(), path, op_id if isinstance(op_id, str) else None,
                tuple(dict.fromkeys(t for t in tags if isinstance(t, str))) if isinstance(tags, list) else (),
            )
    return result


def read_api_classes(http_dir: Path) -> Dict[str, str]:
    """{class name: module} of every generated API module under `http_dir/api`."""
    out: Dict[str, str] = {}
    for file in sorted((http_dir / "api").glob("*.py")):
        match = _CLASS_RE.search(file.read_text(encoding="utf-8")) if file.name != "__init__.py" else None
        if match:
            out[match.group(1)] = file.stem
    return dict(sorted(out.items()))
