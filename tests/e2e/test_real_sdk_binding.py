"""The real SDK (../shared/sdk, commit 225f598f) regenerated from the real spec: every hand-written call binds.

The committed client has `jump_to_task(workflow_id, task_reference_name, request_body)` and
`record_event_stats(type, event_log)`. The spec declares those template names only as query
parameters; the repaired spec must give the same signatures (no `task_reference_name2`), the binding
check must find nothing, and the Orkes clients' calls must get past argument validation to a server.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from support.sdk_copies import PACKAGE, extract_real_sdk, real_sdk_checkout, run_core
from support.paths import REAL_SDK, REAL_SPEC

from conductor_regen.analysis.signatures import signature_of
from conductor_regen.commands.report import Report

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # runs the real generator on the real SDK



@dataclasses.dataclass
class Run:
    root: Path
    pristine: Path
    report: Report


@pytest.fixture(scope="module")
def real(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A committed copy of the shared SDK, regenerated once from the shared spec."""
    if not (REAL_SPEC.is_file() and REAL_SDK.is_file()):
        pytest.skip("../shared (the real spec and SDK) is not here")
    base = tmp_path_factory.mktemp("real-binding")
    root = real_sdk_checkout(base / "run")
    pristine = extract_real_sdk(base / "pristine")
    report, error, _ = run_core(root, base / "backups", generator_cache, REAL_SPEC)
    assert error is None, error.render() if error else ""
    assert report is not None
    yield Run(root, pristine, report)


def _signature(root: Path, module: str, name: str) -> str:
    tree = ast.parse((root / PACKAGE / "http" / "api" / f"{module}.py").read_text(encoding="utf-8"))
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == name)
    return signature_of(func, name, bound=True).text()


@pytest.mark.parametrize(("module", "name"), [("workflow_resource_api", "jump_to_task"),
                                              ("integration_resource_api", "record_event_stats")])
def test_template_parameters_keep_their_committed_signatures(real: Run, module: str, name: str) -> None:
    committed = _signature(real.pristine, module, name)
    assert _signature(real.root, module, name) == committed
    assert "2" not in committed


def test_no_binding_findings_remain(real: Run) -> None:
    binding = real.report.binding
    assert real.report.outcome == "succeeded"
    assert binding["findings"] == [] and binding["calls"] > 500, binding["calls"]
    step = next(s for s in real.report.steps if s.name == "check bindings")
    assert step.status == "ok" and "0 finding(s)" in step.detail


def test_changes_are_grouped_by_impact(real: Run) -> None:
    impacts = {c["operation"]: c["impact"] for c in real.report.changes}
    # Moved behind the body by the generator, but the Orkes client passes keywords: it still binds.
    assert impacts["POST /workflow/execute/{name}/{version}"] == "used by SDK, compatible"
    assert all(c["impact"] for c in real.report.changes)
    assert not any("_request_timeout" in c["detail"] for c in real.report.changes)
    assert real.report.to_markdown().splitlines()[2].startswith("- breaks SDK code: ")


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


def test_orkes_clients_get_past_argument_validation(real: Run) -> None:
    """The calls the SDK makes reach a real HTTP server on 127.0.0.1, on the right paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUCTOR_")}
    env.update(PYTHONPATH=str(real.root / "src"), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", CALLS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ['POST /api/workflow/wf-1/jump/ref_7 {"x": 1}',
                                        'POST /api/integrations/eventStats/openai [{"event": "e"}]']
