"""Child processes: their environment (the Orkes credentials reach only the processes that need them) and their
lifetime (each in its own process group, bounded by a setting, killed as a whole on a timeout or an interrupt)."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Type, cast

from conductor_regen.config import ENV_KEYS
from conductor_regen.errors import RegenError

# CONDUCTOR_AUTH_KEY / CONDUCTOR_AUTH_SECRET, and any sibling a future SDK adds.
SECRET_PREFIX = "CONDUCTOR_AUTH_"


def secret_names(env: Mapping[str, str]) -> List[str]:
    """The names in `env` that hold Orkes credentials."""
    return sorted(name for name in env if name.upper().startswith(SECRET_PREFIX))


def child_env(extra: Optional[Mapping[str, str]] = None, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """A copy of `base` (default: os.environ) without credentials, plus `extra`.

    Children run code we did not write (the generator, the SDK's modules, its tests), so they
    get no secret; only the fetch (in this process) and the integration session use them.
    """
    env = dict(os.environ if base is None else base)
    for name in secret_names(env):
        del env[name]
    env.update(extra or {})
    return env


# --- lifetime: every child in its own process group, bounded by a setting -------------------------

# git answers in seconds; a stale lock or a slow network file system must not hang a run.
GIT_TIMEOUT = 120.0

# Children started by `start` and not yet reaped: what `kill_all` reaches.
_running: "Set[subprocess.Popen[Any]]" = set()
_running_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Limit:
    """How long a child may run, and the one error line for when it runs past that."""

    seconds: Optional[float]  # None: no limit
    step: str  # what ran, as the message names it: "the generator"
    setting: str = ""  # the setting that holds `seconds` ("generator.timeout"); "" for a fixed limit
    hint: str = ""  # what else to look at
    error: Type[RegenError] = RegenError

    def expired(self) -> RegenError:
        """The error for a child stopped at this limit: the step, the setting and how to raise it."""
        seconds = f"{self.seconds or 0:g} s"
        if not self.setting:
            return self.error(f"{self.step} did not finish in {seconds} and was stopped", self.hint)
        var = next((name for name, key in ENV_KEYS.items() if key == self.setting), "")
        how = f"raise {var} (or {self.setting} in invoke.yaml)" if var else f"raise {self.setting} in invoke.yaml"
        return self.error(f"{self.step} ran past {self.setting} ({seconds}) and was stopped",
                          how + (f"; {self.hint}" if self.hint else ""))


def start(argv: Sequence[str], **popen: Any) -> "subprocess.Popen[Any]":
    """Popen in a new session: the child and everything it starts are one process group, which `stop` kills.

    On Linux the child also dies with us, even when we are killed with SIGKILL (see `die_with_parent`).
    """
    proc: "subprocess.Popen[Any]" = subprocess.Popen(list(argv), start_new_session=True,
                                                     preexec_fn=die_with_parent(), **popen)
    with _running_lock:
        _running.add(proc)
    return proc


# prctl(2)'s option: the signal the calling process gets when its parent dies.
PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=None)
def _prctl() -> Optional[Callable[..., int]]:
    """libc's prctl, looked up once in our process (never between fork and exec); None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None).prctl  # the symbols already loaded: libc, without searching for it
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return cast(Callable[..., int], prctl)


def die_with_parent(parent: Optional[int] = None) -> Optional[Callable[[], None]]:
    """A preexec_fn that makes the child get SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a `kill -9`
    of this tool leaves no orphaned generator, nox or import check; None where prctl is missing (not Linux).

    `parent` is our pid (the default). After prctl the child compares it with getppid(), as prctl(2)
    advises: a parent that died before the setting took effect sends nothing, so the child ends itself.
    A failing prctl leaves the child as it was. Limits: only the direct child is covered (the signal
    is not inherited: a JVM under npx, pytest under nox are orphaned, as is a Docker container); and
    the signal comes when the *thread* that started the child ends, so a child must be waited for by
    the thread that starts it (as every caller does, the worker threads of the live analysis and the
    staged import check included) or be started from the main thread.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    expected = os.getpid() if parent is None else parent
    kill_signal = int(signal.SIGKILL)

    def hook() -> None:  # runs in the child between fork and exec: no imports, no locks, nothing raised
        try:
            prctl(PR_SET_PDEATHSIG, kill_signal, 0, 0, 0)
            if os.getppid() != expected:
                os.kill(os.getpid(), kill_signal)
        except BaseException:  # noqa: BLE001, S110 - an exception here would only fail the start
            pass

    return hook


def kill(*procs: "subprocess.Popen[Any]") -> None:
    """SIGKILL each child's whole process group (its children too); whoever waits for the child reaps it.

    Safe from another thread than the one waiting (nothing here touches the child's pipes).
    """
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already


def stop(*procs: "subprocess.Popen[Any]") -> None:
    """Kill each child's whole process group, then reap the child and close its pipes (from the waiting thread)."""
    kill(*procs)
    for proc in procs:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        proc.wait()
        _forget(proc)


def kill_all() -> None:
    """Kill every child still running, with its group: for an interrupt while other threads wait for children."""
    with _running_lock:
        procs = [p for p in _running if p.returncode is None]
    kill(*procs)


def _forget(proc: "subprocess.Popen[Any]") -> None:
    with _running_lock:
        _running.discard(proc)


def communicate(proc: "subprocess.Popen[Any]", limit: Limit, input: Any = None,
                group: Sequence["subprocess.Popen[Any]"] = ()) -> Tuple[Any, Any]:
    """`proc.communicate` within `limit`; past it, or on any exception (Ctrl-C), `proc` and `group` are stopped.

    Past the limit it raises `limit.expired()`; `group` are sibling children of the same step.
    """
    try:
        out, err = proc.communicate(input=input, timeout=limit.seconds)
    except subprocess.TimeoutExpired:
        stop(proc, *group)
        raise limit.expired() from None
    except BaseException:
        stop(proc, *group)
        raise
    _forget(proc)
    return out, err


def run(argv: Sequence[str], limit: Limit, *, input: Any = None, capture: bool = True,
        **popen: Any) -> "subprocess.CompletedProcess[Any]":
    """`subprocess.run` in the child's own process group, the whole group killed past `limit` or on Ctrl-C.

    stdin is empty unless `input` is given; with `capture`, stdout and stderr are returned.
    """
    popen.setdefault("stdin", subprocess.PIPE if input is not None else subprocess.DEVNULL)
    if capture:
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
    proc = start(argv, **popen)
    out, err = communicate(proc, limit, input)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
