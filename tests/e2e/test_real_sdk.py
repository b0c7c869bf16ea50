"""The real thing: conductor-python 1.2.2 (the PyPI sdist) regenerated from the real Orkes spec.

One `invoke regenerate` run (module fixture) is shared by every assertion: it must succeed, leave a
tree whose every async-client module imports (apart from those that already failed the same way on
the pristine copy: this environment lacks prometheus_client, dacite, shortuuid, ...), whose Orkes
clients' calls all resolve, whose report names what was kept, pinned and added, and which
`invoke restore` puts back byte for byte.

Skipped when PyPI is unreachable (the sdist is downloaded once per session with pip) or when
../shared/specs/orkes-conductor-api-v2.json is absent. Runtime: about a minute.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from support.sdk_copies import (
    PACKAGE,
    RUN_DEBRIS,
    CliResult,
    Digest,
    backup_dirs,
    cli_env,
    diff,
    extract,
    git,
    manifest,
    pkg,
    run_cli,
    sdk_digest,
)
from support.paths import REAL_SPEC, REPO
from test_contract_session import LAST_LINE

from conductor_regen.analysis.operations import operation_key, read_client_operations
from conductor_regen.analysis.references import check_references
from conductor_regen.generator.verify import ImportCheck, import_all

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # runs the real generator on the real SDK

SDIST = "conductor-python==1.2.2"
ASYNC_CLIENT = "conductor.asyncio_client"

# Operations whose generated name the real spec would shift (docs/compatibility.md), with the name
# the SDK's Orkes clients call and that pinning must keep.
PINNED = {
    ("GET", "/workflow/search"): ("WorkflowResourceApi", "search"),
    ("GET", "/tasks/search"): ("TaskResourceApi", "search1"),
    ("GET", "/metadata/workflow/{name}"): ("MetadataResourceApi", "get"),
}
# Gone from the real spec, still used by the 1.2.2 SDK: the keep policy retains them.
KEPT = ("MetricsResourceApi", "MetricsTokenResourceApi", "MetricsToken")


def _no_pycache(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("__pycache__"))


@pytest.fixture(scope="session")
def sdk_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conductor-python 1.2.2 as published (sdist, downloaded once per session), extracted."""
    if not REAL_SPEC.is_file():
        pytest.skip(f"the real Orkes spec is not at {REAL_SPEC}")
    cache = tmp_path_factory.mktemp("sdist")
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                               "--disable-pip-version-check", SDIST, "-d", str(cache)],
                              capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download {SDIST} timed out (PyPI unreachable?)")
    archives = sorted(cache.glob("conductor_python-1.2.2.tar.gz")) + sorted(cache.glob("conductor-python-1.2.2.tar.gz"))
    if done.returncode != 0 or not archives:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"could not download the {SDIST} sdist (PyPI unreachable?): {tail}")
    out = cache / "extracted"
    extract(archives[0], out)
    [top] = [p for p in out.iterdir() if p.is_dir()]
    assert (top / PACKAGE / "http" / "api").is_dir(), f"unexpected sdist layout: {sorted(out.rglob('*'))[:20]}"
    return top


@dataclasses.dataclass
class RealRun:
    root: Path  # the regenerated checkout
    pristine: Path  # an untouched copy of the sdist tree
    backups: Path
    cache: Path
    result: CliResult
    report: Dict[str, Any]
    seconds: float
    baseline: ImportCheck  # import_all on the pristine copy
    before: Digest  # sdk_digest of the checkout before the run


@pytest.fixture(scope="module")
def real_run(sdk_sdist: Path, generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    """Regenerate a committed copy of the 1.2.2 sdist from the real spec, once for this module (with the
    session's generator cache: what is asserted here holds whether or not the generator ran)."""
    import time

    base = tmp_path_factory.mktemp("real-sdk")
    root = base / "conductor-python"
    pristine = base / "pristine"
    for dest in (root, pristine):
        shutil.copytree(sdk_sdist, dest)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "conductor-python 1.2.2 sdist")
    before = sdk_digest(root)
    assert sdk_digest(pristine) == before

    # What imports on the untouched tree (in a fresh interpreter, no bytecode written).
    baseline = import_all([pristine / "src"], [ASYNC_CLIENT])
    assert baseline.modules > 300, baseline
    assert _no_pycache(pristine) == []

    backups, cache = base / "backups", generator_cache
    report_path = base / "r.json"
    started = time.monotonic()
    result = run_cli("regenerate", "--sdk", str(root), "--spec", str(REAL_SPEC), "--skip-tests", "--yes",
                     "--report", str(report_path), env=cli_env(backups, cache), timeout=600)
    seconds = time.monotonic() - started
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    yield RealRun(root, pristine, backups, cache, result, report, seconds, baseline, before)


def test_regenerate_succeeds(real_run: RealRun) -> None:
    r = real_run.result
    assert r.code == 0, r
    assert r.error_lines() == [] and "Traceback" not in r.output, r
    assert real_run.report["outcome"] == "succeeded", real_run.report.get("error")
    assert real_run.report["spec"]["version"] == "v2"
    status = {s["name"]: s["status"] for s in real_run.report["steps"]}
    assert status["swap"] == status["import gate"] == "ok", status
    assert status["tests"] == "skipped", status
    assert set(real_run.report["fixups"]) >= {"strip-path-prefix", "define-path-parameters",
                                              "drop-array-properties"}
    root = real_run.root
    assert [p.name for p in pkg(root).iterdir() if p.name in RUN_DEBRIS] == []
    [backup] = backup_dirs(real_run.backups, root.name)
    assert manifest(backup)["outcome"] == "succeeded"
    assert real_run.report["backup_id"] == backup.name
    # The run changed only the managed folders (the SDK's pyproject, README, other packages: untouched).
    added, removed, changed = diff(real_run.before, sdk_digest(root))
    for path in added + removed + changed:
        assert any(path.startswith(f"{PACKAGE}/{n}/") for n in ("http", "adapters", "orkes")), path
    assert changed and f"{PACKAGE}/http/.regen-provenance.json" in added


def test_every_module_imports_except_those_that_failed_before(real_run: RealRun) -> None:
    assert real_run.result.code == 0, real_run.result
    after = import_all([real_run.root / "src"], [ASYNC_CLIENT])
    before_failures = dict(real_run.baseline.failures)
    new_failures = [(m, e) for m, e in after.failures if before_failures.get(m) != e]
    assert new_failures == [], new_failures
    # The new client has more modules (new APIs and models, their adapters) and lost none.
    assert after.modules > real_run.baseline.modules, (after.modules, real_run.baseline.modules)
    # Only third-party packages this environment lacks explain the old failures.
    for module, error in real_run.baseline.failures:
        assert error.startswith("ModuleNotFoundError: No module named"), (module, error)
        assert f"'{ASYNC_CLIENT.split('.')[0]}" not in error, (module, error)
    assert _no_pycache(real_run.root) == []


def test_every_orkes_client_call_resolves(real_run: RealRun, tmp_path: Path) -> None:
    assert real_run.result.code == 0, real_run.result
    live = pkg(real_run.root)
    assert check_references(live, live) == ()
    # The check is not vacuous on this tree: hide one method the Orkes workflow client calls.
    staged = tmp_path / "staged"
    shutil.copytree(live / "http", staged / "http")
    api = staged / "http" / "api" / "workflow_resource_api.py"
    text = api.read_text()
    assert text.count("    async def search(") == 1
    api.write_text(text.replace("    async def search(", "    async def search_hidden("))
    problems = check_references(staged, live)
    assert problems and any("orkes_workflow_client.py" in p and "search" in p for p in problems), problems


def test_removed_but_used_code_is_kept_and_reported(real_run: RealRun) -> None:
    assert real_run.result.code == 0, real_run.result
    notes = real_run.report["notes"]
    for name in KEPT:
        assert any(f"({name})" in n and n.startswith("kept removed") for n in notes), (name, notes)
    http = pkg(real_run.root) / "http"
    assert (http / "api" / "metrics_resource_api.py").is_file()
    assert (http / "api" / "metrics_token_resource_api.py").is_file()
    assert (http / "models" / "metrics_token.py").is_file()
    exports = (http / "api" / "__init__.py").read_text()
    assert "import MetricsResourceApi" in exports and "import MetricsTokenResourceApi" in exports


def test_shifted_method_names_are_pinned_and_reported(real_run: RealRun) -> None:
    assert real_run.result.code == 0, real_run.result
    notes = real_run.report["notes"]
    new_ops = read_client_operations(pkg(real_run.root) / "http")
    old_ops = read_client_operations(pkg(real_run.pristine) / "http")
    for (method, path), (cls, name) in PINNED.items():
        key = operation_key(method, path)
        assert (old_ops[key].class_name, old_ops[key].name) == (cls, name)
        assert (new_ops[key].class_name, new_ops[key].name) == (cls, name), new_ops[key]
        assert any(n.startswith(f"{method} {path}: operationId ") and n.endswith(f"(keeps {cls}.{name})")
                   for n in notes), (method, path, [n for n in notes if path in n])
    # Every operation the old client had keeps its Python name (and is not reported as renamed).
    renamed = [(k, old_ops[k].qualified_name, new_ops[k].qualified_name) for k in old_ops
               if k in new_ops and new_ops[k].name != old_ops[k].name]
    assert renamed == []
    assert not [c for c in real_run.report["changes"] if c["kind"] == "operation-renamed"]


def test_new_apis_are_reported_and_scaffolded(real_run: RealRun) -> None:
    assert real_run.result.code == 0, real_run.result
    added = {c["operation"] for c in real_run.report["changes"] if c["kind"] == "api-added"}
    assert {"HumanTaskApi", "HumanTaskResourceApi"} <= added, added
    assert all(c["severity"] == "compatible" for c in real_run.report["changes"] if c["kind"] == "api-added")
    human = [c for c in real_run.report["changes"]
             if c["kind"] == "operation-added" and c["operation"].startswith("POST /human/tasks/search")]
    assert human, "POST /human/tasks/search should be an added operation"
    live = pkg(real_run.root)
    assert (live / "http" / "api" / "human_task_api.py").is_file()
    base_client = (live / "orkes" / "orkes_base_client.py").read_text()
    assert re.search(r"self\.human_task_api = HumanTaskApiAdapter\(", base_client), "not wired"


def test_no_resource_path_starts_with_api(real_run: RealRun) -> None:
    assert real_run.result.code == 0, real_run.result
    http = pkg(real_run.root) / "http"
    ops = read_client_operations(http)
    assert len(ops) > 250
    assert [k for k in ops if k[1].startswith("/api")] == []
    offenders: List[Tuple[str, str]] = []
    for file in sorted((http / "api").glob("*.py")):
        offenders += [(file.name, m) for m in re.findall(r"resource_path=['\"](/api[^'\"]*)", file.read_text())]
    assert offenders == []
    assert not [c for c in real_run.report["changes"] if c["kind"] == "convention-changed"]




def _contract(sdk: Path, junit: Path, envdir: Path, *args: str) -> Tuple[subprocess.CompletedProcess[str], float]:
    import time

    reuse = ["-R"] if envdir.is_dir() and any(envdir.iterdir()) else []
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"),
                           "--envdir", str(envdir), *reuse, "-s", "contract", "--", "--sdk", str(sdk),
                           "--junit-dir", str(junit), *args],
                          cwd=envdir.parent, capture_output=True, text=True, timeout=600, check=False)
    return proc, time.monotonic() - started


def test_request_contract_on_the_regenerated_sdk(real_run: RealRun, tmp_path: Path) -> None:
    """Every Orkes client method against a mock of the real spec: nothing new fails, a wrong path is named."""
    envdir = tmp_path / "nox"
    # The baseline: the pristine tree's committed client against the same (new) spec.
    pristine, _ = _contract(real_run.pristine, tmp_path / "pristine", envdir, "--spec", str(REAL_SPEC))
    baseline = tmp_path / "pristine" / "contract.xml"
    assert baseline.is_file(), pristine.stdout[-2000:] + pristine.stderr[-2000:]
    # The regenerated tree: the spec comes from its provenance.
    proc, _ = _contract(real_run.root, tmp_path / "regen", envdir, "--baseline", str(baseline))
    exercised, total, valid, kept, new = (int(x) for x in LAST_LINE.findall(proc.stdout)[-1])
    assert total >= 250 and exercised >= 0.9 * total and valid >= 0.9 * total and kept >= 200
    # The spec's new response body changes what execute_workflow returns (SignalResponse): new failures.
    # update_task_sync returns a Workflow where it promises str on both trees; the pristine one raised on
    # the mock's priority (le=99 in the old model) before returning, so its return was never seen: not new.
    assert proc.returncode != 0 and new == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(re.findall(r"^new (\S+): wrong return type: ", proc.stdout, re.M)) == {
        "OrkesWorkflowClient.execute_workflow", "OrkesWorkflowClient.execute_workflow_with_return_strategy"}, \
        proc.stdout[-3000:]
    # jump_to_task and record_event_stats keep their committed signatures: their requests are spec-valid.
    for method in ("OrkesWorkflowClient.jump_to_task", "OrkesIntegrationClient.record_event_stats"):
        assert f"{method}:" not in proc.stdout
    # One API's resource paths pointing at /api/api/...: non-zero, and the API is named.
    broken = tmp_path / "broken"
    shutil.copytree(real_run.root, broken, ignore=shutil.ignore_patterns(".git"))
    api = broken / PACKAGE / "http" / "api" / "workflow_resource_api.py"
    api.write_text(api.read_text().replace("resource_path='/", "resource_path='/api/"))
    bad, _ = _contract(broken, tmp_path / "broken-junit", envdir, "--baseline", str(baseline))
    assert bad.returncode != 0
    assert re.search(r"^new OrkesWorkflowClient\.\w+ \[WorkflowResourceApi\]: request rejected \(unknown path\): "
                     r"\w+ /api/api/workflow", bad.stdout, re.M), bad.stdout[-3000:]
    assert int(LAST_LINE.findall(bad.stdout)[-1][4]) >= 20


def test_no_module_is_excused_for_a_missing_package_and_the_adapter_client_edit_is_carried(real_run: RealRun) -> None:
    """The import gate runs in the SDK's own environment; every API module keeps ApiClient from the adapters."""
    assert real_run.result.code == 0, real_run.result
    notes = real_run.report["notes"]
    assert [n for n in notes if "did not import" in n or "tool's environment" in n] == []
    status = {s["name"]: s["status"] for s in real_run.report["steps"]}
    assert status["SDK environment"] == "ok", status
    sources = {}
    for module in sorted((pkg(real_run.root) / "http" / "api").glob("*.py")):
        for line in module.read_text().splitlines():
            if line.startswith("from ") and " import " in line and "ApiClient" in [
                    n.strip() for n in line.split(" import ", 1)[1].split(",")]:
                sources[module.name] = line.split()[1]
    assert len(sources) > 27 and set(sources.values()) == {"conductor.asyncio_client.adapters"}, sources
    assert any(n.startswith("carried over edit: ApiClient imported from conductor.asyncio_client.adapters")
               for n in notes), notes


def test_restore_puts_the_pristine_tree_back_byte_for_byte(real_run: RealRun) -> None:
    """Last in the module: it undoes the shared run."""
    assert real_run.result.code == 0, real_run.result
    root = real_run.root
    assert _no_pycache(root) == []  # the import checks wrote no bytecode

    r = run_cli("restore", "--yes", "--sdk", str(root), env=cli_env(real_run.backups, real_run.cache))

    assert r.code == 0, r
    assert "verified against its manifest" in r.stdout, r
    # Byte for byte the sdist as extracted (bytecode included in the comparison: there is none).
    assert sdk_digest(root) == sdk_digest(real_run.pristine) == real_run.before
    assert _no_pycache(root) == [] and _no_pycache(real_run.pristine) == []
    assert git(root, "status", "--porcelain", "--ignored") == ""
    assert [manifest(b)["outcome"] for b in backup_dirs(real_run.backups, root.name)] == ["succeeded", "pre-restore"]
    # Restore again: a no-op that says so (regenerate, restore, restore is the tree before the run).
    again = run_cli("restore", "--yes", "--sdk", str(root), env=cli_env(real_run.backups, real_run.cache))
    assert again.code == 0 and "nothing to restore" in again.stdout, again
    assert sdk_digest(root) == real_run.before

