"""A run's report: its fields, where it is filed, and where the user finds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from conductor_regen.app.plan import RegenOptions
from conductor_regen.app.report import Report
from conductor_regen.config import Settings
from conductor_regen.generator.pipeline import PreparedSpec
from conductor_regen.generator.provenance import Provenance
from conductor_regen.sdk.backups import Backup, attach, retain_runs, set_outcome
from conductor_regen.sdk.target import SdkTarget


def spec_info(spec: PreparedSpec) -> Dict[str, str]:
    """The spec fields of a run's report (the source with any credentials dropped)."""
    from conductor_regen.generator.provenance import public_source

    return {"source": public_source(spec.loaded.source), "sha256": spec.loaded.sha256,
            "version": spec.loaded.version}


def base_from(options: RegenOptions, target: SdkTarget, prov: Optional[Provenance],
              fallback_source: str) -> Dict[str, Any]:
    """Report fields for a run whose tree comes from recorded provenance rather than a spec."""
    return dict(
        command=options.command, sdk=str(target.root),
        spec={"source": prov.spec_source, "sha256": prov.spec_sha256, "version": prov.spec_version}
        if prov else {"source": fallback_source},
        generator={"backend": prov.generator_backend, "version": prov.generator_version} if prov else {},
        fixups=prov.fixups if prov else ())


def notes_of(base: Mapping[str, object]) -> Tuple[str, ...]:
    """The notes collected so far for a run's report."""
    notes = base.get("notes", ())
    return tuple(str(n) for n in notes) if isinstance(notes, (tuple, list)) else ()


def keep_report(report: Report, backup: Backup, outcome: str, options: RegenOptions, settings: Settings) -> None:
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
    from conductor_regen.sdk.backups import get_backup

    if wanted is not None:
        if report.backup_id is None:  # a run that swapped has filed --report already
            write_report(report, wanted)
        return wanted.with_suffix(".md")
    if report.backup_id is not None:
        return get_backup(settings.backups_dir, target.name, report.backup_id).path / "report.md"
    path = settings.cache_dir / "reports" / f"{target.name}-{report.outcome}.json"
    write_report(report, path)
    return path.with_suffix(".md")
