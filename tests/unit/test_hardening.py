"""Issue 10: hostile input, misuse and crashes never lose data or leak a secret.

One section per promise of docs/security.md. Everything is real: specs parsed by the real
loader, HTTP servers on 127.0.0.1, SDK trees on disk, invoke in subprocesses, kill -9.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List

import pytest
from conftest import SpecReply, SpecServer
from support.fake_sdk import make_sdk, target_of
from support.local_server import serving
from support.sdk_copies import (
    backup_dirs,
    cli_env,
    commit_all,
    invoke_cmd,
    managed_digest,
    manifest,
    new_sdk,
    pkg,
    run_cli,
    run_plain,
    sdk_digest,
    wait_for_file,
    write,
)
from support.paths import REPO, SPEC_V1, SPEC_V2

from conductor_regen.checkout.backups import create_backup, list_backups, prune_backups, set_outcome
from conductor_regen.config import FetchConfig, GeneratorConfig, resolve_settings
from conductor_regen.errors import SpecFetchError, SpecParseError, VerificationError
from conductor_regen.generator.backends import Invocation, Running
from conductor_regen.compat.imports import fix_imports
from conductor_regen.generator.pipeline import prepare_spec, provenance_for
from conductor_regen.progress import StepLog
from conductor_regen.generator.provenance import write_provenance
from conductor_regen.commands.gate import ImportGate
from conductor_regen.commands.run_report import spec_info
from conductor_regen.commands.report import Report
from conductor_regen.spec.fetch import fetch_spec
from conductor_regen.checkout.swap import staging_dir
from conductor_regen.matrix.runner import gate
from conductor_regen.generator.verify import import_all
from conductor_regen.spec.intake import MAX_ALIAS_NODES, MAX_DEPTH, parse_spec


def _limit_memory() -> None:
    # Without the fix the alias bomb eats gigabytes; 1 GiB turns that into a MemoryError traceback.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run_limited(task: str, *args: str, tmp_path: Path) -> "subprocess.CompletedProcess[str]":
    """`invoke <task>` in a subprocess capped at 1 GiB of address space and 120 s."""
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(REPO), task, *args],
                          capture_output=True, text=True, env=env, timeout=120, preexec_fn=_limit_memory)


def one_error(done: "subprocess.CompletedProcess[str]") -> str:
    """The single ERROR line of a finished command; fails on a traceback or exit 0."""
    output = done.stdout + done.stderr
    lines: List[str] = [ln for ln in output.splitlines() if ln.startswith("ERROR:")]
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert " / hint: " in lines[0]
    return lines[0]


def start_regenerate(tmp_path: Path, root: Path, cache: Path, spec: Path, *args: str,
                     **env: str) -> "subprocess.Popen[bytes]":
    """A real `invoke regenerate --yes --skip-tests` in its own process group (for kill -9)."""
    with open(tmp_path / "run.out", "wb") as out:
        return subprocess.Popen(invoke_cmd("regenerate", "--spec", str(spec), "--sdk", str(root), "--yes",
                                           "--skip-tests", *args),
                                env=cli_env(tmp_path / "backups", cache, **env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


# --- 1. YAML alias bomb --------------------------------------------------------------------------

def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(billion_laughs())
    assert spec.stat().st_size < 1000
    error = one_error(run_limited("validate-spec", "--spec", str(spec), tmp_path=tmp_path))
    assert "alias" in error and str(MAX_ALIAS_NODES) in error


def test_honest_yaml_anchors_still_load() -> None:
    text = "openapi: 3.0.1\ncomponents: &c {a: 1}\nx-copy: *c\npaths: {}\n"
    assert parse_spec(text, "s.yaml")["x-copy"] == {"a": 1}


# --- 2. Deep nesting -----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, text", [
    ("json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    # Below PyYAML's own flow-depth cap (1,000 levels in 6.0.4), so our limit is what answers.
    ("yaml", "a: " + "[" * 600 + "]" * 600 + "\n"),
    ("shallow-json", '{"a": ' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}"),
], ids=["json", "yaml", "just-over-the-limit"])
def test_deep_nesting_is_one_clear_error(tmp_path: Path, suffix: str, text: str) -> None:
    spec = tmp_path / f"deep.{suffix.split('-')[-1]}"
    spec.write_text(text)
    with pytest.raises(SpecParseError, match=f"more than {MAX_DEPTH} levels"):
        parse_spec(text, str(spec))
    assert f"more than {MAX_DEPTH} levels" in one_error(run_limited("validate-spec", "--spec", str(spec),
                                                                    tmp_path=tmp_path))


# --- 3. Credentials never leave their origin -----------------------------------------------------

KEY = "app-key-id-hardening"
SECRET = "s3cr3t-hardening-never-leaks"


class _Redirector(BaseHTTPRequestHandler):
    """POST /api/token answers 307 to `server.location`; other POSTs record their body."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        if self.path == "/api/token":
            self.send_response(307)
            self.send_header("Location", self.server.location)  # type: ignore[attr-defined]
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        reply = json.dumps({"token": "tok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:  # noqa: N802
        reply = json.dumps({"openapi": "3.0.1", "info": {"version": "v"}, "paths": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture
def redirector(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(_Redirector) as httpd:
        httpd.bodies = []  # type: ignore[attr-defined]
        yield httpd


def test_token_post_is_not_replayed_to_another_origin(redirector: ThreadingHTTPServer,
                                                      spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, "tok")
    redirector.location = spec_server.url("/api/token")  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{redirector.server_address[1]}"
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(url, FetchConfig(retries=0), env={"CONDUCTOR_AUTH_KEY": KEY, "CONDUCTOR_AUTH_SECRET": SECRET})
    assert "another origin" in info.value.message and SECRET not in info.value.render()
    assert spec_server.token_payloads == [] and spec_server.hits["POST /api/token"] == 0


def test_token_post_follows_a_redirect_on_the_same_origin(redirector: ThreadingHTTPServer) -> None:
    port = redirector.server_address[1]
    redirector.location = f"http://127.0.0.1:{port}/api/v2/token"  # type: ignore[attr-defined]
    fetch_spec(f"http://127.0.0.1:{port}", FetchConfig(retries=0),
               env={"CONDUCTOR_AUTH_KEY": KEY, "CONDUCTOR_AUTH_SECRET": SECRET})
    bodies = redirector.bodies  # type: ignore[attr-defined]
    assert [p for p, _ in bodies] == ["/api/token", "/api/v2/token"]
    assert json.loads(bodies[1][1]) == {"keyId": KEY, "keySecret": SECRET}


# --- 14. Secrets stay out of child processes and committed files ---------------------------------

DUMP_ENV = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"


def test_the_generator_process_gets_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTOR_AUTH_KEY", KEY)
    monkeypatch.setenv("CONDUCTOR_AUTH_SECRET", SECRET)
    seen = tmp_path / "env.json"
    inv = Invocation(argv=(sys.executable, "-c", DUMP_ENV, str(seen)), cwd=tmp_path, env=(("EXTRA", "1"),))
    Running(inv, tmp_path / "gen.log").wait()
    env = json.loads(seen.read_text())
    assert env["EXTRA"] == "1" and "PATH" in env
    assert not [k for k in env if k.startswith("CONDUCTOR_AUTH")]


def test_imported_sdk_modules_see_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCTOR_AUTH_SECRET", SECRET)
    seen = tmp_path / "seen.txt"
    pkg = tmp_path / "spy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        f"import os\nopen({str(seen)!r}, 'w').write(os.environ.get('CONDUCTOR_AUTH_SECRET', 'none'))\n")
    assert import_all([tmp_path], ["spy"]).modules == 1
    assert seen.read_text() == "none"


def test_a_spec_url_query_never_reaches_provenance_or_report(spec_server: SpecServer, tmp_path: Path) -> None:
    spec_server.serve("/spec.json", SpecReply(body=SPEC_V1.read_bytes()))
    url = spec_server.url("/spec.json?token=query-secret-123")
    settings = resolve_settings({}, {}, {"cache_dir": str(tmp_path / "cache")})
    spec = prepare_spec(url, settings, StepLog())
    write_provenance(provenance_for(spec, settings), tmp_path / "prov.json")
    report = Report(outcome="dry-run", steps=(), command="c", sdk="s", spec=spec_info(spec), generator={},
                    fixups=())
    for text in ((tmp_path / "prov.json").read_text(), report.to_json(), report.to_markdown()):
        assert "query-secret-123" not in text and spec_server.url("/spec.json") in text


# --- 15. A missing test runner fails loudly ------------------------------------------------------

@pytest.mark.e2e
def test_a_test_gate_that_cannot_load_fails_the_run_before_anything_changes(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    blocker = tmp_path / "site"
    blocker.mkdir()
    # As if a dependency of the test runner alone were missing: its module cannot be imported.
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['packaging.requirements'] = None\n")
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), env.get("PYTHONPATH", "")])
    done = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", env=env)
    assert "test gate cannot run" in done.the_error() and done.code != 0
    assert sdk_digest(root) == before and not (tmp_path / "backups").exists()


# --- 17. An import gate that imported nothing is not a pass --------------------------------------

def test_import_gate_that_imported_nothing_fails(tmp_path: Path) -> None:
    target = target_of(make_sdk(tmp_path))
    (target.package_dir / "__init__.py").write_text("import a_dependency_that_is_not_installed\n")
    gate = ImportGate(target)
    gate.before_swap()
    assert [m for m, _ in gate.baseline] == ["conductor.asyncio_client"]  # fails before the swap too
    with pytest.raises(VerificationError, match="imported nothing"):
        gate.verdict()


# --- 4. Backups belong to a checkout (its resolved path), not to a folder name ------------------

@pytest.mark.e2e
def test_two_checkouts_with_the_same_name_never_share_backups(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    env = cli_env(tmp_path / "backups", cache)
    a = new_sdk(tmp_path / "a", name="conductor-python")
    b = new_sdk(tmp_path / "b", name="conductor-python")
    write(pkg(b) / "http" / "b_only.py", "B = 1\n")
    commit_all(b)
    for _ in range(2):
        assert run_cli("backup", "--sdk", str(a), env=env).code == 0
    b_before = sdk_digest(b)
    # B has no backup of its own: restore refuses instead of applying A's backup onto B.
    done = run_cli("restore", "--sdk", str(b), "--yes", env=env)
    assert "no complete backup of conductor-python at" in done.the_error() and "--moved" in done.the_error()
    assert sdk_digest(b) == b_before
    assert "no backups" in run_cli("backups", "--sdk", str(b), env=env).stdout
    a_id = backup_dirs(tmp_path / "backups", "conductor-python")[0].name
    assert "another checkout" in run_cli("restore", "--sdk", str(b), "--backup", a_id, "--yes", env=env).the_error()
    # Pruning B's backups leaves A's alone.
    assert run_cli("backup", "--sdk", str(b), env=env).code == 0
    assert "removed 0 backup(s)" in run_cli("prune-backups", "--sdk", str(b), "--keep", "1", env=env).stdout
    assert len(backup_dirs(tmp_path / "backups", "conductor-python")) == 3
    # A checkout that was moved finds its backups only when told so.
    moved = tmp_path / "moved" / "conductor-python"
    moved.parent.mkdir()
    a.rename(moved)
    write(pkg(moved) / "http" / "api_client.py", "changed\n")
    assert "--moved" in run_cli("restore", "--sdk", str(moved), "--yes", env=env).the_error()
    done = run_cli("restore", "--sdk", str(moved), "--yes", "--moved", env=env)
    assert done.code == 0, done
    assert "changed\n" != (pkg(moved) / "http" / "api_client.py").read_text()


# --- 6. backup and prune-backups take the lock and recover first --------------------------------

@pytest.mark.e2e
def test_backup_and_prune_wait_for_a_run_and_settle_a_killed_one(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    backups = tmp_path / "backups"
    env = cli_env(backups, cache)
    root = new_sdk(tmp_path)
    before = managed_digest(root)
    assert run_cli("backup", "--sdk", str(root), env=env).code == 0  # an older manual backup
    [manual] = backup_dirs(backups)
    marker = tmp_path / "paused.pid"
    proc = start_regenerate(tmp_path, root, cache, SPEC_V2, REGEN_TEST_PAUSE_AFTER_EXCHANGE="1",
                            REGEN_TEST_PAUSE_MARKER=str(marker))
    try:
        wait_for_file(marker, proc, timeout=300)
        # The run holds the lock between its first and second folder exchange.
        for task, *args in (("backup",), ("prune-backups", "--keep", "1")):
            done = run_cli(task, "--sdk", str(root), *args, env=env)
            assert "another regeneration is running" in done.the_error(), done
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        os.kill(int(marker.read_text()), signal.SIGKILL) if marker.exists() else None
        proc.wait()
    run_backup = [p for p in backup_dirs(backups) if p != manual][0]
    assert managed_digest(root) != before  # http/ is the new tree, the rest the old one: mixed
    done = run_cli("backup", "--sdk", str(root), env=env)
    assert done.code == 0 and "rolled back interrupted run" in done.stdout, done
    assert managed_digest(root) == before
    newest = [p for p in backup_dirs(backups) if p not in (manual, run_backup)][0]
    assert set(manifest(newest)["files"]) == set(manifest(run_backup)["files"])  # the old tree, whole
    # keep 1: the newest stays, the manual one goes; the killed run's backup is kept (nothing finished since).
    done = run_cli("prune-backups", "--sdk", str(root), "--keep", "1", env=env)
    assert done.code == 0 and "removed 1 backup(s)" in done.stdout, done
    assert sorted(backup_dirs(backups)) == sorted([run_backup, newest])


def test_prune_keeps_the_newest_successful_runs_backup(tmp_path: Path) -> None:
    target = target_of(make_sdk(tmp_path))
    store = tmp_path / "backups"
    good = set_outcome(create_backup(store, target, "v1"), "succeeded")
    later = [set_outcome(create_backup(store, target, f"m{n}"), "manual") for n in range(2)]
    removed = prune_backups(store, target.name, keep=1, sdk_root=target.root)
    assert [b.id for b in removed] == [later[0].id]
    assert {b.id for b in list_backups(store, target.name)} == {good.id, later[1].id}


# --- 7. restore keeps what it removes or overwrites ----------------------------------------------

@pytest.mark.e2e
def test_restore_saves_an_edited_added_test_in_its_pre_restore_backup(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    backups = tmp_path / "backups"
    env = cli_env(backups, cache)
    root = new_sdk(tmp_path)
    done = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", "--skip-tests", env=env,
                   timeout=600)
    assert done.code == 0, done
    added = manifest(backup_dirs(backups)[-1])["added_outside"]
    assert added, "the run added no test outside the managed folders"
    edited = root / added[0]
    edited.write_text(edited.read_text() + "\n# my own edit\n")
    done = run_cli("restore", "--sdk", str(root), "--yes", env=env)
    assert done.code == 0 and not edited.exists(), done
    [pre_restore] = [p for p in backup_dirs(backups) if manifest(p)["outcome"] == "pre-restore"]
    assert added[0] in manifest(pre_restore)["saved_outside"]
    # Undoing the restore brings the edited test back, byte for byte.
    done = run_cli("restore", "--sdk", str(root), "--backup", pre_restore.name, "--yes", env=env)
    assert done.code == 0, done
    assert edited.read_text().endswith("# my own edit\n")


# --- 9. Recovery runs before the SDK is judged -----------------------------------------------------

@pytest.mark.e2e
def test_a_crash_inside_the_three_rename_fallback_is_recovered_by_restore(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    env = cli_env(tmp_path / "backups", cache)
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    marker = tmp_path / "paused.pid"
    proc = start_regenerate(tmp_path, root, cache, SPEC_V2, REGEN_SWAP_NO_RENAMEAT2="1",
                            REGEN_TEST_PAUSE_AFTER_EXCHANGE="first-rename", REGEN_TEST_PAUSE_MARKER=str(marker))
    try:
        wait_for_file(marker, proc, timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (pkg(root) / "http").exists()  # moved aside by the first of the three renames
    done = run_cli("restore", "--sdk", str(root), "--yes", env=env)
    assert done.code == 0 and "rolled back interrupted run" in done.stdout, done
    assert sdk_digest(root) == before


# --- 8. Staged trees are on disk before the swap ---------------------------------------------------

SWAP_UNDER_STRACE = r"""
import sys
from pathlib import Path
from conductor_regen.config import SdkConfig
from conductor_regen.checkout.target import resolve_sdk
from conductor_regen.checkout.swap import apply_swap, staging_dir
target = resolve_sdk(SdkConfig(root=Path(sys.argv[1])))
apply_swap(target, staging_dir(target, "run1"), "run1", ["http"])
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_every_staged_file_and_folder_is_fsynced_before_the_first_folder_move(tmp_path: Path) -> None:
    target = target_of(make_sdk(tmp_path))
    staged = staging_dir(target, "run1") / "http"
    for n in range(20):
        write(staged / "models" / f"m{n}.py", f"M{n} = {n}\n")
    write(staged / "__init__.py", "")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-y", "-qq", "-e", "trace=fsync,rename,renameat2", "-o", str(trace),
                    sys.executable, "-c", SWAP_UNDER_STRACE, str(target.root)], check=True, env=dict(os.environ))
    calls = trace.read_text().splitlines()
    first_move = next(i for i, line in enumerate(calls) if "rename" in line and str(target.http_dir) in line
                      and ".regen-journal" not in line)
    synced = {m.group(1) for line in calls[:first_move] for m in [re.search(r"fsync\(\d+<([^>]*)>", line)] if m}
    wanted = {str(p) for p in staged.rglob("*")} | {str(staged)}
    assert not wanted - synced, f"not fsynced before the swap: {sorted(wanted - synced)[:5]}"


# --- 11. One symlink policy: links stay inside the SDK and are never written through -------------

def test_a_managed_link_out_of_the_sdk_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    outside = tmp_path / "elsewhere" / "evil.py"
    write(outside, "import openapi_client\n")
    os.symlink(outside, pkg(root) / "http" / "models" / "evil.py")
    for task in ("fix-imports", "backup"):
        done = run_cli(task, "--sdk", str(root), env=cli_env(tmp_path / "backups", tmp_path / "cache"))
        assert "outside the SDK" in done.the_error(), done
    assert outside.read_text() == "import openapi_client\n"


def test_fix_imports_never_writes_through_a_link(tmp_path: Path) -> None:
    target = target_of(make_sdk(tmp_path))
    live = target.http_dir / "api_client.py"
    live.write_text("import openapi_client\n")
    staged = tmp_path / "staged" / "http"
    shutil.copytree(target.http_dir, staged, symlinks=True)
    (staged / "linked_live.py").symlink_to(live)  # a link into the live tree, outside the staged copy
    with pytest.raises(VerificationError, match="refusing to write through the symlink"):
        fix_imports([staged], GeneratorConfig())
    assert live.read_text() == "import openapi_client\n"
    # A link within the tree being fixed is left a link; the file it names is rewritten.
    (staged / "linked_live.py").unlink()
    fix_imports([staged], GeneratorConfig())
    assert (staged / "api_client.py").read_text() == "import conductor.asyncio_client.http\n"
    assert (staged / "client_alias.py").is_symlink()


# --- 12. Every wait is bounded, with a clear error ------------------------------------------------

@pytest.mark.e2e
def test_the_generator_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    # 0.05 s: a JVM never starts and generates that fast (0.5 s was once enough for the small spec under load).
    env = cli_env(tmp_path / "backups", tmp_path / "cache", REGEN_GENERATOR_TIMEOUT="0.05")
    done = run_cli("generate", "--spec", str(SPEC_V1), "--output", str(tmp_path / "out"), "--no-cache", env=env)
    assert "ran past generator.timeout (0.05 s)" in done.the_error() and "REGEN_GENERATOR_TIMEOUT" in done.the_error()
    assert not (tmp_path / "out").exists()


@pytest.mark.waits
def test_an_import_that_hangs_is_stopped_at_the_import_timeout(tmp_path: Path) -> None:
    (tmp_path / "hangs").mkdir()
    (tmp_path / "hangs" / "__init__.py").write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(VerificationError, match=r"ran past import_timeout \(1 s\)"):
        import_all([tmp_path], ["hangs"], timeout=1.0)


@pytest.mark.e2e
def test_the_nox_gate_is_stopped_at_the_test_timeout(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    ok, rows = gate(root, junit_dir=tmp_path / "junit", envdir=tmp_path / "nox", timeout=1.0)
    assert not ok and "ran past test_timeout (1 s)" in rows[0]["detail"]


class _Dripper(BaseHTTPRequestHandler):
    """Answers 200 and sends a spec one byte every 0.1 s: never slow enough for a read timeout."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            self.wfile.write(b"{")
            for _ in range(600):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass


@pytest.mark.waits
def test_a_server_dripping_the_spec_hits_the_fetch_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(_Dripper) as httpd:
        config = FetchConfig(timeout=5.0, deadline=1.0, retries=0)
        with pytest.raises(SpecFetchError, match="1s deadline"):
            fetch_spec(f"http://127.0.0.1:{httpd.server_address[1]}", config, env={})


@pytest.mark.waits
def test_slow_answers_and_retries_stop_at_the_fetch_deadline(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", SpecReply(status=503, delay=0.4))
    config = FetchConfig(timeout=5.0, deadline=1.0, retries=10, backoff=0.2)
    with pytest.raises(SpecFetchError, match="deadline"):
        fetch_spec(spec_server.url(), config, env={})


# --- 13. File-system errors: one line, the tree whole, and no run blocked by a failed cleanup -----



@pytest.mark.e2e
def test_an_unreadable_file_is_one_error_line_and_the_tree_stays_whole(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    env = cli_env(tmp_path / "backups", cache)
    root = new_sdk(tmp_path)
    secret_file = pkg(root) / "adapters" / "private.py"
    write(secret_file, "X = 1\n")
    commit_all(root)
    secret_file.chmod(0)
    before = sdk_digest(root)
    try:
        for task, *args in (("regenerate", "--spec", str(SPEC_V2), "--yes", "--skip-tests", "--allow-dirty"),
                            ("backup",)):
            done = run_plain(task, "--sdk", str(root), *args, env=env)
            error = done.the_error()
            assert "Permission denied" in error and "private.py" in error, done
        assert sdk_digest(root) == before
    finally:
        secret_file.chmod(0o644)


@pytest.mark.e2e
def test_a_leftover_nobody_can_delete_does_not_block_later_runs(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    root = new_sdk(tmp_path)
    assert run_plain("backup", "--sdk", str(root), env=env).code == 0
    stuck = pkg(root) / ".regen-staging" / "20240101T000000Z-1-abcdef" / "http" / "ro"
    write(stuck / "f.py", "")
    stuck.chmod(0o555)  # a read-only folder left by a killed run
    try:
        for _ in range(2):  # the leftover stays, and each run still works
            done = run_plain("restore", "--sdk", str(root), "--yes", env=env)
            assert done.code == 0 and "Traceback" not in done.output, done
            assert "could not remove" in done.output, done
        assert stuck.exists()
    finally:
        stuck.chmod(0o755)


# --- 5. fix-imports runs in the same transaction as replace ---------------------------------------

@pytest.mark.e2e
def test_fix_imports_killed_mid_swap_loses_nothing(tmp_path: Path, generator_cache: Path) -> None:
    env = cli_env(tmp_path / "backups", generator_cache)  # warm: its import gate's SDK environment is built
    adapter = "adapters/api/workflow_resource_api.py"
    good = "from conductor.asyncio_client.http.api import WorkflowResourceApi"

    def plant(root: Path) -> None:
        path = pkg(root) / adapter
        path.write_text(path.read_text().replace(good, "from openapi_client.api import WorkflowResourceApi"))

    root = new_sdk(tmp_path, mutate=plant)
    before = sdk_digest(root)
    marker = tmp_path / "paused.pid"
    with open(tmp_path / "run.out", "wb") as out:
        proc = subprocess.Popen(invoke_cmd("fix-imports", "--sdk", str(root)), stdout=out, stderr=subprocess.STDOUT,
                                env={**env, "REGEN_TEST_PAUSE_AFTER_EXCHANGE": "1",
                                     "REGEN_TEST_PAUSE_MARKER": str(marker)}, start_new_session=True)
    try:
        wait_for_file(marker, proc, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Killed right after the atomic exchange: adapters/ is the whole new tree, nothing is truncated.
    assert good in (pkg(root) / adapter).read_text()
    [backup] = backup_dirs(tmp_path / "backups")
    assert manifest(backup)["outcome"] == "pending"
    done = run_cli("restore", "--sdk", str(root), "--yes", env=env)
    assert done.code == 0, done
    assert sdk_digest(root) == before
    # And uninterrupted, it leaves a backup to undo it with.
    done = run_cli("fix-imports", "--sdk", str(root), env=env)
    assert done.code == 0 and "undo with `invoke restore`" in done.stdout, done
    assert good in (pkg(root) / adapter).read_text()


# --- 16. Killed diff and detect-edits runs leave no work folder for good ---------------------------

@pytest.mark.e2e
def test_a_killed_diffs_work_folder_is_swept_by_the_next_command(generator_cache: Path, tmp_path: Path) -> None:
    cache = generator_cache
    env = cli_env(tmp_path / "backups", cache)
    root = new_sdk(tmp_path)
    earlier = {p.name for p in cache.glob("diff-*")} if cache.is_dir() else set()
    with open(tmp_path / "diff.out", "wb") as out:
        proc = subprocess.Popen(invoke_cmd("diff", "--spec", str(SPEC_V2), "--sdk", str(root)), env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ({p.name for p in cache.glob("diff-*")} - earlier if cache.is_dir() else set()):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "diff.out").read_text()
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    leaked = {p.name for p in cache.glob("diff-*")} - earlier
    assert leaked and all(p.startswith(f"diff-{proc.pid}-") for p in leaked)
    done = run_cli("detect-edits", "--sdk", str(root), "--spec", str(SPEC_V1), env=env, timeout=600)
    assert done.code == 0, done
    assert not {p.name for p in cache.glob("diff-*")} & leaked
    assert not list(cache.glob("detect-edits-*"))
