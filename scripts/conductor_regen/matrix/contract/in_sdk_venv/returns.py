"""Does what an SDK method returned keep its promise? Its return annotation, and the response's data.

Two rules, checked in this order on a method that returned:

- `wrong return type`: the value is not what the annotation promises. Classes by `isinstance`
  (an adapter subclass of the promised class is fine; a generated `SignalResponse` where a
  `WorkflowRunAdapter` is promised is not), `Optional`/`Union` by any member, `List[X]`,
  `Dict[K, V]`, `Tuple`, `Set` by their elements, `Literal` by its values, primitives strictly
  (`bool` is not an `int`; an `int` is a `float`; `bytearray` is `bytes`), `-> None` by `None`.
- `drops response data`: a value the mock server sent does not reach the returned object. A
  model is compared with the response object key by key through its fields' aliases (and names):
  a key with a value whose field is None, or that no field (nor the model's extra data) takes, is
  dropped. Lists are compared element by element and maps key by key, at any depth; a model
  inside a field only has to be there (see `dropped`). A method that returns None where it
  promises `Optional[X]` drops a response object.

The response compared is the one of the method's success responses whose keys overlap the
returned model's fields the most (the last one on a tie); a list is compared with the last list
response, a map with the object response that shares most keys. A value with no response of its
shape (a text, a number, a list made from an object's field) has nothing to compare.

The type rule does not judge (`unjudged`, with the reason) a method whose annotation promises
nothing (missing, `Any`, `object`, or one that cannot be resolved), nor a mismatch when every
response of the method is one the spec leaves free-form (`{type: object}` with no properties):
what the mock sends there is a guess (`/secrets/{key}/exists` is such an object; a server sends
`true`), and the typecheck session sees that the generated method returns `object`. Such a
method still fails when it drops data.
Runs inside the SDK's virtualenv: no conductor_regen imports.
"""

from __future__ import annotations

import collections.abc
import typing
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

WRONG_TYPE = "wrong return type"
DROPPED = "drops response data"
NO_ANNOTATION = "no annotation"
MAX_DEPTH = 10  # how deep the type and data checks look

_MISSING = object()  # a method without a return annotation
_GENERIC_NAMES = {list: "List", dict: "Dict", tuple: "Tuple", set: "Set", frozenset: "FrozenSet", type: "Type"}
_SEQUENCES = (list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable,
              collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SETS = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)


def return_hint(func: Any, hints: Mapping[str, Any]) -> Any:
    """The method's return annotation, resolved when possible (`hints`: its resolved type hints)."""
    target = getattr(func, "__func__", func)
    annotations = getattr(target, "__annotations__", {}) or {}
    if "return" not in annotations:
        return _MISSING
    return hints.get("return", annotations["return"])


def promises_nothing(hint: Any) -> bool:
    """Missing, Any or object: the annotation makes no promise about the value."""
    return hint is _MISSING or hint is Any or hint is object


def render(hint: Any, depth: int = 0) -> str:
    """`Optional[WorkflowRunAdapter]`, `Dict[str, List[WorkflowAdapter]]`, `None`: an annotation for a message."""
    if hint is _MISSING:
        return NO_ANNOTATION
    if hint is None or hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    if hint is Ellipsis:
        return "..."
    if isinstance(hint, str):
        return hint
    if isinstance(hint, typing.ForwardRef):
        return hint.__forward_arg__
    if depth > MAX_DEPTH:
        return "..."
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return render(args[0], depth + 1)
    if origin is typing.Union or _is_union_type(hint):
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(others) < len(args):
            return f"Optional[{render(others[0], depth + 1)}]"
        return f"Union[{', '.join(render(a, depth + 1) for a in args)}]"
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is not None:
        name = _GENERIC_NAMES.get(origin) or getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(render(a, depth + 1) for a in args)}]" if args else name
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def describe(value: Any, depth: int = 0) -> str:
    """The type of a returned value, containers with their elements' types: `List[SignalResponse]`."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple, set, frozenset)) and depth < 3:
        name = {list: "List", tuple: "Tuple", set: "Set", frozenset: "FrozenSet"}.get(type(value), type(value).__name__)
        kinds = sorted({describe(v, depth + 1) for v in value})
        return f"{name}[{' | '.join(kinds)}]" if kinds else f"empty {name.lower()}"
    if isinstance(value, dict) and depth < 3 and not _is_model(value):
        keys = sorted({describe(k, depth + 1) for k in value})
        values = sorted({describe(v, depth + 1) for v in value.values()})
        return f"Dict[{' | '.join(keys)}, {' | '.join(values)}]" if value else "empty dict"
    return type(value).__name__


def _resolve(hint: Any, namespace: Mapping[str, Any]) -> Any:
    """A quoted name inside an annotation (`Optional['TaskAdapter']`) evaluated in the method's module."""
    if isinstance(hint, (str, typing.ForwardRef)):
        text = hint if isinstance(hint, str) else hint.__forward_arg__
        try:
            return eval(text, dict(namespace))  # noqa: S307 - the SDK's own annotation
        except Exception:
            return Any  # cannot be read: it promises nothing we can check
    return hint


def conforms(value: Any, hint: Any, namespace: Mapping[str, Any] = {}, depth: int = 0) -> bool:  # noqa: B006
    """Is `value` what `hint` promises? (What cannot be checked, a Callable or a TypeVar, conforms.)"""
    hint = _resolve(hint, namespace)
    if depth > MAX_DEPTH or promises_nothing(hint):
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return conforms(value, args[0], namespace, depth)
    if origin is typing.Union or _is_union_type(hint):
        return any(conforms(value, a, namespace, depth) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0], namespace, depth + 1) for v in value)
        return not args or (len(args) == len(value) and all(conforms(v, a, namespace, depth + 1)
                                                             for v, a in zip(value, args)))
    if origin in _MAPPINGS:
        if not isinstance(value, dict if origin is dict else collections.abc.Mapping):
            return False
        key, item = (args + (Any, Any))[:2] if args else (Any, Any)
        return all(conforms(k, key, namespace, depth + 1) and conforms(v, item, namespace, depth + 1)
                   for k, v in value.items())
    if origin in _SETS:
        return isinstance(value, (set, frozenset)) and all(conforms(v, args[0] if args else Any, namespace, depth + 1)
                                                            for v in value)
    if origin in _SEQUENCES:
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, list if origin is list else
                                                                    collections.abc.Sequence):
            return False
        return all(conforms(v, args[0] if args else Any, namespace, depth + 1) for v in value)
    if origin is not None:
        return not isinstance(origin, type) or isinstance(value, origin)
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return conforms(value, supertype, namespace, depth)
    if not isinstance(hint, type):
        return True  # a TypeVar, a Callable without origin, ...: nothing to check
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is bytes:
        return isinstance(value, (bytes, bytearray))
    return isinstance(value, hint)


def _is_union_type(hint: Any) -> bool:
    return type(hint).__name__ == "UnionType"  # `X | None` (Python 3.10+)


def _is_model(value: Any) -> bool:
    return hasattr(type(value), "model_fields") and hasattr(value, "__pydantic_fields_set__")


def _field_keys(cls: type) -> Dict[str, str]:
    """{key in the response: field name}: each field's alias, validation alias and own name."""
    keys: Dict[str, str] = {}
    for name, field in (getattr(cls, "model_fields", {}) or {}).items():
        keys.setdefault(name, name)
        for alias in (getattr(field, "validation_alias", None), getattr(field, "alias", None)):
            if isinstance(alias, str):
                keys[alias] = name
    return keys


def _extra_keys(value: Any) -> Iterable[str]:
    """Keys a model keeps beyond its fields: pydantic's extra data, a generated `additional_properties`."""
    extra = getattr(value, "model_extra", None)
    kept = list(extra) if isinstance(extra, dict) else []
    additional = getattr(value, "additional_properties", None)
    return kept + (list(additional) if isinstance(additional, dict) else [])


def _show(item: Any) -> str:
    if isinstance(item, dict):
        return "an object" if item else "an empty object"
    if isinstance(item, list):
        return f"a list of {len(item)}"
    text = repr(item)
    return text if len(text) <= 60 else text[:57] + "..."


def dropped(value: Any, data: Any, path: str = "", depth: int = 0, in_model: bool = False) -> Optional[str]:
    """The first value of `data` (a response's JSON) that does not reach `value`, said in one line; None if none.

    The returned model, and each model in the returned lists and maps, is compared field by field. A
    model inside one of those fields only has to be there: its own fields are compared where a method
    returns it, so one adapter that drops a field fails the methods that return that adapter, not every
    method whose response embeds it. Lists and maps are compared element by element, at any depth.
    """
    if depth > MAX_DEPTH or data is None:
        return None
    if _is_model(value):
        if in_model or not isinstance(data, dict):
            return None
        here = path or type(value).__name__
        keys = _field_keys(type(value))
        extra = set(_extra_keys(value))
        for key, item in data.items():
            if item is None:
                continue
            name = keys.get(key)
            if name is None:
                if key in extra:
                    continue
                return f"{here} has no field for {key!r}, the response had {_show(item)}"
            got = getattr(value, name, None)
            if got is None:
                return f"{here}.{name} is None, the response had {_show(item)}"
            found = dropped(got, item, f"{here}.{name}", depth + 1, True)
            if found:
                return found
        return None
    here = path or "result"
    if isinstance(value, (list, tuple)) and isinstance(data, list):
        # Element by element; a shorter list is not judged (SDK methods filter what the server sent).
        for index, (got, item) in enumerate(zip(value, data)):
            found = dropped(got, item, f"{here}[{index}]", depth + 1, in_model)
            if found:
                return found
        return None
    if isinstance(value, collections.abc.Mapping) and isinstance(data, dict):
        for key, item in data.items():
            if item is None:
                continue
            if key not in value:
                return f"{here} has no key {key!r}, the response had {_show(item)}"
            if value[key] is None:
                return f"{here}[{key!r}] is None, the response had {_show(item)}"
            found = dropped(value[key], item, f"{here}[{key!r}]", depth + 1, in_model)
            if found:
                return found
    return None


def _overlap(keys: Iterable[Any], data: Mapping[str, Any]) -> int:
    return len(set(keys) & {k for k, v in data.items() if v is not None})


def matching_response(value: Any, sent: Sequence[Any]) -> Any:
    """The response data `value` is compared with (see the module's docstring); None when none has its shape."""
    best: Any = None
    if _is_model(value) or isinstance(value, collections.abc.Mapping):
        keys = list(_field_keys(type(value))) + list(_extra_keys(value)) if _is_model(value) else list(value)
        score = 0
        for data in sent:
            if isinstance(data, dict) and _overlap(keys, data) >= max(score, 1):
                best, score = data, _overlap(keys, data)
        return best
    if isinstance(value, (list, tuple)):
        lists = [d for d in sent if isinstance(d, list)]
        return lists[-1] if lists else None
    return None


def check(value: Any, hint: Any, sent: Sequence[Tuple[Any, bool]],
          namespace: Mapping[str, Any] = {}) -> Dict[str, str]:  # noqa: B006
    """What the driver records about a returned value: {returned, promised, rule, detail, unjudged}.

    `sent`: each success response of the method, (its data, is its schema free-form?). `rule` is ""
    when the value keeps its promise; `unjudged` says why the type was not judged ("" when it was).
    """
    out = {"returned": describe(value), "promised": render(hint), "rule": "", "detail": "", "unjudged": ""}
    data = [d for d, _ in sent]
    if promises_nothing(_resolve(hint, namespace)):
        out["unjudged"] = f"the annotation promises nothing ({out['promised']})"
    elif not conforms(value, hint, namespace):
        wrong = f"returns {out['returned']}, promises {out['promised']}"
        if not (sent and all(open_shape for _, open_shape in sent)):
            out.update(rule=WRONG_TYPE, detail=wrong)
            return out
        # A guess of the mock's: a server may send anything there (a `true` where the spec says object).
        out["unjudged"] = f"{wrong}, but the spec leaves the response free-form"
    if value is None:
        resolved = _resolve(hint, namespace)
        optional = typing.get_origin(resolved) is typing.Union or _is_union_type(resolved)
        objects = [d for d in data if isinstance(d, dict) and d]
        if optional and objects:  # a list may have been filtered down to nothing; an object was dropped
            out.update(rule=DROPPED, detail=f"returns None, the response had {_show(objects[-1])}")
        return out
    match = matching_response(value, data)
    found = dropped(value, match) if match is not None else None
    if found:
        out.update(rule=DROPPED, detail=found)
    return out
