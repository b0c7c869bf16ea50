"""Turn a spec source (URL or file) into a parsed document, and write documents back stably."""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import yaml

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.config import FetchConfig
from conductor_regen.errors import RegenError, SpecFetchError, SpecParseError
from conductor_regen.spec.safety import check_spec_safety

try:  # libyaml is ~10x faster on a multi-megabyte spec
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

# The real Orkes spec nests 13 levels deep; 200 leaves room for any honest spec and stays far
# below the interpreter's recursion limit, which every later stage (fixups, dumps) relies on.
MAX_DEPTH = 200
# YAML aliases re-use a node; a few nested ones (a "billion laughs") expand a 400-byte file into
# gigabytes. The cap counts the nodes aliases would add once expanded, and is checked on the
# parser's events, before anything is expanded.
MAX_ALIAS_NODES = 1_000_000


class _SpecLoader(_BaseLoader):
    """A safe loader that keeps dates as strings: JSON, and so the written spec, has no date type."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass(frozen=True)
class LoadedSpec:
    """A parsed spec, where it came from, the sha256 of its dump_spec form and its info.version."""

    document: Dict[str, Any] = dataclasses.field(repr=False)
    source: str
    sha256: str
    version: str

    @classmethod
    def from_document(cls, document: Dict[str, Any], source: str) -> LoadedSpec:
        """Wrap an already parsed (or fixed-up) document, computing its hash and version."""
        return cls(document, source, sha256_hex(dump_spec(document)), _info_version(document))


def parse_spec(text: Union[bytes, str], source: str) -> Dict[str, Any]:
    """Parse JSON (when the text starts with `{`) or YAML into a mapping; errors name source:line:column."""
    decoded = _decode(text, source)
    stripped = decoded.lstrip()
    if not stripped:
        raise _empty(source)
    if stripped.startswith("{"):
        document = _parse_json(decoded, source)
    elif stripped.startswith("<"):
        raise SpecParseError(
            f"{source}: this is an HTML page, not an OpenAPI spec (a login page or wrong URL?)",
            "point at the JSON or YAML spec itself (a Conductor server serves it at /api-docs)",
        )
    else:
        document = _parse_yaml(decoded, source)
    if document is None:  # YAML holding only comments
        raise _empty(source)
    _check_depth(document, source)
    if not isinstance(document, dict):
        raise SpecParseError(
            f"{source}: the top level is {_kind(document)}, not a mapping",
            "an OpenAPI spec is a JSON object / YAML mapping with openapi, info and paths",
        )
    return document


def dump_spec(document: Mapping[str, Any]) -> bytes:
    """Serialize a document as pretty UTF-8 JSON; keys keep their order (it drives generator output)."""
    try:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SpecParseError(
            f"the spec cannot be written as JSON: {exc}",
            "the document must hold only strings, numbers, booleans, null, lists and mappings",
        ) from None


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def load_spec(source: str, fetch: FetchConfig, env: Optional[Mapping[str, str]] = None) -> LoadedSpec:
    """Load a spec from an http(s) URL (downloaded with fetch_spec) or from a local JSON/YAML file."""
    if _URL.match(source.strip()):
        from conductor_regen.spec.fetch import fetch_spec  # requests (0.1 s to import) only for a URL

        fetched = fetch_spec(source, fetch, env)
        origin = fetched.url
        document = parse_spec(fetched.body, origin)
    else:
        path = Path(source).expanduser()
        origin = str(path)
        document = parse_spec(_read_file(path, fetch.max_bytes), origin)
    # Before anything validates (the validator follows $refs) or generates (names become code).
    check_spec_safety(document, origin)
    spec = LoadedSpec.from_document(document, origin)
    log.info("loaded spec from %s (version %s, sha256 %s)", origin, spec.version or "unknown", spec.sha256[:12])
    return spec


def write_spec(document: Mapping[str, Any], path: Path) -> str:
    """Write dump_spec(document) to `path` atomically and return its sha256."""
    data = dump_spec(document)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise RegenError(
            f"cannot write the spec to {path}: {exc.strerror or exc}",
            "check that the directory is writable and the disk is not full",
        ) from exc
    log.debug("wrote %d bytes to %s", len(data), path)
    return sha256_hex(data)


def _decode(text: Union[bytes, str], source: str) -> str:
    if isinstance(text, str):
        return text[1:] if text.startswith("\ufeff") else text
    # UTF-32's little-endian BOM starts with UTF-16's, so it is tested first.
    if text.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return text.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SpecParseError(
            f"{source}: not {encoding.upper().replace('-SIG', '')} text (undecodable byte at offset {exc.start})",
            "save the spec as UTF-8",
        ) from None


def _empty(source: str) -> SpecParseError:
    return SpecParseError(
        f"{source}: the spec is empty", "check the file or URL; an interrupted download can leave an empty file"
    )


def _too_deep(source: str) -> SpecParseError:
    return SpecParseError(
        f"{source}: the spec nests more than {MAX_DEPTH} levels deep",
        "an OpenAPI spec nests a few dozen levels at most: check the file is the spec, not crafted input",
    )


def _check_depth(document: Any, source: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH (iteratively: the check itself must not recurse)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(source)
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def _not_a_json_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(decoded: str, source: str) -> Any:
    try:
        return json.loads(decoded, parse_constant=_not_a_json_number)
    except RecursionError:
        raise _too_deep(source) from None
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}"
        # An unterminated string runs to the end of the input, so it is a truncation too.
        if not exc.doc[exc.pos :].strip() or exc.msg.startswith("Unterminated string"):
            raise SpecParseError(
                f"{where}: truncated JSON: the input ends at line {exc.lineno} column {exc.colno} "
                f"before the document is complete ({exc.msg})",
                "the file looks cut short: download the spec again",
            ) from None
        raise SpecParseError(
            f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            "fix the JSON at that position, or download the spec again",
        ) from None
    except ValueError as exc:  # NaN/Infinity, or an integer over Python's 4300-digit conversion limit
        raise SpecParseError(
            f"{source}: a number JSON cannot hold: {str(exc).split(';')[0]}",
            "write the value as a string (or a finite number of ordinary size) at its source",
        ) from None


def _check_yaml_events(decoded: str, source: str) -> None:
    """Bound nesting and alias expansion from the parser's events, before any node is built."""
    anchors: dict[str, int] = {}
    # One [anchor, node count] per open collection; the bottom entry collects the documents.
    stack: list[list[Any]] = [[None, 0]]
    expanded = 0
    for event in yaml.parse(decoded, Loader=_BaseLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > MAX_DEPTH:
                raise _too_deep(source)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = stack.pop()
            if anchor is not None:
                anchors[anchor] = size
            stack[-1][1] += size
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchors[event.anchor] = 1
            stack[-1][1] += 1
        elif isinstance(event, yaml.AliasEvent):
            size = anchors.get(event.anchor or "", 1)
            expanded += size
            stack[-1][1] += size
            if expanded > MAX_ALIAS_NODES:
                raise SpecParseError(
                    f"{source}: YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)",
                    "an OpenAPI spec needs no such aliases: export it as JSON, or check where it came from",
                )


def _parse_yaml(decoded: str, source: str) -> Any:
    try:
        _check_yaml_events(decoded, source)
        document = yaml.load(decoded, Loader=_SpecLoader)  # _SpecLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = " ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise SpecParseError(
            f"{where}: invalid YAML: {reason}", "fix the YAML at that position, or download the spec again"
        ) from None
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecParseError(f"{source}: invalid YAML: {reason}", "save the spec as UTF-8 text") from None
    except RecursionError:
        raise _too_deep(source) from None
    except ValueError as exc:  # an integer over Python's 4300-digit conversion limit
        raise SpecParseError(
            f"{source}: a number YAML cannot hold: {str(exc).split(';')[0]}",
            "write the value as a string (or a number of ordinary size) at its source",
        ) from None
    if isinstance(document, dict):
        return _as_json_data(document, source)
    return document


def _as_json_data(document: Dict[Any, Any], source: str) -> Any:
    # YAML turns `200:` into an int key; a JSON round trip makes the document look exactly as
    # it will once written, so later stages see one shape whatever the input format was.
    try:
        return json.loads(json.dumps(document))
    except (TypeError, ValueError) as exc:
        raise SpecParseError(
            f"{source}: the YAML holds a value JSON cannot represent ({exc})",
            "use only strings, numbers, booleans, null, lists and mappings with scalar keys",
        ) from None


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


def _info_version(document: Mapping[str, Any]) -> str:
    info = document.get("info")
    value = info.get("version") if isinstance(info, dict) else None
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        if path.is_dir():
            raise SpecFetchError(
                f"{path} is a directory, not a spec file", "pass the spec file itself (e.g. api-docs.json)"
            )
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked on the open file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SpecFetchError(
                    f"{path} is {_file_kind(info.st_mode)}, not a regular file",
                    "save the spec to a file first (or pass its URL)",
                )
            if info.st_size > max_bytes:
                raise SpecFetchError(
                    f"{path} is {info.st_size} bytes, over the {max_bytes}-byte limit",
                    "check it is the spec; raise fetch.max_bytes if the spec really is that big",
                )
            data = handle.read(max_bytes + 1)  # a file that grows while read is cut off too
        if len(data) > max_bytes:
            raise SpecFetchError(
                f"{path} grew past the {max_bytes}-byte limit while it was read",
                "check it is the spec; raise fetch.max_bytes if the spec really is that big",
            )
        return data
    except FileNotFoundError:
        raise SpecFetchError(
            f"spec file not found: {path}",
            "check the path, or pass the server URL (e.g. http://localhost:8080) to download the spec",
        ) from None
    except OSError as exc:
        raise SpecFetchError(
            f"cannot read spec file {path}: {exc.strerror or exc}", "check the file's permissions"
        ) from exc


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")
