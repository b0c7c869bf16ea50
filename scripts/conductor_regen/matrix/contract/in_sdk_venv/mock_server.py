"""A spec-driven mock Conductor server: aiohttp on 127.0.0.1, every request validated with openapi-core.

A valid request gets a full success response of its operation (`responses.full_response`: every
property, one element per array, varied by `seed`, which the driver sets per SDK method); a
rejected one gets 404/405/401/400 with the reason. Each request is recorded (method, path, query
names, the spec operation it matched, the validation errors) into `sink`, which the driver points
at the record of the SDK method being exercised, and the data of each success response it sent
into `sent`, for the driver's return check. Runs inside the SDK's virtualenv: no conductor_regen imports.
"""

from __future__ import annotations

import json
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

from aiohttp import web

from .minimal import MockResponse, resolve
from .responses import full_response

# openapi-core matches a request's full URL against the spec's servers; this host is never resolved.
MOCK_HOST = "http://contract.mock"

FIXED_DATE = "Mon, 01 Jan 2024 00:00:00 GMT"

# openapi-core error class -> the status a real server would answer with.
_STATUS = {"ServerNotFound": 404, "PathNotFound": 404, "OperationNotFound": 405,
           "SecurityValidationError": 401}


class _Request:
    """The request protocol openapi-core validates (host_url, path, method, parameters, body)."""

    def __init__(self, method: str, path: str, query: List[Tuple[str, str]], headers: Mapping[str, str],
                 content_type: str, body: Optional[bytes]) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = MOCK_HOST
        self.path = path
        self.method = method.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(list(headers.items())),
                                            cookie=ImmutableMultiDict())
        self.content_type = content_type
        self.body = body

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


class MockServer:
    """The app, its validator and the request log."""

    def __init__(self, document: Dict[str, Any], base_path: str, public: FrozenSet[str] = frozenset(),
                 canned: Optional[Mapping[str, Any]] = None) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_core.templating.paths.finders import APICallPathFinder

        self.document = dict(document, servers=[{"url": MOCK_HOST + base_path}])
        self.base_path = base_path
        self.public = public  # "POST /token": operations a real server serves without a token
        self.canned = dict(canned or {})  # "POST /token": body to answer with instead of the minimal one
        # Not validated again (1.2 s on the real spec): the run that generated the client validated it.
        self.openapi = OpenAPI.from_dict(self.document, config=Config(spec_validator_cls=None))
        self.finder = APICallPathFinder(self.openapi.spec)
        self.sink: List[Dict[str, Any]] = []
        # Each success response: (its data: JSON value, text, bytes or None; is its schema free-form?).
        self.sent: List[Tuple[Any, bool]] = []
        self.seed = 0  # varies the responses; the driver sets it from the method's id
        self._runner: Optional[web.AppRunner] = None
        self._responses: Dict[Tuple[str, int], Tuple[MockResponse, Any, bool]] = {}
        self.port = 0

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port); return the port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        record, response = self.check(request.method, request.path, list(request.query.items()),
                                      dict(request.headers), request.content_type, body)
        self.sink.append(record)
        # Fixed Date and Server: the SDK quotes response headers in its exceptions, and runs must repeat.
        headers = {"Date": FIXED_DATE, "Server": "conductor-regen-contract"}
        if response.content_type:
            headers["Content-Type"] = response.content_type
        return web.Response(status=response.status, body=response.body, headers=headers)

    def check(self, method: str, path: str, query: List[Tuple[str, str]], headers: Mapping[str, str],
              content_type: str, body: bytes) -> Tuple[Dict[str, Any], MockResponse]:
        """Validate one request: (its record, the response to send)."""
        operation_key, operation = self._operation(method, path)
        request = _Request(method, path, query, headers, content_type, body or None)
        errors = [_error(e) for e in self.openapi.iter_request_errors(request)]
        if operation is not None:
            declared = _query_names(self.document, operation_key, operation)
            errors += [{"kind": "UnknownQueryParameter", "kinds": ["UnknownQueryParameter"],
                        "message": f"query parameter {name!r} is not declared by {operation_key}", "cause": ""}
                       for name in sorted({k for k, _ in query}) if name not in declared]
        if operation_key in self.public:
            errors = [e for e in errors if "SecurityValidationError" not in e["kinds"]]
        record: Dict[str, Any] = {"method": method.upper(), "path": path, "query": sorted({k for k, _ in query}),
                                  "operation": operation_key, "errors": errors}
        if errors:
            status = _STATUS.get(errors[0]["kind"]) or next(
                (_STATUS[k] for k in errors[0]["kinds"] if k in _STATUS), 400)
            record["status"] = status
            return record, MockResponse(status, "application/json",
                                        json.dumps({"status": status, "message": errors[0]["message"]}).encode())
        assert operation is not None and operation_key is not None
        response, value, open_shape = self._response(operation_key, operation)
        record["status"] = response.status
        self.sent.append((value, open_shape))
        return record, response

    def _operation(self, method: str, path: str) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
        from openapi_core.templating.paths.exceptions import PathError

        try:
            found = self.finder.find(method.lower(), MOCK_HOST + path)
        except PathError:
            return None, None
        template = found.path.parts[-1]
        operation = self.document["paths"][template][method.lower()]
        return f"{method.upper()} {template}", operation

    def _response(self, key: str, operation: Dict[str, Any]) -> Tuple[MockResponse, Any, bool]:
        if key in self.canned:
            return MockResponse(200, "application/json", json.dumps(self.canned[key]).encode()), self.canned[key], False
        if (key, self.seed) not in self._responses:
            self._responses[(key, self.seed)] = full_response(self.document, operation, self.seed)
        return self._responses[(key, self.seed)]


def _error(exc: BaseException) -> Dict[str, Any]:
    """An openapi-core error as plain data: its class, its bases (for classification) and text."""
    kinds = [k.__name__ for k in type(exc).__mro__ if k.__module__.startswith("openapi_core")]
    cause = exc.__cause__
    return {"kind": type(exc).__name__, "kinds": kinds or [type(exc).__name__],
            "message": _clip(str(exc)), "cause": _clip(f"{type(cause).__name__}: {cause}") if cause else ""}


def _query_names(document: Mapping[str, Any], key: Optional[str], operation: Mapping[str, Any]) -> FrozenSet[str]:
    """Names of the query parameters an operation declares (path-level ones included)."""
    names = set()
    template = key.split(" ", 1)[1] if key else ""
    item = (document.get("paths") or {}).get(template) or {}
    for param in list(item.get("parameters") or []) + list(operation.get("parameters") or []):
        param = resolve(document, param)
        if isinstance(param, dict) and param.get("in") == "query" and isinstance(param.get("name"), str):
            names.add(param["name"])
    return frozenset(names)


def _clip(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
