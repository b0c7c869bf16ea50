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


def setting(default: Any, doc: str, *, env: str = "", flag: str = "", flag_help: str = "") -> Any:
    """A settings field and its one declaration: default, doc text, environment variable and command-line flag.

    `doc` is the text docs/configuration.md shows; `flag_help` the flag's `--help` text when it must say more
    (or less) than `doc`. A flag `--no-X` on a true-by-default switch turns it off.
    """
    return dataclasses.field(default=default, metadata={"doc": doc, "env": env, "flag": flag,
                                                        "flag_help": flag_help or doc})


@dataclasses.dataclass(frozen=True)
class FetchConfig:
    """How specs are downloaded."""

    timeout: float = setting(30.0, "seconds per connect and per read", env="REGEN_FETCH_TIMEOUT", flag="--timeout",
                             flag_help="seconds per request (fetch-spec)")
    deadline: float = setting(300.0, "seconds for the whole fetch: token, every attempt and backoff",
                              env="REGEN_FETCH_DEADLINE")
    retries: int = setting(3, "retries after the first attempt on a connection error, a timeout or a 5xx response")
    backoff: float = setting(0.5, "seconds before the first retry (doubling after each)")
    max_bytes: int = setting(64 * 1024 * 1024, "largest spec accepted, in bytes")
    insecure: bool = setting(False, "turn TLS verification off (loudly)", flag="--insecure")


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """What a usable spec must contain."""

    required_endpoints: Tuple[str, ...] = setting(
        DEFAULT_REQUIRED_ENDPOINTS, "the Conductor server's core endpoints: a spec without them cannot back the client")
    orkes_markers: Tuple[str, ...] = setting(
        DEFAULT_ORKES_MARKERS, "endpoints only an Orkes server has: without them the spec is a Conductor OSS one")
    timeout: float = setting(120.0, "seconds openapi-spec-validator may run (the real spec takes a few)",
                             env="REGEN_VALIDATION_TIMEOUT")


@dataclasses.dataclass(frozen=True)
class FixupConfig:
    """Which spec repairs run."""

    enabled: bool = setting(True, "repair the spec's known defects before generating (`fixups` lists them)",
                            flag="--no-fixups", flag_help="feed the spec to the generator without repairs")
    skip: Tuple[str, ...] = setting((), "fixup names to leave out (`fixups` lists them)")
    # The SDK puts /api in the server URL, so generated resource paths must not carry it.
    strip_path_prefix: str = setting("/api", "path prefix taken off every path (the SDK's server URL holds it)",
                                     env="REGEN_STRIP_PATH_PREFIX")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """How OpenAPI Generator is run: the guide's options, pinned."""

    version: str = setting("7.14.0", "OpenAPI Generator version (the SDK's is 7.14.0)",
                           env="REGEN_GENERATOR_VERSION", flag="--generator-version")
    backend: GeneratorBackend = setting("jar", "how the generator runs: the bundled jar on Java, Docker or npm",
                                        env="REGEN_GENERATOR_BACKEND", flag="--backend")
    java_heap: str = setting("2g", "JVM heap for the generator (-Xmx), e.g. 2g or 1536m",
                             env="REGEN_JAVA_HEAP", flag="--java-heap")
    timeout: float = setting(1800.0, "seconds the generator may run (the real spec takes about a minute)",
                             env="REGEN_GENERATOR_TIMEOUT")
    # A short batch job: the C1 compiler alone and the serial GC cut both wall time and memory.
    jvm_options: Tuple[str, ...] = setting(("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"),
                                           "extra JVM options for the generator")
    class_archives: Optional[Path] = setting(
        None, "folder of the JVM class archives that halve the generator's start-up (default: "
        "<cache_dir>/generator/class-archives)", env="REGEN_CLASS_ARCHIVES")
    package_name: str = setting("conductor.asyncio_client.http", "the generated package's import name")
    project_name: str = setting("conductor-python-async-sdk", "the generator's projectName")
    library: str = setting("asyncio", "the generator's python library option")
    docker_image: str = setting("openapitools/openapi-generator-cli", "image for the docker backend")
    npm_package: str = setting("@openapitools/openapi-generator-cli", "package for the npm backend")


@dataclasses.dataclass(frozen=True)
class SdkConfig:
    """Where the SDK checkout is and which of its folders a run may touch."""

    root: Optional[Path] = setting(
        None, "the SDK checkout (default: the checkout the working folder is in)", env="CONDUCTOR_SDK_ROOT",
        flag="--sdk",
        flag_help="SDK checkout (default: CONDUCTOR_SDK_ROOT, sdk.root in invoke.yaml, else the checkout you are in)")
    package_dir: str = setting("src/conductor/asyncio_client", "the async client package, relative to the SDK")
    managed: Tuple[str, ...] = setting(("http", "adapters", "orkes"),
                                       "the package's folders a run may replace (must include http)")
    removed: RemovedPolicy = setting(
        "keep", "API items the spec drops but SDK code uses: keep (the previous code, deprecated), drop (then the "
        "reference check stops the run) or fail", env="REGEN_REMOVED_POLICY", flag="--removed")
    keyword_calls: bool = setting(
        True, "rewrite positional calls a new signature would misbind as keyword calls (off: refuse them)",
        env="REGEN_KEYWORD_CALLS", flag="--no-keyword-calls",
        flag_help="do not rewrite positional calls a new signature would misbind; refuse instead")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a task needs, resolved once."""

    fetch: FetchConfig = FetchConfig()
    validation: ValidationConfig = ValidationConfig()
    fixups: FixupConfig = FixupConfig()
    generator: GeneratorConfig = GeneratorConfig()
    sdk: SdkConfig = SdkConfig()
    backups_dir: Path = setting(Path("backups"), "where backups go (default: see \"Where backups and the cache go\")",
                                env="REGEN_BACKUPS_DIR")
    backups_keep: int = setting(10, "runs whose backups are kept after each run and restore (0: keep all)",
                                env="REGEN_BACKUPS_KEEP")
    cache_dir: Path = setting(Path(".cache"), "generator jar, generation cache, staging and work folders, JUnit XML",
                              env="REGEN_CACHE_DIR")
    verbose: bool = setting(False, "print everything: resolved settings, debug logs, the whole report (on stderr)",
                            flag="--verbose")
    import_timeout: float = setting(600.0, "seconds for one import check of the whole async client",
                                    env="REGEN_IMPORT_TIMEOUT")
    test_timeout: float = setting(3600.0, "seconds for the nox test gate", env="REGEN_TEST_TIMEOUT")
    install_timeout: float = setting(900.0, "seconds for each uv command building the SDK's own environment",
                                     env="REGEN_INSTALL_TIMEOUT")
    sequential: bool = setting(False, "run every step on one thread, in the guide's order, none started ahead "
                               "(slower; the same trees and reports, for following a run in a debugger)",
                               env="REGEN_SEQUENTIAL")

    def describe(self) -> str:
        """Render the resolved values as `key = value` lines (no secrets live here)."""
        return "\n".join(f"{k} = {v!r}" for k, v in sorted(flatten(dataclasses.asdict(self)).items()))


# Invoke's variables for the `regen:` section: INVOKE_REGEN_BACKUPS_KEEP, INVOKE_REGEN_GENERATOR_JAVA_HEAP, ...
INVOKE_ENV_PREFIX = "INVOKE_REGEN_"


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """One setting as declared: the table the CLI, the files, the environment, the sessions and the docs use."""

    key: str  # dotted: generator.version
    type: Any
    default: Any
    doc: str
    env: str = ""  # REGEN_* (or CONDUCTOR_SDK_ROOT)
    flag: str = ""  # --generator-version; --no-X turns a switch off
    flag_help: str = ""

    @property
    def choices(self) -> Tuple[str, ...]:
        """The accepted values of a Literal setting (else none)."""
        return tuple(get_args(self.type)) if get_origin(self.type) is Literal else ()

    @property
    def invoke_env(self) -> str:
        """Invoke's own variable for it: INVOKE_REGEN_ and the dotted key in capitals, dots as underscores."""
        return INVOKE_ENV_PREFIX + self.key.replace(".", "_").upper()

    @property
    def option(self) -> str:
        """Its flag without the dashes, as Invoke names the option: --no-keyword-calls -> no-keyword-calls."""
        return self.flag.removeprefix("--")

    @property
    def param(self) -> str:
        """The task parameter its flag is: --no-keyword-calls -> no_keyword_calls."""
        return self.option.replace("-", "_")

    def from_flag(self, value: Any) -> Any:
        """The setting's value for the flag's parsed value; None means "not given"."""
        if self.type is bool:
            return (False if self.flag.startswith("--no-") else True) if value else None
        return value


def _table(cls: Any, prefix: str = "") -> Tuple[SettingInfo, ...]:
    rows: list[SettingInfo] = []
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            rows += _table(hint, f"{prefix}{field.name}.")
        else:
            meta = field.metadata
            rows.append(SettingInfo(f"{prefix}{field.name}", hint, field.default, meta["doc"], meta["env"],
                                    meta["flag"], meta["flag_help"]))
    return tuple(rows)


# Every setting, in declaration order: the one table everything else reads.
SETTINGS: Tuple[SettingInfo, ...] = _table(Settings)
BY_KEY: Mapping[str, SettingInfo] = {info.key: info for info in SETTINGS}
# Environment variables that feed settings; CONDUCTOR_SDK_ROOT is the SDK's own convention.
ENV_KEYS: Mapping[str, str] = {info.env: info.key for info in SETTINGS if info.env}
# Task parameters that are settings' flags (sdk, generator_version, no_fixups, ...).
FLAG_PARAMS: Mapping[str, SettingInfo] = {info.param: info for info in SETTINGS if info.flag}


def cli_settings(**params: Any) -> dict[str, Any]:
    """Task parameters named for settings' flags (`sdk=..., no_keyword_calls=True`) as settings keys."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        info = FLAG_PARAMS.get(name)
        if info is None:
            raise TypeError(f"{name} is not a setting's flag")  # a programming error, not a user's
        out[info.key] = info.from_flag(value)
    return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested settings tables as dotted keys."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _coerce(value: Any, hint: Any, key: str, where: Optional[str] = None) -> Any:
    """`value` as the type `hint`; `where` (e.g. "in the environment variable REGEN_X") names its source."""
    origin = get_origin(hint)
    if origin is Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in get_args(hint) if a is not type(None)][0]
        return _coerce(value, inner, key, where)
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
            f"fix it {where}" if where else "fix it in invoke.yaml, the environment or the command line",
        ) from exc
    return value


def _build(cls: Any, values: Mapping[str, Any], prefix: str, origins: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            kwargs[field.name] = _build(hint, values, f"{key}.", origins)
        elif key in values:
            kwargs[field.name] = _coerce(values[key], hint, key, origins.get(key))
    return cls(**kwargs)


def known_settings() -> frozenset[str]:
    """Every dotted setting name (`generator.version`, `backups_dir`, ...)."""
    return frozenset(BY_KEY)


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
    known = known_settings()
    for key, value in flatten(dict(file_config or {})).items():
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
    settings: Settings = _build(Settings, merged, "", origins)
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
