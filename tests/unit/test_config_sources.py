"""Settings sources: the SDK found from the working folder, its own settings file, store folder defaults."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict

import pytest
from support.paths import REPO

from conductor_regen.config_sources import (
    checkout_key,
    default_backups_dir,
    find_checkout,
    load_tool_config,
    read_checkout_settings,
    resolve_run_settings,
    tool_repository,
)
from conductor_regen.errors import ConfigError


def checkout(base: Path, name: str = "conductor-python") -> Path:
    """An (empty) SDK checkout layout: what detection looks for."""
    root = base / name
    (root / "src" / "conductor" / "asyncio_client" / "http").mkdir(parents=True)
    (root / "tests" / "unit").mkdir(parents=True)
    return root


def test_tool_repository_is_this_clone() -> None:
    assert tool_repository() == REPO


def test_find_checkout_walks_up_from_any_folder_below(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    assert find_checkout(root) == root.resolve()
    assert find_checkout(root / "tests" / "unit") == root.resolve()
    assert find_checkout(root / "src" / "conductor" / "asyncio_client" / "http") == root.resolve()
    assert find_checkout(tmp_path) is None


def test_checkout_key_tells_same_named_checkouts_apart(tmp_path: Path) -> None:
    a, b = checkout(tmp_path / "a"), checkout(tmp_path / "b")
    assert checkout_key(a).startswith("conductor-python-") and checkout_key(b).startswith("conductor-python-")
    assert checkout_key(a) != checkout_key(b)
    assert checkout_key(a) == checkout_key(tmp_path / "a" / "." / "conductor-python")


def test_backups_default_repo_then_per_user_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    root = checkout(tmp_path)
    assert default_backups_dir(REPO, root) == REPO / "backups"
    assert default_backups_dir(None, root) == tmp_path / "data" / "conductor-regen" / "backups" / checkout_key(root)


def test_pyproject_table_and_relative_stores(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "conductor-python"\n\n'
        '[tool.conductor-regen]\nbackups_dir = "../sdk-backups"\n\n'
        '[tool.conductor-regen.generator]\njava_heap = "1g"\n', encoding="utf-8")
    found = read_checkout_settings(root)
    assert found.source == root / "pyproject.toml"
    assert found.values["generator"] == {"java_heap": "1g"}
    assert found.values["backups_dir"] == str(root / "../sdk-backups")


def test_invoke_yaml_section(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "invoke.yaml").write_text("other: 1\nregen:\n  fixups:\n    skip: [strip-path-prefix]\n")
    found = read_checkout_settings(root)
    assert found.source == root / "invoke.yaml"
    assert found.values == {"fixups": {"skip": ["strip-path-prefix"]}}


@pytest.mark.parametrize("files, message", [
    ({"invoke.yaml": "regen:\n  generator:\n    heap: 1g\n"}, "unknown setting 'generator.heap'"),
    ({"pyproject.toml": "[tool.conductor-regen.sdk]\nroot = '/elsewhere'\n"}, "sets sdk.root"),
    ({"invoke.yaml": "regen: [1, 2]\n"}, "is not a table of settings"),
    ({"invoke.yaml": "regen: {\n"}, "cannot read"),
    ({"pyproject.toml": "[tool.conductor-regen\n"}, "cannot read"),
    ({"invoke.yaml": "regen:\n  verbose: true\n", "pyproject.toml": "[tool.conductor-regen]\nverbose = true\n"},
     "in both invoke.yaml and pyproject.toml"),
])
def test_bad_checkout_settings_name_the_file(tmp_path: Path, files: Dict[str, str], message: str) -> None:
    root = checkout(tmp_path)
    for name, text in files.items():
        (root / name).write_text(text)
    with pytest.raises(ConfigError) as info:
        read_checkout_settings(root)
    assert message in info.value.message


def test_layers_in_order_and_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = checkout(tmp_path)
    (root / "pyproject.toml").write_text('[tool.conductor-regen.generator]\njava_heap = "1g"\nversion = "7.13.0"\n')
    tool = {"generator": {"java_heap": "3g", "backend": "docker", "version": "7.0.0"}}
    below = root / "tests" / "unit"

    run = resolve_run_settings(tool, {}, {}, below, None)
    s = run.settings
    assert run.sdk_detected and run.sdk_source == root / "pyproject.toml"
    assert s.sdk.root == root.resolve()
    # The SDK's file beats the tool's; the tool's still counts where the SDK says nothing.
    assert (s.generator.java_heap, s.generator.version, s.generator.backend) == ("1g", "7.13.0", "docker")
    assert s.backups_dir == tmp_path / "data" / "conductor-regen" / "backups" / checkout_key(root)
    assert s.cache_dir == tmp_path / "cache" / "conductor-regen"

    s = resolve_run_settings(tool, {"REGEN_JAVA_HEAP": "4g"}, {}, below, None).settings
    assert s.generator.java_heap == "4g"
    s = resolve_run_settings(tool, {"REGEN_JAVA_HEAP": "4g"}, {"generator.java_heap": "5g"}, below, None).settings
    assert s.generator.java_heap == "5g"

    # From the repository, the stores are the repository's; relative ones are anchored there.
    s = resolve_run_settings({}, {}, {}, below, REPO).settings
    assert (s.backups_dir, s.cache_dir) == (REPO / "backups", REPO / ".cache")
    s = resolve_run_settings({"backups_dir": "elsewhere"}, {}, {}, below, REPO).settings
    assert s.backups_dir == REPO / "elsewhere"


def test_named_sdk_beats_detection_and_outside_any_checkout_nothing_is_found(tmp_path: Path) -> None:
    here, other = checkout(tmp_path / "here"), checkout(tmp_path / "other")
    s = resolve_run_settings({}, {"CONDUCTOR_SDK_ROOT": str(other)}, {}, here, REPO).settings
    assert s.sdk.root == other
    s = resolve_run_settings({}, {}, {"sdk.root": str(other)}, here, REPO).settings
    assert s.sdk.root == other
    run = resolve_run_settings({}, {}, {}, tmp_path, REPO)
    assert run.settings.sdk.root is None and not run.sdk_detected


def test_reading_invokes_files_for_a_session_logs_nothing_of_invokes_own(caplog: pytest.LogCaptureFixture) -> None:
    # A verbose nox run shows every logger at debug level: Invoke's search for its files is noise there.
    with caplog.at_level(logging.DEBUG):
        load_tool_config(REPO)
    assert [r for r in caplog.records if r.name.startswith("invoke")] == []
    assert logging.getLogger("invoke").level == logging.NOTSET  # left as it was
