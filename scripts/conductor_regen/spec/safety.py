"""What a spec may hold: the first wall between a server's document and generated code.

A spec is untrusted data. OpenAPI Generator 7.14.0 writes some of its strings into Python source
without escaping them (a property name lands as `alias="..."`, a pattern inside `r"..."`), so a
crafted name is code that runs when the client is imported. Its parsers also follow any `$ref`,
to a file or a URL. This module refuses such documents before anything validates or generates
them, naming the JSON pointer of the first offending value, and never reading a reference's target.

The rules, by where a string ends up:
- names (schema, property, parameter, header, media type, security scheme and path keys,
  operationIds, tags, discriminators, formats, servers): no quote, no backslash, no control or
  invisible formatting character, at most MAX_NAME characters;
- enum values: written escaped by the generator (the real spec has an apostrophe in one), so only
  control characters are refused;
- patterns: written into raw strings, where a backslash before a quote ends the string;
- string defaults: written as `'...'` without escaping when the property has an enum, so no quote,
  backslash or line break;
- every string: no NUL or other C0 control but tab and line breaks, no lone surrogate, at most
  MAX_TEXT characters; numbers must be finite.
Names that the generator would map to one Python name or one file (`Foo` and `foo`, `a_b` and `aB`)
are refused with both names: one would silently replace the other.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Dict, Iterator, List, Optional, Tuple

from conductor_regen.errors import SpecValidationError

# File names are at most 255 bytes; the generator adds `_api.py` to a tag and `.py` to a schema.
MAX_NAME = 200
# Jackson (inside the generator) refuses strings over 20 M characters with a bare stack trace;
# the real spec's longest string has 601.
MAX_TEXT = 1_000_000
_DIALECTS = ("http://json-schema.org/", "https://json-schema.org/", "https://spec.openapis.org/oas/3.1/dialect/")
_NAME_BREAKERS = frozenset("\"'\\")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"})
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# A quote after an odd number of backslashes: the generator's raw string `r"..."` ends there.
_RAW_BREAK = re.compile(r"(?<!\\)(?:\\\\)*\\[\"']")
_ODD_TRAILING_BACKSLASH = re.compile(r"(?<!\\)(?:\\\\)*\\$")
_OPERATION_KEYS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class SpecSafetyError(SpecValidationError):
    """The spec holds something that must never reach generated code or a parser that fetches."""


def pointer(parts: Tuple[str, ...]) -> str:
    """A JSON pointer (RFC 6901) for a path of keys, printable: long keys cut, invisible characters escaped."""
    shown = []
    for part in parts:
        part = part.replace("~", "~0").replace("/", "~1")
        part = part[:60] + "..." if len(part) > 60 else part
        shown.append("".join(c if c.isprintable() and unicodedata.category(c) not in _BAD_CATEGORIES
                             else f"\\u{ord(c):04x}" for c in part))
    return "#/" + "/".join(shown) if parts else "#"


def _shown(value: str, limit: int = 60) -> str:
    """A short, printable rendering of spec text for a message (never the raw control characters)."""
    text = repr(value[:limit])
    return text + ("..." if len(value) > limit else "")


def _refuse(source: str, parts: Tuple[str, ...], what: str, hint: str) -> SpecSafetyError:
    return SpecSafetyError(f"{source}: {pointer(parts)}: {what}", hint)


def _walk(document: Any) -> Iterator[Tuple[Tuple[str, ...], Any, Any]]:
    """Every node with its key path and its parent, iteratively (lists can be long)."""
    stack: List[Tuple[Tuple[str, ...], Any, Any]] = [((), document, None)]
    while stack:
        parts, node, parent = stack.pop()
        yield parts, node, parent
        if isinstance(node, dict):
            stack.extend((parts + (str(k),), v, node) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((parts + (str(i),), v, node) for i, v in reversed(list(enumerate(node))))


def _name_problem(value: str) -> Optional[str]:
    if len(value) > MAX_NAME:
        return f"a name of {len(value)} characters (at most {MAX_NAME})"
    for char in value:
        if char in _NAME_BREAKERS:
            return f"a name with {char!r} in it, which could end a Python string in generated code"
        if unicodedata.category(char) in _BAD_CATEGORIES:
            return f"a name with the control or invisible character U+{ord(char):04X}"
    return None


# Mappings whose keys are names, and fields whose string values are names.
_NAMED_KEYS = frozenset({"properties", "paths", "content", "responses", "headers", "variables", "securitySchemes",
                         "encoding", "callbacks", "links", "mapping", "patternProperties"})
_NAME_FIELDS = ("operationId", "propertyName", "format", "scheme", "bearerFormat")
_NAME_LISTS = frozenset({"required", "x-enum-varnames"})


def _names(parts: Tuple[str, ...], node: Any) -> Iterator[Tuple[Tuple[str, ...], str]]:
    """The names held at this node that reach generated code, each with its key path."""
    key = parts[-1] if parts else ""
    above = parts[-2] if len(parts) > 1 else ""
    if isinstance(node, dict):
        if key in _NAMED_KEYS or above == "components":
            yield from ((parts + (str(name),), str(name)) for name in node)
        if key == "mapping":  # discriminator targets become class names
            yield from ((parts + (str(name),), v) for name, v in node.items() if isinstance(v, str))
        for field in _NAME_FIELDS:
            if isinstance(node.get(field), str):
                yield parts + (field,), node[field]
        # parameters and headers (`in`), security schemes and top-level tags have a `name`
        if isinstance(node.get("name"), str) and ("in" in node or above in ("securitySchemes", "tags")):
            yield parts + ("name",), node["name"]
        if isinstance(node.get("in"), str):
            yield parts + ("in",), node["in"]
        if above == "servers" and isinstance(node.get("url"), str):
            yield parts + ("url",), node["url"]
        if key in _OPERATION_KEYS and isinstance(node.get("tags"), list):
            yield from ((parts + ("tags", str(i)), t) for i, t in enumerate(node["tags"]) if isinstance(t, str))
    elif isinstance(node, list) and key in _NAME_LISTS:
        yield from ((parts + (str(i),), item) for i, item in enumerate(node) if isinstance(item, str))


def _reference_problem(parts: Tuple[str, ...], node: Dict[str, Any]) -> Optional[Tuple[Tuple[str, ...], str]]:
    for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
        ref = node.get(keyword)
        if isinstance(ref, str) and not (ref == "#" or ref.startswith("#/")):
            return parts + (keyword,), f"{keyword} {_shown(ref)} points outside the spec"
    if isinstance(node.get("$id"), str):
        # A base URI makes every later local reference resolve against it, to a URL.
        return parts + ("$id",), f"$id {_shown(node['$id'])} would make references resolve outside the spec"
    schema = node.get("$schema")
    if isinstance(schema, str) and not schema.startswith(_DIALECTS):
        return parts + ("$schema",), f"$schema {_shown(schema)} is not a JSON Schema dialect"
    dialect = node.get("jsonSchemaDialect") if not parts else None
    if isinstance(dialect, str) and not dialect.startswith(_DIALECTS):
        return ("jsonSchemaDialect",), f"jsonSchemaDialect {_shown(dialect)} is not a JSON Schema dialect"
    return None


def check_spec_safety(document: Dict[str, Any], source: str) -> None:
    """Raise SpecSafetyError on the first value that could run as code, reach outside the spec or be lost."""
    clashes = _Clashes(document)
    for parts, node, parent in _walk(document):
        if isinstance(node, dict):
            clashes.collect(parts, node)
            found = _reference_problem(parts, node)
            if found is not None:
                raise _refuse(source, found[0], found[1],
                              "only local references (#/...) are allowed and none is ever fetched; bundle a "
                              "multi-file spec into one document first")
            for name in node:
                _check_text(source, parts + (str(name),), str(name), is_key=True)
            default = node.get("default")
            if isinstance(default, str) and any(c in _NAME_BREAKERS or not c.isprintable() for c in default):
                raise _refuse(source, parts + ("default",),
                              f"the default {_shown(default)} has a quote, a backslash or a line break, which the "
                              "generator writes unescaped for an enum's default",
                              "drop the character from the default (or the default) on the server")
        elif isinstance(node, str):
            _check_text(source, parts, node)
            if parts and parts[-1] == "pattern" and isinstance(parent, dict):
                _check_pattern(source, parts, node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise _refuse(source, parts, f"the number {node} is not finite",
                          "JSON has no NaN or Infinity: write the value as a string or a finite number")
        for name_parts, name in _names(parts, node):
            problem = _name_problem(name)
            if problem is not None:
                shown = "" if name_parts[-1] == name and len(name) <= 60 else f": {_shown(name)}"
                raise _refuse(source, name_parts, f"{problem}{shown}",
                              "fix the name on the server (names must be plain identifiers or URL paths); "
                              "a spec that holds it is never generated from")
    clashes.check(source)


def _check_text(source: str, parts: Tuple[str, ...], text: str, is_key: bool = False) -> None:
    if len(text) > MAX_TEXT:
        what = "a key" if is_key else "a string"
        raise _refuse(source, parts[:-1] if is_key else parts, f"{what} of {len(text)} characters (at most {MAX_TEXT})",
                      "check the spec is the server's, not crafted input; shorten the text at its source")
    bad = _TEXT_CONTROLS.search(text)
    if bad is not None:
        raise _refuse(source, parts, f"the control character U+{ord(bad.group()):04X} in {_shown(text)}",
                      "remove it from the spec's source (only tabs and line breaks are allowed in text)")


def _check_pattern(source: str, parts: Tuple[str, ...], pattern: str) -> None:
    if any(unicodedata.category(c) in ("Zl", "Zp") or c in "\r\n" for c in pattern):
        problem, hint = "a line break", "write it as \\n in the pattern"
    elif _RAW_BREAK.search(pattern) or _ODD_TRAILING_BACKSLASH.search(pattern):
        problem, hint = "a backslash before a quote or at the end", "write the quote without a backslash"
    else:
        return
    raise _refuse(source, parts, f"the pattern {_shown(pattern)} has {problem}, which would end the "
                  "generator's raw string", hint + " on the server")


def mangled(name: str) -> str:
    """What is left of a name once the generator has made an identifier or file name of it.

    The generator drops every character but ASCII letters and digits (or turns them into `_`),
    and changes case and underscores; two names with the same result here may become one class,
    one field or one file (on a case-insensitive file system too). It may also not: erring
    towards a refusal costs a rename, erring the other way silently loses a model.
    """
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _clash(names: List[str]) -> Optional[Tuple[str, str]]:
    seen: Dict[str, str] = {}
    for name in names:
        key = mangled(name)
        if key in seen and seen[key] != name:
            return seen[key], name
        seen.setdefault(key, name)
    return None


class _Clashes:
    """The groups of names that must stay apart, gathered on the one walk of the document, checked at its end."""

    def __init__(self, document: Dict[str, Any]) -> None:
        components = document.get("components")
        schemas = components.get("schemas") if isinstance(components, dict) else None
        self.groups: List[Tuple[Tuple[str, ...], List[str], str]] = []
        if isinstance(schemas, dict):
            self.groups.append((("components", "schemas"), [str(n) for n in schemas], "schemas"))
        self.tags: List[str] = []

    def collect(self, parts: Tuple[str, ...], node: Dict[str, Any]) -> None:
        if isinstance(node.get("properties"), dict):
            self.groups.append((parts + ("properties",), [str(n) for n in node["properties"]], "properties"))
        if len(parts) == 3 and parts[0] == "paths" and parts[-1] in _OPERATION_KEYS:
            self.tags += [t for t in node.get("tags") or [] if isinstance(t, str)]
            params = [p.get("name") for p in node.get("parameters") or [] if isinstance(p, dict)]
            self.groups.append((parts + ("parameters",), [p for p in params if isinstance(p, str)], "parameters"))

    def check(self, source: str) -> None:
        for parts, names, kind in [*self.groups, (("paths",), sorted(set(self.tags)), "tags")]:
            pair = _clash(names)
            if pair is not None:
                raise _refuse(source, parts, f"the {kind} {_shown(pair[0])} and {_shown(pair[1])} would become "
                              "the same Python name or file, and one would silently replace the other",
                              "rename one of them on the server")
