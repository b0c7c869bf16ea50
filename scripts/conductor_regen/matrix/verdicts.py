"""Baseline-aware verdicts for the test sessions: a failure counts only when the pristine tree passed.

After a session fails on the regenerated tree, the same session runs on a copy of the pristine
tree (see `pristine`), once per tree fingerprint: its failures (JUnit `classname::name` with the
first line of the message, or the session itself when it left no JUnit file) are cached under
`<cache>/baselines/`. Any
session that writes JUnit XML with stable test ids is judged the same way.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.matrix.pristine import Pristine
from conductor_regen.verdict_cache import cached, store
from conductor_regen.matrix.results import SessionResult, with_baseline
from conductor_regen.matrix.runner import Judge, run_matrix
from conductor_regen.matrix.sessions import CONTRACT_SPEC_ENV, TOOL_SESSIONS

log = logging.getLogger(__name__)

KIND = "tests-v2"  # entries are [test id, message]
# Sessions that compare with the pristine tree themselves (their exit status is already a verdict). The
# contract compares each failure's rule too, which a rerun here (by test id) could not.
JUDGED_IN_SESSION = frozenset((*TOOL_SESSIONS, "contract"))


def _key(full_name: str, pytest_args: Sequence[str], env: Optional[Mapping[str, str]] = None) -> str:
    # The contract's verdicts depend on the spec it checks against, so that spec's content is part of the key.
    spec = (env or {}).get(CONTRACT_SPEC_ENV, "")
    if spec and Path(spec).is_file():
        spec = hashlib.sha256(Path(spec).read_bytes()).hexdigest()
    return "\0".join((full_name, *pytest_args, *([f"spec={spec}"] if spec else [])))


def pristine_failures(pristine: Pristine, sessions: Sequence[str], *, cache_dir: Path,
                      pytest_args: Sequence[str] = (), envdir: Optional[Path] = None,
                      env: Optional[Mapping[str, str]] = None,
                      timeout: Optional[float] = None) -> Dict[str, List[Tuple[str, str]]]:
    """What failed in each session (full names, `async_unit-3.12`) on the pristine tree: cached, else run."""
    before: Dict[str, List[Tuple[str, str]]] = {}
    missing: List[str] = []
    for name in sessions:
        hit = cached(cache_dir, KIND, pristine.fingerprint, _key(name, pytest_args, env))
        if isinstance(hit, list):
            before[name] = [(str(i[0]), str(i[1])) for i in hit if isinstance(i, list) and len(i) == 2]
        else:
            missing.append(name)
    if not missing:
        return before
    log.info("running %s on the pristine tree (%s) to tell new failures from pre-existing ones",
             ", ".join(missing), pristine.source)
    with tempfile.TemporaryDirectory(prefix="regen-pristine-") as tmp:
        copy = pristine.materialize(Path(tmp) / "sdk")
        ran = run_matrix(copy, missing, (), pytest_args, junit_dir=Path(tmp) / "junit", envdir=envdir,
                            stream=False, env=env, timeout=timeout)
    for result in ran:
        # A skipped or passing session had no failures; one without JUnit ids is one failure.
        found = list(result.failures) or [(i, result.message) for i in result.failure_ids]
        store(cache_dir, KIND, pristine.fingerprint, _key(result.full_name, pytest_args, env),
              [list(f) for f in found])
        before[result.full_name] = found
    return before


def judge_against(find: Callable[[], Optional[Pristine]], *, cache_dir: Path, pytest_args: Sequence[str] = (),
                  envdir: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
                  timeout: Optional[float] = None) -> Judge:
    """A judge for `runner.gate` / `invoke test`: failed sessions compared with the pristine tree.

    `find` locates the pristine tree (e.g. `pristine.find_pristine`); it is called only when
    something failed. Without one the results stay unjudged (absolute).
    """

    def judge(results: List[SessionResult]) -> List[SessionResult]:
        failed = [r.full_name for r in results if r.result == "failed" and r.session not in JUDGED_IN_SESSION]
        pristine = find() if failed else None
        if pristine is None:
            return list(results)
        before = pristine_failures(pristine, failed, cache_dir=cache_dir, pytest_args=pytest_args,
                                   envdir=envdir, env=env, timeout=timeout)
        return with_baseline(results, before, pristine.source)

    return judge
