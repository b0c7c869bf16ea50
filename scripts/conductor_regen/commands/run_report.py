"""A run's report: its fields, where it is filed, and where the user finds it."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional

from conductor_regen.commands.plan import RegenOptions
from conductor_regen.commands.report import Report, ReportDraft
from conductor_regen.config import Settings
from conductor_regen.generator.pipeline import PreparedSpec
from conductor_regen.generator.provenance import Provenance
from conductor_regen.checkout.backups import Backup, BackupOutcome, attach, retain_runs, set_outcome
from conductor_regen.checkout.target import SdkTarget


def spec_info(spec: PreparedSpec) -> Dict[str, str]:
    """The spec fields of a run's report (the source with any credentials dropped)."""
    from conductor_regen.generator.provenance import public_source

    return {"source": public_source(spec.loaded.source), "sha256": spec.loaded.sha256,
            "version": spec.loaded.version}


def describe_provenance(draft: ReportDraft, prov: Optional[Provenance], fallback_source: str) -> None:
    """Fill a draft's spec, generator and fixups from recorded provenance (none: just where the tree came from)."""
    if prov is None:
        draft.spec = {"source": fallback_source}
        return
    draft.spec = {"source": prov.spec_source, "sha256": prov.spec_sha256, "version": prov.spec_version}
    draft.generator = {"backend": prov.generator_backend, "version": prov.generator_version}
    draft.fixups = tuple(prov.fixups)


def keep_report(report: Report, backup: Backup, outcome: BackupOutcome, options: RegenOptions,
                settings: Settings) -> None:
    """File the report in the run's backup folder (and at --report), then apply the retention."""
    attach(backup, "report.json", report.to_json().encode())
    attach(backup, "report.md", report.to_markdown().encode())
    set_outcome(backup, outcome)
    if options.report_path:
        write_report(report, options.report_path)
    retain_runs(settings.backups_dir, backup.path.parent.name, settings.backups_keep,
                Path(backup.sdk_root) if backup.sdk_root else None)


def write_report(report: Report, path: Path) -> None:
    """Write the JSON report to `path` and the Markdown beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json(), encoding="utf-8")
    path.with_suffix(".md").write_text(report.to_markdown(), encoding="utf-8")


def report_file(report: Report, settings: Settings, target: SdkTarget, wanted: Optional[Path] = None) -> Path:
    """Where a finished run's Markdown report is: --report, else the run's backup, else the cache (written now)."""
    from conductor_regen.checkout.backups import get_backup

    if wanted is not None:
        if report.backup_id is None:  # a run that swapped has filed --report already
            write_report(report, wanted)
        return wanted.with_suffix(".md")
    if report.backup_id is not None:
        return get_backup(settings.backups_dir, target.name, report.backup_id).path / "report.md"
    path = settings.cache_dir / "reports" / f"{target.name}-{report.outcome}.json"
    write_report(report, path)
    return path.with_suffix(".md")


STDOUT = "-"  # `--report -`: the JSON report on stdout


@contextmanager
def report_destination(wanted: Optional[str], settings: Settings) -> Iterator[Optional[Path]]:
    """Where a run files its JSON report: `--report PATH`, or for `--report -` a scratch file whose JSON is
    written to stdout when the command ends (a failed run's report too, once the run has filed one)."""
    if wanted != STDOUT:
        yield Path(wanted) if wanted else None
        return
    scratch = settings.cache_dir / "reports" / f"stdout-{os.getpid()}.json"
    scratch.unlink(missing_ok=True)  # an earlier process's, with this pid
    try:
        yield scratch
    finally:
        if scratch.is_file():
            sys.stdout.write(scratch.read_text(encoding="utf-8"))
            sys.stdout.flush()
        for path in (scratch, scratch.with_suffix(".md")):
            path.unlink(missing_ok=True)
