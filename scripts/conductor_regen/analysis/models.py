"""The generated client read statically with griffe: the package object and its models' fields."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from conductor_regen.errors import VerificationError

if TYPE_CHECKING:
    import griffe  # imported where used: a command that compares nothing need not load it (40 ms a start)

# griffe needs a package name; every tree is linked under this one so object paths line up.
PACKAGE_ALIAS = "generated_client"
_ALIAS_RE = re.compile(r"\balias=(['\"])(.*?)\1")
_DEFAULT_RE = re.compile(r"\bdefault(?:_factory)?=")


@dataclass(frozen=True)
class ModelField:
    """One field of a generated model."""

    name: str  # Python attribute
    json_name: str  # the spec's property name (the alias, when there is one)
    annotation: str  # "Optional[StrictInt]"
    required: bool
    # What its @field_validator methods check: (("pattern", ("^\\w*$",)),); annotation constraints are in `annotation`.
    validators: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    @property
    def base_type(self) -> str:
        """The annotation without its outer Optional[...]."""
        ann = self.annotation
        return ann[len("Optional["):-1] if ann.startswith("Optional[") and ann.endswith("]") else ann

    @property
    def nullable(self) -> bool:
        """Whether the annotation admits None."""
        return self.annotation.startswith("Optional[")


@dataclass(frozen=True)
class Model:
    """A generated model class and its fields, keyed by JSON name."""

    name: str
    module: str
    fields: Mapping[str, ModelField]


def load_package(http_dir: Path) -> griffe.Module:
    """Load a generated package with griffe, statically (nothing is imported or executed)."""
    import griffe

    if not (http_dir / "__init__.py").is_file():
        raise VerificationError(f"{http_dir} is not a Python package (no __init__.py)",
                                "point at the generated http/ package of the SDK or of a staging tree")
    # The SDK's `conductor` package can be large (the sync client too); a link makes griffe
    # parse just the generated package, under one name for both trees.
    with tempfile.TemporaryDirectory(prefix="regen-griffe-") as tmp:
        try:
            os.symlink(http_dir.resolve(), Path(tmp) / PACKAGE_ALIAS, target_is_directory=True)
        except OSError:  # no symlinks (e.g. Windows without the privilege): parse a copy instead
            shutil.copytree(http_dir, Path(tmp) / PACKAGE_ALIAS, ignore=shutil.ignore_patterns("__pycache__"))
        package = griffe.load(PACKAGE_ALIAS, search_paths=[tmp], try_relative_path=False, allow_inspection=False,
                              resolve_aliases=False)
    if not isinstance(package, griffe.Module):
        raise VerificationError(f"griffe could not load {http_dir} as a package", "check the folder is a package")
    return package


def _field(attr: Any) -> Optional[ModelField]:
    if not attr.is_attribute or attr.annotation is None or attr.name.startswith("_") or attr.name == "model_config":
        return None
    annotation = str(attr.annotation)
    if annotation.startswith("ClassVar["):
        return None
    required, alias = field_required_alias(None if attr.value is None else str(attr.value))
    return ModelField(attr.name, alias or attr.name, annotation, required)


def field_required_alias(value: Optional[str]) -> Tuple[bool, str]:
    """(required, alias or '') of a pydantic field from the source of its assigned value (None: bare)."""
    alias = _ALIAS_RE.search(value) if value else None
    if value is None:
        required = True
    elif value.startswith("Field("):
        inner = value[len("Field("):-1]
        first = inner.split(",", 1)[0].strip()
        required = not (_DEFAULT_RE.search(inner) or (first and "=" not in first and first != "..."))
    else:
        required = False
    return required, alias.group(2) if alias else ""


def _validators(cls: Any) -> Dict[str, List[Tuple[str, Tuple[str, ...]]]]:
    """{python field name: checks} from a model class's `@field_validator` methods."""
    from conductor_regen.analysis.validations import validator_checks

    found: Dict[str, List[Tuple[str, Tuple[str, ...]]]] = {}
    for member in cls.members.values():
        if member.is_alias or not member.is_function:
            continue
        decorator = next((str(d.value) for d in member.decorators if str(d.value).startswith("field_validator(")), "")
        if not decorator:
            continue
        try:
            source = member.source
        except (OSError, ValueError):  # no source lines: the check is still known by its method name
            source = ""
        field, check = validator_checks(member.name, decorator, source)
        if check is not None:
            found.setdefault(field, []).append(check)
    return found


def read_models(package: griffe.Module) -> Dict[str, Model]:
    """Every class of the package's `models` subpackage, with its fields (and their validators' checks)."""
    if "models" not in package.members or not package["models"].is_module:
        return {}
    out: Dict[str, Model] = {}
    for module_name, module in sorted(package["models"].modules.items()):
        for member in module.members.values():
            if member.is_alias or not member.is_class:
                continue
            fields: Dict[str, ModelField] = {}
            validators = _validators(member)
            for attr in member.members.values():
                field = None if attr.is_alias else _field(attr)
                if field is not None:
                    checks = tuple(sorted(validators.get(field.name, ())))
                    fields[field.json_name] = replace(field, validators=checks) if checks else field
            out[member.name] = Model(member.name, module_name, dict(sorted(fields.items())))
    return dict(sorted(out.items()))
