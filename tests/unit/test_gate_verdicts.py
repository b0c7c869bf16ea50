"""A failed session is "pre-existing" only when every one of its failures failed on the pristine tree too.

One failure the pristine tree had and one it did not make the session "new": it blocks the gate and the
run rolls back. The verdict rule (`results.with_baseline`, `matrix_passed`), the judge the gate uses
(`verdicts.judge_against`) with the pristine tree's failures already in its cache, and the gate's
(ok, rows) with the matrix run stood in for: no nox, no pristine run.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

from conductor_regen.matrix import runner
from conductor_regen.matrix.pristine import Pristine
from conductor_regen.verdict_cache import store
from conductor_regen.matrix.results import NEW, PREEXISTING, SessionResult, matrix_passed, with_baseline
from conductor_regen.matrix.verdicts import KIND, judge_against

OLD = ("tests.unit.test_known::test_was_already_broken", "AssertionError: known bug")
FRESH = ("tests.unit.test_secret::test_get_secret", "AssertionError: not the secret")
BASELINE = {"async_unit-3.12": [list(OLD)]}  # what failed on the pristine tree, as the cache keeps it


def failed(*failures: Tuple[str, str]) -> SessionResult:
    """A failed async_unit-3.12 run with these JUnit failures, the first one shown."""
    return SessionResult("async_unit", "3.12", "failed", passed=5, failed=len(failures), failures=failures,
                         first_failure=failures[0][0], message=failures[0][1])


def judged(*failures: Tuple[str, str]) -> SessionResult:
    (result,) = with_baseline([failed(*failures)], BASELINE, "backup b")
    return result


# --- the verdict rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("order", [(OLD, FRESH), (FRESH, OLD)], ids=["old-first", "new-first"])
def test_one_old_and_one_new_failure_is_new(order: Sequence[Tuple[str, str]]) -> None:
    result = judged(*order)
    assert (result.verdict, result.preexisting, result.blocking) == (NEW, 1, True)


def test_such_a_session_fails_the_matrix() -> None:
    assert not matrix_passed([judged(OLD, FRESH)])


def test_its_detail_counts_both_and_shows_the_new_failure() -> None:
    assert judged(OLD, FRESH).detail == ("1 new, 1 pre-existing (vs backup b): "
                                         f"FAILED {FRESH[0]}: {FRESH[1]}")


def test_only_old_failures_are_pre_existing_and_pass() -> None:
    result = judged(OLD)
    assert (result.verdict, result.preexisting, result.blocking) == (PREEXISTING, 1, False)
    assert matrix_passed([result])


# --- the judge and the gate ------------------------------------------------------------------------------

def cached_judge(tmp_path: Path) -> runner.Judge:
    """judge_against with the pristine tree's failures already cached (nothing to run)."""
    pristine = Pristine(source="backup b", fingerprint="f" * 64)
    store(tmp_path, KIND, pristine.fingerprint, "async_unit-3.12", BASELINE["async_unit-3.12"])
    return judge_against(lambda: pristine, cache_dir=tmp_path)


def test_the_judge_calls_a_mixed_session_new(tmp_path: Path) -> None:
    (result,) = cached_judge(tmp_path)([failed(OLD, FRESH)])
    assert (result.verdict, result.blocking) == (NEW, True)


def test_the_gate_fails_on_a_mixed_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def matrix(*_args: object, **_kwargs: object) -> List[SessionResult]:
        return [failed(OLD, FRESH)]

    monkeypatch.setattr(runner, "run_matrix", matrix)
    ok, rows = runner.gate(tmp_path, ("async_unit",), ("3.12",), judge=cached_judge(tmp_path / "cache"))
    assert ok is False
    assert [(r["result"], r["verdict"]) for r in rows] == [("failed", NEW)]


# Moved from tests/e2e/test_verdicts.py: pure logic, no nox.

PY = "3.11"  # a session's label only

def test_with_baseline_judges_sessions_that_left_no_test_ids() -> None:
    crashed = SessionResult("async_unit", PY, "failed", message="install failed")
    other = SessionResult("serdeser", PY, "failed", message="install failed")
    judged = with_baseline([crashed, other], {f"async_unit-{PY}": [f"session async_unit-{PY}"],
                                                 f"serdeser-{PY}": []}, "backup b")
    assert [(r.verdict, r.blocking) for r in judged] == [("pre-existing", False), ("new", True)]


def test_a_new_module_that_fails_to_import_the_pristine_way_is_pre_existing() -> None:
    """Python 3.9 and conductor-python 1.2.2: every module importing typing.Self fails, new adapter tests too."""
    self_error = "ImportError: cannot import name 'Self' from 'typing'"
    before = {f"async_unit-{PY}": [["tests.unit.orkes.test_async_workflow_client", self_error]]}

    def judged(*failures: tuple[str, str]) -> SessionResult:
        result = SessionResult("async_unit", PY, "failed", failed=len(failures), failures=failures,
                                  first_failure=failures[0][0], message=failures[0][1])
        (out,) = with_baseline([result], before, "backup b")
        return out

    same_cause = judged(("tests.unit.orkes.test_async_workflow_client", self_error),
                        ("tests.unit.orkes.test_async_human_task_api_adapter", self_error))  # added by the run
    assert (same_cause.verdict, same_cause.preexisting) == ("pre-existing", 2)
    other_cause = judged(("tests.unit.orkes.test_async_human_task_api_adapter", "ImportError: no module x"))
    assert other_cause.verdict == "new"
    a_test_not_a_module = judged(("tests.unit.orkes.test_async_x::test_y", self_error))
    assert a_test_not_a_module.verdict == "new"
    assert a_test_not_a_module.detail.startswith("1 new, 0 pre-existing (vs backup b): FAILED tests.unit")
