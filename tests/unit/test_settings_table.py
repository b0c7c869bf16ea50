"""Each setting is declared once (conductor_regen.config.SETTINGS), and every way to set it goes through that table."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml
from invoke.context import Context

from conductor_regen.cli import tasks as task_module
from conductor_regen.config import BY_KEY, ENV_KEYS, FLAG_PARAMS, SETTINGS, Settings, cli_settings, resolve_settings
from conductor_regen.config_sources import INVOKE_ENV, resolve_run_settings, resolve_session_settings
from conductor_regen.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "settings_doc.py"
# Task bodies run here under their edge, which sets up the package's logging.
pytestmark = pytest.mark.usefixtures("edge_logging_restored")


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("settings_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


settings_doc = _load_script()


def test_docs_configuration_is_written_from_the_table() -> None:
    assert settings_doc.main(["--check"]) == 0, "docs/configuration.md is stale: run python scripts/settings_doc.py"
    text = (REPO / "docs" / "configuration.md").read_text()
    for info in SETTINGS:
        assert f"| `{info.key}` |" in text


def test_the_documented_example_reads_back_as_the_defaults() -> None:
    section = yaml.safe_load(settings_doc.example())["regen"]
    assert resolve_settings(section) == Settings()


def test_a_stale_table_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text((REPO / "docs" / "configuration.md").read_text().replace("REGEN_JAVA_HEAP", "REGEN_HEAP"))
    monkeypatch.setattr(settings_doc, "DOC", doc)
    assert settings_doc.main(["--check"]) == 1
    assert settings_doc.main([]) == 0 and settings_doc.main(["--check"]) == 0
    assert "REGEN_JAVA_HEAP" in doc.read_text()


def test_every_setting_has_a_doc_and_names_are_unique() -> None:
    assert all(info.doc for info in SETTINGS)
    envs = [info.env for info in SETTINGS if info.env]
    flags = [info.flag for info in SETTINGS if info.flag]
    assert len(envs) == len(set(envs)) == len(ENV_KEYS)
    assert len(flags) == len(set(flags)) == len(FLAG_PARAMS)
    assert len(INVOKE_ENV) == len(SETTINGS)  # no two dotted names give one INVOKE_REGEN_ variable
    assert all(env.startswith("REGEN_") or env == "CONDUCTOR_SDK_ROOT" for env in envs)


# Tasks that resolve no settings: ci-template only renders a workflow (its --verbose changes nothing).
NO_SETTINGS = {"ci-template"}


def _flag_tasks() -> Iterator[Tuple[str, List[str]]]:
    for name in task_module.ns.task_names:
        if name in NO_SETTINGS:
            continue
        body = task_module.ns.tasks[name].body
        params = [p for p in inspect.signature(body).parameters if p in FLAG_PARAMS]
        if params:
            yield name, params


class _Recorded(BaseException):
    """Raised by the stand-in for `settings` once it has the task's flags (nothing else runs)."""


def _given(info_param: str) -> Any:
    info = FLAG_PARAMS[info_param]
    if info.type is bool:
        return True
    return {"generator.backend": "npm", "sdk.removed": "fail", "fetch.timeout": 7.0}.get(info.key, "x")


@pytest.mark.parametrize("name,params", list(_flag_tasks()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_settings_flag_a_task_takes_reaches_the_settings(name: str, params: List[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Dict[str, Any] = {}

    def record(c: Context, **flags: Any) -> Settings:
        seen.update(cli_settings(**flags))
        raise _Recorded()

    monkeypatch.setattr(task_module, "settings", record)
    body = task_module.ns.tasks[name].body
    required = {p.name: "x" for p in inspect.signature(body).parameters.values()
                if p.default is inspect.Parameter.empty and p.name != "c"}
    with pytest.raises(_Recorded):
        body(Context(), **required, **{p: _given(p) for p in params})
    for param in params:
        info = FLAG_PARAMS[param]
        assert seen.get(info.key) == info.from_flag(_given(param)), f"{name} --{param} does not reach {info.key}"


@pytest.mark.parametrize("name,params", list(_flag_tasks()), ids=lambda v: v if isinstance(v, str) else "")
def test_a_settings_flag_is_explained_by_the_table(name: str, params: List[str]) -> None:
    helps = task_module.ns.tasks[name].help
    for param in params:
        flag = FLAG_PARAMS[param].flag[2:]
        assert helps.get(flag), f"{name} --{flag} has no help"
    if "sdk" in params:
        assert helps["sdk"] == BY_KEY["sdk.root"].flag_help


def _resolve(env: Dict[str, str], tmp_path: Path) -> Settings:
    return resolve_run_settings({}, env, {}, tmp_path, None).settings


def test_invoke_variables_set_every_setting_even_without_a_file(tmp_path: Path) -> None:
    s = _resolve({"INVOKE_REGEN_BACKUPS_KEEP": "3", "INVOKE_REGEN_GENERATOR_JAVA_HEAP": "3g",
                  "INVOKE_REGEN_FIXUPS_SKIP": "strip-path-prefix"}, tmp_path)
    assert (s.backups_keep, s.generator.java_heap, s.fixups.skip) == (3, "3g", ("strip-path-prefix",))
    # Above the tool's invoke.yaml, below the REGEN_ variables.
    s = resolve_run_settings({"backups_keep": 5}, {"INVOKE_REGEN_BACKUPS_KEEP": "3", "REGEN_BACKUPS_KEEP": "4"},
                             {}, tmp_path, None).settings
    assert s.backups_keep == 4


def test_an_invoke_variable_naming_no_setting_is_refused_with_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _resolve({"INVOKE_REGEN_BACKUP_KEEP": "3"}, tmp_path)
    assert "INVOKE_REGEN_BACKUP_KEEP" in str(info.value) and "INVOKE_REGEN_BACKUPS_KEEP" in info.value.hint


def test_a_bad_invoke_variable_is_blamed_on_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _resolve({"INVOKE_REGEN_SDK_REMOVED": "kep"}, tmp_path)
    assert "the environment variable INVOKE_REGEN_SDK_REMOVED" in info.value.hint


def _sdk(tmp_path: Path, pyproject: str) -> Path:
    sdk = tmp_path / "sdk"
    (sdk / "src" / "conductor" / "asyncio_client" / "http").mkdir(parents=True)
    (sdk / "pyproject.toml").write_text(pyproject)
    return sdk


def test_sessions_resolve_the_sdks_settings_as_tasks_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = _sdk(tmp_path, '[tool.conductor-regen.fixups]\nskip = ["strip-path-prefix"]\n')
    monkeypatch.chdir(tmp_path)
    task_side = resolve_run_settings({}, {}, cli_settings(sdk=str(sdk)), tmp_path, None).settings
    session_side = resolve_session_settings(sdk, {}, tmp_path)
    assert session_side.fixups.skip == task_side.fixups.skip == ("strip-path-prefix",)


def test_sessions_read_the_users_invoke_yaml_and_invoke_variables(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".invoke.yaml").write_text("regen:\n  generator:\n    java_heap: 3g\n")
    monkeypatch.setenv("HOME", str(home))
    sdk = _sdk(tmp_path, "")
    s = resolve_session_settings(sdk, {"INVOKE_REGEN_BACKUPS_KEEP": "2"}, tmp_path)
    assert (s.generator.java_heap, s.backups_keep) == ("3g", 2)


def test_cli_settings_maps_switches_and_values() -> None:
    assert cli_settings(no_keyword_calls=True, no_fixups=False, insecure=True, sdk=None, removed="drop") == {
        "sdk.keyword_calls": False, "fixups.enabled": None, "fetch.insecure": True, "sdk.root": None,
        "sdk.removed": "drop"}
    with pytest.raises(TypeError):
        cli_settings(dry_run=True)


