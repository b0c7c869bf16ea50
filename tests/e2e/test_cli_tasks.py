"""The Invoke tasks as a user runs them: `python -m invoke --search-root <repo> <task> ...`.

Real subprocesses on committed copies of the example SDK, the real generator (shared cache), isolated
backup stores. Each test asserts the exit code, the one-line `ERROR: ... / hint: ...` message, and the
real effect on the SDK (sha256 digests of the whole checkout).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support.sdk_copies import (
    MANAGED,
    PACKAGE,
    PROVENANCE,
    Digest,
    backup_dirs,
    cli_env,
    debris,
    diff,
    files_only,
    folders_digest,
    git,
    managed_digest,
    manifest,
    new_sdk,
    perturb,
    pkg,
    run_cli,
    sdk_digest,
)
from support.paths import EXAMPLE_SDK, SPEC_V1, SPEC_V2


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


@pytest.fixture
def env(tmp_path: Path, regen_cache: Path) -> Dict[str, str]:
    return cli_env(tmp_path / "backups", regen_cache)


def regen(root: Path, env: Dict[str, str], *args: str, spec: Path = SPEC_V1, input: str = ""):  # type: ignore[no-untyped-def]
    return run_cli("regenerate", "--spec", str(spec), "--sdk", str(root), *args, env=env, input=input)


def no_backups(tmp_path: Path) -> bool:
    return backup_dirs(tmp_path / "backups") == []


@pytest.fixture
def v2_tree(expected_v2: Dict[str, Digest]) -> Dict[str, Digest]:
    return expected_v2


# --- 2. dry run ------------------------------------------------------------------------------------




def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path, env: Dict[str, str],
                                                     v2_tree: Dict[str, Digest]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    report = tmp_path / "out" / "dry.json"

    r = regen(root, env, "--dry-run", "--report", str(report), spec=SPEC_V2)

    assert r.code == 0, r
    assert sdk_digest(root) == before
    assert no_backups(tmp_path) and debris(root) == []
    # Data on stdout (the report's path, alone); the plan, steps and notes are talk, on stderr.
    assert r.stdout.splitlines() == [f"report: {report.with_suffix('.md')}"], r
    lines = r.stderr.splitlines()
    assert "plan:" in lines
    steps = [line for line in lines if re.match(r"^  \d\. ", line)]
    assert [s.split(".", 1)[0].strip() for s in steps] == [str(n) for n in range(1, len(steps) + 1)], steps
    assert any(". back up " in s for s in steps) and any(". swap in http" in s for s in steps), steps
    # Quiet by default: one line per step, the plan, the notes that need action (each once).
    assert len(lines) < 50 and lines[-1].startswith("done in "), r
    notes = [line for line in lines if line.startswith("note: ")]
    assert len(notes) == len(set(notes)) and any("deprecated" in n for n in notes), r
    # The filed files are exactly what a real v2 run changes, and the counts add up.
    filed_files = json.loads(report.read_text())["files"]
    listed: Dict[str, List[str]] = {"+": filed_files["added"], "-": filed_files["removed"],
                                    "~": filed_files["changed"]}
    old = managed_digest(root)
    want_added: List[str] = []
    want_removed: List[str] = []
    want_changed: List[str] = []
    for name in MANAGED:
        a, rm, ch = diff(files_only(old[name]), files_only(v2_tree[name]))
        want_added += [f"{name}/{p}" for p in a]
        want_removed += [f"{name}/{p}" for p in rm]
        want_changed += [f"{name}/{p}" for p in ch]
    assert sorted(listed["+"]) == sorted(want_added) and "http/api/human_task_api.py" in listed["+"]
    # MetricsToken is gone from v2 but the example SDK uses it: the keep policy retains it.
    assert sorted(listed["-"]) == sorted(want_removed) and "http/models/metrics_token.py" not in listed["-"]
    assert sorted(listed["~"]) == sorted(want_changed)
    counts = f"files: {len(want_added)} added, {len(want_removed)} removed, {len(want_changed)} changed in "
    assert any(line.startswith(counts) for line in lines), (counts, r.stdout)
    filed = json.loads(report.read_text())
    assert filed["outcome"] == "dry-run"
    assert filed["files"] == {"added": sorted(want_added), "removed": sorted(want_removed),
                              "changed": sorted(want_changed)}
    assert report.with_suffix(".md").read_text().startswith("# Regeneration report: dry-run")


# --- 3. the confirmation prompt --------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "eof"])
def test_declining_the_prompt_aborts_and_changes_nothing(tmp_path: Path, env: Dict[str, str], answer: str) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)

    r = regen(root, env, "--skip-tests", input=answer)

    assert r.code == 1, r
    # The plan and the question are talk (stderr), so `regenerate > out` still shows them.
    assert "Swap this into the SDK? [y/N]" in r.stderr and r.stdout == "", r
    assert "plan:" in r.stderr and f"  + {PROVENANCE}" in r.stderr
    # A choice, not a failure: a plain line, no ERROR.
    assert r.error_lines() == [] and "Traceback" not in r.output, r
    [line] = [x for x in r.stderr.splitlines() if "declined" in x]
    assert line.startswith("declined at the confirmation prompt; nothing was changed") and "--yes" in line, r
    assert sdk_digest(root) == before
    assert no_backups(tmp_path) and debris(root) == []


def test_accepting_the_prompt_swaps(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)

    r = regen(root, env, "--skip-tests", input="y\n")

    assert r.code == 0, r
    assert "Swap this into the SDK? [y/N]" in r.stderr
    assert diff(before, sdk_digest(root)) == ([f"{PACKAGE}/{PROVENANCE}"], [], [])
    assert [manifest(b)["outcome"] for b in backup_dirs(tmp_path / "backups")] == ["succeeded"]


# --- 7. the run lock -------------------------------------------------------------------------------

def _write_lock(root: Path, pid: int) -> Path:
    lock = pkg(root) / ".regen.lock"
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2024-01-01T00:00:00+00:00"}))
    return lock


HOLD_FLOCK = r"""
import fcntl, json, os, socket, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "then"}).encode())
open(sys.argv[2], "w").write("held")
time.sleep(120)
"""


def test_a_second_concurrent_run_is_refused(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    lock = pkg(root) / ".regen.lock"
    held = tmp_path / "held"
    # Another run: a live process holding the lock file's flock.
    sleeper = subprocess.Popen([sys.executable, "-c", HOLD_FLOCK, str(lock), str(held)])
    try:
        while not held.exists():
            assert sleeper.poll() is None
            time.sleep(0.02)
        before = sdk_digest(root)

        r = regen(root, env, "--yes", "--skip-tests")

        assert r.code == 1, r
        line = r.the_error()
        assert f"another regeneration is running on this SDK (pid {sleeper.pid}" in line, line
        assert "wait for it" in line and str(lock) in line, line
        assert sdk_digest(root) == before  # the other run's lock included, untouched
        assert no_backups(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stale_lock_is_taken_over(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock = _write_lock(root, gone.pid)
    before = sdk_digest(root)

    r = regen(root, env, "--dry-run")

    assert r.code == 0, r
    assert "removing stale lock" in r.output and r.stdout.splitlines()[-1].endswith("-dry-run.md"), r
    assert not lock.exists()
    assert diff(before, sdk_digest(root)) == ([], [f"{PACKAGE}/.regen.lock"], [])


# --- 8. uncommitted changes ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["modified", "untracked"])
def test_a_dirty_tree_is_refused(tmp_path: Path, env: Dict[str, str], kind: str) -> None:
    root = new_sdk(tmp_path)
    if kind == "modified":
        path = pkg(root) / "http" / "rest.py"
        path.write_text(path.read_text() + "\n# uncommitted\n")
    else:
        path = pkg(root) / "adapters" / "scratch.py"
        path.write_text("X = 1\n")
    before = sdk_digest(root)

    r = regen(root, env, "--yes", "--skip-tests")

    assert r.code == 1, r
    line = r.the_error()
    assert "uncommitted change(s)" in line and path.relative_to(root).as_posix() in line, line
    assert "--allow-dirty" in line.split("/ hint:", 1)[1], line
    assert sdk_digest(root) == before
    assert no_backups(tmp_path)


def test_a_dry_run_on_a_dirty_tree_warns_and_changes_nothing(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    path = pkg(root) / "http" / "rest.py"
    path.write_text(path.read_text() + "\n# uncommitted\n")
    before = sdk_digest(root)

    r = regen(root, env, "--dry-run")

    assert r.code == 0, r
    assert "warning: 1 uncommitted change(s)" in r.stderr and "--allow-dirty" in r.stderr, r
    assert sdk_digest(root) == before
    assert no_backups(tmp_path)


@pytest.mark.parametrize("args, message", [
    (("--session", "async_test"), "unknown test session(s): async_test"),
    (("--python", "3.99"), "unknown Python version(s): 3.99"),
    (("--backend", "dokcer"), "generator.backend='dokcer' is not a generator backend"),
    (("--java-heap", "2gb"), "generator.java_heap='2gb' is not a JVM heap size"),
    (("--removed", "kep"), "sdk.removed='kep' is not a policy"),
])
def test_a_misspelled_option_fails_within_seconds_before_any_work(tmp_path: Path, env: Dict[str, str],
                                                                   args: Tuple[str, ...], message: str) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)

    r = regen(root, env, "--yes", *args)

    assert r.code == 2, r
    assert message in r.the_error(), r
    # Before any work: not a step ran (none printed, no backup), only the error line.
    assert r.stdout.strip() == "", r
    assert not [line for line in r.stderr.splitlines() if line.lstrip().startswith(("✓", "✗", "- "))], r
    assert no_backups(tmp_path)
    assert sdk_digest(root) == before
    assert no_backups(tmp_path)


def test_allow_dirty_proceeds_and_the_backup_keeps_the_edit(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    rest = pkg(root) / "http" / "rest.py"
    pristine = rest.read_bytes()
    rest.write_bytes(pristine + b"\n# uncommitted\n")

    r = regen(root, env, "--yes", "--skip-tests", "--allow-dirty")

    assert r.code == 0, r
    assert rest.read_bytes() == pristine  # regenerated
    [backup] = backup_dirs(tmp_path / "backups")
    assert (backup / "tree" / "http" / "rest.py").read_bytes() == pristine + b"\n# uncommitted\n"
    assert manifest(backup)["outcome"] == "succeeded"


# --- 9. no usable SDK ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "no-http", "not-given"])
def test_without_a_usable_sdk_one_error_line_says_how_to_point_at_one(tmp_path: Path, env: Dict[str, str],
                                                                      case: str) -> None:
    args: List[str] = []
    if case == "missing":
        args = ["--sdk", str(tmp_path / "nowhere")]
    elif case == "no-http":
        bare = tmp_path / "bare"
        (bare / PACKAGE / "adapters").mkdir(parents=True)
        args = ["--sdk", str(bare)]

    r = run_cli("regenerate", "--spec", str(SPEC_V1), "--yes", *args, env=env)

    assert r.code != 0, r
    line = r.the_error()
    hint = line.split("/ hint:", 1)[1]
    assert "--sdk" in hint and "CONDUCTOR_SDK_ROOT" in hint, line
    if case == "no-http":
        assert "asyncio_client/http is missing" in line
    assert no_backups(tmp_path)


# --- 10. backups, backup, prune-backups, restore ---------------------------------------------------

def test_backups_and_backup(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    store = tmp_path / "backups"

    r = run_cli("backups", "--sdk", str(root), env=env)
    assert r.code == 0 and "no backups of sdk" in r.stdout, r

    assert regen(root, env, "--yes", "--skip-tests").code == 0
    [first] = backup_dirs(store)
    before_manual = sdk_digest(root)
    r = run_cli("backup", "--sdk", str(root), env=env)
    assert r.code == 0, r
    assert sdk_digest(root) == before_manual  # a backup touches nothing
    [_, second] = backup_dirs(store)
    files = sum(len(files_only(d)) for d in managed_digest(root).values())
    assert f"backup {second.name}: {files} files" in r.stdout, r
    assert manifest(second)["outcome"] == "manual" and manifest(second)["spec_version"] == "v1"
    assert folders_digest(second / "tree") == managed_digest(root)

    r = run_cli("backups", "--sdk", str(root), env=env)
    assert r.code == 0, r
    header, *rows = [line.split() for line in r.stdout.splitlines() if line.strip()]
    [footer] = [line.split() for line in r.stderr.splitlines() if line.strip()]  # talk: stdout is the table
    assert header == ["ID", "CREATED", "SPEC", "SIZE", "(B)", "OUTCOME"], r
    # `*` marks the default restore point: the newest backup not taken by a restore.
    marks = [row[0] == "*" for row in rows]
    rows = [row[1:] if mark else row for row, mark in zip(rows, marks)]
    assert [(row[0], row[-1]) for row in rows] == [(second.name, "manual"), (first.name, "succeeded")], r
    assert marks == [True, False], r
    assert second.name in " ".join(footer), r
    # Each row shows when its backup was taken: the manifest's time (e.g. 2024-05-01T10:00:00.123456+00:00).
    created = [manifest(b)["created"] for b in (second, first)]
    assert [(row[1], row[2]) for row in rows] == [(c[:10], c[11:19]) for c in created], r



def test_prune_backups_keeps_the_newest(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    store = tmp_path / "backups"
    for _ in range(3):
        assert run_cli("backup", "--sdk", str(root), env=env).code == 0
    first, second, third = backup_dirs(store)

    r = run_cli("prune-backups", "--keep", "1", "--sdk", str(root), env=env)

    assert r.code == 0, r
    assert f"removed 2 backup(s)\n  {first.name}\n  {second.name}" in r.stdout, r
    assert backup_dirs(store) == [third]  # the newest is kept
    r = run_cli("prune-backups", "--keep", "0", "--sdk", str(root), env=env)
    assert r.code == 2, r
    assert "cannot keep 0 backups" in r.the_error()
    assert backup_dirs(store) == [third]


def test_restore_after_a_run_puts_the_tree_back_byte_for_byte_again_is_a_no_op_and_forward_takes_an_id(
        tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path, mutate=perturb)
    before = sdk_digest(root)
    assert regen(root, env, "--yes", "--skip-tests").code == 0
    regenerated = sdk_digest(root)
    added, removed, changed = diff(before, regenerated)
    assert added == [f"{PACKAGE}/{PROVENANCE}"] and removed == [f"{PACKAGE}/http/stale_module.py"]
    assert changed == [f"{PACKAGE}/http/rest.py"]

    first = run_cli("restore", "--yes", "--sdk", str(root), env=env)

    assert first.code == 0, first
    assert sdk_digest(root) == before  # the added provenance file is gone, the stale module is back
    assert debris(root) == []
    assert "1 added file(s) removed" in first.stdout, first
    runs = backup_dirs(tmp_path / "backups")
    assert [manifest(b)["outcome"] for b in runs] == ["succeeded", "pre-restore"]
    # The tree that was replaced was kept too.
    assert folders_digest(runs[1] / "tree") == {
        n: {k[len(f"{PACKAGE}/{n}/"):]: v for k, v in regenerated.items() if k.startswith(f"{PACKAGE}/{n}/")}
        for n in MANAGED}
    pre_restore = runs[1].name

    # A second restore is a no-op that says so, and names the way forward.
    second = run_cli("restore", "--yes", "--sdk", str(root), env=env)
    assert second.code == 0, second
    assert "nothing to restore" in second.stdout, second
    assert f"invoke restore --backup {pre_restore}" in second.stdout, second
    assert sdk_digest(root) == before
    assert len(backup_dirs(tmp_path / "backups")) == 2  # no snapshot taken for a no-op

    listing = run_cli("backups", "--sdk", str(root), env=env)
    assert listing.stdout.splitlines()[0].split() == ["ID", "CREATED", "SPEC", "SIZE", "(B)", "OUTCOME"], listing

    forward = run_cli("restore", "--yes", "--sdk", str(root), "--backup", pre_restore, env=env)
    assert forward.code == 0, forward
    assert sdk_digest(root) == regenerated
    # Forward again, the default restore undoes the run once more.
    assert run_cli("restore", "--yes", "--sdk", str(root), env=env).code == 0
    assert sdk_digest(root) == before


# --- 11. replace -----------------------------------------------------------------------------------

def test_replace_swaps_in_a_staging_tree_from_generate(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path, mutate=perturb)
    pristine = new_sdk(tmp_path, "pristine")
    before = sdk_digest(root)
    staging = tmp_path / "staging"

    g = run_cli("generate", "--spec", str(SPEC_V1), "--output", str(staging), env=env)
    assert g.code == 0, g
    assert sdk_digest(root) == before  # generate never touches an SDK
    # Its dry run (the transaction every writer shares) shows the plan and changes nothing.
    dry = run_cli("replace", "--from", str(staging), "--sdk", str(root), "--dry-run", env=env)
    assert dry.code == 0, dry
    assert "files: 1 added, 1 removed, 1 changed in http" in dry.stderr, dry
    assert dry.stdout.splitlines()[-1].endswith("-dry-run.md"), dry
    assert sdk_digest(root) == before and no_backups(tmp_path)

    r = run_cli("replace", "--from", str(staging), "--sdk", str(root), "--yes", env=env)

    assert r.code == 0, r
    assert "import gate ok" in r.stderr, r
    added, removed, changed = diff(before, sdk_digest(root))
    assert added == [f"{PACKAGE}/{PROVENANCE}"]
    assert removed == [f"{PACKAGE}/http/stale_module.py"]
    assert changed == [f"{PACKAGE}/http/rest.py"]
    assert managed_digest(root)["http"].items() >= managed_digest(pristine)["http"].items()
    assert debris(root) == []
    [backup] = backup_dirs(tmp_path / "backups")
    assert manifest(backup)["outcome"] == "succeeded"
    assert json.loads((backup / "report.json").read_text())["command"] == "invoke replace"


def test_replace_refuses_a_folder_that_is_not_generated(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    junk = tmp_path / "junk"
    junk.mkdir()

    r = run_cli("replace", "--from", str(junk), "--sdk", str(root), "--yes", env=env)

    assert r.code == 1, r
    assert "is neither a staging tree nor a generated package" in r.the_error()
    assert sdk_digest(root) == before and no_backups(tmp_path)


# --- 12. fix-imports -------------------------------------------------------------------------------

ADAPTER = "adapters/api/workflow_resource_api.py"
GOOD_IMPORT = "from conductor.asyncio_client.http.api import WorkflowResourceApi"


def plant_openapi_client(root: Path) -> None:
    path = pkg(root) / ADAPTER
    text = path.read_text()
    assert GOOD_IMPORT in text
    path.write_text(text.replace(GOOD_IMPORT, "from openapi_client.api import WorkflowResourceApi"))


def test_fix_imports_rewrites_a_planted_default_package_name(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path, mutate=plant_openapi_client)
    before = sdk_digest(root)

    r = run_cli("fix-imports", "--sdk", str(root), env=env)

    assert r.code == 0, r
    assert f"rewrote 1 import(s) in {PACKAGE}/{ADAPTER}" in r.stdout, r
    assert "1 file(s) changed" in r.stdout and "every module of the async client imports" in r.stdout
    assert (pkg(root) / ADAPTER).read_bytes() == (EXAMPLE_SDK / PACKAGE / ADAPTER).read_bytes()
    assert diff(before, sdk_digest(root)) == ([], [], [f"{PACKAGE}/{ADAPTER}"])
    assert git(root, "status", "--porcelain") == f" M {PACKAGE}/{ADAPTER}\n"

    again = run_cli("fix-imports", "--sdk", str(root), env=env)
    assert again.code == 0 and "0 file(s) changed" in again.stdout, again


# --- 13. incremental: unknown module ---------------------------------------------------------------

def test_only_with_an_unknown_module_lists_the_choices(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)

    r = regen(root, env, "--yes", "--skip-tests", "--only", "workflow_resource_api,nope", spec=SPEC_V2)

    assert r.code == 2, r
    line = r.the_error()
    assert "unknown API module(s): nope" in line, line
    choices = line.split("choose from:", 1)[1]
    assert "workflow_resource_api" in choices and "human_task_api" in choices, line
    assert sdk_digest(root) == before and no_backups(tmp_path) and debris(root) == []


# --- 15. bad specs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["html", "truncated", "not-openapi"])
def test_a_bad_spec_fails_before_touching_anything(tmp_path: Path, env: Dict[str, str], kind: str) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    spec = tmp_path / f"spec-{kind}.json"
    if kind == "html":
        spec.write_text("<!DOCTYPE html><html><head><title>Sign in</title></head><body>login</body></html>")
    elif kind == "truncated":
        spec.write_bytes(SPEC_V1.read_bytes()[:4000])
    else:
        spec.write_text('{"hello": "world"}')

    r = regen(root, env, "--yes", "--skip-tests", spec=spec)

    assert r.code != 0, r
    line = r.the_error()
    assert str(spec) in line, line
    assert {"html": "HTML", "truncated": "truncated", "not-openapi": "not an OpenAPI document"}[kind] in line
    assert sdk_digest(root) == before
    assert no_backups(tmp_path) and debris(root) == []


# --- invoke test -----------------------------------------------------------------------------------

PLANTED = "\n\ndef test_planted_failure():\n    assert False, 'planted'\n"


def test_invoke_test_fails_only_on_new_failures_unless_absolute(tmp_path: Path, env: Dict[str, str]) -> None:
    # The matrix's one pass rule (matrix.results.matrix_passed), as `invoke test` applies it through commands/test_cmd.
    root = new_sdk(tmp_path)
    suite = root / "tests" / "unit" / "workflow" / "test_async_conductor_workflow.py"
    suite.write_text(suite.read_text() + PLANTED)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"

    def run_test(*extra: str):  # type: ignore[no-untyped-def]
        return run_cli("test", "--sdk", str(root), "--session", "async_tests", "--python", python, *extra,
                       env=env, timeout=600)

    new = run_test()  # uncommitted, so git HEAD (the pristine tree) passes: a new failure
    assert new.code == 1, new
    assert new.the_error().startswith("ERROR: 1 of 1 session(s) failed; first: async_tests-"), new
    assert "1 new, 0 pre-existing" in new.the_error() and "planted" in new.the_error(), new

    git(root, "commit", "-qam", "a failing test")
    old = run_test()  # now the pristine tree fails the same way: pre-existing, so the run passes
    assert old.code == 0, old
    assert "0 new, 1 pre-existing" in old.stdout and old.error_lines() == [], old

    strict = run_test("--absolute")
    assert strict.code == 1 and "1 of 1 session(s) failed" in strict.the_error(), strict


def test_invoke_test_accept_records_a_new_lint_finding_and_later_runs_honour_it(
        tmp_path: Path, generator_cache: Path) -> None:
    """`test --accept REASON` is the way past a new finding for a user with no noxfile at hand (an installed
    tool): the sessions that judge findings take the reason, as regenerate's gate does."""
    root = new_sdk(tmp_path)  # committed: git HEAD is the pristine tree
    client = pkg(root) / "orkes" / "orkes_secret_client.py"
    anchor = "return await self.secret_api.get_secret(key)"
    client.write_text(client.read_text().replace(anchor, f"audit_secret(key)\n        {anchor}"))
    env = cli_env(tmp_path / "backups", generator_cache)

    def run_test(*extra: str):  # type: ignore[no-untyped-def]
        return run_cli("test", "--sdk", str(root), "--session", "lint", *extra, env=env, timeout=600)

    refused = run_test("--accept", " ")
    assert refused.code == 2 and "--accept needs a reason" in refused.the_error(), refused
    new = run_test()
    assert new.code == 1 and "1 new" in new.the_error() and "audit_secret" in new.the_error(), new
    assert "--accept REASON records the new findings" in new.the_error(), new
    accepted = run_test("--accept", "audited elsewhere")
    assert accepted.code == 0, accepted
    record = json.loads((root / ".conductor-regen" / "accepted-findings.json").read_text())
    assert [(e["tool"], e["reason"]) for e in record["accepted"]] == [("flake8", "audited elsewhere")], record
    assert "audit_secret" in json.dumps(record)
    again = run_test()  # the SDK's record is honoured without the option
    assert again.code == 0 and again.error_lines() == [], again
