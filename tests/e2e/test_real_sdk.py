"""The real thing: the shared SDK (../shared/sdk, conductor-python at 225f598f, release 1.2.2) and the real Orkes spec.

One committed checkout serves the whole module (a module fixture), and the tests take it in file order: a
worker runs its tests in that order, and the slow tests, first in the run, start on one worker's share (were
some stolen by another worker, that worker would make a checkout of its own):
1. `invoke diff`, which leaves the tree as it was, and the regeneration's report: "breaks SDK code" holds only
   the true breaks (`execute_workflow` now returns `SignalResponse` where `OrkesWorkflowClient.execute_workflow`
   promises a `WorkflowRunAdapter`, and three token-usage operations the server dropped that the integration
   client still calls), not the 13 false alarms of before.
2. `invoke regenerate --skip-tests --yes` (with the session's generator cache): it succeeds; every async-client
   module imports (apart from those that already failed the same way on the pristine copy: this environment
   lacks some of the SDK's packages); the Orkes clients' calls resolve and bind, reach a real HTTP server on
   the right paths, and keep the committed signatures; the report names what was kept, pinned and added.
3. The nox sessions on the regenerated tree: the response contract names the two methods whose return type
   changed (and, with one API's requests sent to `/api/api/...` in the same run, that API); lint and typecheck
   judge only a planted undefined name and the `execute_workflow` return new, and `--accept` is the recorded way
   past the return.
4. `invoke restore` puts the checkout back byte for byte (last: it undoes the run).

Skipped when ../shared is absent. Runtime: about three minutes of one core.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest
from support.paths import REAL_SDK, REAL_SPEC
from support.sdk_copies import (
    PACKAGE,
    RUN_DEBRIS,
    CliResult,
    Digest,
    backup_dirs,
    cli_env,
    diff,
    extract_real_sdk,
    git,
    manifest,
    pkg,
    real_sdk_checkout,
    run_cli,
    sdk_digest,
)
from test_contract_session import LAST_LINE as LAST
from test_noxfile_sessions import NOXFILE

from conductor_regen.analysis.operations import operation_key, read_client_operations
from conductor_regen.analysis.references import check_references
from conductor_regen.analysis.signatures import signature_of
from conductor_regen.generator.verify import ImportCheck, import_all

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # runs the real generator on the real SDK

ASYNC_CLIENT = "conductor.asyncio_client"
CLIENT = f"{PACKAGE}/orkes/orkes_workflow_client.py"

# Operations whose generated name the real spec would shift (docs/compatibility.md), with the name
# the SDK's Orkes clients call and that pinning must keep.
PINNED = {
    ("GET", "/workflow/search"): ("WorkflowResourceApi", "search"),
    ("GET", "/tasks/search"): ("TaskResourceApi", "search1"),
    ("GET", "/metadata/workflow/{name}"): ("MetadataResourceApi", "get"),
}
# Gone from the real spec, still used by the SDK: the keep policy retains them.
KEPT = ("MetricsResourceApi", "MetricsTokenResourceApi", "MetricsToken")

BREAKS = "breaks SDK code"
TRUE_BREAKS = {
    ("operation-return-changed", "POST /workflow/execute/{name}/{version}"),
    ("operation-removed", "GET /integrations/provider/{name}/integration/{integration_name}/metrics"),
    ("operation-removed", "GET /integrations/provider/{name}/metrics"),
    ("operation-removed", "POST /integrations/provider/{name}/integration/{integration_name}/metrics"),
}
CALLERS = ["OrkesIntegrationClient.get_token_usage_for_integration",
           "OrkesIntegrationClient.get_token_usage_for_integration_provider",
           "OrkesIntegrationClient.register_token_usage"]
REMOVED_LINE = "3 public methods call operations the server no longer has"

Ran = Tuple[CliResult, Dict[str, Any]]


@dataclasses.dataclass
class RealRun:
    root: Path  # the regenerated checkout
    pristine: Path  # an untouched copy of the same tree
    backups: Path
    env: Dict[str, str]  # its backups and the session's generator cache, for the CLI and the sessions
    before: Digest  # sdk_digest of the checkout before any run
    baseline: ImportCheck  # import_all on the pristine copy
    previews: Dict[str, Ran]  # "diff" and "regenerate" (the run below), each with its JSON report
    result: CliResult  # the regeneration
    report: Dict[str, Any]  # its JSON report


def _no_pycache(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("__pycache__"))


@pytest.fixture(scope="module")
def real(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    """The shared SDK, committed, previewed by diff, then regenerated from the shared spec."""
    if not (REAL_SDK.is_file() and REAL_SPEC.is_file()):
        pytest.skip(f"the shared SDK or spec is not in {REAL_SDK.parent.parent}")
    base = tmp_path_factory.mktemp("real-sdk")
    root = real_sdk_checkout(base / "run")
    pristine = extract_real_sdk(base / "pristine")
    before = sdk_digest(root)
    # What imports on the untouched tree (in a fresh interpreter, no bytecode written).
    baseline = import_all([pristine / "src"], [ASYNC_CLIENT])
    assert baseline.modules > 300, baseline
    assert _no_pycache(pristine) == []

    backups = base / "backups"
    env = cli_env(backups, generator_cache)
    # diff is the analysis of regenerate's dry run (run with dry_run=True); the fixture SDK's tests run the dry run.
    preview = base / "diff.json"
    diffed = run_cli("diff", "--sdk", str(root), "--spec", str(REAL_SPEC), "--report", str(preview), env=env,
                     timeout=900)
    assert diffed.code == 0, diffed
    assert sdk_digest(root) == before, "diff changed the checkout"

    report_path = base / "r.json"
    result = run_cli("regenerate", "--sdk", str(root), "--spec", str(REAL_SPEC), "--skip-tests", "--yes",
                     "--report", str(report_path), env=env, timeout=1200)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    previews = {"diff": (diffed, json.loads(preview.read_text(encoding="utf-8"))), "regenerate": (result, report)}
    yield RealRun(root, pristine, backups, env, before, baseline, previews, result, report)


# --- 1. the previews: what breaks SDK code --------------------------------------------------------

def _breaks(report: Dict[str, Any]) -> Set[Tuple[str, str]]:
    return {(c["kind"], c["operation"]) for c in report["changes"] if c["impact"] == BREAKS}


@pytest.mark.parametrize("command", ["diff", "regenerate"])
def test_breaks_sdk_code_holds_exactly_the_true_breaks(real: RealRun, command: str) -> None:
    _result, report = real.previews[command]
    assert _breaks(report) == TRUE_BREAKS
    assert report["summary"]["impact"][BREAKS] == len(TRUE_BREAKS)
    assert report["summary"]["removed_operation_callers"] == CALLERS
    execute = next(c for c in report["changes"] if c["kind"] == "operation-return-changed"
                   and c["operation"] == "POST /workflow/execute/{name}/{version}")
    assert (execute["old"], execute["new"]) == ("WorkflowRun", "SignalResponse")
    assert {"OrkesWorkflowClient.execute_workflow",
            "OrkesWorkflowClient.execute_workflow_with_return_strategy"} <= set(execute["methods"])
    assert "promising WorkflowRunAdapter" in execute["impact_detail"]
    assert any(w.endswith("orkes/orkes_workflow_client.py:71") for w in execute["where"])
    for change in report["changes"]:
        if change["kind"] == "operation-removed" and change["impact"] == BREAKS:
            assert "the new client keeps it (deprecated)" in change["detail"], change
            assert len(change["methods"]) == 1 and change["methods"][0] in CALLERS, change


def test_the_false_alarms_of_before_are_not_breaks(real: RealRun) -> None:
    _result, report = real.previews["diff"]
    by: Dict[str, List[Dict[str, Any]]] = {}
    for change in report["changes"]:
        by.setdefault(change["operation"], []).append(change)
    for field in ("WorkflowDef.inputTemplate", "Task.inputData", "Task.outputData", "StartWorkflowRequest.input",
                  "WorkflowTask.inputParameters", "ExtendedWorkflowDef.variables"):
        [change] = by[field]
        assert change["impact"] == "used by SDK, compatible" and " declares " in change["impact_detail"], change
    for field in ("StartWorkflowRequest.priority", "WorkflowDef.schemaVersion"):  # adapters declare plain `int`
        [change] = by[field]
        assert change["kind"] == "field-validation-dropped" and change["impact"] == "used by SDK, compatible"
    # The pattern check is gone (its validator method too), and SDK code builds that request.
    [name] = by["SaveScheduleRequest.name"]
    assert (name["kind"], name["impact"]) == ("field-validation-dropped", "used by SDK, no longer checked client-side")
    assert "pattern" in name["detail"] and "equivalent" not in name["detail"]
    assert not any("name_validate_regular_expression" in c["operation"] for c in report["changes"])
    # A renamed path parameter is one change, not a removal plus an addition.
    [renamed] = by["GET /event/execution/{event}"]
    assert (renamed["kind"], renamed["old"], renamed["new"]) == ("parameter-renamed", "event", "event_handler_name")
    assert "GET /event/execution/{eventHandlerName}" not in by


def test_the_counts_are_printed_by_diff_and_by_the_compare_step(real: RealRun) -> None:
    diffed, _ = real.previews["diff"]
    assert f"- {BREAKS}: 4\n" in diffed.stdout and f"- {REMOVED_LINE}\n" in diffed.stdout, diffed
    ran, report = real.previews["regenerate"]
    compare = next(s for s in report["steps"] if s["name"] == "compare APIs")
    assert compare["detail"].startswith(f"4 {BREAKS};") and compare["detail"].endswith(f"; {REMOVED_LINE}")
    line = next(line for line in ran.output.splitlines() if "compare APIs" in line)
    assert REMOVED_LINE in line, ran
    assert report["schema"] == "conductor-regen.report/1" and report["outcome"] == "succeeded"


# --- 2. the regeneration ----------------------------------------------------------------------------

def test_regenerate_succeeds(real: RealRun) -> None:
    r = real.result
    assert r.code == 0, r
    assert r.error_lines() == [] and "Traceback" not in r.output, r
    assert real.report["outcome"] == "succeeded", real.report.get("error")
    assert real.report["spec"]["version"] == "v2"
    status = {s["name"]: s["status"] for s in real.report["steps"]}
    assert status["swap"] == status["import gate"] == "ok", status
    assert status["tests"] == "skipped", status
    assert set(real.report["fixups"]) >= {"strip-path-prefix", "define-path-parameters", "drop-array-properties"}
    root = real.root
    assert [p.name for p in pkg(root).iterdir() if p.name in RUN_DEBRIS] == []
    [backup] = backup_dirs(real.backups, root.name)
    assert manifest(backup)["outcome"] == "succeeded"
    assert real.report["backup_id"] == backup.name
    # The run changed only the managed folders and added tests for the adapters it scaffolded (the SDK's
    # pyproject, README, own tests and other packages: untouched).
    added, removed, changed = diff(real.before, sdk_digest(root))
    scaffolded = [p for p in added if p.startswith("tests/")]
    assert scaffolded and all(re.fullmatch(r"tests/unit/orkes/test_async_\w+_adapter\.py", p) for p in scaffolded)
    for path in removed + changed + [p for p in added if p not in scaffolded]:
        assert any(path.startswith(f"{PACKAGE}/{n}/") for n in ("http", "adapters", "orkes")), path
    assert changed and f"{PACKAGE}/http/.regen-provenance.json" in added
    # The same changes as diff's, grouped by impact; none is about the generator's own parameters.
    impacts = {c["operation"]: c["impact"] for c in real.report["changes"]}
    assert impacts == {c["operation"]: c["impact"] for c in real.previews["diff"][1]["changes"]}
    assert all(impacts.values())
    assert not any("_request_timeout" in c["detail"] for c in real.report["changes"])


def test_every_module_imports_except_those_that_failed_before(real: RealRun) -> None:
    assert real.result.code == 0, real.result
    after = import_all([real.root / "src"], [ASYNC_CLIENT])
    before_failures = dict(real.baseline.failures)
    new_failures = [(m, e) for m, e in after.failures if before_failures.get(m) != e]
    assert new_failures == [], new_failures
    # The new client has more modules (new APIs and models, their adapters) and lost none.
    assert after.modules > real.baseline.modules, (after.modules, real.baseline.modules)
    # Only third-party packages this environment lacks explain the old failures.
    for module, error in real.baseline.failures:
        assert error.startswith("ModuleNotFoundError: No module named"), (module, error)
        assert f"'{ASYNC_CLIENT.split('.')[0]}" not in error, (module, error)
    assert _no_pycache(real.root) == []


def test_every_orkes_client_call_resolves(real: RealRun, tmp_path: Path) -> None:
    assert real.result.code == 0, real.result
    live = pkg(real.root)
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


def test_no_binding_findings_remain(real: RealRun) -> None:
    binding = real.report["binding"]
    assert real.report["outcome"] == "succeeded"
    assert binding["findings"] == [] and binding["calls"] > 500, binding["calls"]
    step = next(s for s in real.report["steps"] if s["name"] == "check bindings")
    assert step["status"] == "ok" and "0 finding(s)" in step["detail"]


def _signature(root: Path, module: str, name: str) -> str:
    tree = ast.parse((root / PACKAGE / "http" / "api" / f"{module}.py").read_text(encoding="utf-8"))
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == name)
    return signature_of(func, name, bound=True).text()


@pytest.mark.parametrize(("module", "name"), [("workflow_resource_api", "jump_to_task"),
                                              ("integration_resource_api", "record_event_stats")])
def test_template_parameters_keep_their_committed_signatures(real: RealRun, module: str, name: str) -> None:
    """The spec declares these template names only as query parameters: the repaired spec keeps the committed
    `jump_to_task(workflow_id, task_reference_name, request_body)`, with no `task_reference_name2`."""
    committed = _signature(real.pristine, module, name)
    assert _signature(real.root, module, name) == committed
    assert "2" not in committed


CALLS = textwrap.dedent('''
    import asyncio, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"{self.command} {self.path} {body.decode()}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    from conductor.asyncio_client.adapters import ApiClient
    from conductor.asyncio_client.adapters.models.event_log_adapter import EventLogAdapter
    from conductor.asyncio_client.configuration.configuration import Configuration
    from conductor.asyncio_client.orkes.orkes_integration_client import OrkesIntegrationClient
    from conductor.asyncio_client.orkes.orkes_workflow_client import OrkesWorkflowClient

    async def main():
        config = Configuration(server_url=f"http://127.0.0.1:{server.server_port}/api")
        async with ApiClient(config) as api_client:
            await OrkesWorkflowClient(config, api_client).jump_to_task("wf-1", "ref_7", {"x": 1})
            await OrkesIntegrationClient(config, api_client).record_event_stats("openai", [EventLogAdapter(event="e")])

    asyncio.run(main())
    server.shutdown()
    print("\\n".join(seen))
''')


def test_orkes_clients_get_past_argument_validation(real: RealRun) -> None:
    """The calls the SDK makes reach a real HTTP server on 127.0.0.1, on the right paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUCTOR_")}
    env.update(PYTHONPATH=str(real.root / "src"), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", CALLS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ['POST /api/workflow/wf-1/jump/ref_7 {"x": 1}',
                                        'POST /api/integrations/eventStats/openai [{"event": "e"}]']


def test_removed_but_used_code_is_kept_and_reported(real: RealRun) -> None:
    assert real.result.code == 0, real.result
    notes = real.report["notes"]
    for name in KEPT:
        assert any(f"({name})" in n and n.startswith("kept removed") for n in notes), (name, notes)
    http = pkg(real.root) / "http"
    assert (http / "api" / "metrics_resource_api.py").is_file()
    assert (http / "api" / "metrics_token_resource_api.py").is_file()
    assert (http / "models" / "metrics_token.py").is_file()
    exports = (http / "api" / "__init__.py").read_text()
    assert "import MetricsResourceApi" in exports and "import MetricsTokenResourceApi" in exports


def test_shifted_method_names_are_pinned_and_reported(real: RealRun) -> None:
    assert real.result.code == 0, real.result
    notes = real.report["notes"]
    new_ops = read_client_operations(pkg(real.root) / "http")
    old_ops = read_client_operations(pkg(real.pristine) / "http")
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
    assert not [c for c in real.report["changes"] if c["kind"] == "operation-renamed"]


def test_new_apis_are_reported_and_scaffolded(real: RealRun) -> None:
    assert real.result.code == 0, real.result
    added = {c["operation"] for c in real.report["changes"] if c["kind"] == "api-added"}
    assert {"HumanTaskApi", "HumanTaskResourceApi"} <= added, added
    assert all(c["severity"] == "compatible" for c in real.report["changes"] if c["kind"] == "api-added")
    human = [c for c in real.report["changes"]
             if c["kind"] == "operation-added" and c["operation"].startswith("POST /human/tasks/search")]
    assert human, "POST /human/tasks/search should be an added operation"
    live = pkg(real.root)
    assert (live / "http" / "api" / "human_task_api.py").is_file()
    base_client = (live / "orkes" / "orkes_base_client.py").read_text()
    assert re.search(r"self\.human_task_api = HumanTaskApiAdapter\(", base_client), "not wired"


def test_no_resource_path_starts_with_api(real: RealRun) -> None:
    assert real.result.code == 0, real.result
    http = pkg(real.root) / "http"
    ops = read_client_operations(http)
    assert len(ops) > 250
    assert [k for k in ops if k[1].startswith("/api")] == []
    offenders: List[Tuple[str, str]] = []
    for file in sorted((http / "api").glob("*.py")):
        offenders += [(file.name, m) for m in re.findall(r"resource_path=['\"](/api[^'\"]*)", file.read_text())]
    assert offenders == []
    assert not [c for c in real.report["changes"] if c["kind"] == "convention-changed"]


def test_no_module_is_excused_for_a_missing_package_and_the_adapter_client_edit_is_carried(real: RealRun) -> None:
    """The import gate runs in the SDK's own environment; every API module keeps ApiClient from the adapters."""
    assert real.result.code == 0, real.result
    notes = real.report["notes"]
    assert [n for n in notes if "did not import" in n or "tool's environment" in n] == []
    status = {s["name"]: s["status"] for s in real.report["steps"]}
    assert status["SDK environment"] == "ok", status
    sources = {}
    for module in sorted((pkg(real.root) / "http" / "api").glob("*.py")):
        for line in module.read_text().splitlines():
            if line.startswith("from ") and " import " in line and "ApiClient" in [
                    n.strip() for n in line.split(" import ", 1)[1].split(",")]:
                sources[module.name] = line.split()[1]
    assert len(sources) > 27 and set(sources.values()) == {"conductor.asyncio_client.adapters"}, sources
    assert any(n.startswith("carried over edit: ApiClient imported from conductor.asyncio_client.adapters")
               for n in notes), notes


# --- 3. the nox sessions on the regenerated tree ------------------------------------------------------

REASON = "spec v2 declares SignalResponse for POST /workflow/execute; the public type stays until the SDK decides"
ANCHOR = "        await self.workflow_api.pause_workflow(workflow_id=workflow_id)\n"


def _nox(envdir: Path, env: Dict[str, str], session: str, sdk: Path, *extra: str,
         reuse: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), *(["-R"] if reuse else []),
           "-s", session, "--", "--sdk", str(sdk), *extra]
    return subprocess.run(cmd, cwd=sdk.parent, env=env, capture_output=True, text=True, timeout=900, check=False)


def _verdict(output: str, name: str) -> str:
    match = re.search(rf"^{name}: \w+ \(.*\): \d+ new, (\d+ accepted, )?\d+ fixed, \d+ pre-existing \(vs backup .*\)$",
                      output, re.M)
    assert match, output
    return match.group(0)


def test_execute_workflow_returning_a_signal_response_is_a_new_contract_failure(real: RealRun, envdir: Path,
                                                                                 tmp_path: Path) -> None:
    """Every Orkes client method against a mock of the real spec: the two changed returns are new failures.

    `OrkesWorkflowClient.execute_workflow` (annotated `-> WorkflowRunAdapter`) now returns a
    `SignalResponseAdapter`. The pristine tree (this run's backup, the automatic baseline), judged against the
    same spec, parses that body as a WorkflowRun and drops its new keys: another rule, so the wrong return type is
    new. In the same run one API's resource paths point at `/api/api/...`: those requests are new failures too,
    and the API is named. (Determinism and `--absolute` are shown on the example SDK: test_contract_session.)
    """
    sdk, env = real.root, real.env
    junit = tmp_path / "junit"  # the worker's contract virtualenv: it installs this SDK's requirements over the example's
    api = sdk / PACKAGE / "http" / "api" / "authorization_resource_api.py"
    original = api.read_text()
    assert original.count("resource_path='/") == 3
    api.write_text(original.replace("resource_path='/", "resource_path='/api/"))
    try:
        # The spec comes from the provenance; the baseline is this run's backup (the pristine tree), automatically.
        proc = _nox(envdir, env, "contract", sdk, "--junit-dir", str(junit))
    finally:
        api.write_text(original)
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    assert "baseline: backup " in proc.stderr, proc.stderr[-2000:]
    assert (junit / "contract.xml").is_file()
    rejected = re.findall(r"^new (OrkesAuthorizationClient\.\w+) \[AuthorizationResourceApi\]: request rejected "
                          r"\(unknown path\): \w+ /api/api/auth/authorization\b", out, re.M)
    assert len(rejected) == 3 and f"rejected requests by API: AuthorizationResourceApi {len(rejected)}\n" in out, out
    exercised, total, valid, kept, new = (int(x) for x in LAST.findall(out)[-1])
    assert total >= 250 and exercised >= 0.95 * total and valid + len(rejected) >= 0.9 * total, out[-3000:]
    assert kept >= 200, out[-3000:]
    for method in ("execute_workflow", "execute_workflow_with_return_strategy"):
        assert re.search(rf"^new OrkesWorkflowClient\.{method}: wrong return type: returns SignalResponseAdapter, "
                         r"promises WorkflowRunAdapter$", out, re.M), out[-4000:]
    # Nothing else is new: the pristine tree failed the changed returns by another rule (the body parsed as a
    # WorkflowRun lost SignalResponse's keys).
    assert 1 <= new - len(rejected) <= 5, out[-4000:]
    assert re.search(r"^pre-existing OrkesWorkflowClient\.update_state: drops response data: ", out, re.M), out[-4000:]
    # jump_to_task and record_event_stats keep their committed signatures: their requests are spec-valid.
    for method in ("OrkesWorkflowClient.jump_to_task", "OrkesIntegrationClient.record_event_stats"):
        assert f"{method}:" not in out


def test_lint_and_typecheck_mean_something_on_the_regenerated_real_sdk(real: RealRun, envdir: Path,
                                                                        tmp_path: Path) -> None:
    """With a new undefined name planted in `orkes/`, lint reports exactly that one new finding and typecheck
    exactly two: that name and `execute_workflow`'s return (a real change a maintainer decides on);
    `UserResourceApiAdapter.delete_user` is not new, because assembly realigned its copied return annotation.
    Without the plant, typecheck `--accept REASON` accepts the return, the one finding that fails, and exits 0.
    The edit and the accepted finding are undone at the end. (That a later run honours accepted findings, and
    `--absolute`, are shown on the example SDK: test_lint_sessions.)"""
    sdk, env, junit = real.root, real.env, tmp_path / "junit"  # not this clone's .cache
    assert any(n.startswith("local edit: adapters/api/user_resource_api.py:42: UserResourceApiAdapter.delete_user "
                            "realigned with the regenerated UserResourceApi.delete_user: returns Dict[str, object] "
                            "(was object)") for n in real.report["notes"]), real.report["notes"]

    client = sdk / CLIENT
    original = client.read_text()
    assert ANCHOR in original
    client.write_text(original.replace(ANCHOR, "        audit_pause(workflow_id)\n" + ANCHOR))
    try:
        found: Dict[str, List[str]] = {}
        for name in ("lint", "typecheck"):
            proc = _nox(envdir, env, name, sdk, "--junit-dir", str(junit))
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, out
            counts = _verdict(out, name)
            assert re.search(r" new, \d+ fixed, [1-9]\d* pre-existing", counts), counts
            found[name] = re.findall(r"^  new: (.*)$", out, re.M)
            assert "delete_user" not in out
    finally:
        client.write_text(original)
    (lint,) = found["lint"]
    assert re.fullmatch(rf"{re.escape(CLIENT)}:\d+:\d+: F821 Undefined name `audit_pause` "
                        r"\(in OrkesWorkflowClient\.pause_workflow\)", lint), lint
    undefined, returned = sorted(found["typecheck"], key=lambda f: "return-value" in f)
    assert re.fullmatch(rf"{re.escape(CLIENT)}:\d+:\d+: name-defined Name \"audit_pause\" is not defined "
                        r"\(in OrkesWorkflowClient\.pause_workflow\)", undefined), undefined
    assert returned.startswith(f"{CLIENT}:") and "return-value" in returned and '"SignalResponse"' in returned
    assert returned.endswith("(in OrkesWorkflowClient.execute_workflow)")

    try:
        accepted = _nox(envdir, env, "typecheck", sdk, "--accept", REASON, "--junit-dir", str(junit))
        out = accepted.stdout + accepted.stderr
        assert accepted.returncode == 0, out
        assert ": 0 new, 1 accepted, " in _verdict(out, "typecheck")
        assert f"OrkesWorkflowClient.execute_workflow) -- {REASON}" in out
        assert (sdk / ".conductor-regen" / "accepted-findings.json").is_file()
    finally:
        shutil.rmtree(sdk / ".conductor-regen", ignore_errors=True)


# --- 4. restore -----------------------------------------------------------------------------------

def test_restore_puts_the_pristine_tree_back_byte_for_byte(real: RealRun) -> None:
    """Last in the module: it undoes the shared run."""
    assert real.result.code == 0, real.result
    root = real.root
    assert _no_pycache(root) == []  # the import checks and the sessions wrote no bytecode into the checkout

    r = run_cli("restore", "--yes", "--sdk", str(root), env=real.env)

    assert r.code == 0, r
    assert "verified against its manifest" in r.stdout, r
    assert sdk_digest(root) == sdk_digest(real.pristine) == real.before
    assert _no_pycache(root) == [] and _no_pycache(real.pristine) == []
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert [manifest(b)["outcome"] for b in backup_dirs(real.backups, root.name)] == ["succeeded", "pre-restore"]
    # Restore again: a no-op that says so (regenerate, restore, restore is the tree before the run).
    again = run_cli("restore", "--yes", "--sdk", str(root), env=real.env)
    assert again.code == 0 and "nothing to restore" in again.stdout, again
    assert sdk_digest(root) == real.before
