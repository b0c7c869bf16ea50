"""A strict command line, through both programs (`conductor-regen` and the repository's `invoke`): a word
invoke would misread is refused before any work, in one line with exit 2 and the closest option; the
`conductor-regen` program has none of invoke's core options that mean nothing here; every task takes
--verbose and --quiet.

Real subprocesses on committed copies of the example SDK; nothing here reaches the generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from support.paths import SPEC_V1
from support.programs import PROGRAMS, one_error_line, run_as
from support.sdk_copies import CliResult, backup_dirs, new_sdk, sdk_digest

from conductor_regen.cli import console
from conductor_regen.cli.tasks import ns

# Invoke's core options that only concern its `c.run` (which these tasks never use), with their short forms.
DROPPED = {"--pty": "-p", "--echo": "-e", "--warn-only": "-w", "--dry": "-R", "--hide": None,
           "--prompt-for-sudo-password": None, "--command-timeout": "-T", "--config": "-f", "--debug": "-d",
           "--list-depth": "-D", "--write-pyc": None}
KEPT = ("--help", "--list", "--version", "--list-format", "--complete", "--print-completion-script")


# --- unknown options, option-like values, unknown tasks ----------------------------------------------

CASES: List[Tuple[str, List[str], str, Optional[str]]] = [
    # (case, arguments after the program, the message, the suggestion)
    ("misspelled", ["regenerate", "--spec", str(SPEC_V1), "--sdk", "{sdk}", "--yes", "--dryrun"],
     "regenerate has no option --dryrun", "did you mean --dry-run?"),
    ("looks-like-dry-run", ["regenerate", "--spec", str(SPEC_V1), "--sdk", "{sdk}", "--yes", "--dry-rn"],
     "regenerate has no option --dry-rn", "did you mean --dry-run?"),
    # invoke filled the positional with the next word: "spec file not found: --bogus", "no SDK selected".
    ("where-the-spec-goes", ["validate-spec", "--bogus"], "validate-spec has no option --bogus", None),
    ("before-the-spec", ["regenerate", "--bogus", "--sdk", "{sdk}"], "regenerate has no option --bogus", None),
    ("where-a-value-goes", ["regenerate", "--spec", str(SPEC_V1), "--sdk", "--bogus"],
     "--sdk needs a value, got the option-like '--bogus'", None),
    ("no-positional", ["restore", "--sdk", "{sdk}", "--yes", "--bakup", "x"], "restore has no option --bakup",
     "did you mean --backup?"),
    ("task-name", ["regenrate", "--spec", str(SPEC_V1)], "has no task 'regenrate'", "did you mean regenerate?"),
    ("stray-word", ["fixups", "everything"], "fixups got an unexpected argument 'everything'", None),
    ("missing-spec", ["regenerate", "--sdk", "{sdk}", "--yes"], "regenerate needs --spec", None),
]


@pytest.fixture(scope="module")
def refusing_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One committed copy of the example SDK for the runs refused before any work; each test that names it checks
    that its run left it as it was."""
    return new_sdk(tmp_path_factory.mktemp("refusing"))


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case, args, message, suggestion", CASES, ids=[c[0] for c in CASES])
def test_a_misread_word_is_refused_before_any_work(program: str, case: str, args: List[str], message: str,
                                                  suggestion: Optional[str], refusing_sdk: Path, env: Dict[str, str],
                                                  tmp_path: Path) -> None:
    before = sdk_digest(refusing_sdk)

    r = run_as(program, *(a.replace("{sdk}", str(refusing_sdk)) for a in args), env=env, cwd=tmp_path)

    assert r.code == 2, r
    line = one_error_line(r)  # one line, no step ran
    assert line.startswith(f"ERROR: {program} {message}" if message.startswith("has no task")
                           else f"ERROR: {message}"), line
    hint = line.split(" / hint: ", 1)[1]
    assert (hint.startswith(suggestion + " ") if suggestion else "did you mean" not in hint), line
    assert f"`{program} " in hint and "--help" in hint, line  # names the program the user ran
    assert sdk_digest(refusing_sdk) == before and backup_dirs(tmp_path / "backups") == []


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_a_value_that_starts_with_a_dash_goes_after_the_equals_sign(program: str, refusing_sdk: Path,
                                                                   env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as(program, "validate-spec", "--spec=-odd.json", env=env, cwd=tmp_path)

    assert r.code == 1, r
    assert "spec file not found: -odd.json" in one_error_line(r)  # reached the task: the value was taken
    # `-` alone and negative numbers are values, not options.
    before = sdk_digest(refusing_sdk)
    r = run_as(program, "prune-backups", "--keep", "-1", "--sdk", str(refusing_sdk), env=env, cwd=tmp_path)
    assert r.code == 2 and "cannot keep -1 backups" in one_error_line(r), r
    assert sdk_digest(refusing_sdk) == before


def test_the_suggestion_comes_from_that_tasks_own_options() -> None:
    contexts = {str(c.name): c for c in ns.to_contexts()}
    initial = console.ConsoleProgram(namespace=ns).initial_context

    def hint(*tokens: str) -> str:
        problem = console.usage_problem(list(tokens), initial, contexts, "conductor-regen")
        assert problem is not None, tokens
        return problem[1]

    assert hint("regenerate", "--dryrun").startswith("did you mean --dry-run? ")
    assert "--dry-run" not in hint("diff", "--dryrun")  # diff has no --dry-run to suggest
    assert hint("restore", "--sdk", "x", "--yess").startswith("did you mean --yes? ")
    assert hint("fixups", "--verbse").startswith("did you mean --verbose? ")
    assert console.usage_problem(["regenerate", "--help"], initial, contexts, "conductor-regen") is None
    assert console.usage_problem(["test", "--pytest-args", "-x"], initial, contexts, "conductor-regen") is None
    assert console.usage_problem(["regenerate", "-s", "x", "-ny"], initial, contexts, "conductor-regen") is None
    assert console.usage_problem(["regenerate", "-sx.json", "--report", "-"], initial, contexts, "c") is None


# --- invoke's core options: gone from conductor-regen, kept by invoke ---------------------------------

@pytest.mark.e2e  # runs the CLI in subprocesses
def test_conductor_regen_help_shows_only_the_core_options_that_apply(env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as("conductor-regen", "--help", env=env, cwd=tmp_path)

    assert r.code == 0, r
    core = r.stdout.split("Core options:", 1)[1].split("Subcommands:", 1)[0]
    for flag in DROPPED:
        assert flag not in core, (flag, core)
    for short in filter(None, DROPPED.values()):
        assert f"{short}," not in core and f"{short} " not in core, (short, core)
    for flag in KEPT:
        assert flag in core, (flag, core)
    task = run_as("conductor-regen", "--help", "regenerate", env=env, cwd=tmp_path)
    assert "--pty" not in task.stdout and "--echo" not in task.stdout, task


@pytest.mark.e2e  # runs the CLI in subprocesses
# A long and a short form through the real program; every dropped option, long and short: the next test, in process.
@pytest.mark.parametrize("flag", ["--dry", "-R"])
def test_conductor_regen_refuses_invokes_core_options(flag: str, env: Dict[str, str], tmp_path: Path) -> None:
    # Before the task (a core option) and after it (invoke let core options follow a task name).
    for args in ((flag, "fixups"), ("fixups", flag)):
        r = run_as("conductor-regen", *args, env=env, cwd=tmp_path)
        assert r.code == 2, r
        assert f"has no option {flag}" in one_error_line(r), r


@pytest.mark.parametrize("flag", sorted(DROPPED) + sorted(filter(None, DROPPED.values())))
def test_every_dropped_core_option_is_refused(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([flag, "fixups"], ["fixups", flag]):
        with pytest.raises(SystemExit) as info:
            console.program().run(["conductor-regen", *args])
        assert info.value.code == 2, args
        out, err = capsys.readouterr()
        assert f"has no option {flag}" in one_error_line(CliResult(2, out, err)), args


@pytest.mark.e2e  # runs the CLI in subprocesses
def test_invoke_in_the_repository_keeps_its_core_options(env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as("invoke", "--echo", "fixups", env=env, cwd=tmp_path)

    assert r.code == 0 and "strip-path-prefix" in r.stdout, r
    listed = run_as("invoke", "--list", env=env, cwd=tmp_path)
    assert listed.code == 0 and "regenerate" in listed.stdout, listed


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_help_list_and_version_still_work(program: str, env: Dict[str, str], tmp_path: Path) -> None:
    for args in (("--help",), ("--list",), ("--list", "--list-format", "json"), ("regenerate", "--help"),
                 ("restore", "-h")):
        r = run_as(program, *args, env=env, cwd=tmp_path)
        assert r.code == 0 and r.stdout and r.stderr == "", (args, r)
    version = run_as(program, "--version", env=env, cwd=tmp_path)
    assert version.code == 0 and version.stdout.strip(), version


# --- --verbose and --quiet on every task -------------------------------------------------------------

def test_every_task_takes_verbose_and_quiet() -> None:
    for name in ns.task_names:
        names = {n for arg in ns.tasks[name].get_arguments(ignore_unknown_help=True) for n in arg.names}
        assert {"verbose", "v", "quiet", "q"} <= names, name


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_backups_prune_and_restore_take_verbose_and_quiet(program: str, committed_sdk: Path, env: Dict[str, str],
                                                          tmp_path: Path) -> None:
    assert run_as(program, "backup", "--sdk", str(committed_sdk), "--quiet", env=env, cwd=tmp_path).code == 0
    for task, *args in (("backups",), ("prune-backups", "--keep", "1"), ("restore", "--yes")):
        loud = run_as(program, task, "--sdk", str(committed_sdk), *args, "--verbose", env=env, cwd=tmp_path)
        assert loud.code == 0, loud
        assert "resolved settings:" in loud.stderr and "resolved settings" not in loud.stdout, loud
        quiet = run_as(program, task, "--sdk", str(committed_sdk), *args, "-q", env=env, cwd=tmp_path)
        assert quiet.code == 0 and quiet.stderr == "", quiet


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", PROGRAMS)
def test_verbose_and_quiet_together_are_bad_usage(program: str, env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as(program, "fixups", "--verbose", "--quiet", env=env, cwd=tmp_path)

    assert r.code == 2, r
    assert "--verbose and --quiet" in one_error_line(r)
