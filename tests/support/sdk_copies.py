"""Helpers for the end-to-end tests: committed copies of the example SDK, tree digests, CLI runs.

Used by test_regenerate_e2e.py and test_cli_tasks.py. Everything here runs the real thing: the
example SDK (package data, see paths.py), the real OpenAPI Generator (through the shared cache dir) and
`python -m invoke` against this project's tasks.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pytest
from support import warm_cli
from support.paths import EXAMPLE_SDK, REAL_SDK, REPO, SPEC_V1, SPEC_V2

from conductor_regen.config import Settings, resolve_settings
from conductor_regen.errors import RegenError
from conductor_regen.progress import StepLog
from conductor_regen.commands.plan import RegenOptions
from conductor_regen.commands.regenerate import regenerate
from conductor_regen.commands.report import Report
from conductor_regen.checkout.target import SdkTarget, resolve_sdk

PACKAGE = "src/conductor/asyncio_client"
MANAGED = ("http", "adapters", "orkes")
PROVENANCE = "http/.regen-provenance.json"
# What a run may leave in the package folder; none of these may survive a finished run.
RUN_DEBRIS = (".regen.lock", ".regen-journal.json", ".regen-staging")

Digest = Dict[str, str]


# --- SDK copies ----------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    """Run git in `root` (with a throwaway identity) and return its stdout."""
    done = subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root,
                          capture_output=True, text=True, check=True)
    return done.stdout


def commit_body(root: Path, rev: str) -> Tuple[str, str]:
    """A run's commit message body without its trailer (what the pull request's body is), and its input key."""
    body = git(root, "log", "-1", "--format=%b", rev)
    text, sep, key = body.rpartition("\nConductor-Regen-Input: ")
    assert sep and len(key.strip()) == 64, body[-300:]
    return text, key.strip()


def commit_all(root: Path, message: str = "change") -> None:
    """Stage and commit everything in `root`."""
    git(root, "add", "-A")
    git(root, "commit", "-qm", message, "--allow-empty")


def extract(archive: Path, dest: Path, members: Optional[Callable[[tarfile.TarInfo], bool]] = None) -> None:
    """Extract a tar archive (only the `members` it accepts, if given) with the "data" filter where Python has it."""
    with tarfile.open(archive) as tar:
        chosen = [m for m in tar.getmembers() if members(m)] if members is not None else None
        if hasattr(tarfile, "data_filter"):  # PEP 706, in recent patch releases of 3.9 and later
            tar.extractall(dest, members=chosen, filter="data")
        else:
            tar.extractall(dest, members=chosen)  # noqa: S202 - our own shared data (../shared)


def extract_real_sdk(base: Path) -> Path:
    """The shared SDK (../shared/sdk, conductor-python at 225f598f) extracted into `base`; its root folder."""
    extract(REAL_SDK, base)
    return base / "conductor-python"


def real_sdk_checkout(base: Path) -> Path:
    """The shared SDK extracted into `base` (`extract_real_sdk`) and committed to git."""
    root = extract_real_sdk(base)
    git(root, "init", "-q")
    commit_all(root, "conductor-python 225f598f")
    return root


def copy_example_sdk(dest: Path) -> Path:
    """A copy of the example SDK at `dest`, without bytecode or pytest caches."""
    shutil.copytree(EXAMPLE_SDK, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dest


def new_sdk(base: Path, name: str = "sdk", mutate: Optional[Callable[[Path], None]] = None) -> Path:
    """Copy the example SDK to `base/name`, let `mutate` edit it, then `git init` and commit it."""
    root = copy_example_sdk(base / name)
    if mutate is not None:
        mutate(root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def pkg(root: Path) -> Path:
    """The SDK's async client package folder."""
    return root / PACKAGE


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- digests -------------------------------------------------------------------------------------

def tree_digest(top: Path, skip: Iterable[str] = (".git",)) -> Digest:
    """{posix relpath: sha256} of every file (and `dir` for every folder) under `top`, nothing skipped
    but the names in `skip` at the top level. __pycache__ is included on purpose: a run must not
    leave bytecode (or anything else) behind."""
    out: Digest = {}
    skipped = set(skip)
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = Path(dirpath).relative_to(top)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skipped]
            filenames = [f for f in filenames if f not in skipped]
        dirnames.sort()
        for d in dirnames:
            path = Path(dirpath) / d
            key = (rel_dir / d).as_posix()
            out[key] = "symlink:" + os.readlink(path) if path.is_symlink() else "dir"
        for f in sorted(filenames):
            path = Path(dirpath) / f
            key = (rel_dir / f).as_posix()
            if path.is_symlink():
                out[key] = "symlink:" + os.readlink(path)
            else:
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sdk_digest(root: Path) -> Digest:
    """The whole SDK checkout except .git."""
    return tree_digest(root)


def folders_digest(base: Path, names: Sequence[str] = MANAGED) -> Dict[str, Digest]:
    """{name: digest of base/name} (missing folders map to {})."""
    return {n: tree_digest(base / n, skip=()) if (base / n).is_dir() else {} for n in names}


def managed_digest(root: Path, names: Sequence[str] = MANAGED) -> Dict[str, Digest]:
    """{managed folder: digest of that folder} of an SDK checkout (missing folders map to {})."""
    return folders_digest(pkg(root), names)


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> Tuple[List[str], List[str], List[str]]:
    """(added, removed, changed) keys between two digests."""
    return (sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys()),
            sorted(k for k in old.keys() & new.keys() if old[k] != new[k]))


def files_only(d: Mapping[str, str]) -> Dict[str, str]:
    return {k: v for k, v in d.items() if v != "dir"}


def debris(root: Path) -> List[str]:
    """Run leftovers in the package folder (lock, journal, staging, exchange scratch)."""
    return sorted(p.name for p in pkg(root).iterdir() if p.name.startswith(".regen") or "exchange-aside" in p.name)


# --- backups -------------------------------------------------------------------------------------

def backup_dirs(backups: Path, sdk_name: str = "sdk") -> List[Path]:
    """Backup folders of one SDK, oldest first by manifest creation time (incomplete ones last)."""
    store = backups / sdk_name
    if not store.is_dir():
        return []
    found = [p for p in store.iterdir() if p.is_dir()]

    def created(p: Path) -> str:
        try:
            return str(json.loads((p / "manifest.json").read_text())["created"])
        except (OSError, ValueError, KeyError):
            return "~"
    return sorted(found, key=created)


def manifest(backup: Path) -> dict:
    return json.loads((backup / "manifest.json").read_text())


# --- shared fixtures' bodies ---------------------------------------------------------------------

def perturb(root: Path) -> None:
    """Committed drift in http/ that a regeneration must undo: an edited file and a stale module."""
    rest = pkg(root) / "http" / "rest.py"
    rest.write_text(rest.read_text() + "\n# hand edit that regeneration overwrites\n")
    write(pkg(root) / "http" / "stale_module.py", "STALE = True\n")


def expected_v2_tree(factory: pytest.TempPathFactory, cache: Path) -> Dict[str, Digest]:
    """The managed folders a full v2 run swaps into a fresh copy (the `expected_v2` fixture keeps it per
    session; keep_failed so the tree stays even though the example adapters fail the import gate on v2)."""
    base = factory.mktemp("v2-expected")
    root = new_sdk(base)
    _report, error, _ = run_core(root, base / "backups", cache, SPEC_V2, keep_failed=True)
    assert error is None or "import" in error.message, error
    tree = managed_digest(root)
    assert PROVENANCE.split("/", 1)[1] in tree["http"]
    return tree


# --- core-level runs -----------------------------------------------------------------------------

def settings_for(root: Path, backups: Path, cache: Path) -> Settings:
    """Settings as the tasks resolve them, with an isolated backup store and the shared cache."""
    return resolve_settings({}, {"REGEN_BACKUPS_DIR": str(backups), "REGEN_CACHE_DIR": str(cache)},
                            {"sdk.root": str(root)})


def target_for(settings: Settings) -> SdkTarget:
    return resolve_sdk(settings.sdk)


def never_confirm(_plan: object) -> bool:
    raise AssertionError("the confirmation prompt must not be shown with yes=True")


def run_core(root: Path, backups: Path, cache: Path, spec: Path = SPEC_V1,
             run_tests: Optional[Callable] = None, **options: object) -> Tuple[Optional[Report], Optional[RegenError], StepLog]:
    """Call conductor_regen.commands.regenerate.regenerate directly; return (report, error, steps)."""
    s = settings_for(root, backups, cache)
    opts = RegenOptions(spec=str(spec), **{"yes": True, "skip_tests": run_tests is None, **options})  # type: ignore[arg-type]
    steps = StepLog()
    try:
        report = regenerate(target_for(s), opts, s, steps, never_confirm, run_tests, env={})
    except RegenError as exc:
        return None, exc, steps
    return report, None, steps


def mask_report(text: str) -> dict:
    """A report's JSON with the parts that legitimately vary (timings, backup id, SDK path) masked."""
    data = json.loads(text)
    if data.get("backup_id"):  # also where steps mention it ("back up": "<id> (N files)")
        data = json.loads(text.replace(data["backup_id"], "<backup-id>"))
    for step in data.get("steps", []):
        step["seconds"] = "*"
    data["sdk"] = "*"
    return data


# --- CLI runs ------------------------------------------------------------------------------------

def cli_env(backups: Path, cache: Path, **extra: str) -> Dict[str, str]:
    """Environment for `python -m invoke`: isolated backups, shared cache, no inherited settings (but the
    session's folder of JVM class archives, which only speeds the generator up)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("REGEN_") or k.startswith("CONDUCTOR_")) or k == "REGEN_CLASS_ARCHIVES"}
    # Temp files beside the backups (the test's own folder): what a killed run cannot clean up stays there.
    tmp = backups.parent / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(REGEN_BACKUPS_DIR=str(backups), REGEN_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1",
               TMPDIR=str(tmp))
    env.update(extra)
    return env


def invoke_cmd(task: str, *args: str) -> List[str]:
    return [sys.executable, "-m", "invoke", "--search-root", str(REPO), task, *args]


@dataclasses.dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> List[str]:
        # Line by line per stream: a prompt without a newline may precede the error on the terminal.
        lines = self.stdout.splitlines() + self.stderr.splitlines()
        return [line for line in lines if line.startswith("ERROR:")]

    def the_error(self) -> str:
        """The single `ERROR: ... / hint: ...` line; fails if there is not exactly one, or a traceback."""
        lines = self.error_lines()
        assert len(lines) == 1, f"expected one ERROR line, got {lines}\n{self.output}"
        assert "Traceback" not in self.output, self.output
        return lines[0]

    def __str__(self) -> str:  # shown by pytest on a failed assert
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_cli(task: str, *args: str, env: Mapping[str, str], input: Optional[str] = None,
            cwd: Optional[Path] = None, timeout: float = 180) -> CliResult:
    """`python -m invoke --search-root REPO <task> <args>`; stdin closed (EOF) unless `input`."""
    done = warm_cli.run(invoke_cmd(task, *args), env=env, input=input, cwd=cwd, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def wait_for_file(path: Path, proc: "subprocess.Popen[bytes]", timeout: float = 120.0) -> None:
    """Wait until `path` holds something; fail if the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        if proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode} before {path} appeared")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.02)


def as_plain_user() -> List[str]:
    """A command prefix under which root, too, is bound by permission bits (no DAC override)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root's permission override")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def run_plain(task: str, *args: str, env: Dict[str, str]) -> CliResult:
    """`run_cli` without root's permission override, so permission bits bind."""
    done = subprocess.run(as_plain_user() + invoke_cmd(task, *args), capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=600)
    return CliResult(done.returncode, done.stdout, done.stderr)


GATE_PROBE = '''\
"""Test-gate probe: tells an interruption test that the gate is running, then waits to be stopped."""
import os
import time


def test_gate_probe():
    marker = os.environ.get("GATE_PROBE_MARKER")
    if not marker:
        return
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(marker + ".tmp", marker)
    time.sleep(600)
'''


def add_gate_probe(root: Path) -> None:
    """A test in the SDK that, with GATE_PROBE_MARKER set, writes its pid there and sleeps: the gate is running."""
    perturb(root)  # so that spec v1 (the example's own client) still changes the tree
    write(root / "tests" / "unit" / "orkes" / "test_async_aa_gate_probe.py", GATE_PROBE)
