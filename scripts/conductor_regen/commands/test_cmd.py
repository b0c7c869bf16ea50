"""`invoke test` and regenerate's test gate: sessions and Pythons checked first, failures judged against the
SDK's pristine tree (new or pre-existing), and one pass rule."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.commands.plan import TestRunner
from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.checkout.target import SdkTarget, resolve_sdk

if TYPE_CHECKING:
    from conductor_regen.matrix.results import SessionResult
    from conductor_regen.matrix.runner import Judge


def store_env(s: Settings, env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for nox: lint and typecheck find this run's backups (their baseline) and cache."""
    base = os.environ if env is None else env
    return {**base, "REGEN_BACKUPS_DIR": str(s.backups_dir), "REGEN_CACHE_DIR": str(s.cache_dir)}


def judge(s: Settings, target: SdkTarget, pytest_args: Sequence[str] = (),
          env: Optional[Mapping[str, str]] = None) -> "Judge":
    """Compare failed sessions with the SDK before the last regeneration (newest backup, else git HEAD)."""
    from conductor_regen.matrix.pristine import find_pristine
    from conductor_regen.matrix.runner import matrix_dirs
    from conductor_regen.matrix.verdicts import judge_against

    return judge_against(lambda: find_pristine(target, s.backups_dir), cache_dir=s.cache_dir / "baselines",
                         pytest_args=tuple(pytest_args), envdir=matrix_dirs(s.cache_dir)[1], env=env,
                         timeout=s.test_timeout)


def require_reason(accept: str) -> None:
    """`--accept` (regenerate's, test's) given with nothing but blanks: refused before any work."""
    if accept and not accept.strip():
        raise ConfigError("--accept needs a reason", 'e.g. --accept "execute_workflow returns SignalResponse by design"')


def test_gate(s: Settings, sessions: Sequence[str] = (), python: Optional[str] = None,
              spec: Optional[str] = None, accept: str = "") -> TestRunner:
    """Regenerate's gate after the swap; the sessions and the Python are checked now, before any work.

    With `accept` (a reason), the contract, lint and typecheck sessions accept their new findings with it.
    """
    try:
        from conductor_regen.matrix.interpreters import check_pythons
        from conductor_regen.matrix.runner import check_gate_ready, gate, matrix_dirs
        from conductor_regen.matrix.sessions import ACCEPT_ENV, CONTRACT_SPEC_ENV, GATE_SESSIONS
    except ImportError as exc:
        # A gate that cannot run is not a gate that passed: stop before anything is touched.
        raise ConfigError(f"the test gate cannot run: {exc}",
                          "reinstall conductor-regen with its dependencies, or pass --skip-tests to run without it"
                          ) from None
    chosen = tuple(sessions or GATE_SESSIONS)
    pythons = (python or f"{sys.version_info[0]}.{sys.version_info[1]}",)
    # Checked now, before any work: a misspelled session, or a gate that cannot load (nox, the noxfile or its
    # sessions missing), must not fail after the swap.
    check_gate_ready(chosen)
    check_pythons(pythons, os.environ)
    # nox runs in this project's folder: a relative spec path means the caller's folder.
    if spec and not re.match(r"^https?://", spec) and Path(spec).expanduser().exists():
        spec = str(Path(spec).expanduser().resolve())
    # The pristine rerun checks the contract against this run's spec too: a pristine tree records none,
    # and its failures are pre-existing only when judged against the same spec.
    judge_env = {**store_env(s), **({CONTRACT_SPEC_ENV: spec} if spec else {})}
    gate_env = {**store_env(s), **({ACCEPT_ENV: accept} if accept else {})}
    junit_dir, envdir = matrix_dirs(s.cache_dir)
    return lambda target: gate(target.root, sessions=chosen, pythons=pythons, spec=spec,
                                judge=judge(s, target, env=judge_env), env=gate_env,
                                junit_dir=junit_dir, envdir=envdir, timeout=s.test_timeout)


@dataclasses.dataclass(frozen=True)
class MatrixRun:
    """What `invoke test` ran: each session's result, and nox's output (captured unless streamed)."""

    results: Tuple["SessionResult", ...]
    output: str = ""
    junit_dir: Optional[Path] = None  # where the sessions wrote their JUnit XML


def run_tests(s: Settings, sessions: Sequence[str], pythons: Sequence[str], pytest_args: str = "",
              reuse: bool = False, absolute: bool = False, accept: str = "") -> MatrixRun:
    """Run the matrix on the settings' SDK; without `absolute`, failures are judged against the pristine tree.

    With `accept` (a reason), the contract, lint and typecheck sessions accept their new findings with it, as
    regenerate's gate does with `--accept`.
    """
    from conductor_regen.matrix.interpreters import check_pythons
    from conductor_regen.matrix.runner import check_gate_ready, matrix_dirs, run_matrix
    from conductor_regen.matrix.sessions import ACCEPT_ENV
    from conductor_regen.checkout.lock import sdk_read_lock

    require_reason(accept)
    check_gate_ready(tuple(sessions or ("async_tests",)))
    check_pythons(tuple(pythons), os.environ)
    if s.sdk.root is None:
        raise ConfigError("no SDK checkout given",
                          "pass --sdk PATH, run from inside the checkout, or set CONDUCTOR_SDK_ROOT")
    args = shlex.split(pytest_args)
    # lint, typecheck and contract judge themselves; --absolute reaches them as a session option.
    args = [*args, "--absolute"] if absolute and set(sessions) <= {"lint", "typecheck", "contract"} else args
    captured: List[str] = []
    # nox's own output streams with --verbose; otherwise it is shown only for the sessions that failed.
    target = resolve_sdk(s.sdk)
    with sdk_read_lock(target):  # no run swaps the tree while the tests read it
        junit_dir, envdir = matrix_dirs(s.cache_dir)
        env = {**store_env(s), **({ACCEPT_ENV: accept} if accept else {})}
        results = run_matrix(s.sdk.root, tuple(sessions or ("async_tests",)), tuple(pythons), args, reuse=reuse,
                             junit_dir=junit_dir, envdir=envdir, env=env, stream=s.verbose,
                             captured=captured, timeout=s.test_timeout)
        if not absolute and any(r.result == "failed" for r in results):
            results = judge(s, target, args)(results)
    return MatrixRun(tuple(results), captured[0] if captured else "", junit_dir)


def check_passed(results: Sequence["SessionResult"], absolute: bool = False, junit_dir: Optional[Path] = None) -> None:
    """The matrix's pass rule (the gate's too): no failure that counts (any, with `absolute`), and something ran.

    `junit_dir`: where the failed sessions' JUnit XML is, for the hint.
    """
    from conductor_regen.matrix.results import blocking_failures, matrix_passed
    from conductor_regen.matrix.runner import DEFAULT_JUNIT_DIR
    from conductor_regen.matrix.verdicts import JUDGED_IN_SESSION  # the sessions `--accept` reaches

    if matrix_passed(results, absolute):
        return
    failed = blocking_failures(results, absolute)
    if failed:
        raise VerificationError(f"{len(failed)} of {len(results)} session(s) failed; first: "
                                f"{failed[0].session}-{failed[0].python or 'nox'}: {failed[0].detail}",
                                f"JUnit XML is in {junit_dir or DEFAULT_JUNIT_DIR}; "
                                "rerun one with --session NAME --python X.Y"
                                + ("; to go ahead deliberately, --accept REASON records the new findings"
                                   if failed[0].session in JUDGED_IN_SESSION else ""))
    raise VerificationError("no session ran (all skipped)", "see the skip reasons above")
