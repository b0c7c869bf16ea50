"""Where settings come from besides the command line: the tool's repository, the SDK checkout around the
working folder, that checkout's own settings file, and the per-user folders used outside the repository.

Resolution order (later wins): defaults < the tool's invoke.yaml < the SDK's invoke.yaml or
pyproject `[tool.conductor-regen]` < environment < command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from conductor_regen.config import (BY_KEY, ENV_KEYS, INVOKE_ENV_PREFIX, SETTINGS, SdkConfig, Settings, flatten,
                                    known_settings, resolve_settings)
from conductor_regen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

APP = "conductor-regen"
# pyproject.toml table an SDK checkout keeps its settings in: [tool.conductor-regen].
PYPROJECT_TABLE = APP
# invoke.yaml section holding the settings (the same one the tool's invoke.yaml uses).
SECTION = "regen"
INVOKE_FILES = ("invoke.yaml", "invoke.yml")
# Store paths: relative values are resolved against the file that named them.
STORE_KEYS = ("backups_dir", "cache_dir")


# The installed package, and the data it ships (the demo's example SDK and specs, local edits, templates).
PACKAGE_ROOT = Path(__file__).resolve().parent
PACKAGE_DATA = PACKAGE_ROOT / "data"
DEMO_DATA = PACKAGE_DATA / "demo"
# The folder holding scripts/conductor_regen: a clone of this project when installed editable (else site-packages'
# parent folder: see tool_repository).
SOURCE_ROOT = PACKAGE_ROOT.parents[1]


def tool_repository() -> Optional[Path]:
    """The clone of this project the package runs from (editable install or `invoke`), else None."""
    repo = SOURCE_ROOT
    pyproject = repo / "pyproject.toml"
    if not (pyproject.is_file() and (repo / "scripts" / "conductor_regen").is_dir()):
        return None
    try:
        project = _load_toml(pyproject).get("project", {})
    except ConfigError:
        return None
    return repo if isinstance(project, dict) and project.get("name") == APP else None


def find_checkout(start: Path, package_dir: str = SdkConfig.package_dir) -> Optional[Path]:
    """The nearest folder at or above `start` holding the SDK's async client package, else None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / package_dir).is_dir():
            return folder
    return None


def checkout_key(root: Path) -> str:
    """A folder name that tells checkouts apart: the folder name plus a hash of its absolute path."""
    resolved = root.resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{resolved.name}-{digest}"


def user_data_dir() -> Path:
    """Per-user data folder (backups live here when the tool does not run from its repository)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def user_cache_dir() -> Path:
    """Per-user cache folder (generator jar, staging trees, work folders) outside the repository."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def default_backups_dir(repo: Optional[Path], sdk_root: Optional[Path]) -> Path:
    """The repository's `backups/`, else `<user data>/backups/<checkout key>` (one store per checkout)."""
    if repo is not None:
        return repo / "backups"
    base = user_data_dir() / "backups"
    return base / checkout_key(sdk_root) if sdk_root is not None else base


def default_cache_dir(repo: Optional[Path]) -> Path:
    """The repository's `.cache/`, else the per-user cache folder."""
    return repo / ".cache" if repo is not None else user_cache_dir()


@dataclass(frozen=True)
class CheckoutSettings:
    """Settings an SDK checkout keeps for itself, and the file they came from (None: no settings)."""

    values: Mapping[str, Any]
    source: Optional[Path] = None


def _load_toml(path: Path) -> Dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "fix the file's TOML syntax") from exc


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {path}: {first}", "fix the file's YAML syntax") from exc


def _check_section(values: Any, source: Path, where: str) -> Dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} in {source} is not a table of settings", "see docs/configuration.md")
    known = known_settings()
    for key in flatten(values):
        if key not in known:
            raise ConfigError(f"unknown setting '{key}' in {source}", f"known settings: {', '.join(sorted(known))}")
        if key == "sdk.root":
            raise ConfigError(f"{source} sets sdk.root", "remove it: a checkout's own settings apply to that checkout")
    return dict(values)


def read_checkout_settings(root: Path) -> CheckoutSettings:
    """Read the SDK's `regen:` section of invoke.yaml or its `[tool.conductor-regen]`; both at once is an error."""
    found: list[tuple[Path, Dict[str, Any]]] = []
    for name in INVOKE_FILES:
        path = root / name
        if path.is_file():
            data = _load_yaml(path)
            if isinstance(data, Mapping) and data.get(SECTION) is not None:
                found.append((path, _check_section(data[SECTION], path, f"section '{SECTION}:'")))
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = _load_toml(pyproject).get("tool", {}).get(PYPROJECT_TABLE)
        if table is not None:
            found.append((pyproject, _check_section(table, pyproject, f"[tool.{PYPROJECT_TABLE}]")))
    if len(found) > 1:
        raise ConfigError(
            f"the SDK has conductor-regen settings in both {found[0][0].name} and {found[1][0].name}",
            "keep them in one place",
        )
    if not found:
        return CheckoutSettings({})
    path, values = found[0]
    # Store paths in the SDK's file are relative to the SDK, whatever folder the command runs from.
    for key in STORE_KEYS:
        if key in values and not Path(os.path.expanduser(str(values[key]))).is_absolute():
            values[key] = str(root / str(values[key]))
    return CheckoutSettings(values, path)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _given(key: str, layers: tuple[Mapping[str, Any], ...], env: Mapping[str, str], cli: Mapping[str, Any]) -> bool:
    if cli.get(key) is not None:
        return True
    if any(env.get(var) for var, setting in ENV_KEYS.items() if setting == key):
        return True
    return any(key in flatten(layer) for layer in layers)


def _anchor(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


# Invoke's own variables for the tool's invoke.yaml layer, to the settings they set.
INVOKE_ENV = {info.invoke_env: info.key for info in SETTINGS}


def invoke_env_layer(env: Mapping[str, str]) -> Dict[str, Any]:
    """The settings INVOKE_REGEN_* variables give, as a nested table (Invoke itself reads such a variable only
    for a key some config file already has, so the tool reads them all); an unknown one is an error."""
    out: Dict[str, Any] = {}
    for var in sorted(env):
        if not var.startswith(INVOKE_ENV_PREFIX) or not env[var]:
            continue
        key = INVOKE_ENV.get(var)
        if key is None:
            import difflib

            close = difflib.get_close_matches(var, list(INVOKE_ENV), n=1)
            raise ConfigError(f"the environment variable {var} names no setting",
                              f"did you mean {close[0]}?" if close else "see docs/configuration.md")
        out = _merge(out, _nested(key, env[var]))
    return out


def _nested(key: str, value: Any) -> Dict[str, Any]:
    head, _, rest = key.partition(".")
    return {head: _nested(rest, value) if rest else value}


def load_tool_config(repo: Optional[Path]) -> Dict[str, Any]:
    """The `regen:` section of the invoke.yaml files the tasks read (Invoke's system and user files, and this
    repository's), for code not started by Invoke: the nox sessions."""
    from invoke.config import Config

    # Invoke logs every file it looks for at debug level: noise in a verbose nox log, which shows all loggers.
    invoke_log = logging.getLogger("invoke")
    level = invoke_log.level
    invoke_log.setLevel(logging.INFO)
    try:
        config = Config(project_location=repo, lazy=True)
        config.load_system(merge=False)
        config.load_user(merge=False)
        if repo is not None:
            config.load_project(merge=False)
        config.merge()
    finally:
        invoke_log.setLevel(level)
    section = config.get("regen")
    if section is not None and not hasattr(section, "items"):
        raise ConfigError("the regen: section of invoke.yaml is not a table of settings", "see docs/configuration.md")
    found: Dict[str, Any] = plain(section or {})
    return found


def plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class RunSettings:
    """Resolved settings plus where they came from (for `--verbose`)."""

    settings: Settings
    sdk_detected: bool = False
    sdk_source: Optional[Path] = None


def resolve_run_settings(
    tool_config: Mapping[str, Any],
    env: Mapping[str, str],
    cli: Mapping[str, Any],
    cwd: Path,
    repo: Optional[Path],
) -> RunSettings:
    """Resolve every layer, find the SDK from `cwd` when none is named, and anchor the store folders."""
    from_env = invoke_env_layer(env)
    tool_config = _merge(plain(tool_config), from_env)
    tool_sources = {key: f"the environment variable {BY_KEY[key].invoke_env}" for key in flatten(from_env)}
    first = resolve_settings(tool_config, env, cli, tool_sources)
    root = first.sdk.root
    detected = False
    if root is None:
        root = find_checkout(cwd, first.sdk.package_dir)
        detected = root is not None
    elif not root.is_absolute():
        root = cwd / root
    checkout = read_checkout_settings(root) if root is not None and root.is_dir() else CheckoutSettings({})
    layers: tuple[Mapping[str, Any], ...] = (tool_config, checkout.values)
    merged = _merge(tool_config, checkout.values)
    if detected:
        merged = _merge(merged, {"sdk": {"root": str(root)}})
    sources = {**tool_sources,
               **({key: str(checkout.source) for key in flatten(checkout.values)} if checkout.source else {})}
    settings = resolve_settings(merged, env, cli, sources)
    # Relative store paths from the tool's file or the environment are relative to the tool's repository.
    base = repo if repo is not None else cwd
    backups = (_anchor(settings.backups_dir, base) if _given("backups_dir", layers, env, cli)
               else default_backups_dir(repo, settings.sdk.root and _anchor(settings.sdk.root, cwd)))
    cache = (_anchor(settings.cache_dir, base) if _given("cache_dir", layers, env, cli)
             else default_cache_dir(repo))
    settings = dataclasses.replace(settings, backups_dir=backups, cache_dir=cache)
    return RunSettings(settings, detected, checkout.source)


def resolve_session_settings(sdk: Path, env: Mapping[str, str], cwd: Path) -> Settings:
    """Settings as the tasks resolve them for `sdk`, for a nox session (no Invoke context there): the same
    invoke.yaml files, the SDK's own settings, the environment."""
    repo = tool_repository()
    return resolve_run_settings(load_tool_config(repo), env, {"sdk.root": str(sdk)}, cwd, repo).settings
