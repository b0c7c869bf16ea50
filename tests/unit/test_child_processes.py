"""Every child process runs in its own process group with a time limit from the settings; past it, or on
Ctrl-C, the whole group goes (the child and what it started) and the run stops with one line naming the setting.

Real processes throughout: stand-in `java`, `uv` and `git` scripts first on PATH start a grandchild
(`sleep 1000 &`), write both pids, and wait; the tests check by pid that both are gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest
from support.fake_sdk import make_sdk, target_of
from support.paths import SPEC_V1, SPEC_V2
from support.sdk_copies import cli_env, run_cli

from conductor_regen import child_env
from conductor_regen.commands.gate import sdk_environment
from conductor_regen.child_env import Limit, run
from conductor_regen.config import FixupConfig, GeneratorConfig, ValidationConfig, resolve_settings
from conductor_regen.errors import GeneratorError, RegenError, SdkError, SpecValidationError, VerificationError
from conductor_regen.generator.backends import Invocation, Running, build_invocation, docker_invocation
from conductor_regen.generator.verify import import_all
from conductor_regen.matrix.runner import _run_bounded
from conductor_regen.checkout.env import sdk_python
from conductor_regen.checkout.target import git_dirty_paths
from conductor_regen.spec.validation import validate_spec

pytestmark = pytest.mark.waits  # most tests here sit out a time limit on a child that hangs

# A program that starts a grandchild, records "<own pid> <grandchild pid>", and waits for ever.
HANGS = """#!/bin/sh
sleep 1000 &
echo "$$ $!" > "{pids}"
wait
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:  # a zombie is not running
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pids: List[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def _pids(path: Path) -> List[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture
def hanging(tmp_path: Path) -> Iterator[Path]:
    """A bin folder for stand-in programs; whatever pids they record are killed at the end, whatever happened."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    try:
        yield bin_dir
    finally:
        for pid_file in tmp_path.glob("*.pids"):
            for pid in _pids(pid_file):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _stand_in(bin_dir: Path, name: str) -> Path:
    """`bin_dir/name`: a program that hangs with a grandchild; returns the file its pids go to."""
    pids = bin_dir.parent / f"{name}.pids"
    program = bin_dir / name
    program.write_text(HANGS.format(pids=pids))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return pids


def _path_with(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


# --- the generator -------------------------------------------------------------------------------

def test_the_generator_past_generator_timeout_is_stopped_with_what_it_started(
        tmp_path: Path, hanging: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = _stand_in(hanging, "java")
    monkeypatch.setenv("PATH", _path_with(hanging))
    config = GeneratorConfig(version="0.0.0-stand-in", timeout=1.0)
    jar = tmp_path / "cache" / "generator" / config.version / "openapi-generator.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"not a jar: the stand-in java never reads it")
    (tmp_path / "work").mkdir()
    inv = build_invocation(config, tmp_path / "work" / "spec.json", tmp_path / "work" / "out", tmp_path / "cache")
    assert inv.argv[0] == str(hanging / "java")
    with pytest.raises(GeneratorError) as err:  # the stand-in hangs for ever: only the timeout ends it
        Running(inv, tmp_path / "gen.log", config.timeout).wait()
    assert err.value.message == "the generator ran past generator.timeout (1 s) and was stopped"
    assert err.value.hint.startswith("raise REGEN_GENERATOR_TIMEOUT (or generator.timeout in invoke.yaml)")
    assert str(tmp_path / "gen.log") in err.value.hint
    java, sleeper = _pids(pids)
    assert _gone([java, sleeper]), "the generator or the process it started outlived the timeout"


def test_the_generator_timeout_counts_from_its_start_while_no_one_waits(tmp_path: Path) -> None:
    """Started ahead of validation, the generator is stopped at its timeout even though `wait` comes later;
    one that finishes within it meanwhile is simply done."""
    slow = tmp_path / "slow-java"
    slow.write_text("#!/bin/sh\nsleep 1\necho generated\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    late = Running(Invocation((str(slow),), cwd=tmp_path), tmp_path / "late.log", timeout=0.2)
    time.sleep(1.5)  # validation, meanwhile: the stand-in would have finished by now, after its limit
    with pytest.raises(GeneratorError) as err:
        late.wait()
    assert err.value.message == "the generator ran past generator.timeout (0.2 s) and was stopped"
    assert "generated" not in (tmp_path / "late.log").read_text()

    quick = tmp_path / "quick-java"
    quick.write_text("#!/bin/sh\necho generated\n")
    quick.chmod(quick.stat().st_mode | stat.S_IXUSR)
    done = Running(Invocation((str(quick),), cwd=tmp_path), tmp_path / "quick.log", timeout=5.0)
    time.sleep(0.3)
    assert done.wait() >= 0 and "generated" in (tmp_path / "quick.log").read_text()


def test_a_cancelled_generator_takes_what_it_started_with_it(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "npx")
    running = Running(Invocation((str(hanging / "npx"),), cwd=tmp_path), tmp_path / "gen.log")
    deadline = time.monotonic() + 60
    while len(_pids(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    running.cancel()
    assert _gone(_pids(pids))


def test_the_generator_command_prints_one_line_naming_the_setting(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "java")
    env = cli_env(tmp_path / "backups", tmp_path / "cache", REGEN_GENERATOR_TIMEOUT="1", PATH=_path_with(hanging))
    done = run_cli("generate", "--spec", str(SPEC_V1), "--output", str(tmp_path / "out"), "--no-cache", env=env)
    assert done.code == 1, done
    assert done.the_error().startswith("ERROR: the generator ran past generator.timeout (1 s) and was stopped / "
                                       "hint: raise REGEN_GENERATOR_TIMEOUT"), done
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2
    assert not (tmp_path / "out").exists()


def test_a_docker_generator_is_named_so_its_container_can_be_stopped(tmp_path: Path) -> None:
    inv = docker_invocation(GeneratorConfig(), tmp_path / "spec.json", tmp_path / "out", uid=1, gid=1)
    name = inv.argv[inv.argv.index("--name") + 1]
    assert inv.stop_argv == ("docker", "kill", name) and name.startswith("conductor-regen-")
    assert docker_invocation(GeneratorConfig(), tmp_path / "spec.json", tmp_path / "out").stop_argv != inv.stop_argv


def test_a_timeout_also_runs_the_backends_stop_command(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "docker")
    stopper = hanging / "stop"
    stopper.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path / "stopped.txt"}"\n')
    stopper.chmod(0o755)
    inv = Invocation((str(hanging / "docker"),), cwd=tmp_path, stop_argv=(str(stopper), "kill", "c1"))
    with pytest.raises(GeneratorError, match="generator.timeout"):
        Running(inv, tmp_path / "gen.log", 0.5).wait()
    assert (tmp_path / "stopped.txt").read_text() == "kill c1\n"
    assert _gone(_pids(pids))


# --- the SDK's environment (uv) --------------------------------------------------------------------

def test_a_hanging_uv_is_stopped_at_install_timeout(tmp_path: Path, hanging: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pids = _stand_in(hanging, "uv")
    monkeypatch.setenv("PATH", _path_with(hanging))
    target = target_of(make_sdk(tmp_path))
    settings = resolve_settings({"cache_dir": str(tmp_path / "cache")}, {"REGEN_INSTALL_TIMEOUT": "1"})
    assert settings.install_timeout == 1.0
    exe, exc = sdk_environment(target, settings)
    assert exe is None and isinstance(exc, VerificationError)
    assert exc.message == f"creating a Python {sys.version_info[0]}.{sys.version_info[1]} virtualenv ran past " \
                          "install_timeout (1 s) and was stopped"
    assert exc.hint.startswith("raise REGEN_INSTALL_TIMEOUT (or install_timeout in invoke.yaml)")
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2
    assert not list((tmp_path / "cache" / "sdk-envs").iterdir())  # no half-built environment left


def test_sdk_python_takes_its_time_limit(tmp_path: Path, hanging: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = _stand_in(hanging, "uv")
    monkeypatch.setenv("PATH", _path_with(hanging))
    with pytest.raises(VerificationError, match=r"install_timeout \(0.5 s\)"):
        sdk_python(make_sdk(tmp_path), tmp_path / "cache", "3.11", timeout=0.5)
    assert _gone(_pids(pids))


# --- the import checks, nox, git -------------------------------------------------------------------

def test_an_import_check_past_import_timeout_is_stopped_with_what_it_started(tmp_path: Path, hanging: Path) -> None:
    pids = tmp_path / "import.pids"
    (tmp_path / "hangs").mkdir()
    (tmp_path / "hangs" / "__init__.py").write_text(
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(1000)\n")
    with pytest.raises(VerificationError) as err:
        import_all([tmp_path], ["hangs"], timeout=2.0)
    assert err.value.message == "the import check ran past import_timeout (2 s) and was stopped"
    assert "REGEN_IMPORT_TIMEOUT" in err.value.hint
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2


def test_nox_past_test_timeout_is_stopped_with_its_group(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "nox")
    with pytest.raises(VerificationError) as err:
        _run_bounded([str(hanging / "nox")], None, False, 1.0)
    assert err.value.message == "nox (the test sessions) ran past test_timeout (1 s) and was stopped"
    assert err.value.hint.startswith("raise REGEN_TEST_TIMEOUT (or test_timeout in invoke.yaml)")
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2


def test_a_hanging_git_status_is_stopped(tmp_path: Path, hanging: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = target_of(make_sdk(tmp_path))
    pids = _stand_in(hanging, "git")
    monkeypatch.setenv("PATH", _path_with(hanging))
    monkeypatch.setattr("conductor_regen.checkout.target.GIT_TIMEOUT", 1.0)
    with pytest.raises(SdkError, match=r"`git status` in .* did not finish in 1 s and was stopped"):
        git_dirty_paths(target)
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2


# --- the shared helper -----------------------------------------------------------------------------

def test_ctrl_c_while_waiting_kills_the_whole_group(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "child")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(KeyboardInterrupt):
            run([str(hanging / "child")], Limit(None, "a child"))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(_pids(pids)) and len(_pids(pids)) == 2
    assert not child_env._running


def test_kill_all_stops_children_waited_for_elsewhere(tmp_path: Path, hanging: Path) -> None:
    pids = _stand_in(hanging, "child")
    proc = child_env.start([str(hanging / "child")])
    try:
        deadline = time.monotonic() + 60
        while len(_pids(pids)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        child_env.kill_all()
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert _gone(_pids(pids))
    finally:
        child_env.stop(proc)


def test_a_limit_names_its_setting_and_how_to_raise_it() -> None:
    err = Limit(30.0, "the generator", "generator.timeout", "see its log", GeneratorError).expired()
    assert isinstance(err, GeneratorError)
    assert err.render() == ("ERROR: the generator ran past generator.timeout (30 s) and was stopped / hint: raise "
                            "REGEN_GENERATOR_TIMEOUT (or generator.timeout in invoke.yaml); see its log")
    fixed = Limit(120.0, "`git status`", hint="check the repository").expired()
    assert type(fixed) is RegenError and fixed.render() == \
        "ERROR: `git status` did not finish in 120 s and was stopped / hint: check the repository"


def test_a_child_that_finishes_is_returned_like_subprocess_run(tmp_path: Path) -> None:
    done = run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper()); sys.exit(3)"],
               Limit(30.0, "echo"), input="hi", text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "HI\n", "")
    assert not child_env._running


# --- validation --------------------------------------------------------------------------------------

def test_validation_past_validation_timeout_is_stopped() -> None:
    document = json.loads(SPEC_V2.read_text())
    with pytest.raises(SpecValidationError) as err:
        validate_spec(document, ValidationConfig(timeout=0.05), FixupConfig())
    assert err.value.message == ("validating the spec (openapi-spec-validator) ran past validation.timeout (0.05 s) "
                                 "and was stopped")
    assert err.value.hint.startswith("raise REGEN_VALIDATION_TIMEOUT (or validation.timeout in invoke.yaml)")
    assert not child_env._running
    # The child is gone: no child of ours still runs the validator.
    assert not [pid for pid in _children() if b"_validator_main" in _cmdline(pid)]


def _children() -> List[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as handle:
                if name.isdigit() and int(handle.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    found.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_validation_in_its_child_finds_what_it_found_in_process() -> None:
    from conductor_regen.spec.validation import _run_validator

    spec = json.loads(SPEC_V2.read_text())
    spec["paths"]["/api/broken/{id}"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    report = validate_spec(spec, ValidationConfig(), FixupConfig())
    found = _run_validator(spec, "3.0")
    assert found and any(f.message in p.message for f in found for p in report.problems)


def test_the_validate_command_prints_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", tmp_path / "cache", REGEN_VALIDATION_TIMEOUT="0.05")
    done = run_cli("validate-spec", "--spec", str(SPEC_V1), env=env)
    assert done.code == 1, done
    assert done.the_error() == (
        "ERROR: validating the spec (openapi-spec-validator) ran past validation.timeout (0.05 s) and was stopped / "
        "hint: raise REGEN_VALIDATION_TIMEOUT (or validation.timeout in invoke.yaml); a spec this slow to validate "
        "is huge or built to be slow; check where it came from"), done


def test_the_verify_step_stops_its_imports_at_import_timeout(tmp_path: Path, generator_cache: Path) -> None:
    """`generate`'s verify step takes import_timeout from settings too (it had a fixed 600 s)."""
    # A PYTHONPATH of its own: an interpreter that never imported the cached tree, so the imports run again.
    (tmp_path / "site").mkdir()
    env = cli_env(tmp_path / "backups", generator_cache, REGEN_IMPORT_TIMEOUT="0.01", PYTHONPATH=str(tmp_path / "site"))
    done = run_cli("generate", "--spec", str(SPEC_V1), "--output", str(tmp_path / "out"), env=env)
    assert done.code == 1, done
    assert done.the_error().startswith("ERROR: the import check ran past import_timeout"), done
    assert "REGEN_IMPORT_TIMEOUT" in done.the_error()
