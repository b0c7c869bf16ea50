"""Call every public coroutine method of the SDK's Orkes clients against the mock server; record what happened.

Runs inside the SDK's virtualenv (`python -m in_sdk_venv --input IN.json --output OUT.json`, with the
folder above `in_sdk_venv/` on PYTHONPATH): only the SDK's own dependencies plus openapi-core and
polyfactory. It records facts (requests, validation errors, exceptions, and for a method that
returned, what it returned against its annotation and the responses it got: `returns.check`);
conductor_regen's `contract.classify` turns them into verdicts.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
import time
import traceback
import warnings
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .mock_server import MockServer
from .returns import check, return_hint
from .synthesis import CannotSynthesize, Synthesizer, type_hints

_CLIENT_NAME = re.compile(r"^Orkes\w*Client$")
_EXCLUDED = frozenset({"OrkesBaseClient"})


def _message(exc: BaseException) -> str:
    # pydantic appends a docs link to every error; it says nothing about this call.
    text = re.sub(r"\s*For further information visit \S+", "", str(exc))
    # The generated ApiException quotes every response header; the status, reason and body say enough.
    text = re.sub(r"HTTP response headers: <[^>]*>\s*", "", text)
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def _frames(exc: BaseException, package_dir: str) -> List[str]:
    """Frames of the SDK package (`orkes/x.py:12`), innermost last; `pydantic:validate_call` marks a
    generated method's argument check."""
    out: List[str] = []
    for frame in traceback.extract_tb(exc.__traceback__):
        name = frame.filename.replace(os.sep, "/")
        if name.endswith("pydantic/_internal/_validate_call.py") or name.endswith("pydantic/validate_call_decorator.py"):
            out.append("pydantic:validate_call")
        elif package_dir and name.startswith(package_dir + "/"):
            out.append(f"{name[len(package_dir) + 1:]}:{frame.lineno}")
    return out


def _exception(exc: BaseException, package_dir: str) -> Dict[str, Any]:
    kinds = [k.__name__ for k in type(exc).__mro__ if k not in (object, BaseException)]
    return {"type": type(exc).__name__, "kinds": kinds, "message": _message(exc),
            "frames": _frames(exc, package_dir)}


def discover_clients(package: str) -> Tuple[List[Tuple[str, type]], List[Dict[str, Any]]]:
    """(sorted [(name, class)] of the Orkes*Client classes under `<package>.orkes`, import problems)."""
    problems: List[Dict[str, Any]] = []
    found: Dict[str, type] = {}
    try:
        orkes = importlib.import_module(f"{package}.orkes")
    except Exception as exc:
        return [], [{"id": f"{package}.orkes.import", "status": "setup-failed",
                     "exception": _exception(exc, "")}]
    for info in sorted(pkgutil.iter_modules(orkes.__path__), key=lambda i: i.name):
        module_name = f"{package}.orkes.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            problems.append({"id": f"{info.name}.import", "status": "setup-failed",
                             "exception": _exception(exc, "")})
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module_name and _CLIENT_NAME.match(name) \
                    and name not in _EXCLUDED:
                found[name] = obj
    return sorted(found.items()), problems


def public_coroutines(cls: type) -> List[str]:
    """Names of the public coroutine methods of a client class (inherited ones included), sorted."""
    return sorted(name for name, member in inspect.getmembers(cls)
                  if not name.startswith("_") and inspect.iscoroutinefunction(member))


def _construct(cls: type, configuration: Any, api_client: Any) -> Any:
    known = {"configuration": configuration, "api_client": api_client}
    params = [p for p in inspect.signature(cls).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    kwargs = {p.name: known[p.name] for p in params if p.name in known}
    missing = [p.name for p in params if p.name not in known and p.default is p.empty]
    if missing:
        raise TypeError(f"{cls.__name__}() needs {', '.join(missing)}, which the contract run cannot provide")
    return cls(**kwargs)


class Driver:
    """One contract run: server, clients, and the record of every method."""

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = config
        self.package: str = config["package"]
        self.timeout = float(config.get("timeout", 5.0))
        document = json.loads(Path(config["spec"]).read_text(encoding="utf-8"))
        self.server = MockServer(document, config["base_path"], frozenset(config.get("public", ())),
                                 config.get("canned") or {})
        self.synth = Synthesizer(document, f"{self.package}.http.models")
        self.package_dir = ""

    async def run(self) -> Dict[str, Any]:
        """Exercise every client method; return {"setup": [...], "methods": [...]}."""
        started = time.monotonic()
        setup: List[Dict[str, Any]] = []
        methods: List[Dict[str, Any]] = []
        port = await self.server.start()
        try:
            try:
                root = importlib.import_module(self.package)
                self.package_dir = str(Path(root.__file__ or "").resolve().parent).replace(os.sep, "/")
                configuration, api_client = self._api_client(port)
            except Exception as exc:  # no client to call anything with: one setup failure says why
                setup.append({"id": "api_client", "status": "setup-failed", "exception": _exception(exc, "")})
                return {"setup": setup, "methods": methods, "seconds": round(time.monotonic() - started, 3)}
            setup.append(await self._token(api_client))
            classes, problems = discover_clients(self.package)
            setup += problems
            for class_name, cls in classes:
                names = public_coroutines(cls)
                try:
                    instance = _construct(cls, configuration, api_client)
                except Exception as exc:
                    reason = f"could not construct {class_name}: {type(exc).__name__}: {_message(exc)}"
                    methods += [{"id": f"{class_name}.{n}", "client": class_name, "method": n,
                                 "module": cls.__module__, "status": "skipped", "reason": reason, "requests": []}
                                for n in names]
                    continue
                for name in names:
                    record = await self._exercise(instance, class_name, name)
                    methods.append(dict(record, module=cls.__module__))
            close = getattr(api_client, "close", None)
            if close is not None:
                await close()
        finally:
            await self.server.stop()
        return {"setup": setup, "methods": methods, "seconds": round(time.monotonic() - started, 3)}

    def _api_client(self, port: int) -> Tuple[Any, Any]:
        configuration_module = importlib.import_module(f"{self.package}.configuration")
        adapters = importlib.import_module(f"{self.package}.adapters")
        configuration = configuration_module.Configuration(
            server_url=f"http://127.0.0.1:{port}{self.config['base_path']}",
            auth_key="contract-key", auth_secret="contract-secret")
        return configuration, adapters.ApiClient(configuration)

    async def _token(self, api_client: Any) -> Dict[str, Any]:
        """Get a token first (POST /token), as a client does on its first 401, so calls carry one."""
        record: Dict[str, Any] = {"id": "token", "status": "returned", "requests": []}
        self.server.sink = record["requests"]
        refresh = getattr(api_client, "refresh_authorization_token", None)
        if refresh is None:
            record.update(status="skipped", reason="the ApiClient has no refresh_authorization_token")
            return record
        try:
            await asyncio.wait_for(refresh(), self.timeout)
        except Exception as exc:
            record.update(status="raised", exception=_exception(exc, self.package_dir))
        return record

    async def _exercise(self, instance: Any, class_name: str, name: str) -> Dict[str, Any]:
        method_id = f"{class_name}.{name}"
        record: Dict[str, Any] = {"id": method_id, "client": class_name, "method": name, "requests": []}
        func = getattr(instance, name)
        # Seeded by the method's id, so adding a method never changes another one's arguments or responses.
        seed = zlib.crc32(method_id.encode())
        self.synth.seed(seed)
        self.server.seed = seed
        try:
            kwargs = self.synth.arguments(func)
        except CannotSynthesize as exc:
            record.update(status="skipped", reason=f"no arguments: {exc}")
            return record
        self.server.sink = record["requests"]
        self.server.sent = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # kept (deprecated) methods warn on every call
                value = await asyncio.wait_for(func(**kwargs), self.timeout)
            record["status"] = "returned"
            record["returned"] = self._returned(func, value)
        except asyncio.TimeoutError:
            record["status"] = "timeout"
            record["reason"] = f"still running after {self.timeout:g} s"
        except Exception as exc:
            record.update(status="raised", exception=_exception(exc, self.package_dir))
        finally:
            self.server.sink = []
            self.server.sent = []
        return record

    def _returned(self, func: Any, value: Any) -> Dict[str, str]:
        """The return check (`returns.check`) of a value against the method's annotation and responses."""
        try:
            hint = return_hint(func, type_hints(func))
            namespace = getattr(getattr(func, "__func__", func), "__globals__", {})
            return check(value, hint, list(self.server.sent), namespace)
        except Exception as exc:  # the check itself must never lose the method's record
            return {"returned": type(value).__name__, "promised": "?", "rule": "",
                    "detail": "", "note": f"return not checked: {type(exc).__name__}: {_message(exc)}"}


def main(argv: Optional[List[str]] = None) -> int:
    """Read the input JSON, run, write the output JSON; 0 unless the run itself broke."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m in_sdk_venv")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.input).read_text(encoding="utf-8"))
    # The SDK logs every failed request at ERROR; the verdicts say it better.
    import logging

    logging.disable(logging.CRITICAL)
    result = asyncio.run(Driver(config).run())
    Path(args.output).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
