"""Shared pytest fixtures. Each helper's fixtures live in their own clearly marked section."""

from __future__ import annotations

# --- spec server ---
# A real HTTP server on 127.0.0.1 that plays an Orkes Conductor server for the spec fetch
# tests: POST /api/token checks keyId/keySecret and hands out a token; GET routes serve
# canned replies, optionally requiring the token in X-Authorization. Self-contained: it
# only uses the standard library, pytest and (for the TLS variant) cryptography.

import datetime as _dt
import ipaddress as _ipaddress
import json as _json
import os as _os
import shutil as _shutil
import signal as _signal
import sys as _sys
import ssl as _ssl
import threading as _threading
import time as _time
from collections import Counter as _Counter
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field
from http.server import BaseHTTPRequestHandler as _BaseHandler
from http.server import ThreadingHTTPServer as _ThreadingHTTPServer
from pathlib import Path as _Path
from typing import Any as _Any
from typing import Callable as _Callable
from typing import Dict as _Dict
from typing import Iterator as _Iterator
from typing import List as _List
from typing import Optional as _Optional
from typing import Set as _Set
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Tuple as _Tuple

import pytest

if _TYPE_CHECKING:
    from conductor_regen.checkout.target import SdkTarget


@_dataclass
class SpecReply:
    """One canned answer from the spec server."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0  # seconds to wait before answering
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    endless: bool = False  # repeat `body` until the client hangs up (or ~256 MiB)
    public: bool = False  # served without a token even when auth is on
    headers: _Dict[str, str] = _field(default_factory=dict)


@_dataclass
class _Auth:
    key: str
    secret: str
    token: str


class SpecServer:
    """State and configuration of one running spec server; tests read `hits` and `seen_headers`."""

    def __init__(self, scheme: str, port: int) -> None:
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        self.port = port
        self.auth: _Optional[_Auth] = None
        self.hits: "_Counter[str]" = _Counter()  # "GET /api-docs" -> count
        self.seen_headers: _Dict[str, _Dict[str, str]] = {}  # path -> headers of the last request
        self.token_payloads: _List[_Any] = []
        self._routes: _Dict[str, _List[SpecReply]] = {}
        self._lock = _threading.Lock()

    def url(self, path: str = "") -> str:
        """The server's URL with `path` appended."""
        return self.base_url + path

    def serve(self, path: str, *replies: SpecReply) -> None:
        """Answer GET `path` with `replies` in turn; the last one repeats."""
        self._routes[path] = list(replies)

    def require_auth(self, key: str, secret: str, token: str) -> None:
        """Turn on the Orkes token endpoint and require the token on non-public routes."""
        self.auth = _Auth(key, secret, token)

    def _record(self, method: str, path: str, headers: _Dict[str, str]) -> None:
        with self._lock:
            self.hits[f"{method} {path}"] += 1
            self.seen_headers[path] = headers

    def _next_reply(self, path: str) -> _Optional[SpecReply]:
        with self._lock:
            replies = self._routes.get(path)
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _SpecHTTPServer(_ThreadingHTTPServer):
    daemon_threads = True
    state: SpecServer

    def handle_error(self, request: _Any, client_address: _Any) -> None:
        # Clients hanging up mid-reply (timeouts, size caps) are the point of several tests.
        pass


class _SpecHandler(_BaseHandler):
    server: _SpecHTTPServer

    def log_message(self, format: str, *args: _Any) -> None:  # noqa: A002 - base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._handle("POST")

    def _handle(self, method: str) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        state._record(method, path, dict(self.headers.items()))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if method == "POST" and path == "/api/token" and state.auth is not None:
            self._send(self._token_reply(state, raw))
            return
        reply = state._next_reply(path) if method == "GET" else None
        if reply is None:
            self._send(SpecReply(status=404, body=b'{"message": "not found"}'))
            return
        if state.auth is not None and not reply.public and self.headers.get("X-Authorization") != state.auth.token:
            self._send(SpecReply(status=401, body=b'{"message": "missing or invalid token"}'))
            return
        self._send(reply)

    @staticmethod
    def _token_reply(state: SpecServer, raw: bytes) -> SpecReply:
        assert state.auth is not None
        try:
            payload = _json.loads(raw)
        except ValueError:
            payload = None
        state.token_payloads.append(payload)
        if payload == {"keyId": state.auth.key, "keySecret": state.auth.secret}:
            return SpecReply(body=_json.dumps({"token": state.auth.token}).encode())
        # Echo the request like a careless server would, so leaks through error text show up.
        return SpecReply(status=401, body=b'{"message": "invalid credentials: ' + raw.replace(b'"', b"'") + b'"}')

    def _send(self, reply: SpecReply) -> None:
        try:
            if reply.delay:
                _time.sleep(reply.delay)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.send_length and not reply.endless:
                self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.endless:
                chunk = reply.body or b" " * 65536
                for _ in range(256 * 1024 * 1024 // len(chunk)):
                    self.wfile.write(chunk)
            else:
                self.wfile.write(reply.body)
        except OSError:  # the client hung up
            pass


def _start_spec_server(
    monkeypatch: pytest.MonkeyPatch, tls: _Optional[_ssl.SSLContext] = None
) -> _Tuple[_SpecHTTPServer, _threading.Thread]:
    # A developer's proxy settings must not route 127.0.0.1 elsewhere.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = _SpecHTTPServer(("127.0.0.1", 0), _SpecHandler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.state = SpecServer("https" if tls else "http", httpd.server_address[1])
    thread = _threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    return httpd, thread


def _stop_spec_server(httpd: _SpecHTTPServer, thread: _threading.Thread) -> None:
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def spec_server(monkeypatch: pytest.MonkeyPatch) -> _Iterator[SpecServer]:
    """A plain-HTTP fake Conductor server on 127.0.0.1 (port chosen by the OS)."""
    httpd, thread = _start_spec_server(monkeypatch)
    try:
        yield httpd.state
    finally:
        _stop_spec_server(httpd, thread)


def _self_signed_context(directory: _Path) -> _ssl.SSLContext:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(_ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


@pytest.fixture
def tls_spec_server(monkeypatch: pytest.MonkeyPatch, tmp_path: _Path) -> _Iterator[SpecServer]:
    """Like spec_server, but over HTTPS with a self-signed certificate no CA vouches for."""
    httpd, thread = _start_spec_server(monkeypatch, _self_signed_context(tmp_path))
    try:
        yield httpd.state
    finally:
        _stop_spec_server(httpd, thread)


# --- end spec server ---


# --- generator cache, pristine trees and the e2e marker ---
# One OpenAPI Generator cache for the whole session, shared by every test that generates, so each
# spec is generated once whichever test asks first. Tests that depend on it (directly or through
# the fixtures below) run the real generator, so they are marked `e2e` automatically; modules that
# kill -9 a process or run nox or a nested pytest mark themselves with a module-level pytestmark.

E2E_FIXTURES = frozenset({"generator_cache"})


# --- the run's temp folder ---
# The tests build, copy, swap and delete some 180,000 files (about 1.8 GB) a run. On the disk that is kernel
# time: extracting and copying the real SDK three times took 2.1 s of it on ext4 and 0.3 s on a tmpfs. So where
# /dev/shm is a tmpfs with room, the run's temp folder is there, one per run, deleted when the run passes (kept,
# and named, when it fails). `--basetemp DIR` chooses another; TESTRUN_TMP=disk keeps pytest's default.

_SHM = _Path("/dev/shm")
_SHM_NEEDED = 8 * 1024 ** 3  # a full run holds about 2 GB at its peak; leave the machine the rest
_TMPFS_RUN = pytest.StashKey[_Path]()  # the folder this run chose (only when it chose one)
_FAILED = pytest.StashKey[bool]()  # set by pytest_sessionfinish: a failed run keeps its folder


def _is_tmpfs(path: _Path) -> bool:
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return any(line.split()[1:3] == [str(path), "tmpfs"] for line in mounts)
    except OSError:
        return False


def _tmpfs_basetemp() -> "_Optional[_Path]":
    """A new folder for this run's temp files on /dev/shm, or None (not a tmpfs, not enough room, not wanted)."""
    if _os.environ.get("TESTRUN_TMP") == "disk" or not _is_tmpfs(_SHM):
        return None
    try:
        room = _os.statvfs(_SHM)
    except OSError:
        return None
    if room.f_bavail * room.f_frsize < _SHM_NEEDED:
        return None
    parent = _SHM / f"pytest-of-{_os.getuid()}"
    parent.mkdir(mode=0o700, exist_ok=True)
    for old in parent.glob("run-*"):  # a run killed before it could delete its own
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _os.path.exists(f"/proc/{pid}"):
            _shutil.rmtree(old, ignore_errors=True)
    return parent / f"run-{_os.getpid()}"


def _choose_basetemp(config: pytest.Config) -> None:
    """Put the run's temp folder on a tmpfs where there is one (see above); under xdist the controller chooses,
    and its workers take their folders inside it."""
    if config.option.basetemp or hasattr(config, "workerinput"):
        return
    chosen = _tmpfs_basetemp()
    if chosen is not None:
        config.option.basetemp = str(chosen)
        config.stash[_TMPFS_RUN] = chosen


def pytest_unconfigure(config: pytest.Config) -> None:
    """Delete this run's tmpfs folder when the run passed; else say where it is."""
    chosen = config.stash.get(_TMPFS_RUN, None)
    if chosen is None or not chosen.exists():
        return
    if config.stash.get(_FAILED, True):
        _sys.stderr.write(f"temp files of this run kept in {chosen}\n")
        return
    _shutil.rmtree(chosen, ignore_errors=True)


# --- signals and leftovers ---

@pytest.hookimpl(tryfirst=True)  # the temp folder: before pytest's own tmp_path factory reads the option
def pytest_configure(config: pytest.Config) -> None:
    """Choose the run's temp folder (`_choose_basetemp`); run with Ctrl-C as an interactive run has it, however
    pytest was started.

    A shell starts a background job (`cmd &`, a CI step's `nohup`) with SIGINT ignored, and every child
    inherits that: the Ctrl-C tests would then interrupt nothing and leave their children running.
    """
    _choose_basetemp(config)
    _collect_garbage_once_at_the_end(config)
    if _signal.getsignal(_signal.SIGINT) == _signal.SIG_IGN:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    # Every process this run starts carries the mark, so the run can look for any left running at its end.
    if not _os.environ.get(_RUN_MARK):
        _os.environ[_RUN_MARK] = f"{_os.getpid()}-{_time.time_ns()}"
        config.stash[_OUTERMOST] = True
        _compile_the_tool()


def _collect_garbage_once_at_the_end(config: pytest.Config) -> None:
    """pytest's check for unraisable exceptions runs the garbage collector five times as each process ends (a
    figure from Trio, for finalizers that make more garbage). In a worker that has parsed SDKs that took 0.7 to
    1.1 CPU-s, after its last test; one pass takes 0.2 to 0.3 and still reports what the tests leave
    unfinalized. pytester sets the same key (to 0) for the runs it nests."""
    try:
        from _pytest.unraisableexception import gc_collect_iterations_key
    except ImportError:  # another pytest: its own default
        return
    config.stash[gc_collect_iterations_key] = 1


def _compile_the_tool() -> None:
    """Write the package's bytecode once, as its first import would: the CLI runs have PYTHONDONTWRITEBYTECODE (it
    keeps the SDK trees free of it), so in a fresh clone every run would compile the modules no worker imported
    (the nox sessions, the contract driver) again. Not data/: the demo SDK stays as git has it."""
    import compileall
    import re

    from support.paths import REPO

    compileall.compile_dir(str(REPO / "scripts" / "conductor_regen"), quiet=1, rx=re.compile(r"[/\\]data[/\\]"))


_RUN_MARK = "TESTRUN_CONDUCTOR_REGEN"  # no REGEN_/CONDUCTOR_ prefix: the CLI tests' environments drop those
_OUTERMOST = pytest.StashKey[bool]()


def _left_running(mark: bytes) -> _List[_Any]:
    """(pid, command line) of every live process other than this one that carries `mark` in its environment
    (with an empty mark: every live process)."""
    found = []
    for entry in _os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == _os.getpid():
            continue
        try:
            if mark:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if mark not in handle.read().split(b"\0"):
                        continue
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if stat[stat.rfind(b")") + 2:].split()[:1] != [b"Z"]:  # a zombie is dead already
            found.append((int(entry.name), command))
    return found


def _xdist_workers() -> _Set[int]:
    """This process's pytest-xdist workers (execnet's interpreters, children of the controller)."""
    found = set()
    for pid, command in _left_running(b""):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2:].split()[1]) == _os.getpid() and "sys.stdin.readline" in command:
            found.add(pid)
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run that leaves any process it started running (and stop them); under xdist, in the controller.

    First this process's warm CLI server (support.warm_cli) is stopped: it is the run's, not a test's."""
    from support import warm_cli

    warm_cli.stop()
    config = session.config
    config.stash[_FAILED] = exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if hasattr(config, "workerinput") or not config.stash.get(_OUTERMOST, False) or not _os.path.isdir("/proc"):
        return  # a worker's neighbours are still running tests: the controller looks, once they are done
    mark = f"{_RUN_MARK}={_os.environ[_RUN_MARK]}".encode()
    workers = _xdist_workers()
    deadline = _time.monotonic() + 3  # the workers may still be ending, and their last children with them
    left = [p for p in _left_running(mark) if p[0] not in workers]
    while left and _time.monotonic() < deadline:
        _time.sleep(0.2)
        left = [p for p in _left_running(mark) if p[0] not in workers]
    for pid, _command in left:
        try:
            _os.kill(pid, _signal.SIGKILL)
        except OSError:
            pass
    if left:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", f"tests left {len(left)} process(es) running (now killed)", red=True)
            for pid, command in left:
                reporter.write_line(f"{pid} {command[:200]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        config.stash[_FAILED] = True


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> "_Iterator[None]":
    """Let pytest cache its rewritten test modules, even where PYTHONDONTWRITEBYTECODE is set (it is on these
    machines): rewriting all of them again took about 5 s of every run. Only while collecting: code the tests
    import later (the example SDK's modules among them) must not leave bytecode in the package data."""
    saved = _sys.dont_write_bytecode
    _sys.dont_write_bytecode = False
    try:
        yield
    finally:
        _sys.dont_write_bytecode = saved


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker more than there are cores, as many tests spend part of their time waiting (on a
    timeout, a server, a child) rather than computing (measured: 477 s against 501 s on two cores)."""
    return (len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1)) + 1


def pytest_collection_modifyitems(items: _List[pytest.Item]) -> None:
    """Mark every test that reaches the real generator (through `generator_cache`) as `e2e`; run the `slow` ones
    first, and the unit tests that `waits` first among the unit tests.

    pytest-xdist's worksteal hands each worker a contiguous share of this order and steals from the end of a
    share: the real-SDK module (minutes on one worker) then starts at once and stays on one worker, instead of
    starting late and running alone at the end. The waiting tests (some 17 s of sleeping in the inner loop) run
    early on one worker while the others compute, instead of making the run's tail, where the cores sat idle.
    They move only among the unit tests, so the end-to-end tests keep their places and so their workers: which
    worker runs which nox tests decides how many virtualenvs and cold mypy caches get built (each worker keeps
    its own). With the waiting tests (and once the installed tool's) put ahead of them, whole runs took 1,009 to
    1,055 CPU-s, against 880 to 983 before."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)

    def place(item: pytest.Item) -> _Tuple[bool, bool, bool]:
        unit = not item.nodeid.startswith("tests/e2e/")
        return item.get_closest_marker("slow") is None, unit, unit and item.get_closest_marker("waits") is None
    items.sort(key=place)  # stable: file order otherwise


@pytest.fixture(scope="session", autouse=True)
def _shared_class_archives(tmp_path_factory: pytest.TempPathFactory) -> _Iterator[None]:
    """Every generator run of the session starts its JVM from one folder of class archives
    (REGEN_CLASS_ARCHIVES, kept by `cli_env`), so a test's fresh cache does not pay to write its own."""
    from support.generated_trees import CLASS_ARCHIVES, shared_folder

    saved = _os.environ.get("REGEN_CLASS_ARCHIVES")
    _os.environ["REGEN_CLASS_ARCHIVES"] = str(shared_folder(tmp_path_factory) / CLASS_ARCHIVES)
    try:
        yield
    finally:
        if saved is None:
            _os.environ.pop("REGEN_CLASS_ARCHIVES", None)
        else:
            _os.environ["REGEN_CLASS_ARCHIVES"] = saved


@pytest.fixture(scope="session")
def generator_cache(tmp_path_factory: pytest.TempPathFactory) -> _Path:
    """The session's one generator cache (REGEN_CACHE_DIR / Settings.cache_dir)."""
    from support.generated_trees import session_cache_dir

    return session_cache_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def pristine_http(tmp_path_factory: pytest.TempPathFactory, generator_cache: _Path) -> "_Callable[[str], _Path]":
    """version ("v1"/"v2") -> the pristine generated http/ package of that fixture spec (read-only use)."""
    from support.staged_sdk import generate_http

    made: _Dict[str, _Path] = {}

    def get(version: str) -> _Path:
        if version not in made:
            made[version] = generate_http(tmp_path_factory, generator_cache, version)
        return made[version]
    return get


@pytest.fixture(scope="session")
def v1_http(pristine_http: "_Callable[[str], _Path]") -> _Path:
    """The pristine generated http/ package of fixture spec v1 (read-only use)."""
    return pristine_http("v1")


@pytest.fixture(scope="session")
def v2_http(pristine_http: "_Callable[[str], _Path]") -> _Path:
    """The pristine generated http/ package of fixture spec v2 (read-only use)."""
    return pristine_http("v2")


@pytest.fixture(scope="session")
def expected_v2(tmp_path_factory: pytest.TempPathFactory, generator_cache: _Path) -> _Dict[str, _Dict[str, str]]:
    """The managed folders a full v2 run swaps into a fresh example SDK copy."""
    from support.sdk_copies import expected_v2_tree

    return expected_v2_tree(tmp_path_factory, generator_cache)


# --- nox session tests ---

@pytest.fixture(scope="session")
def envdir(generator_cache: _Path) -> _Path:
    """One folder of nox virtualenvs for every test that runs real nox sessions (venvs are reused): the one the
    CLI's test gate uses with the session's cache (`<cache_dir>/nox/envs`), so a worker builds each session's
    virtualenv once, whichever way its tests run nox."""
    path = generator_cache / "nox" / "envs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def sdk(tmp_path: _Path) -> _Path:
    """A fresh copy of the example SDK (no caches) for a test to edit and run sessions on."""
    from support.sdk_copies import copy_example_sdk

    return copy_example_sdk(tmp_path / "sdk")


# --- the CLI in a subprocess ---

@pytest.fixture
def env(tmp_path: _Path) -> _Dict[str, str]:
    """The CLI's environment: backups and a cache of this test's own, no inherited REGEN_/CONDUCTOR_ settings.

    Modules whose runs share a warm cache override it.
    """
    from support.sdk_copies import cli_env

    return cli_env(tmp_path / "backups", tmp_path / "cache")


@pytest.fixture
def committed_sdk(tmp_path: _Path) -> _Path:
    """A copy of the example SDK committed under git (writers refuse uncommitted managed folders)."""
    from support.sdk_copies import new_sdk

    return new_sdk(tmp_path)


@pytest.fixture
def isolated_git(tmp_path: _Path, monkeypatch: pytest.MonkeyPatch) -> _Path:
    """No system or global git config: only what a repository sets counts (the identity above all)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def git_sdk(tmp_path: _Path, isolated_git: _Path) -> _Path:
    """A small fake SDK checkout committed under git, with a maintainer's identity in the repository."""
    import subprocess

    from support.fake_sdk import make_sdk

    root = make_sdk(tmp_path, git=True)
    for key, value in (("user.name", "Maintainer"), ("user.email", "m@example.com")):
        subprocess.run(["git", "config", key, value], cwd=root, check=True)
    return root


# --- fake SDK target and backup store (backup, restore and lock tests) ---
# Here rather than in tests/unit/conftest.py: a second module named `conftest` shadowed this one for
# the tests that import the spec server from it (`from conftest import SpecReply, SpecServer`).

@pytest.fixture
def target(tmp_path: _Path) -> "SdkTarget":
    """A small, real fake SDK checkout (not under git)."""
    from support.fake_sdk import make_sdk, target_of

    return target_of(make_sdk(tmp_path))


@pytest.fixture
def store(tmp_path: _Path) -> _Path:
    """An empty backup store beside it."""
    return tmp_path / "backups"


@pytest.fixture(autouse=True)
def _program_is_invoke() -> _Iterator[None]:
    """Each test starts with hints naming `invoke`: `console.program()` sets the name for the process."""
    from conductor_regen.cli import options

    saved, options.PROGRAM = options.PROGRAM, "invoke"
    try:
        yield
    finally:
        options.PROGRAM = saved


@pytest.fixture
def edge_logging_restored() -> _Iterator[None]:
    """The edge points the package's logger at stdout, unpropagated: undo that for the tests that follow."""
    import logging

    loggers = [logging.getLogger(name) for name in ("conductor_regen", "conductor_regen.progress")]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
