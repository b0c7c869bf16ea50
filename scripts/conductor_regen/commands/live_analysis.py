"""The live SDK's analysis, run while the generator runs: its environment, its parses, its griffe load.

None of it depends on the new tree, and the live tree does not change before the swap (the run holds
the lock and writes only to staging), so it is computed in a worker thread as soon as the run knows it
will generate, instead of after the confirmation. The generator is a JVM subprocess, so the main thread
mostly waits meanwhile. Results are taken where the steps always were (`SDK environment`, compare APIs),
so the step log and the report read the same as before; an error is raised there too, as before.
The live tree's own import failures (the gate's baseline) are found only when the gate needs them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import griffe

from conductor_regen.commands.gate import Environment, sdk_environment
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.models import load_package
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.checkout.target import SdkTarget

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveFacts:
    """What the steps take from the live tree's analysis."""

    old_package: Optional[griffe.Module] = None  # the live http/ as griffe reads it, for compare APIs


def _live_facts(target: SdkTarget, stop: threading.Event) -> LiveFacts:
    # Warm the run's code index with the live package: assembly reads most of it (keep-removed, the
    # reference and binding checks, carried edits), and its unchanged files are staged with the same bytes.
    index = current_index()
    for path in sorted(target.package_dir.rglob("*.py")):
        if stop.is_set():
            return LiveFacts()  # the run ended early (an error): no need to finish
        if "__pycache__" not in path.parts:
            try:
                index.ast_of(index.read(path), str(path))
            except (OSError, SyntaxError, ValueError):
                continue  # the steps that read it report it
    return LiveFacts(old_package=_live_package(target))


def _live_package(target: SdkTarget) -> Optional[griffe.Module]:
    """The live client loaded by griffe (compare APIs loads it itself when this is None)."""
    if not (target.http_dir / "api").is_dir():
        return None
    try:
        return load_package(target.http_dir)
    except VerificationError:
        return None  # compare APIs meets the same error in its own step


class LiveAnalysis:
    """A worker finding the SDK's environment, then computing `LiveFacts`; `close()` waits for it."""

    def __init__(self, target: SdkTarget, settings: Settings) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-analysis")
        # One worker, so the environment (which the staged import check waits for) comes first.
        self._environment: Future[Environment] = self._pool.submit(sdk_environment, target, settings)
        self._stop = threading.Event()
        self._future: Future[LiveFacts] = self._pool.submit(_live_facts, target, self._stop)

    def environment(self) -> Environment:
        """The SDK's interpreter, or why it could not be built (asked where the step always was)."""
        return self._environment.result()

    def old_package(self) -> Optional[griffe.Module]:
        """The live client for compare APIs, when the worker loaded it (else None: the step loads it)."""
        try:
            return self._future.result().old_package
        except Exception:  # noqa: BLE001 - the step that needs it loads it itself
            return None

    def close(self) -> None:
        """Stop the worker early and wait for it."""
        self._stop.set()
        self._environment.cancel()
        self._future.cancel()
        self._pool.shutdown(wait=True)
