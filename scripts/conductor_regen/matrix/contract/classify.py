"""Verdicts: what each SDK method's call did, from the driver's records.

One verdict per public coroutine method of the Orkes clients, in six kinds:

- `valid`: it sent requests and the spec accepts every one of them;
- `rejected`: the mock rejected a request, by one rule (unknown path, method not allowed, missing
  parameter, extra parameter, parameter schema, missing body, body schema, security);
- `binding`: it failed before sending, calling generated code with arguments its signature does
  not take (a TypeError or ValidationError at a generated method's argument check, a model built
  without a required field, an attribute that is gone);
- `return`: it returned something other than its annotation promises (`wrong return type`), or
  lost data the response had (`drops response data`); the driver's `returns.check` decides;
- `removed`: it calls an operation the spec removed that the keep policy kept (reported, not a failure);
- `not-exercised`: it was not run or sent nothing, with the reason.

Setup problems (an Orkes module that does not import) are verdicts too, and are failures. A
failure's rule is its headline (`request rejected (unknown path)`, `wrong return type`, ...): a
baseline excuses a failure only when the same method failed there by the same rule.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.analysis.operations import OperationKey

VALID = "valid"
REJECTED = "rejected"
BINDING = "binding"
RETURN = "return"
REMOVED = "removed"
NOT_EXERCISED = "not-exercised"
SETUP = "setup-failed"
FAILURES = frozenset({REJECTED, BINDING, RETURN, SETUP})
# What a baseline remembers of a method that sent spec-valid requests and then raised: no return seen.
RETURN_UNSEEN = "return not seen"
# The note such a method carries (its exception after the requests); junit.py reads it back from JUnit.
AFTER_REQUESTS = "after the requests: "
# The return rules (the driver's `returns.WRONG_TYPE` and `returns.DROPPED`).
WRONG_TYPE = "wrong return type"
DROPPED = "drops response data"

# openapi-core error classes (and our own) -> the rule a rejected request broke; the first match wins.
_RULES: Tuple[Tuple[str, str], ...] = (
    ("ServerNotFound", "unknown path"),
    ("PathNotFound", "unknown path"),
    ("OperationNotFound", "method not allowed"),
    ("SecurityValidationError", "security"),
    ("UnknownQueryParameter", "extra parameter"),
    ("MissingParameterError", "missing parameter"),
    ("MissingRequestBodyError", "missing body"),
    ("ParameterValidationError", "parameter schema"),
    ("RequestBodyValidationError", "body schema"),
)
_UNKNOWN_PATH = "unknown path"
_WRONG_METHOD = "method not allowed"

# A TypeError that is about a call's arguments, not about the values passed.
_CALL_TYPE_ERROR = re.compile(
    r"unexpected keyword argument|required (?:positional |keyword-only )?argument|"
    r"positional arguments? but \d+ (?:was|were) given|multiple values for argument")
# An AttributeError on SDK objects (a renamed method or field), not on None or builtins.
_BUILTIN_OBJECT = re.compile(r"^'(?:NoneType|str|int|float|bool|dict|list|tuple|set|bytes)' object")
VALIDATE_CALL = "pydantic:validate_call"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one SDK method (or one setup step) did."""

    id: str  # "OrkesWorkflowClient.jump_to_task"; setup: "orkes_x_client.import"
    client: str
    method: str
    kind: str  # VALID, REJECTED, BINDING, RETURN, REMOVED, NOT_EXERCISED, SETUP
    rule: str = ""  # for REJECTED: which rule; for RETURN: WRONG_TYPE or DROPPED
    detail: str = ""  # one line: the request, the error, or the reason
    api: str = ""  # the generated API class that sent the offending request, when known
    requests: Tuple[str, ...] = ()  # "GET /api/x -> 200"
    notes: Tuple[str, ...] = ()  # e.g. an exception after spec-valid requests
    module: str = ""  # the client's module (`conductor.asyncio_client.orkes.orkes_workflow_client`)
    kept_promise: bool = False  # it returned, and what it returned keeps its annotation's promise
    unjudged: str = ""  # why its return type was not judged (it still had to keep the response's data)
    sent_valid: bool = False  # it sent requests and the spec accepts every one (V counts these)

    @property
    def failed(self) -> bool:
        """A failure of the contract (removed and not-exercised are reported, not failures)."""
        return self.kind in FAILURES

    @property
    def return_unseen(self) -> bool:
        """It sent spec-valid requests, then raised: what it returns was never seen."""
        return self.kind == VALID and not self.kept_promise and any(n.startswith(AFTER_REQUESTS)
                                                                    for n in self.notes)

    @property
    def headline(self) -> str:
        """`request rejected (unknown path)`, `failed before sending (binding)`, ..."""
        return {
            VALID: "spec-valid requests",
            REJECTED: f"request rejected ({self.rule})",
            BINDING: "failed before sending (binding)",
            RETURN: self.rule,
            REMOVED: "calls an operation the spec removed (kept)",
            NOT_EXERCISED: "not exercised",
            SETUP: "setup failed",
        }[self.kind]


def rule_of(error_kinds: Sequence[str]) -> str:
    """The rule an openapi-core error (its class and base class names) stands for."""
    for kind, rule in _RULES:
        if kind in error_kinds:
            return rule
    return f"other ({error_kinds[0]})" if error_kinds else "other"


def template_regex(template: str) -> "re.Pattern[str]":
    """`/workflow/{workflowId}` -> a regex matching concrete paths (one segment per parameter)."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


Operation = Tuple[OperationKey, str, bool]  # (METHOD, path template), API class, kept by the keep policy


def sending_operation(method: str, path: str, base_path: str,
                      operations: Iterable[Operation]) -> Optional[Operation]:
    """The SDK's generated operation whose resource path a request matches (literal paths first)."""
    if base_path and not path.startswith(base_path + "/"):
        return None
    relative = path[len(base_path):]
    # /workflow/search before /workflow/{workflowId}: fewer template parameters first, as servers match.
    candidates = sorted((op for op in operations if op[0][0] == method),
                        key=lambda op: (op[0][1].count("{"), op[0][1]))
    for op in candidates:
        if template_regex(op[0][1]).match(relative):
            return op
    return None


def at_argument_check(exception: Mapping[str, Any]) -> bool:
    """Was it raised by a generated method's argument check (pydantic's validate_call, innermost)?"""
    frames = list(exception.get("frames") or [])
    return bool(frames) and frames[-1] == VALIDATE_CALL


def is_binding_error(exception: Mapping[str, Any]) -> bool:
    """Does an exception say hand-written code called generated code (or a model) wrongly?"""
    kinds = list(exception.get("kinds") or [exception.get("type", "")])
    message = str(exception.get("message", ""))
    if at_argument_check(exception):
        return "ValidationError" in kinds or "TypeError" in kinds
    if "TypeError" in kinds:
        return bool(_CALL_TYPE_ERROR.search(message))
    if "AttributeError" in kinds:
        return not _BUILTIN_OBJECT.match(message)
    if "ValidationError" in kinds:
        # A model constructed in hand-written code without a field it requires, or with one it lacks.
        return bool(re.search(r"\[type=(missing|unexpected_keyword_argument|extra_forbidden)", message))
    return False


def _request_line(request: Mapping[str, Any]) -> str:
    return f"{request.get('method')} {request.get('path')} -> {request.get('status')}"


def classify(record: Mapping[str, Any], operations: Sequence[Operation] = (), base_path: str = "") -> Verdict:
    """The verdict for one driver record; `operations` are the SDK's generated ones (see inputs)."""
    method_id = str(record.get("id", "?"))
    client, _, method = method_id.rpartition(".")
    module = str(record.get("module", ""))
    status = record.get("status")
    exception: Mapping[str, Any] = record.get("exception") or {}
    requests: List[Mapping[str, Any]] = list(record.get("requests") or [])
    lines = tuple(_request_line(r) for r in requests)
    error_text = f"{exception.get('type')}: {exception.get('message')}" if exception else ""
    if status == "setup-failed":
        return Verdict(f"setup.{method_id}", "setup", method_id, SETUP, detail=error_text)
    if status == "skipped":
        return Verdict(method_id, client, method, NOT_EXERCISED, detail=str(record.get("reason", "")), module=module)
    removed: Optional[Tuple[OperationKey, str]] = None
    for request in requests:
        errors = list(request.get("errors") or [])
        if not errors:
            continue
        kinds = list(errors[0].get("kinds") or [errors[0].get("kind", "")])
        rule = rule_of(kinds)
        sender = sending_operation(str(request.get("method")), str(request.get("path")), base_path, operations)
        if rule in (_UNKNOWN_PATH, _WRONG_METHOD) and sender is not None and sender[2]:
            removed = removed or (sender[0], _request_line(request))
            continue
        detail = f"{request.get('method')} {request.get('path')}: " + (
            "no path of the spec matches" if rule == _UNKNOWN_PATH
            else "the spec's path has no such method" if rule == _WRONG_METHOD else str(errors[0].get("message", "")))
        return Verdict(method_id, client, method, REJECTED, rule, detail, sender[1] if sender else "", lines,
                       module=module)
    binding = bool(exception) and is_binding_error(exception)
    if binding and (not requests or at_argument_check(exception)):
        return Verdict(method_id, client, method, BINDING, detail=error_text, requests=lines, module=module)
    notes: Tuple[str, ...] = (f"{AFTER_REQUESTS}{error_text}",) if error_text else ()
    returned: Mapping[str, Any] = record.get("returned") or {}
    if returned:
        notes += tuple(f"return {n}" for n in (f"not checked: {returned.get('note')}" if returned.get("note") else "",
                                                f"type not judged: {returned.get('unjudged')}"
                                                if returned.get("unjudged") else "") if n)
    facts: Dict[str, Any] = {"requests": lines, "notes": notes, "module": module,
                             "kept_promise": bool(returned) and not returned.get("rule"),
                             "unjudged": str(returned.get("unjudged") or ""),
                             "sent_valid": bool(requests) and removed is None}
    if returned.get("rule"):
        return Verdict(method_id, client, method, RETURN, str(returned["rule"]), str(returned.get("detail", "")),
                       **facts)
    if removed is not None:
        (verb, path), line = removed
        return Verdict(method_id, client, method, REMOVED, detail=f"{verb} {path} ({line})", **facts)
    if requests:
        return Verdict(method_id, client, method, VALID, **facts)
    facts.update(notes=(), kept_promise=False, sent_valid=False)  # R and V count exercised methods only
    if status == "timeout":
        return Verdict(method_id, client, method, NOT_EXERCISED, detail=f"sent nothing: {record.get('reason', '')}",
                       **facts)
    if exception:
        return Verdict(method_id, client, method, NOT_EXERCISED, detail=f"raised before sending: {error_text}",
                       **facts)
    return Verdict(method_id, client, method, NOT_EXERCISED, detail="sent no request (a local helper)", **facts)


Failure = Tuple[str, str]  # (verdict id, rule: its headline), what a baseline remembers of a failure


@dataclasses.dataclass(frozen=True)
class ContractResult:
    """Every verdict of a run; which failures are new against a baseline, and which ones the SDK accepted."""

    verdicts: Tuple[Verdict, ...]
    setup: Tuple[Verdict, ...] = ()
    baseline: Optional[FrozenSet[Failure]] = None  # failures of the baseline run; None: no baseline
    baseline_source: str = ""  # "backup <id>", "git HEAD <sha>", "pristine.xml"
    accepted: Tuple[Tuple[Verdict, str], ...] = ()  # new failures the SDK accepted, each with its reason
    stale: Tuple[str, ...] = ()  # accepted entries that match no new failure any more

    @property
    def methods(self) -> Tuple[Verdict, ...]:
        """The SDK methods' verdicts (setup excluded)."""
        return self.verdicts

    @property
    def total(self) -> int:
        """T: public coroutine methods of the Orkes clients."""
        return len(self.verdicts)

    @property
    def exercised(self) -> int:
        """E: methods that ran far enough to send a request or fail binding."""
        return sum(1 for v in self.verdicts if v.kind != NOT_EXERCISED)

    @property
    def valid(self) -> int:
        """V: methods whose requests the spec accepts, every one (whatever they then returned)."""
        return sum(1 for v in self.verdicts if v.kind == VALID or (v.kind == RETURN and v.sent_valid))

    @property
    def kept_promise(self) -> int:
        """R: exercised methods that returned what their annotation promises, dropping none of the response's data."""
        return sum(1 for v in self.verdicts if v.kept_promise)

    @property
    def failures(self) -> Tuple[Verdict, ...]:
        """Failed verdicts (setup included), in order."""
        return tuple(v for v in (*self.setup, *self.verdicts) if v.failed)

    def is_preexisting(self, verdict: Verdict) -> bool:
        """Did the baseline run fail the same method by the same rule (or never show what it returned)?

        A return failure is not new when the baseline's method raised after its requests: what it would
        have returned was never seen (its old model rejecting a value the new spec allows, say).
        """
        if not verdict.failed or self.baseline is None:
            return False
        return (verdict.id, verdict.headline) in self.baseline or (
            verdict.kind == RETURN and (verdict.id, RETURN_UNSEEN) in self.baseline)

    def is_accepted(self, verdict: Verdict) -> bool:
        """Is it a new failure the SDK accepted?"""
        return any(v is verdict for v, _ in self.accepted)

    def is_new(self, verdict: Verdict) -> bool:
        """A failure is new unless the baseline failed the same id by the same rule, or the SDK accepted it."""
        return verdict.failed and not self.is_preexisting(verdict) and not self.is_accepted(verdict)

    @property
    def new_failures(self) -> Tuple[Verdict, ...]:
        """Failures that the baseline did not have and the SDK did not accept: they fail the session."""
        return tuple(v for v in self.failures if self.is_new(v))

    @property
    def unexcused(self) -> Tuple[Verdict, ...]:
        """Failures the baseline did not have, accepted or not (what `--accept` accepts)."""
        return tuple(v for v in self.failures if not self.is_preexisting(v))

    def summary_line(self) -> str:
        """`contract: E of T SDK methods exercised, V sent spec-valid requests, R returned what they promise,
        N new failures`."""
        return (f"contract: {self.exercised} of {self.total} SDK methods exercised, {self.valid} sent "
                f"spec-valid requests, {self.kept_promise} returned what they promise, "
                f"{len(self.new_failures)} new failures")

    def junit_summary(self) -> str:
        """The last line, and against what it was judged: what the gate's steps table shows."""
        preexisting = sum(1 for v in self.failures if self.is_preexisting(v))
        judged = f"; {preexisting} pre-existing (vs {self.baseline_source})" if self.baseline is not None else ""
        accepted = f"; {len(self.accepted)} accepted" if self.accepted else ""
        return f"{self.summary_line()}{judged}{accepted}"

    def _tag(self, verdict: Verdict) -> str:
        if not verdict.failed:
            return ""
        if self.is_accepted(verdict):
            return "accepted "
        if self.baseline is None:
            return "new " if self.accepted else ""
        return "pre-existing " if self.is_preexisting(verdict) else "new "

    def lines(self, verbose: bool = False) -> List[str]:
        """One line per failure and per removed operation (every method with `verbose`), then counts."""
        out: List[str] = []
        if self.baseline is not None:
            out.append(f"contract: judged against {self.baseline_source} ({len(self.baseline)} failure(s) there)")
        reasons = {v.id: reason for v, reason in self.accepted}
        for v in (*self.setup, *self.verdicts):
            if not (verbose or v.failed or v.kind == REMOVED):
                continue
            api = f" [{v.api}]" if v.api and v.failed else ""
            detail = f": {_clip(v.detail)}" if v.detail else ""
            reason = f" -- {reasons[v.id]}" if v.id in reasons else ""
            out.append(f"{self._tag(v)}{v.id}{api}: {v.headline}{detail}{reason}")
            if verbose:
                out += [f"    {r}" for r in v.requests] + [f"    note: {n}" for n in v.notes]
        out += [f"stale: accepted {entry}, no longer found: remove it from the accepted findings"
                for entry in self.stale]
        by_api: Dict[str, int] = {}
        for v in self.failures:
            if v.kind == REJECTED and v.api:
                by_api[v.api] = by_api.get(v.api, 0) + 1
        if by_api:
            out.append("rejected requests by API: " + ", ".join(f"{a} {n}" for a, n in sorted(by_api.items())))
        counts: Dict[str, int] = {}
        for v in self.verdicts:
            counts[v.kind] = counts.get(v.kind, 0) + 1
        out.append("verdicts: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in
                                          (VALID, REJECTED, BINDING, RETURN, REMOVED, NOT_EXERCISED)))
        unjudged = sum(1 for v in self.verdicts if v.kept_promise and v.unjudged)
        rules = {r: sum(1 for v in self.verdicts if v.kind == RETURN and v.rule == r) for r in (WRONG_TYPE, DROPPED)}
        out.append(f"returns: {self.kept_promise} kept their promise ({unjudged} with a type not judged), "
                   f"{rules[WRONG_TYPE]} {WRONG_TYPE}, {rules[DROPPED]} {DROPPED}")
        return out


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evaluate(records: Mapping[str, Any], operations: Sequence[Operation] = (), base_path: str = "",
             baseline: Optional[FrozenSet[Failure]] = None, baseline_source: str = "") -> ContractResult:
    """Classify every record of a driver run."""
    methods = tuple(classify(r, operations, base_path) for r in records.get("methods") or [])
    setup = []
    for record in records.get("setup") or []:
        if record.get("status") == "setup-failed":
            setup.append(classify(record, operations, base_path))
        elif record.get("id") == "token" and record.get("status") == "raised":
            exception = record.get("exception") or {}
            setup.append(Verdict("setup.token", "setup", "token", SETUP,
                                 detail=f"getting a token failed: {exception.get('type')}: {exception.get('message')}"))
    return ContractResult(tuple(sorted(methods, key=lambda v: v.id)), tuple(setup), baseline, baseline_source)
