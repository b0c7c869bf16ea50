"""Run `python -m invoke ...` / `python -m conductor_regen ...` as a process forked from a warm one.

A CLI run spends about half its CPU starting Python and importing invoke, libcst, griffe and the
tool (0.5 to 0.7 CPU-s of a warm `regenerate --skip-tests`), and the suite runs some five hundred.
Here each worker starts one multiprocessing fork server that has imported them, and each run is a
process forked from it. The child is a process of its own (its own pid, environment, working folder,
stdin, stdout and stderr, exit status), which runs the module as `python -m` would (`runpy`,
`__main__`), then the interpreter's exit handlers.

What it cannot be is a fresh interpreter, so `run` starts a real one when that matters:
- `fresh=True`: runs compared for determinism (every fork shares its server's hash seed, so a set
  whose order leaks into output would not show);
- an environment that sets interpreter options (`PYTHON*` but the two below) or another locale, and any
  program but those two. PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED are honoured in the child.
The tests of start-up itself (console script, installed tool, signals, kill -9) use real processes.
`WARM_CLI=0` in pytest's environment makes every run a fresh interpreter (to compare, or to rule this out).

This module imports only the standard library: the fork server loads it to run the child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

MODULES = ("invoke", "conductor_regen")
# What the fork server imports once: the programs and the heavy libraries their steps use.
PRELOAD = ["support.warm_cli", "invoke", "invoke.main", "invoke.program", "conductor_regen.cli.tasks",
           "conductor_regen.cli.console", "conductor_regen.commands.regenerate", "conductor_regen.commands.assemble",
           "conductor_regen.commands.diff", "conductor_regen.spec.validation", "griffe", "libcst"]
_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE")
_HONOURED = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")

_context: Any = None
_base_path: Optional[List[str]] = None


def run(argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None, cwd: Any = None,
        input: Optional[str] = None, timeout: Optional[float] = None,
        fresh: bool = False) -> "subprocess.CompletedProcess[str]":
    """`subprocess.run(argv, capture_output=True, text=True, ...)`, forked from the warm server when it can be.

    Either way stdin holds `input` and then EOF (never this process's stdin, where a prompt would wait)."""
    environ = dict(os.environ if env is None else env)
    if fresh or os.environ.get("WARM_CLI") == "0" or not _forkable(argv, environ):
        return subprocess.run(list(argv), capture_output=True, text=True, env=environ, cwd=cwd, input=input or "",
                              timeout=timeout, check=False)
    with tempfile.TemporaryDirectory(prefix="warm-cli-") as folder:
        paths = [os.path.join(folder, name) for name in ("stdin", "stdout", "stderr")]
        for name, text in zip(paths, (input or "", "", "")):
            with open(name, "w", encoding="utf-8") as f:
                f.write(text)
        child = _server().Process(target=_main, args=(list(argv), environ, os.fspath(cwd or os.getcwd()),
                                                      _path(environ), paths), daemon=False)
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(list(argv), timeout or 0)
        out, err = (_read(p) for p in paths[1:])
    return subprocess.CompletedProcess(list(argv), child.exitcode, out, err)


def stop() -> None:
    """Stop this process's fork server (and multiprocessing's resource tracker), if they were started."""
    global _context
    if _context is None:
        return
    from multiprocessing import forkserver, resource_tracker

    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stopper = getattr(helper, "_stop", None)
        if stopper is not None:
            stopper()
    _context = None


def _forkable(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    if len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m" or argv[2] not in MODULES:
        return False
    if any(k.startswith("PYTHON") and k not in _HONOURED for k in env):
        return False
    return all(env.get(k) == os.environ.get(k) for k in _LOCALE)


def _server() -> Any:
    global _context
    if _context is None:
        import multiprocessing

        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _path(env: Mapping[str, str]) -> List[str]:
    """sys.path of `python -m` after its first entry (the working folder), as a real start-up makes it."""
    global _base_path
    if _base_path is None:
        import json

        done = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
                              capture_output=True, text=True, env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
                              check=True)
        _base_path = json.loads(done.stdout)
    return _base_path


def _read(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    # As `text=True` reads a pipe: the locale's encoding (UTF-8 here), universal newlines.
    return data.decode("utf-8", errors="strict").replace("\r\n", "\n").replace("\r", "\n")


def _main(argv: List[str], env: Dict[str, str], cwd: str, path: List[str], paths: List[str]) -> None:
    """In the forked child: become `python -m MODULE ARGS` with this environment, folder and streams."""
    import atexit
    import io
    import runpy
    import traceback

    for fd, (name, flags) in enumerate(zip(paths, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY))):
        opened = os.open(name, flags)
        os.dup2(opened, fd)
        os.close(opened)
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0 if unbuffered else -1, closefd=False),
                                  encoding="utf-8", write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.path[:] = [cwd, *path]
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.argv = [argv[2], *argv[3:]]
    code = 0
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - what an interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
