"""A mini SDK whose hand-written facade calls one generated operation positionally, for the shift tests.

The live client has `WorkflowResourceApi.start_workflow(<live params>)`; the staged (new) one has
`start_workflow(<new params>)`. The facade `adapters/api/workflow_facade.py` calls it with `call`
(`self._api.start_workflow(<call>)`), and its managed folder is staged the way assembly stages it, so
the keyword codemod may rewrite the staged copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List, Tuple

from support.mini_client import PACKAGE, MiniSdk, Op

HTTP = f"{PACKAGE}.http"
FACADE_FILE = "adapters/api/workflow_facade.py"

# The generator moves a parameter that turned optional behind the required ones: (name, version, body)
# becomes (name, body, version=None), and a three-positional call still binds, to the wrong parameters.
REORDER = ("name: StrictStr, version: StrictInt, body: Dict[str, Any]",
           "name: StrictStr, body: Dict[str, Any], version: Optional[StrictInt] = None")
# A new optional parameter inserted before an existing one: (name, body) becomes (name, version=None,
# body=None), and a two-positional call now sends the body as the version.
INSERT = ("name: StrictStr, body: Optional[Dict[str, Any]] = None",
          "name: StrictStr, version: Optional[StrictInt] = None, body: Optional[Dict[str, Any]] = None")


def _apis(params: str) -> Dict[str, Tuple[str, List[Op]]]:
    op = Op("start_workflow", "POST", "/workflow/{name}", params, "str")
    return {"workflow_resource_api": ("WorkflowResourceApi", [op])}


def facade(call: str) -> str:
    """The facade's source: one method calling the generated operation with `call` as its arguments."""
    return f'''
        from typing import Any, Dict, Optional

        from {HTTP}.api.workflow_resource_api import WorkflowResourceApi


        class WorkflowFacade:
            def __init__(self, api_client=None) -> None:
                self._api = WorkflowResourceApi(api_client)

            async def start(self, name: str, version: Optional[int], body: Dict[str, Any]) -> str:
                return await self._api.start_workflow({call})
    '''


def shifted_sdk(root: Path, live_params: str, new_params: str, call: str) -> MiniSdk:
    """The live and new clients and the facade making `call`, with adapters/ staged as assembly stages it."""
    sdk = MiniSdk(root)
    sdk.clients(_apis(live_params), _apis(new_params))
    sdk.write(FACADE_FILE, facade(call))
    shutil.copytree(sdk.package_dir / "adapters", sdk.staging / "adapters")
    return sdk


def staged_facade(sdk: MiniSdk) -> str:
    """The staged copy of the facade (what the codemod rewrites and the swap puts in place)."""
    return (sdk.staging / FACADE_FILE).read_text(encoding="utf-8")
