"""How OpenAPI Generator 7.14.0 (python, asyncio) names API classes, modules and methods.

Re-implements the generator's own name derivation so names can be predicted from a spec
without running it. Each step names the Java method it mirrors; every rule here was checked
against generated output (see tests/test_name_pinning.py and the real Orkes spec).
"""

from __future__ import annotations

import re
from typing import Optional

# AbstractPythonCodegen's reserved words (setReservedWordsLowerCase): python keywords plus
# names the generated method bodies use as locals. A method named after one gets `call_`.
RESERVED_WORDS = frozenset({
    "field", "all_params", "resource_path", "path_params", "query_params", "header_params",
    "form_params", "local_var_files", "body_params", "auth_settings", "property", "schema",
    "base64", "json", "date", "float",
    "and", "del", "from", "not", "while", "as", "elif", "global", "or", "with", "assert", "else",
    "if", "pass", "yield", "break", "except", "import", "print", "class", "exec", "in", "raise",
    "continue", "finally", "is", "return", "def", "for", "lambda", "try", "self", "nonlocal",
    "none", "true", "false", "async", "await",
})

# DefaultCodegen.removeNonNameElementToCamelCase splits on these (the "." is the default
# removeOperationIdPrefixDelimiter), so `search_1` becomes `search1`, never `search_1`.
_NON_NAME = re.compile(r"[-_:;#.]")
_UNDERSCORE_1 = re.compile(r"([A-Z]+)([A-Z][a-z][a-z]+)")
_UNDERSCORE_2 = re.compile(r"([a-z\d])([A-Z])", re.ASCII)
_NOT_WORD = re.compile(r"\W", re.ASCII)
_STARTS_WITH_DIGIT = re.compile(r"\d", re.ASCII)
_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")
HTTP_METHOD_ORDER = ("get", "head", "put", "post", "delete", "patch", "options", "trace")


def underscore(word: str) -> str:
    """StringUtils.underscore: `getHTTPStatus` -> `get_http_status`."""
    out = word.replace(".", "/").replace("$", "__")
    out = _UNDERSCORE_1.sub(r"\1_\2", out)
    out = _UNDERSCORE_2.sub(r"\1_\2", out)
    return out.replace("-", "_").replace(" ", "_").lower()


def sanitize_name(name: str) -> str:
    """DefaultCodegen.sanitizeName: brackets, dots, dashes, pipes, spaces and slashes to `_`, drop the rest."""
    if name == "$":
        return "value"
    out = name.replace("[]", "")
    for old, new in (("[", "_"), ("]", ""), ("(", "_"), (")", ""), (".", "_"), ("-", "_"), ("|", "_"),
                     (" ", "_"), ("/", "_"), ("\\", "_")):
        out = out.replace(old, new)
    return _NOT_WORD.sub("", out)


def camelize(word: str) -> str:
    """StringUtils.camelize for plain identifiers: `human_task` -> `HumanTask`."""
    out = word[:1].upper() + word[1:]
    # `_x` becomes `X`; an underscore before an upper-case letter or a digit is just dropped.
    out = re.sub(r"_(.)", lambda m: m.group(1).upper(), out)
    out = re.sub(r"-(.)", lambda m: m.group(1).upper(), out)
    return out.replace("_", "")


def _non_name_to_camel(operation_id: str) -> str:
    """DefaultCodegen.removeNonNameElementToCamelCase."""
    joined = "".join(part[:1].upper() + part[1:] for part in _NON_NAME.split(operation_id))
    return joined[:1].lower() + joined[1:]


def generated_operation_id(method: str, path: str) -> str:
    """The id the generator makes up for an operation without one (getOrGenerateOperationId)."""
    parts = (path.replace("{", "").replace("}", "") + "/" + method.lower()).split("/")
    built = "root" if path == "/" else ""
    for part in parts:
        if part:
            built += (part[:1].lower() + part[1:]) if not built else camelize(part)
    return sanitize_name(built)


def python_method_name(operation_id: Optional[str], method: str = "get", path: str = "/") -> str:
    """The Python method name the generator makes of an operationId (before per-class de-duplication)."""
    raw = operation_id if operation_id and operation_id.strip() else generated_operation_id(method, path)
    name = _non_name_to_camel(raw)
    if not name:
        return ""  # the generator itself refuses an empty method name
    if name.lower() in RESERVED_WORDS:
        name = "call_" + name
    if _STARTS_WITH_DIGIT.match(name):
        name = "call_" + name
    return underscore(sanitize_name(name))


def operation_id_for(name: str) -> Optional[str]:
    """An operationId that makes the generator produce exactly the method `name`, or None if none does."""
    # A space survives removeNonNameElementToCamelCase and becomes `_` in sanitizeName, so
    # `foo 1` is the only way to get `foo_1` (an underscore before a digit is otherwise lost).
    for candidate in (name, re.sub(r"_(?=\d)", " ", name)):
        if python_method_name(candidate) == name:
            return candidate
    return None


def api_class_name(tag: Optional[str]) -> str:
    """The API class an operation tagged `tag` lands in (sanitizeTag + toApiName); untagged is DefaultApi."""
    if not tag:
        return "DefaultApi"
    # A tag starting with a digit gives a class like `2ndTagApi` (not valid Python); mirrored as is.
    name = camelize(sanitize_name(tag))
    return camelize(name + "_Api") if name else "DefaultApi"


def split_suffix(name: str) -> tuple[str, Optional[int]]:
    """`search12` -> ("search", 12); a name without trailing digits has suffix None."""
    match = _TRAILING_DIGITS.match(name)
    if not match or not match.group(1):
        return name, None
    return match.group(1), int(match.group(2))
