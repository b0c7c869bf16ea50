"""Arguments for an SDK method, made from its annotations: small, deterministic, seeded.

Primitives get fixed small values (a string parameter whose name matches a spec parameter with an
enum gets that enum's first value); pydantic models are built by polyfactory with only their
required fields (seeded per method), falling back to the spec's smallest instance of the model's
schema; containers hold one element. Runs inside the SDK's virtualenv: no conductor_regen imports.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import re
import typing
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .minimal import minimal_value

# Containers get this many elements: enough to exercise serialization, small enough to read.
COLLECTION_LENGTH = 1
TEXT = "contract"
MAX_DEPTH = 6


class CannotSynthesize(Exception):
    """No value can be made for an annotation; the method is then not exercised."""


def snake_case(name: str) -> str:
    """`taskReferenceName` -> `task_reference_name` (how the generator names parameters)."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.strip("_").lower()


def parameter_enums(document: Mapping[str, Any]) -> Dict[str, Tuple[Any, ...]]:
    """{snake_case parameter name: enum values} over every parameter of the spec (first wins)."""
    from .minimal import resolve

    found: Dict[str, Tuple[Any, ...]] = {}
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return found
    for path in sorted(paths):
        item = paths[path]
        if not isinstance(item, dict):
            continue
        holders = [item] + [item[m] for m in sorted(item) if isinstance(item[m], dict)]
        for holder in holders:
            for param in holder.get("parameters") or []:
                param = resolve(document, param)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                    continue
                schema = resolve(document, param.get("schema"))
                values = schema.get("enum") if isinstance(schema, dict) else None
                if isinstance(values, list) and values:
                    found.setdefault(snake_case(param["name"]), tuple(values))
    return found


def _schema_index(document: Mapping[str, Any]) -> Dict[str, str]:
    """{normalised class name: schema name}: how generated model classes map back to schemas."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    return {re.sub(r"[^0-9a-z]", "", name.lower()): name for name in sorted(schemas)}


@dataclasses.dataclass
class Synthesizer:
    """Makes argument values; `seed` before each method so values do not depend on call order."""

    document: Mapping[str, Any]
    models_package: str  # "conductor.asyncio_client.http.models": where generated models live
    enums: Dict[str, Tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    _seed: int = 0
    _factories: Dict[type, Any] = dataclasses.field(default_factory=dict)
    _schemas: Dict[str, str] = dataclasses.field(default_factory=dict)
    _namespace: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the method's module globals

    def __post_init__(self) -> None:
        if not self.enums:
            self.enums = parameter_enums(self.document)
        self._schemas = _schema_index(self.document)

    def seed(self, seed: int) -> None:
        """Reset the random state (polyfactory's and Faker's) for the next method."""
        self._seed = seed

    def arguments(self, func: Callable[..., Any]) -> Dict[str, Any]:
        """Keyword arguments for every parameter of `func` (a bound method); *args/**kwargs get none."""
        signature = inspect.signature(func)
        hints = type_hints(func)
        self._namespace = dict(getattr(getattr(func, "__func__", func), "__globals__", {}))
        out: Dict[str, Any] = {}
        for name, param in signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            hint = hints.get(name, param.annotation)
            if isinstance(hint, str):
                if param.default is not param.empty:
                    continue  # an annotation we cannot read: leave the parameter at its default
                raise CannotSynthesize(f"cannot resolve the annotation {hint!r} of {name}")
            if hint is param.empty:
                if param.default is not param.empty:
                    continue
                hint = str
            out[name] = self.value(hint, name)
        return out

    def value(self, hint: Any, name: str, depth: int = 0) -> Any:
        """A small value of type `hint` for a parameter or field called `name`."""
        if depth > MAX_DEPTH:
            raise CannotSynthesize(f"{name}: nested too deeply")
        if isinstance(hint, (str, typing.ForwardRef)):
            # `Optional['TaskResultAdapter']`: a quoted name inside a resolved annotation.
            text = hint if isinstance(hint, str) else hint.__forward_arg__
            try:
                hint = eval(text, self._namespace)  # noqa: S307 - the SDK's own annotation
            except Exception as exc:
                raise CannotSynthesize(f"{name}: cannot resolve the annotation {text!r}") from exc
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            return self.value(args[0], name, depth)
        if origin is typing.Union or _is_union_type(hint):
            options = [a for a in args if a is not type(None)]
            if not options:
                return None
            return self.value(options[0], name, depth)
        if origin is typing.Literal:
            return args[0]
        if hint is Any or hint is object:
            return TEXT
        if origin in (list, List, typing.Sequence, typing.Iterable, set, frozenset, tuple):
            item = args[0] if args else str
            values = [self.value(item, name, depth + 1) for _ in range(COLLECTION_LENGTH)]
            if origin is tuple:
                return tuple(values)
            return set(values) if origin in (set, frozenset) else values
        if origin in (dict, Dict, typing.Mapping) or hint is dict:
            key_type, value_type = (args + (str, Any))[:2] if len(args) == 2 else (str, Any)
            return {self.value(key_type, "key", depth + 1): self.value(value_type, "value", depth + 1)}
        if hint is list:
            return [TEXT]
        if isinstance(hint, type):
            return self._of_class(hint, name, depth)
        raise CannotSynthesize(f"{name}: no value for {hint!r}")

    def _of_class(self, cls: type, name: str, depth: int) -> Any:
        if issubclass(cls, bool):
            return True
        if issubclass(cls, enum.Enum):
            return next(iter(cls))
        if issubclass(cls, str):
            return self._text(name)
        if issubclass(cls, int):
            return 1
        if issubclass(cls, float):
            return 1.0
        if issubclass(cls, bytes):
            return TEXT.encode()
        if issubclass(cls, datetime.datetime):
            return datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        if issubclass(cls, datetime.date):
            return datetime.date(2024, 1, 1)
        if _is_pydantic_model(cls):
            # An argument's own fields are all set, as a caller would; nested models stay minimal.
            return self.model(cls, full=depth == 0, depth=depth)
        raise CannotSynthesize(f"{name}: no value for class {cls.__module__}.{cls.__qualname__}")

    def _text(self, name: str) -> str:
        """A string for `name`: the enum of a spec parameter of that name (or its last words), else TEXT."""
        words = snake_case(name).split("_")
        for start in range(len(words)):
            values = self.enums.get("_".join(words[start:]))
            if values:
                return str(values[0])
        return TEXT

    def model(self, cls: type, full: bool = False, depth: int = 0) -> Any:
        """A pydantic model built by polyfactory: required fields (by the model or by its spec schema)
        set, with `full` every field; enum fields take the spec's first value, nested models are ours."""
        schema = self._schema(cls)
        properties = schema.get("properties") or {}
        spec_required = set(schema.get("required") or ())
        overrides: Dict[str, Any] = {}
        for field_name, field in getattr(cls, "model_fields", {}).items():
            alias = field.alias or field_name
            if not (field.is_required() or alias in spec_required or full):
                continue
            if _mentions_model(field.annotation):
                overrides[field_name] = self.value(field.annotation, field_name, depth + 1)
            elif alias in properties:
                # Shaped by the spec, so enums (also inside lists and maps) and formats are honoured.
                overrides[field_name] = minimal_value(self.document, properties[alias], sample=True)
            elif not field.is_required():
                overrides[field_name] = self.value(field.annotation, field_name, depth + 1)
        problem = ""
        factory = self._factory(cls)
        aliases = {(f.alias or n): n for n, f in getattr(cls, "model_fields", {}).items()}
        for _attempt in range(4):
            try:
                factory.seed_random(self._seed)
                return factory.build(**overrides)
            except CannotSynthesize:
                raise
            except Exception as exc:  # a constraint the model knows and the spec does not (ge=2, a pattern)
                problem = f"{type(exc).__name__}: {_first_line(str(exc))}"
                rejected = _rejected_fields(exc, aliases) & set(overrides)
                if not rejected:
                    break
                for field_name in rejected:  # polyfactory (required) or the default (optional) instead
                    del overrides[field_name]
        name = self._schema_of(cls)
        if name is not None:
            data = minimal_value(self.document, {"$ref": f"#/components/schemas/{name}"}, fill=1 if full else 0)
            try:
                built = cls.from_dict(data) if hasattr(cls, "from_dict") else cls.model_validate(data)  # type: ignore[attr-defined]
                if built is not None:
                    return built
            except Exception as exc:
                problem = f"{problem}; from the spec: {type(exc).__name__}: {_first_line(str(exc))}"
        raise CannotSynthesize(f"cannot build {cls.__name__}: {problem}")

    def _schema(self, cls: type) -> Dict[str, Any]:
        """The model's spec schema with allOf merged: {"properties": ..., "required": ...} ({} if unknown)."""
        name = self._schema_of(cls)
        if name is None:
            return {}
        return _merged(self.document, {"$ref": f"#/components/schemas/{name}"})

    def _schema_of(self, cls: type) -> Optional[str]:
        for klass in cls.__mro__:
            if klass.__module__.startswith(self.models_package):
                key = re.sub(r"[^0-9a-z]", "", klass.__name__.lower())
                # The generator prefixes names that clash with Python's (`Any` -> `ModelAny`).
                found = self._schemas.get(key) or (self._schemas.get(key[5:]) if key.startswith("model") else None)
                if found:
                    return found
        return None

    def _factory(self, cls: type) -> Any:
        if cls not in self._factories:
            self._factories[cls] = _base_factory().create_factory(cls)
        return self._factories[cls]


def _merged(document: Mapping[str, Any], schema: Any, depth: int = 0) -> Dict[str, Any]:
    """Properties and required names of an object schema, through $ref and allOf."""
    from .minimal import resolve

    schema = resolve(document, schema)
    out: Dict[str, Any] = {"properties": {}, "required": []}
    if not isinstance(schema, dict) or depth > 8:
        return out
    for part in schema.get("allOf") or []:
        inner = _merged(document, part, depth + 1)
        out["properties"].update(inner["properties"])
        out["required"] += inner["required"]
    if isinstance(schema.get("properties"), dict):
        out["properties"].update(schema["properties"])
    out["required"] += [n for n in schema.get("required") or [] if isinstance(n, str)]
    return out


def _rejected_fields(exc: Exception, aliases: Mapping[str, str]) -> set:  # type: ignore[type-arg]
    """Field names a pydantic ValidationError points at (top-level locations)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return set()
    names = set()
    for error in errors():
        loc = error.get("loc") or ()
        if loc and isinstance(loc[0], str):
            names.add(aliases.get(loc[0], loc[0]))
    return names


def _mentions_model(hint: Any) -> bool:
    """Does a field's type contain a pydantic model (Optional[List[X]] included)?"""
    if isinstance(hint, type):
        return _is_pydantic_model(hint)
    return any(_mentions_model(a) for a in typing.get_args(hint))


_BASE: List[Any] = []


def _base_factory() -> Any:
    """polyfactory's ModelFactory, made small and deterministic (imported only when a model is needed)."""
    if _BASE:
        return _BASE[0]
    from polyfactory.factories.pydantic_factory import ModelFactory

    class SmallFactory(ModelFactory):  # type: ignore[type-arg]
        __is_base_factory__ = True
        __use_defaults__ = True  # optional fields keep their default (None): only required ones are set
        __allow_none_optionals__ = False
        __randomize_collection_length__ = False
        __min_collection_length__ = COLLECTION_LENGTH
        __max_collection_length__ = COLLECTION_LENGTH

        @classmethod
        def get_provider_map(cls) -> Dict[Any, Callable[[], Any]]:
            providers: Dict[Any, Callable[[], Any]] = dict(super().get_provider_map())
            providers.update({str: lambda: TEXT, int: lambda: 1, float: lambda: 1.0, bool: lambda: True,
                              Any: lambda: TEXT, object: lambda: TEXT})
            return providers

        @classmethod
        def seed_random(cls, seed: int) -> None:
            super().seed_random(seed)
            ModelFactory.seed_random(seed)  # nested factories made on the fly use the base's state

    _BASE.append(SmallFactory)
    return SmallFactory


def _is_pydantic_model(cls: type) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - every conductor SDK depends on pydantic
        return False
    return issubclass(cls, BaseModel)


def _is_union_type(hint: Any) -> bool:
    """`X | None` (types.UnionType, Python 3.10+)."""
    return type(hint).__name__ == "UnionType"


def type_hints(func: Callable[..., Any]) -> Dict[str, Any]:
    """Resolved annotations; one by one when some name cannot be resolved (left as a string)."""
    target = getattr(func, "__func__", func)
    try:
        return typing.get_type_hints(target)
    except Exception:
        pass
    out: Dict[str, Any] = {}
    namespace = dict(getattr(target, "__globals__", {}))
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # noqa: S307 - the SDK's own annotations
            except Exception:
                pass
        out[name] = annotation
    return out


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
