from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conductor_regen.config import GeneratorConfig, Settings, resolve_settings
from conductor_regen.errors import ConfigError


def test_defaults_are_the_guides_options() -> None:
    s = resolve_settings()
    assert s.generator.version == "7.14.0"
    assert s.generator.package_name == "conductor.asyncio_client.http"
    assert s.generator.library == "asyncio"
    assert s.fixups.strip_path_prefix == "/api"


def test_layers_later_wins() -> None:
    file_cfg = {"generator": {"version": "7.10.0", "java_heap": "1g"}, "sdk": {"root": "/from/yaml"}}
    env = {"REGEN_GENERATOR_VERSION": "7.12.0", "CONDUCTOR_SDK_ROOT": "/from/env"}
    cli = {"generator.version": "7.13.0", "generator.java_heap": None}
    s = resolve_settings(file_cfg, env, cli)
    assert s.generator.version == "7.13.0"  # cli beats env beats yaml
    assert s.generator.java_heap == "1g"  # None on the CLI means "not given"
    assert s.sdk.root == Path("/from/env")


def test_settings_are_frozen() -> None:
    s = resolve_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.verbose = True  # type: ignore[misc]


def test_coercion_of_env_strings() -> None:
    s = resolve_settings({"fixups": {"enabled": "false", "skip": "a, b"}}, {"REGEN_FETCH_TIMEOUT": "2.5"})
    assert s.fixups.enabled is False
    assert s.fixups.skip == ("a", "b")
    assert s.fetch.timeout == 2.5


def test_unknown_and_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'generator.versoin'"):
        resolve_settings({"generator": {"versoin": "1"}})
    with pytest.raises(ConfigError, match="fetch.timeout"):
        resolve_settings(cli={"fetch.timeout": "soon"})


def test_a_value_of_the_wrong_type_names_where_it_was_set() -> None:
    with pytest.raises(ConfigError) as env:
        resolve_settings({}, {"REGEN_BACKUPS_KEEP": "many"})
    assert env.value.message == "setting backups_keep='many' is not a valid int"
    assert env.value.hint == "fix it in the environment variable REGEN_BACKUPS_KEEP"
    with pytest.raises(ConfigError) as file:
        resolve_settings({"fetch": {"timeout": "soon"}}, file_sources={"fetch.timeout": "pyproject.toml"})
    assert file.value.hint == "fix it in pyproject.toml"
    with pytest.raises(ConfigError) as cli:
        resolve_settings(cli={"import_timeout": "later"})
    assert cli.value.hint == "fix it on the command line"


def test_describe_lists_every_value() -> None:
    text = Settings(generator=GeneratorConfig(version="9.9.9")).describe()
    assert "generator.version = '9.9.9'" in text
    assert "sdk.root = None" in text


@pytest.mark.parametrize("key, value, message", [
    ("generator.backend", "dokcer", "is not a generator backend"),
    ("generator.java_heap", "lots", "is not a JVM heap size"),
    ("sdk.removed", "kep", "is not a policy"),
    ("backups_keep", "-1", "is negative"),
    ("fetch.timeout", "0", "must be positive"),
    ("generator.timeout", "0", "generator.timeout=0 must be a positive number of seconds"),
    ("validation.timeout", "-1", "validation.timeout=-1 must be a positive"),
    ("install_timeout", "0", "install_timeout=0 must be a positive"),
    ("import_timeout", "nan", "import_timeout=nan must be a positive"),
    ("test_timeout", "0", "test_timeout=0 must be a positive"),
])
def test_values_that_cannot_work_fail_when_settings_resolve(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_settings({}, {}, {key: value})


def test_values_that_work_resolve() -> None:
    s = resolve_settings({}, {}, {"generator.backend": "npm", "generator.java_heap": "1536m", "sdk.removed": "fail",
                                  "backups_keep": "0"})
    assert (s.generator.backend, s.generator.java_heap, s.sdk.removed, s.backups_keep) == ("npm", "1536m", "fail", 0)


def test_every_child_time_limit_is_a_setting_with_its_variable() -> None:
    defaults = resolve_settings()
    assert (defaults.validation.timeout, defaults.install_timeout) == (120.0, 900.0)
    s = resolve_settings({"validation": {"timeout": 30}, "install_timeout": 60},
                         {"REGEN_VALIDATION_TIMEOUT": "45", "REGEN_INSTALL_TIMEOUT": "300"})
    assert (s.validation.timeout, s.install_timeout) == (45.0, 300.0)  # the environment beats invoke.yaml
    s = resolve_settings({"validation": {"timeout": 30}, "install_timeout": 60})
    assert (s.validation.timeout, s.install_timeout) == (30.0, 60.0)
    with pytest.raises(ConfigError, match="install_timeout=0 must be a positive") as err:
        resolve_settings({}, {"REGEN_INSTALL_TIMEOUT": "0"})
    assert "REGEN_INSTALL_TIMEOUT" in err.value.hint  # where it was set
