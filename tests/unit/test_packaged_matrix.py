"""What an installed tool needs from its own package: the nox sessions, the noxfile that loads them, the demo's
data, and a gate pre-flight that refuses (before any work) a gate that could not run.

The installed wheel itself is exercised end to end in tests/e2e/test_installed_tool.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.paths import EXAMPLE_SDK, REPO, SPEC_V1, SPEC_V2

from conductor_regen.commands.demo import fixture_paths
from conductor_regen.commands.test_cmd import test_gate as make_test_gate
from conductor_regen.config import resolve_settings
from conductor_regen.config_sources import DEMO_DATA, PACKAGE_ROOT, tool_repository
from conductor_regen.errors import ConfigError
from conductor_regen.matrix import runner
from conductor_regen.matrix.sessions import ALL_SESSIONS, GATE_SESSIONS


def test_the_tests_and_the_demo_use_the_data_that_ships_in_the_package() -> None:
    assert DEMO_DATA == PACKAGE_ROOT / "data" / "demo" and DEMO_DATA.is_dir()
    assert fixture_paths() == (EXAMPLE_SDK, SPEC_V1, SPEC_V2)
    assert (EXAMPLE_SDK / "pyproject.toml").is_file() and (EXAMPLE_SDK / "src/conductor/asyncio_client").is_dir()


def test_missing_demo_data_says_to_reinstall(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demo data .* is missing") as err:
        fixture_paths(tmp_path)
    assert "reinstall" in (err.value.hint or "")


def test_a_clone_runs_its_own_noxfile_and_an_install_the_packaged_one() -> None:
    assert tool_repository() == REPO and runner.REPOSITORY == REPO
    assert runner.NOXFILE == REPO / "noxfile.py" and runner.RUN_DIR == REPO and runner.DEFAULT_ENVDIR is None
    assert runner.DEFAULT_JUNIT_DIR == REPO / ".cache" / "junit"
    # The default cache keeps those; another cache (REGEN_CACHE_DIR) gets its own JUnit folder and virtualenvs.
    assert runner.matrix_dirs(REPO / ".cache") == (REPO / ".cache" / "junit", None)
    assert runner.matrix_dirs(Path("/elsewhere")) == (Path("/elsewhere/junit"), Path("/elsewhere/nox/envs"))
    packaged = runner.PACKAGED_NOXFILE
    assert packaged == PACKAGE_ROOT / "matrix" / "noxfile.py" and packaged.is_file()
    # Both noxfiles are thin: they import the sessions' module, which holds every session.
    for noxfile in (REPO / "noxfile.py", packaged):
        text = noxfile.read_text()
        assert "from conductor_regen.matrix.nox_sessions import *" in text and "@nox.session" not in text


def test_the_sessions_module_defines_every_session() -> None:
    import nox.registry

    assert runner.gate_problem(ALL_SESSIONS) is None
    assert set(ALL_SESSIONS) <= set(nox.registry.get())
    runner.check_gate_ready((*GATE_SESSIONS, "async_unit-3.12"))


def test_a_missing_noxfile_stops_the_gate_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "NOXFILE", tmp_path / "noxfile.py")
    with pytest.raises(ConfigError, match="the test gate cannot run: the test matrix's noxfile is missing") as err:
        make_test_gate(resolve_settings({}, {}))
    assert "--skip-tests" in (err.value.hint or "") and "reinstall" in (err.value.hint or "")


def test_an_unimportable_sessions_module_stops_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "SESSIONS_MODULE", "conductor_regen.matrix.no_such_sessions")
    with pytest.raises(ConfigError, match="the test sessions .* cannot be imported: ModuleNotFoundError"):
        runner.check_gate_ready(GATE_SESSIONS)


def test_a_session_the_noxfile_does_not_define_stops_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    import nox.registry

    runner.check_gate_ready(GATE_SESSIONS)  # loads the sessions' module, whichever test ran before: they register
    only = {k: v for k, v in nox.registry.get().items() if k != "contract"}
    monkeypatch.setattr(nox.registry, "get", lambda: only)
    with pytest.raises(ConfigError, match="the noxfile defines no session contract"):
        runner.check_gate_ready(GATE_SESSIONS)
    runner.check_gate_ready(("async_tests",))


def test_no_nox_stops_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nox.registry", None)  # `import nox.registry` raises ImportError
    with pytest.raises(ConfigError, match="nox cannot be imported"):
        runner.check_gate_ready(GATE_SESSIONS)


def test_a_misspelled_session_is_still_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="unknown test session"):
        runner.check_gate_ready(("async_test",))


def test_the_contract_resolves_the_sdks_own_settings_as_lint_and_the_tasks_do(tmp_path: Path) -> None:
    """`fixups.skip` in the SDK's pyproject reaches the contract too: its mock serves the spec repaired exactly as
    the client was generated (the contract used to read only this repository's invoke.yaml and the environment)."""
    from support.sdk_copies import new_sdk

    from conductor_regen.matrix import nox_sessions

    sdk = new_sdk(tmp_path)
    pyproject = sdk / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.conductor-regen.fixups]\nskip = ["strip-path-prefix"]\n')
    settings = nox_sessions._contract_settings(sdk, {}, sdk)
    assert settings.fixups.skip == ("strip-path-prefix",)
    assert nox_sessions._contract_settings(tmp_path / "sdk", {"REGEN_BACKUPS_KEEP": "3"}, sdk).backups_keep == 3
