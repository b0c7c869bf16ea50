"""Scratch folders in the cache for one command run, and the sweep that removes those of killed runs."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import List

log = logging.getLogger(__name__)

# Every command that needs scratch space in the cache names it <kind>-<pid>-<random>, so a later
# run can tell a folder whose owner is gone (kill -9 skips `finally`) from one still in use.
KINDS = ("regen", "diff", "detect-edits")
_NAME = re.compile(r"^(?:%s)-(\d+)-" % "|".join(re.escape(k) for k in KINDS))


def new_work_dir(cache_dir: Path, kind: str) -> Path:
    """Create a scratch folder for this process in `cache_dir`, after sweeping killed runs' folders."""
    if kind not in KINDS:
        raise ValueError(f"unknown work folder kind {kind!r}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    sweep_work_dirs(cache_dir)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=cache_dir))


def sweep_work_dirs(cache_dir: Path) -> List[str]:
    """Remove work folders of runs that died (kill -9 skips their `finally`); live runs' are left alone."""
    from conductor_regen.checkout.lock import pid_alive

    removed: List[str] = []
    for folder in sorted(cache_dir.iterdir()) if cache_dir.is_dir() else []:
        if not folder.name.startswith(tuple(f"{k}-" for k in KINDS)) or not folder.is_dir():
            continue
        match = _NAME.match(folder.name)
        if match and pid_alive(int(match.group(1))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    if removed:
        log.info("removed work folder(s) of interrupted runs: %s", ", ".join(removed))
    return removed
