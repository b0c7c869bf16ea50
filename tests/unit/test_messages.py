"""Failures read as one line that names the first cause: a copy failing on many files, a swap whose
rollback fails too, and an SDK path no tool can take (a newline in it).

Real failures throughout: named pipes and unreadable files make `shutil.copytree` fail file by file,
a read-only folder makes the swap and its rollback fail (run without root's permission override,
as in test_hardening.py), and the CLI runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from support.paths import SPEC_V2
from support.sdk_copies import (
    RUN_DEBRIS,
    backup_dirs,
    cli_env,
    commit_all,
    debris,
    git,
    new_sdk,
    pkg,
    run_cli,
    run_plain,
    sdk_digest,
    write,
)

from conductor_regen.cli.render import edge
from conductor_regen.config import SdkConfig
from conductor_regen.errors import SdkError
from conductor_regen.file_tree import copy_entry
from conductor_regen.checkout.target import resolve_sdk

pytestmark = pytest.mark.usefixtures("edge_logging_restored")

MANY = 40






# --- a copy failing on many files: the first cause and path, and how many more -----------------------

def test_a_copy_failing_on_many_files_is_one_line_naming_the_first_and_counting_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "adapters"
    source.mkdir()
    write(source / "ok.py", "X = 1\n")
    for i in range(MANY):
        os.mkfifo(source / f"pipe{i:02d}")  # copytree fails on each, and gathers all into one shutil.Error

    def command(c: Context) -> None:
        copy_entry(source, tmp_path / "staging" / "adapters")

    with pytest.raises(Exit) as info:
        edge(command)(Context())

    line = str(info.value.message)
    assert info.value.code == 1
    assert "\n" not in line and len(line) < 400, line
    assert line.startswith(f"ERROR: copying {source}/pipe"), line
    assert "is a named pipe" in line and f"(and {MANY - 1} more file(s) that could not be copied)" in line, line
    assert len(set(re.findall(r"pipe\d\d", line))) == 1, line  # the first file is named, the others counted
    assert " / hint: " in line


@pytest.mark.e2e
def test_a_regenerate_whose_assembly_copy_fails_on_many_files_prints_one_short_line(generator_cache: Path,
                                                                                     tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", generator_cache)
    root = new_sdk(tmp_path)
    unreadable = [pkg(root) / "adapters" / "private" / f"m{i:02d}.py" for i in range(MANY)]
    for path in unreadable:
        write(path, "X = 1\n")
    commit_all(root)
    for path in unreadable:
        path.chmod(0)
    before = sdk_digest(root)
    try:
        # --allow-dirty: git cannot read the files either, so it calls them changed.
        done = run_plain("regenerate", "--sdk", str(root), "--spec", str(SPEC_V2), "--yes", "--skip-tests",
                         "--allow-dirty", env=env)
        line = done.the_error()
        assert done.code == 1, done
        assert len(line) < 600, line
        assert "Permission denied" in line and "/adapters/private/m" in line, line
        assert f"(and {MANY - 1} more file(s) that could not be copied)" in line, line
        assert sum(line.count(p.name) for p in unreadable) == 1, line
    finally:
        for path in unreadable:
            path.chmod(0o644)
    assert sdk_digest(root) == before
    assert debris(root) == []


# --- the swap fails, and so does its rollback: the swap's cause first -------------------------------

@pytest.mark.e2e
def test_when_the_swap_and_its_rollback_both_fail_the_line_names_the_swaps_cause_first(generator_cache: Path,
                                                                                       tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", generator_cache)
    root = new_sdk(tmp_path)
    http = pkg(root) / "http"
    before = sdk_digest(root)
    # A folder moved to another parent needs write permission on itself (its `..` changes): the swap's
    # exchange of http/ fails, and so does the rollback's, which restores the backup by the same swap.
    http.chmod(0o555)
    try:
        done = run_plain("regenerate", "--sdk", str(root), "--spec", str(SPEC_V2), "--yes", "--skip-tests",
                         env=env)
    finally:
        http.chmod(0o755)

    line = done.the_error()
    assert done.code == 1, done
    message, hint = line.split(" / hint: ")
    cause, _, rollback = message.partition("; rolling back to backup ")
    assert cause.startswith("ERROR: the swap failed: Permission denied: ") and str(http) in cause, line
    assert "the previous tree was put back" in cause, line  # the swap undid itself first
    assert rollback and " failed too: " in rollback, line
    [backup] = backup_dirs(tmp_path / "backups")
    assert rollback.startswith(f"{backup.name} failed too: "), line
    assert f"`invoke restore --backup {backup.name}`" in hint, line
    filed = json.loads((backup / "report.json").read_text())
    assert filed["outcome"] == "failed" and filed["error"] == line  # the report says the same, cause first
    # Both swaps undid themselves; only the rollback's read-only staging copy may be left (see its warning).
    assert {k: v for k, v in sdk_digest(root).items() if ".regen-staging" not in k} == before
    assert not (pkg(root) / ".regen.lock").exists() and not (pkg(root) / ".regen-journal.json").exists()


# --- an SDK path no tool can take: refused before any work -------------------------------------------

@pytest.mark.parametrize("odd,named", [("new\nline", "a newline"), ("a\ttab", "a tab"), ("bell\x07", "U+0007")])
def test_an_sdk_path_with_a_control_character_is_refused(tmp_path: Path, odd: str, named: str) -> None:
    root = tmp_path / odd / "sdk"
    (root / "src" / "conductor" / "asyncio_client" / "http").mkdir(parents=True)
    with pytest.raises(SdkError) as info:
        resolve_sdk(SdkConfig(root=root))
    line = info.value.render()
    assert "\n" not in line and "\t" not in line and "\x07" not in line
    assert f"holds a control character ({named})" in line, line
    assert repr(str(root)) in line, line


def test_regenerate_refuses_an_sdk_path_with_a_newline_before_any_work(tmp_path: Path) -> None:
    base = tmp_path / "checkouts\nci"
    root = new_sdk(base)
    before = sdk_digest(root)

    r = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", "--skip-tests",
                env=cli_env(tmp_path / "backups", tmp_path / "cache"), timeout=300)

    assert r.code == 1, r
    line = r.the_error()
    assert "holds a control character (a newline)" in line and "checkouts\\nci" in line, line
    assert "test failure" not in line and "gate" not in line, line  # never reported as a (new) test failure
    assert sdk_digest(root) == before
    assert backup_dirs(tmp_path / "backups") == []
    assert not (tmp_path / "cache" / "staging").exists()  # refused before the generator ran
    for name in RUN_DEBRIS:
        assert not (pkg(root) / name).exists(), name
    assert git(root, "status", "--porcelain") == ""
