"""The live SDK's analysis, run while the generator runs: its parses and its griffe load.

None of it depends on the new tree, and the live tree does not change before the swap (the run holds
the lock and writes only to staging), so a run starts it ahead (`Ahead`, as `LIVE_ANALYSIS`, beside
`gate.SDK_ENVIRONMENT`, the SDK's environment) as soon as it knows it will generate, instead of after the
confirmation. The generator is a JVM subprocess, so the main thread mostly waits meanwhile. Results are
taken where the steps always were (`SDK environment`, compare APIs), so the step log and the report read
the same as before; an error is raised there too, as before. The live tree's own import failures (the
gate's baseline) are found only when the gate needs them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Optional

import griffe

from conductor_regen.ahead import Ahead
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.models import load_package
from conductor_regen.errors import VerificationError
from conductor_regen.checkout.target import SdkTarget

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveFacts:
    """What the steps take from the live tree's analysis."""

    old_package: Optional[griffe.Module] = None  # the live http/ as griffe reads it, for compare APIs


LIVE_ANALYSIS = "live analysis"  # its name ahead


def _live_package(target: SdkTarget) -> Optional[griffe.Module]:
    """The live client loaded by griffe (compare APIs loads it itself when this is None)."""
    if not (target.http_dir / "api").is_dir():
        return None
    try:
        return load_package(target.http_dir)
    except VerificationError:
        return None  # compare APIs meets the same error in its own step


class LiveAnalysis:
    """A step run ahead (`Ahead.start(LIVE_ANALYSIS, live.run, stop=live.stop)`) computing `LiveFacts`."""

    def __init__(self, target: SdkTarget) -> None:
        self.target = target
        self._stop = threading.Event()

    def run(self) -> LiveFacts:
        """Warm the run's code index with the live package, then load the live client with griffe."""
        # Assembly reads most of it (keep-removed, the reference and binding checks, carried edits), and its
        # unchanged files are staged with the same bytes.
        index = current_index()
        for path in sorted(self.target.package_dir.rglob("*.py")):
            if self._stop.is_set():
                return LiveFacts()  # the run ended early (an error): no need to finish
            if "__pycache__" not in path.parts:
                try:
                    index.ast_of(index.read(path), str(path))
                except (OSError, SyntaxError, ValueError):
                    continue  # the steps that read it report it
        return LiveFacts(old_package=_live_package(self.target))

    def stop(self) -> None:
        """End early (the run failed): the parses stop at the next file."""
        self._stop.set()


def live_package(ahead: Ahead) -> Optional[griffe.Module]:
    """The live client for compare APIs, when the analysis ran ahead and loaded it (else None: the step loads it)."""
    if not ahead.started(LIVE_ANALYSIS):
        return None
    try:
        facts: LiveFacts = ahead.result(LIVE_ANALYSIS)
    except Exception:  # noqa: BLE001 - the step that needs it loads it itself
        return None
    return facts.old_package
