"""Every hint names the program the user ran, and an option or setting that exists for the command they ran.

Two ways in. The main error paths run through both programs as real subprocesses; each command, option,
environment variable and setting their hints name is then proven by running it: `PROGRAM --help TASK`
must list the option, `PROGRAM fixups --verbose` must resolve the variable or show the setting. And every
hint-like text in the package (a string that names an option or an `invoke TASK` command) is rendered
for every task, under both programs, as the edge renders it: what it names must exist for that task.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from conftest import SpecReply, SpecServer
from support.paths import REPO, SPEC_V1
from support.programs import PROGRAMS, run_as
from support.sdk_copies import CliResult, cli_env, new_sdk, pkg

from conductor_regen.cli import options, render
from conductor_regen.cli.tasks import ns
from conductor_regen.config import ENV_KEYS, known_settings

PACKAGE = REPO / "scripts" / "conductor_regen"
# A command of ours: the program, a task, its options (each with a value or not).
COMMAND = re.compile(r"(?<![\w./-])(invoke|conductor-regen) (?!has\b)([a-z][a-z-]*)"
                     r"((?: --?[a-z][a-z0-9-]*(?:[ =](?!-)[^\s`;,()]+)?)*)")
FOREIGN = re.compile(r"(?<![\w./-])(?:python -m )?(?:nox|pip|docker|git|uv|npm|npx) [^;,`]*")
FLAG = re.compile(r"(?<![\w./`=-])--[a-z][a-z0-9-]*")
ENV_VAR = re.compile(r"\b(?:REGEN|CONDUCTOR)_[A-Z_]+\b")
SETTING = re.compile(r"\b(?:fetch|validation|fixups|generator|sdk)\.[a-z_]+\b")
# Options of other programs a hint may name: they are not ours to check.
NOT_OURS = {"--skip-operation-example": "the generator's own option, which this tool always passes",
            "--accept": "an option of the lint, typecheck and contract nox sessions (nox -s lint -- --accept)",
            "--baseline": "an option of the contract nox session"}
# A value each variable a hint names can take, to prove by a run that the variable is read.
SAMPLE = {"REGEN_FETCH_TIMEOUT": "7.5", "REGEN_FETCH_DEADLINE": "99.5", "REGEN_JAVA_HEAP": "3g",
          "REGEN_GENERATOR_VERSION": "7.13.0", "REGEN_GENERATOR_BACKEND": "docker", "REGEN_REMOVED_POLICY": "drop",
          "REGEN_KEYWORD_CALLS": "false", "REGEN_GENERATOR_TIMEOUT": "77.5", "REGEN_IMPORT_TIMEOUT": "66.5",
          "REGEN_TEST_TIMEOUT": "55.5", "REGEN_INSTALL_TIMEOUT": "44.5", "REGEN_VALIDATION_TIMEOUT": "33.5"}


# --- what a hint names ---------------------------------------------------------------------------

def commands_in(text: str) -> List[Tuple[str, str, str]]:
    """(program, task, options) of each command of ours in `text`: any in backticks, and outside them the
    program's name followed by a task's ("install conductor-regen from its checkout" names no command)."""
    found = []
    for n, part in enumerate(re.split(r"(`[^`]*`)", text)):
        found += [c for c in COMMAND.findall(part) if n % 2 or c[1] in ns.task_names]
    return found


def outside_commands(text: str) -> str:
    """`text` without our commands, other programs' commands and backticked spans (their options are theirs)."""
    text = re.sub(r"`[^`]*`", " ", text)
    return FOREIGN.sub(" ", COMMAND.sub(" ", text))


def hint_of(line: str) -> str:
    """The part of an output line that tells the user what to do: an error's hint, else the whole line."""
    return line.split(" / hint: ", 1)[1] if line.startswith("ERROR: ") else line


@functools.lru_cache(maxsize=None)
def help_text(program: str, task: str) -> Optional[str]:
    """`PROGRAM --help TASK` as the user would run it (None: no such task)."""
    r = run_as(program, "--help", task, env=cli_env(Path("/nonexistent"), Path("/nonexistent")))
    return r.stdout if r.code == 0 else None


@functools.lru_cache(maxsize=None)
def task_help(program: str, task: str) -> str:
    """`PROGRAM TASK --help`'s output, the other way a user asks (run once per program and task, as help_text)."""
    return run_as(program, task, "--help", env=cli_env(Path("/nonexistent"), Path("/nonexistent"))).stdout


def options_of(program: str, task: str) -> Set[str]:
    text = help_text(program, task)
    assert text is not None, f"`{program} --help {task}` failed: no task {task!r}"
    # --help is a core option every task takes (`TASK --help` runs it, below).
    return set(re.findall(r"--[a-z][a-z0-9-]*", text.split("\nOptions:\n", 1)[1])) | {"--help"}


@functools.lru_cache(maxsize=None)
def resolved(program: str, var: str = "", value: str = "") -> str:
    """`PROGRAM fixups --verbose`'s resolved settings, with `var=value` in the environment."""
    env = cli_env(Path("/tmp/backups"), Path("/tmp/cache"), **({var: value} if var else {}))
    r = run_as(program, "fixups", "--verbose", env=env, cwd=Path("/"))
    assert r.code == 0, r
    return r.stderr


def check_line(program: str, task: str, line: str) -> List[str]:
    """What `line` (printed by `program task`) names that does not exist, proven by running the commands."""
    wrong: List[str] = []
    hint = hint_of(line)
    for ran, named, args in commands_in(hint):
        if ran != program:
            wrong.append(f"names `{ran} {named}`, but the user ran {program}")
            continue
        text = help_text(program, named)
        if text is None or task_help(program, named).split("\nOptions:\n")[-1] != text.split("\nOptions:\n")[-1]:
            wrong.append(f"names `{program} {named}`, which `{program} --help {named}` does not know")
            continue
        wrong += [f"names `{program} {named} {flag}`, which `{program} --help {named}` does not list"
                  for flag in FLAG.findall(" " + args) if flag not in options_of(program, named)]
    wrong += [f"names {flag}, which `{program} --help {task}` does not list"
              for flag in FLAG.findall(outside_commands(hint))
              if flag not in options_of(program, task) and flag not in NOT_OURS]
    for var in ENV_VAR.findall(hint):
        if var == "CONDUCTOR_SDK_ROOT":
            shown = resolved(program, var, str(REPO))
            ok = f"sdk.root = PosixPath('{REPO}')" in shown
        else:
            shown = resolved(program, var, SAMPLE[var])
            ok = f" = {SAMPLE[var]}" in shown or f" = '{SAMPLE[var]}'" in shown or (
                SAMPLE[var] == "false" and shown != resolved(program))
        if not ok:
            wrong.append(f"names {var}, which `{program} fixups --verbose` does not resolve")
    wrong += [f"names the setting {key}, which `{program} fixups --verbose` does not show"
              for key in SETTING.findall(hint) if f"\n  {key} = " not in resolved(program)]
    return wrong


def lines_with_hints(r: CliResult) -> List[str]:
    """Every printed line that names a command, an option, a variable or a setting."""
    return [line for line in (r.stdout + r.stderr).splitlines()
            if re.search(r"`|--[a-z]|REGEN_|CONDUCTOR_|invoke |conductor-regen |\b(?:fetch|sdk|generator)\.", line)
            and not line.startswith(("  ✓", "  ✗", "  -", "plan:", "done in "))]


# --- the main error paths, through both programs -------------------------------------------------

Scenario = Callable[[str, Path, Dict[str, str]], List[Tuple[str, CliResult]]]


def _unusable_spec(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    spec = tmp / "empty.json"
    spec.write_text('{"openapi": "3.0.1", "info": {"title": "x", "version": "1"}, "paths": {}}')
    sdk = new_sdk(tmp)
    return [("regenerate", run_as(program, "regenerate", "--spec", str(spec), "--sdk", str(sdk), "--yes",
                                  env=env, cwd=tmp)),
            ("validate-spec", run_as(program, "validate-spec", "--spec", str(spec), env=env, cwd=tmp))]


def _no_sdk(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    return [("regenerate", run_as(program, "regenerate", "--spec", str(SPEC_V1), "--yes", env=env, cwd=tmp)),
            ("restore", run_as(program, "restore", "--yes", env=env, cwd=tmp))]


def _misspelled(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    return [("regenerate", run_as(program, "regenerate", "--spec", str(SPEC_V1), "--dryrun", env=env, cwd=tmp)),
            ("restore", run_as(program, "restore", "--bakup", "x", env=env, cwd=tmp))]


def _restore_twice(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    sdk = new_sdk(tmp)
    assert run_as(program, "backup", "--sdk", str(sdk), env=env).code == 0
    rest = pkg(sdk) / "http" / "rest.py"
    rest.write_text(rest.read_text() + "# later\n")
    declined = run_as(program, "restore", "--sdk", str(sdk), env=env)
    assert run_as(program, "restore", "--sdk", str(sdk), "--yes", env=env).code == 0
    again = run_as(program, "restore", "--sdk", str(sdk), "--yes", env=env)  # nothing to do: the way forward
    assert "to go forward again" in again.stdout, again
    return [("restore", declined), ("restore", again)]


def _moved_checkout(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    sdk = new_sdk(tmp / "old")
    made = run_as(program, "backup", "--sdk", str(sdk), env=env)
    assert made.code == 0, made
    moved = new_sdk(tmp / "new")  # same folder name, another path
    backup_id = made.stdout.split()[1].rstrip(":")
    return [("restore", run_as(program, "restore", "--sdk", str(moved), "--backup", backup_id, "--yes", env=env)),
            ("restore", run_as(program, "restore", "--sdk", str(moved), "--yes", env=env))]


def _bad_setting(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    sdk = new_sdk(tmp)
    return [("regenerate", run_as(program, "regenerate", "--spec", str(SPEC_V1), "--sdk", str(sdk),
                                  env={**env, "REGEN_JAVA_HEAP": "2gb"}, cwd=tmp))]


def _fix_imports(program: str, tmp: Path, env: Dict[str, str]) -> List[Tuple[str, CliResult]]:
    def plant(root: Path) -> None:  # a generator default package name for fix-imports to rewrite
        path = pkg(root) / "adapters" / "api" / "workflow_resource_api.py"
        path.write_text(path.read_text().replace("from conductor.asyncio_client.http.api import",
                                                 "from openapi_client.api import"))

    sdk = new_sdk(tmp, mutate=plant)
    done = run_as(program, "fix-imports", "--sdk", str(sdk), env=env)
    assert done.code == 0 and f"(undo with `{program} restore`)" in done.stdout, done
    return [("fix-imports", done)]


SCENARIOS: Dict[str, Scenario] = {"fix-imports": _fix_imports, "unusable-spec": _unusable_spec, "no-sdk": _no_sdk, "misspelled": _misspelled,
                                  "restore-twice": _restore_twice, "moved-checkout": _moved_checkout,
                                  "bad-setting": _bad_setting}


# regenerate starts the generator while it validates the spec: that path runs with the e2e tests.
SLOW = {"unusable-spec": pytest.mark.e2e}
# `invoke fix-imports` names `invoke restore` as tests/unit/test_hardening.py checks; here conductor-regen's.
ONLY = {"fix-imports": ("conductor-regen",)}


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program, scenario", [
    pytest.param(program, name, marks=[SLOW[name]] if name in SLOW else [], id=f"{name}-{program}")
    for name in sorted(SCENARIOS) for program in ONLY.get(name, PROGRAMS)])
def test_hints_on_the_main_error_paths_name_what_exists(program: str, scenario: str, tmp_path: Path,
                                                        generator_cache: Path) -> None:
    # The session's warm cache: a run that fails validation need not build the SDK's environment again.
    env = cli_env(tmp_path / "backups", generator_cache)
    runs = SCENARIOS[scenario](program, tmp_path, env)

    checked = 0
    for task, r in runs:
        assert "Traceback" not in r.output, r
        lines = lines_with_hints(r)
        assert lines, (task, str(r))
        for line in lines:
            assert check_line(program, task, line) == [], (task, line)
            checked += 1
    assert checked


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_a_slow_server_names_the_timeout_each_command_has(program: str, spec_server: SpecServer,
                                                          tmp_path: Path) -> None:
    # regenerate has no --timeout: its hint names the setting; fetch-spec has the option and names it.
    spec_server.serve("/api-docs", SpecReply(body=SPEC_V1.read_bytes(), delay=3))
    env = cli_env(tmp_path / "backups", tmp_path / "cache", REGEN_FETCH_DEADLINE="0.5")
    sdk = new_sdk(tmp_path)

    runs = {"regenerate": run_as(program, "regenerate", "--spec", spec_server.url(), "--sdk", str(sdk), "--yes",
                                 env={**env, "REGEN_FETCH_TIMEOUT": "0.2"}, cwd=tmp_path),
            "fetch-spec": run_as(program, "fetch-spec", "--url", spec_server.url(), "--timeout", "0.2",
                                 "--output", str(tmp_path / "spec.json"), env=env, cwd=tmp_path)}

    for task, r in runs.items():
        assert r.code == 1, r
        [line] = [x for x in r.stderr.splitlines() if x.startswith("ERROR:")]
        assert "timed out after 0.2s" in line, line
        assert check_line(program, task, line) == [], line
    assert "raise REGEN_FETCH_TIMEOUT (fetch.timeout)" in runs["regenerate"].stderr, runs["regenerate"]
    assert "raise --timeout" in runs["fetch-spec"].stderr, runs["fetch-spec"]


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_a_bad_certificate_names_how_each_command_turns_verification_off(program: str,
                                                                         tls_spec_server: SpecServer,
                                                                         tmp_path: Path) -> None:
    tls_spec_server.serve("/api-docs", SpecReply(body=SPEC_V1.read_bytes()))
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    sdk = new_sdk(tmp_path)

    runs = {"regenerate": run_as(program, "regenerate", "--spec", tls_spec_server.url(), "--sdk", str(sdk),
                                 "--yes", env=env, cwd=tmp_path),
            "fetch-spec": run_as(program, "fetch-spec", "--url", tls_spec_server.url(),
                                 "--output", str(tmp_path / "spec.json"), env=env, cwd=tmp_path)}

    for task, r in runs.items():
        assert r.code == 1, r
        [line] = [x for x in r.stderr.splitlines() if x.startswith("ERROR:")]
        assert check_line(program, task, line) == [], line
    assert "setting fetch.insecure=true in invoke.yaml skips verification" in runs["regenerate"].stderr
    assert "--insecure skips verification" in runs["fetch-spec"].stderr


# --- every hint in the package, for every task -------------------------------------------------------

# Where the package gives a hint: the second argument of a domain error (and of a failure-cause rule), a
# time limit's fourth, or any `hint=`.
HINT_ARG = {"Aborted": 1, "_Transient": 1, "_rule": 1, "Limit": 3}
# Code that runs in other processes (nox sessions, the SDK's venv), with hints of its own programs.
ELSEWHERE = ("matrix/contract/in_sdk_venv/",)


def _texts(node: ast.AST, consts: Dict[str, ast.AST]) -> List[str]:
    """The text(s) an expression can have, with "X" for what is only known at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts = [_texts(v.value, consts) if isinstance(v, ast.FormattedValue) else _texts(v, consts)
                 for v in node.values]
        return ["".join(p[0] if p else "X" for p in parts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in (_texts(node.left, consts) or ["X"]) for b in (_texts(node.right, consts) or ["X"])]
    if isinstance(node, ast.IfExp):
        return _texts(node.body, consts) + _texts(node.orelse, consts)
    if isinstance(node, ast.Name) and node.id in consts:
        return _texts(consts[node.id], consts)
    return []


@functools.lru_cache(maxsize=None)
def package_hints() -> Tuple[Tuple[str, str], ...]:
    """(where, text) for every hint the package can give (parsed once per worker: three tests read them)."""
    return tuple(_scan_hints())


def _scan_hints() -> Iterator[Tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(ELSEWHERE):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        consts = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            index = HINT_ARG.get(name, 1 if name.endswith("Error") else None)
            args = [k.value for k in node.keywords if k.arg == "hint"]
            if index is not None and len(node.args) > index:
                args.append(node.args[index])
            for arg in args:
                for text in _texts(arg, consts):
                    yield f"{rel}:{node.lineno}", text


def test_the_scan_finds_the_hints() -> None:
    texts = "\n".join(text for _, text in package_hints())
    for known in ("raise --timeout or check the server", "run `invoke validate-spec --spec ...`",
                  "pass --moved", "pass --absolute", "raise --java-heap (e.g. 4g)", "use --backend jar (the bundled",
                  "point --sdk (or CONDUCTOR_SDK_ROOT", "raise REGEN_GENERATOR_TIMEOUT"[:6]):
        assert known in texts, known


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_hint_names_what_the_running_task_has(program: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "PROGRAM", program)
    flags = render.task_flags()
    settings = known_settings()
    wrong: List[str] = []
    for where, text in package_hints():
        for task in sorted(ns.task_names):
            shown = render.localize(text, task)
            for ran, named, args in commands_in(shown):
                if ran != program or named not in flags:
                    wrong.append(f"{where} in {task}: names `{ran} {named}`: {shown}")
                    continue
                wrong += [f"{where} in {task}: {named} has no {f}: {shown}"
                          for f in FLAG.findall(" " + args) if f not in flags[named] | {"--help"}]
            wrong += [f"{where} in {task}: {task} has no {f}: {shown}" for f in FLAG.findall(outside_commands(shown))
                      if f not in flags[task] and f not in NOT_OURS]
            wrong += [f"{where}: no variable {v}" for v in ENV_VAR.findall(shown) if v not in ENV_KEYS
                      and not v.startswith("CONDUCTOR_AUTH_")]
            wrong += [f"{where}: no setting {k}" for k in SETTING.findall(shown) if k not in settings]
    assert sorted(set(wrong)) == []


def test_a_hint_is_rendered_for_the_task_that_raised_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "PROGRAM", "conductor-regen")
    assert render.localize("raise --timeout or check the server", "fetch-spec") == \
        "raise --timeout or check the server"
    assert render.localize("raise --timeout or check the server", "regenerate") == \
        "raise REGEN_FETCH_TIMEOUT (fetch.timeout) or check the server"
    assert render.localize("or use --backend docker", "demo") == "or use REGEN_GENERATOR_BACKEND=docker"
    assert render.localize("or use --backend docker", "generate") == "or use --backend docker"
    assert render.localize("pass --absolute to judge without a baseline", "regenerate") == \
        "pass `conductor-regen test --absolute` to judge without a baseline"
    assert render.localize("run `invoke validate-spec --spec ...` for the full list", "diff") == \
        "run `conductor-regen validate-spec --spec ...` for the full list"
    assert render.localize("keep invoke.yaml; nox -s lint -- --sdk X --accept R", "fixups") == \
        "keep invoke.yaml; nox -s lint -- --sdk X --accept R"
