"""The live SDK's analysis, run while the generator runs: its environment, its baseline import failures, its parses.

None of it depends on the new tree, and the live tree does not change before the swap (the run holds
the lock and writes only to staging), so it is computed in a worker thread as soon as the run knows it
will generate, instead of after the confirmation. The generator is a JVM subprocess and the import
checks are child interpreters, so the thread mostly waits on processes, as the main thread does.
Results are taken where the steps always were (`SDK environment`, `back up`), so the step log and the
report read the same as before; an error is raised there too, as before.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional, Tuple

import griffe

from conductor_regen.app.gate import Environment, import_failures, sdk_environment
from conductor_regen.client.code_index import current_index
from conductor_regen.client.models import load_package
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.sdk.target import SdkTarget

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveFacts:
    """The SDK interpreter (or why it could not be built) and the live tree's import failures in it."""

    environment: Environment
    baseline: Tuple[Tuple[str, str], ...]
    baseline_error: Optional[BaseException] = None  # raised in the `back up` step, where it was found before
    old_package: Optional[griffe.Module] = None  # the live http/ as griffe reads it, for compare APIs


def _live_facts(target: SdkTarget, settings: Settings) -> LiveFacts:
    environment = sdk_environment(target, settings)
    python = environment[0]
    try:
        baseline = import_failures(target, settings.import_timeout, str(python) if python else None)
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which raises it in its step
        return LiveFacts(environment, (), exc)
    # Warm the run's code index with the live package: assembly reads most of it (keep-removed, the
    # reference and binding checks, carried edits), and its unchanged files are staged with the same bytes.
    index = current_index()
    for path in sorted(target.package_dir.rglob("*.py")):
        if "__pycache__" not in path.parts:
            try:
                index.ast_of(index.read(path), str(path))
            except (OSError, SyntaxError, ValueError):
                continue  # the steps that read it report it
    return LiveFacts(environment, baseline, old_package=_live_package(target))


def _live_package(target: SdkTarget) -> Optional[griffe.Module]:
    """The live client loaded by griffe (compare APIs loads it itself when this is None)."""
    if not (target.http_dir / "api").is_dir():
        return None
    try:
        return load_package(target.http_dir)
    except VerificationError:
        return None  # compare APIs meets the same error in its own step


class LiveAnalysis:
    """A worker computing `LiveFacts` from construction; `facts()` waits for them, `close()` for the worker."""

    def __init__(self, target: SdkTarget, settings: Settings) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-analysis")
        self._future: Future[LiveFacts] = self._pool.submit(_live_facts, target, settings)

    def facts(self) -> LiveFacts:
        """The facts (an error in the worker is raised here, where the step that needs them runs)."""
        return self._future.result()

    def old_package(self) -> Optional[griffe.Module]:
        """The live client for compare APIs, when the worker loaded it (else None: the step loads it)."""
        try:
            return self.facts().old_package
        except Exception:  # noqa: BLE001 - the step that needs the failed part raises it
            return None

    def close(self) -> None:
        """Wait for the worker (its child interpreters finish within the import timeout)."""
        self._future.cancel()
        self._pool.shutdown(wait=True)
