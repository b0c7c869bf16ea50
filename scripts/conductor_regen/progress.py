"""Step timing: each step of a run is recorded (name, status, seconds) and logged as it ends."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Literal

log = logging.getLogger("conductor_regen.progress")

# Test hook, never set in normal use: a comma-separated list of points ("<step name>" as a step
# starts, "committed" once a run has filed its success) where the process writes "<pid>\n<point>\n"
# to REGEN_TEST_PAUSE_MARKER (default: ./.regen-test-paused) and waits until that file is deleted
# (or a signal ends the wait), so tests can signal a real run at a chosen point. Each point pauses
# once per process.
PAUSE_AT_ENV = "REGEN_TEST_PAUSE_AT"
PAUSE_MARKER_ENV = "REGEN_TEST_PAUSE_MARKER"


def pause_for_test(point: str) -> None:
    """Wait at `point` if the test hook names it (see PAUSE_AT_ENV); a no-op otherwise."""
    points = [p.strip() for p in os.environ.get(PAUSE_AT_ENV, "").split(",")]
    if point not in points:
        return
    points.remove(point)
    os.environ[PAUSE_AT_ENV] = ",".join(points)  # once per process
    marker = Path(os.environ.get(PAUSE_MARKER_ENV) or ".regen-test-paused")
    temp = marker.with_name(marker.name + ".tmp")
    temp.write_text(f"{os.getpid()}\n{point}\n")
    os.replace(temp, marker)
    while marker.exists():
        time.sleep(0.02)


# A step is running until it ends ok or failed; a step the run did not need is skipped.
StepStatus = Literal["ok", "skipped", "failed", "running"]


@dataclasses.dataclass
class StepResult:
    """One step's outcome, as it appears in the report."""

    name: str
    status: StepStatus = "running"
    seconds: float = 0.0
    detail: str = ""


@dataclasses.dataclass
class StepLog:
    """Ordered record of the steps of one run."""

    steps: List[StepResult] = dataclasses.field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[StepResult]:
        """Time a step; the body may set `.detail` or `.status = "skipped"`."""
        result = StepResult(name)
        self.steps.append(result)
        log.debug("▸ %s ...", name)  # quiet by default: one line per step, when it ends
        start = time.perf_counter()
        try:
            pause_for_test(name)
            yield result
        except BaseException:
            result.status = "failed"
            raise
        else:
            if result.status == "running":
                result.status = "ok"
        finally:
            result.seconds = round(time.perf_counter() - start, 2)
            tail = f" — {result.detail}" if result.detail else ""
            log.info("  %s %s (%.1fs)%s", _MARK.get(result.status, "?"), name, result.seconds, tail)

    def skip(self, name: str, why: str) -> None:
        """Record a step that did not need to run."""
        self.steps.append(StepResult(name, "skipped", 0.0, why))
        log.info("  - %s skipped — %s", name, why)


_MARK: Dict[StepStatus, str] = {"ok": "✓", "skipped": "-", "failed": "✗"}
