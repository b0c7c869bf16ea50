"""Configuration: frozen dataclasses resolved once from defaults < invoke.yaml < environment < CLI."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Tuple, Union, get_args, get_origin, get_type_hints

from conductor_regen.errors import ConfigError

# The Conductor server's core endpoints; a spec without them cannot back the async client.
DEFAULT_REQUIRED_ENDPOINTS: Tuple[str, ...] = (
    "POST /api/workflow",
    "GET /api/workflow/{workflowId}",
    "GET /api/workflow/search",
    "POST /api/workflow/{name}",
    "GET /api/tasks/poll/{tasktype}",
    "POST /api/tasks",
    "GET /api/metadata/workflow/{name}",
    "POST /api/metadata/workflow",
    "GET /api/metadata/taskdefs",
)

# Endpoints only an Orkes server has; their absence means a Conductor OSS (or other) spec.
DEFAULT_ORKES_MARKERS: Tuple[str, ...] = (
    "POST /api/token",
    "GET /api/applications",
    "GET /api/secrets",
)


# How OpenAPI Generator runs: the jar on Java, the Docker image, or the npm wrapper.
GeneratorBackend = Literal["jar", "docker", "npm"]
# What a run does with an API item the new spec drops but SDK code uses: keep it (deprecated), drop it, or stop.
RemovedPolicy = Literal["keep", "drop", "fail"]
# The accepted values, checked when settings resolve (generator/backends and compat/keep use these too).
GENERATOR_BACKENDS: Tuple[GeneratorBackend, ...] = get_args(GeneratorBackend)
REMOVED_POLICIES: Tuple[RemovedPolicy, ...] = get_args(RemovedPolicy)


@dataclasses.dataclass(frozen=True)
class FetchConfig:
    """How specs are downloaded."""

    timeout: float = 30.0
    deadline: float = 300.0  # seconds for the whole fetch: token, every attempt and backoff
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 64 * 1024 * 1024
    insecure: bool = False


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """What a usable spec must contain."""

    required_endpoints: Tuple[str, ...] = DEFAULT_REQUIRED_ENDPOINTS
    orkes_markers: Tuple[str, ...] = DEFAULT_ORKES_MARKERS
    timeout: float = 120.0  # seconds openapi-spec-validator may run (the real spec takes a few)


@dataclasses.dataclass(frozen=True)
class FixupConfig:
    """Which spec repairs run."""

    enabled: bool = True
    skip: Tuple[str, ...] = ()
    # The SDK puts /api in the server URL, so generated resource paths must not carry it.
    strip_path_prefix: str = "/api"


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """How OpenAPI Generator is run: the guide's options, pinned."""

    version: str = "7.14.0"
    backend: GeneratorBackend = "jar"
    java_heap: str = "2g"
    timeout: float = 1800.0  # seconds the generator may run (the real spec takes about a minute)
    # A short batch job: the C1 compiler alone and the serial GC cut both wall time and memory.
    jvm_options: Tuple[str, ...] = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
    package_name: str = "conductor.asyncio_client.http"
    project_name: str = "conductor-python-async-sdk"
    library: str = "asyncio"
    docker_image: str = "openapitools/openapi-generator-cli"
    npm_package: str = "@openapitools/openapi-generator-cli"


@dataclasses.dataclass(frozen=True)
class SdkConfig:
    """Where the SDK checkout is and which of its folders a run may touch."""

    root: Optional[Path] = None
    package_dir: str = "src/conductor/asyncio_client"
    managed: Tuple[str, ...] = ("http", "adapters", "orkes")
    # What to do with an API, model or method the new spec drops but SDK code still uses:
    # keep (the previous code, deprecated), drop (then the reference check stops the run), or fail.
    removed: RemovedPolicy = "keep"
    # Rewrite positional calls into the generated client as keyword calls (named from the live
    # signature) when a new signature would misbind them; off: such calls stop the run instead.
    keyword_calls: bool = True


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a task needs, resolved once."""

    fetch: FetchConfig = FetchConfig()
    validation: ValidationConfig = ValidationConfig()
    fixups: FixupConfig = FixupConfig()
    generator: GeneratorConfig = GeneratorConfig()
    sdk: SdkConfig = SdkConfig()
    backups_dir: Path = Path("backups")
    # Automatic retention after each run and restore: backups older than the last N runs go (0 keeps all).
    backups_keep: int = 10
    cache_dir: Path = Path(".cache")
    verbose: bool = False
    import_timeout: float = 600.0  # seconds for one import check of the whole async client
    test_timeout: float = 3600.0  # seconds for the nox test gate
    install_timeout: float = 900.0  # seconds for each uv command building the SDK's own environment

    def describe(self) -> str:
        """Render the resolved values as `key = value` lines (no secrets live here)."""
        return "\n".join(f"{k} = {v!r}" for k, v in sorted(_flatten(dataclasses.asdict(self)).items()))


# Environment variables that feed settings; CONDUCTOR_SDK_ROOT is the SDK's own convention.
ENV_KEYS: Mapping[str, str] = {
    "CONDUCTOR_SDK_ROOT": "sdk.root",
    "REGEN_GENERATOR_VERSION": "generator.version",
    "REGEN_GENERATOR_BACKEND": "generator.backend",
    "REGEN_JAVA_HEAP": "generator.java_heap",
    "REGEN_BACKUPS_DIR": "backups_dir",
    "REGEN_BACKUPS_KEEP": "backups_keep",
    "REGEN_CACHE_DIR": "cache_dir",
    "REGEN_FETCH_TIMEOUT": "fetch.timeout",
    "REGEN_FETCH_DEADLINE": "fetch.deadline",
    "REGEN_GENERATOR_TIMEOUT": "generator.timeout",
    "REGEN_IMPORT_TIMEOUT": "import_timeout",
    "REGEN_TEST_TIMEOUT": "test_timeout",
    "REGEN_INSTALL_TIMEOUT": "install_timeout",
    "REGEN_VALIDATION_TIMEOUT": "validation.timeout",
    "REGEN_STRIP_PATH_PREFIX": "fixups.strip_path_prefix",
    "REGEN_REMOVED_POLICY": "sdk.removed",
    "REGEN_KEYWORD_CALLS": "sdk.keyword_calls",
}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = get_origin(hint)
    if origin is Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in get_args(hint) if a is not type(None)][0]
        return _coerce(value, inner, key)
    try:
        if origin in (tuple, Tuple):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return tuple(str(v) for v in value)
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return lowered in ("1", "true", "yes", "on")
            return bool(value)
        if hint is Path:
            return Path(os.path.expanduser(str(value)))
        if hint in (int, float, str) or origin is Literal:
            # A Literal is text here; check_values says which values are accepted.
            return str(value) if origin is Literal else hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {key}={value!r} is not a valid {getattr(hint, '__name__', hint)}",
            "fix it in invoke.yaml, the environment or the command line",
        ) from exc
    return value


def _build(cls: Any, values: Mapping[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            kwargs[field.name] = _build(hint, values, f"{key}.")
        elif key in values:
            kwargs[field.name] = _coerce(values[key], hint, key)
    return cls(**kwargs)


def _known_keys(cls: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            keys |= _known_keys(hint, f"{prefix}{field.name}.")
        else:
            keys.add(f"{prefix}{field.name}")
    return keys


def known_settings() -> frozenset[str]:
    """Every dotted setting name (`generator.version`, `backups_dir`, ...)."""
    return frozenset(_known_keys(Settings))


def resolve_settings(
    file_config: Optional[Mapping[str, Any]] = None,
    env: Optional[Mapping[str, str]] = None,
    cli: Optional[Mapping[str, Any]] = None,
    file_sources: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Merge the layers (later wins; None on the CLI means "not given") into Settings.

    `file_sources` names the file a file setting came from (default: invoke.yaml), for error hints.
    """
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    known = _known_keys(Settings)
    for key, value in _flatten(dict(file_config or {})).items():
        if key not in known:
            raise ConfigError(
                f"unknown setting '{key}' in invoke.yaml",
                f"known settings: {', '.join(sorted(known))}",
            )
        merged[key] = value
        origins[key] = "in " + (file_sources or {}).get(key, "invoke.yaml")
    for var, key in ENV_KEYS.items():
        if env and env.get(var):
            merged[key] = env[var]
            origins[key] = f"in the environment variable {var}"
    for key, value in (cli or {}).items():
        if value is not None:
            if key not in known:
                raise ConfigError(f"unknown setting '{key}'")
            merged[key] = value
            origins[key] = "on the command line"
    settings: Settings = _build(Settings, merged, "")
    check_values(settings, origins)
    return settings


# A JVM -Xmx size: digits with an optional k/m/g unit.
_HEAP = re.compile(r"[1-9][0-9]*[kKmMgG]?")


def check_values(settings: Settings, origins: Optional[Mapping[str, str]] = None) -> None:
    """ConfigError for any setting whose value cannot work, so a typo fails before any work starts.

    `origins` ({setting: where its value was set}) lets the hint say where to fix it.
    """
    gen, sdk, fetch = settings.generator, settings.sdk, settings.fetch
    problems = []
    if gen.backend not in GENERATOR_BACKENDS:
        problems.append(("generator.backend", f"generator.backend={gen.backend!r} is not a generator backend",
                         f"use one of: {', '.join(GENERATOR_BACKENDS)}"))
    if not _HEAP.fullmatch(gen.java_heap):
        problems.append(("generator.java_heap", f"generator.java_heap={gen.java_heap!r} is not a JVM heap size",
                         "use a number with an optional k, m or g unit, e.g. 2g or 1536m"))
    if sdk.removed not in REMOVED_POLICIES:
        problems.append(("sdk.removed", f"sdk.removed={sdk.removed!r} is not a policy",
                         f"use one of: {', '.join(REMOVED_POLICIES)}"))
    if not sdk.managed or "http" not in sdk.managed:
        problems.append(("sdk.managed", f"sdk.managed={','.join(sdk.managed)!r} must include http",
                         "e.g. http,adapters,orkes"))
    if settings.backups_keep < 0:
        problems.append(("backups_keep", f"backups_keep={settings.backups_keep} is negative",
                         "use 0 (keep all) or more"))
    if fetch.timeout <= 0 or fetch.retries < 0 or fetch.max_bytes <= 0:
        problems.append(("fetch", "fetch.timeout and fetch.max_bytes must be positive, fetch.retries not negative",
                         "fix them in invoke.yaml, the environment or the command line"))
    timeouts = {"generator.timeout": gen.timeout, "validation.timeout": settings.validation.timeout,
                "import_timeout": settings.import_timeout, "test_timeout": settings.test_timeout,
                "install_timeout": settings.install_timeout}
    problems += [(key, f"{key}={value:g} must be a positive number of seconds", "e.g. 600")
                 for key, value in timeouts.items() if not value > 0]
    if problems:
        key, message, hint = problems[0]
        where = (origins or {}).get(key)
        raise ConfigError(message + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                          hint + (f" (set {where})" if where else ""))
