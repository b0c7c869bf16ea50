"""What each test session of the guide's step-5 matrix runs: its test paths, server needs and names.

Nothing here prints or exits; errors are `RegenError`s. The rest of the matrix: `checkout` (the SDK
checkout a session runs on), `requirements` (what it installs), `interpreters` (which Pythons),
`runner` (running nox) and `results` (reading what it did).
"""

from __future__ import annotations

import dataclasses
import glob
import re
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SessionSpec:
    """One row of the guide's test matrix."""

    name: str
    step: str  # the guide's step number, e.g. "5.1"
    paths: Tuple[str, ...]  # test paths relative to the SDK root; shell globs allowed
    needs_server: bool = False


_ASYNC_UNIT = ("tests/unit/orkes/test_async_*",)
_SERDESER = ("tests/serdesertest/",)

SESSIONS: Dict[str, SessionSpec] = {
    s.name: s
    for s in (
        SessionSpec("async_unit", "5.1", _ASYNC_UNIT),
        SessionSpec(
            "async_integration", "5.2",
            ("tests/integration/client/test_async.py",
             "tests/unit/workflow/test_async_workflow_executor.py",
             "tests/unit/workflow/test_async_conductor_workflow.py"),
            needs_server=True,
        ),
        SessionSpec("serdeser", "5.3", _SERDESER),
        SessionSpec("pydantic", "5.3", ("tests/serdesertest/pydantic/",)),
        SessionSpec(
            "ai_telemetry", "5.4",
            ("tests/unit/ai/test_async_ai_orchestrator.py",
             "tests/unit/telemetry/test_async_metrics_collector.py",
             "tests/unit/event/test_async_event_client.py"),
        ),
        SessionSpec(
            "async_tests", "5.6",
            (*_ASYNC_UNIT,
             "tests/unit/workflow/test_async_*",
             "tests/unit/ai/test_async_*",
             "tests/unit/telemetry/test_async_*",
             "tests/unit/event/test_async_*",
             *_SERDESER),
        ),
    )
}

# Sessions that are not pytest runs (guide 5.6's lint step) and the manual benchmark.
TOOL_SESSIONS: Tuple[str, ...] = ("lint", "typecheck")
ALL_SESSIONS: Tuple[str, ...] = (*SESSIONS, *TOOL_SESSIONS, "contract", "bench")
# What `invoke regenerate` runs after the swap unless --session says otherwise (--skip-tests: none).
GATE_SESSIONS: Tuple[str, ...] = ("contract", "async_tests")
# How the gate hands the contract session the spec of the run (it may record none: --only).
# The reason `regenerate --accept` gives: the contract, lint and typecheck sessions accept their new findings with it.
ACCEPT_ENV = "REGEN_ACCEPT"
CONTRACT_SPEC_ENV = "REGEN_CONTRACT_SPEC"

SERVER_ENV = "CONDUCTOR_SERVER_URL"
AUTH_ENV: Tuple[str, ...] = ("CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET")


def server_skip_reason(env: Mapping[str, str]) -> Optional[str]:
    """Why an integration session cannot run here (None when a server is configured)."""
    if env.get(SERVER_ENV):
        return None
    return (f"set {SERVER_ENV} (e.g. http://localhost:8080/api; for Orkes also "
            f"{' and '.join(AUTH_ENV)}) to run the integration tests")


def server_note(env: Mapping[str, str]) -> str:
    """Which server settings are present, without any of their values."""
    auth = ", ".join(f"{k} {'set' if env.get(k) else 'not set'}" for k in AUTH_ENV)
    return f"{SERVER_ENV} is set; {auth}"


@dataclasses.dataclass(frozen=True)
class PathSelection:
    """The session's test paths this checkout has, and the ones it lacks."""

    found: Tuple[str, ...]
    missing: Tuple[str, ...]


def select_paths(sdk: Path, patterns: Iterable[str]) -> PathSelection:
    """Expand the guide's paths (globs too) against `sdk`; relative, sorted, no duplicates."""
    found: List[str] = []
    missing: List[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            hits = sorted(Path(p).relative_to(sdk).as_posix() for p in glob.glob(str(sdk / pattern)))
            hits = [h for h in hits if "__pycache__" not in h and not h.endswith(".pyc")]
        else:
            hits = [pattern] if (sdk / pattern).exists() else []
        if not hits:
            missing.append(pattern)
        found.extend(h for h in hits if h not in found)
    return PathSelection(tuple(found), tuple(missing))


def check_sessions(sessions: Sequence[str]) -> None:
    """ConfigError for a session name the noxfile does not define (checked before any work)."""
    unknown = [s for s in sessions if re.sub(r"-\d+\.\d+$", "", s) not in ALL_SESSIONS]
    if unknown:
        raise ConfigError(f"unknown test session(s): {', '.join(unknown)}",
                          f"choose from {', '.join(ALL_SESSIONS)}")

