"""Python's binding rules, statically: signatures read from ast, and `inspect.Signature.bind`'s checks on a call shape.

The binding check (`binding`) finds the calls and their receivers; this module decides whether a
call of a given shape binds to a signature, and whether a positional argument shifted between the
live and the new signature.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Dict, List, Optional, Set, Tuple, Union

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]

POSITIONAL_ONLY, POSITIONAL, VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD = (
    "positional-only", "positional", "var-positional", "keyword-only", "var-keyword")

# Finding kinds, in inspect.Signature.bind's words where it has them.
TOO_MANY, UNKNOWN, MISSING, MULTIPLE, SHIFTED = (
    "too many positional arguments", "unexpected keyword argument", "missing a required argument",
    "multiple values for argument", "positional argument shifted")



@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of a signature; `aliases` are other keywords that fill it (pydantic field aliases)."""

    name: str
    kind: str
    required: bool
    aliases: Tuple[str, ...] = ()

    @property
    def positional(self) -> bool:
        """Whether a positional argument can fill it."""
        return self.kind in (POSITIONAL_ONLY, POSITIONAL)


@dataclasses.dataclass(frozen=True)
class Signature:
    """A callable's parameters as a caller sees them (bound `self`/`cls` left out)."""

    owner: str  # "WorkflowResourceApi.execute_workflow", "TaskDef()" for a constructor
    params: Tuple[Param, ...]

    def positional_names(self) -> List[str]:
        """Names of the parameters positional arguments fill, in order."""
        return [p.name for p in self.params if p.positional]

    def accepts_var_positional(self) -> bool:
        """Whether it takes *args."""
        return any(p.kind == VAR_POSITIONAL for p in self.params)

    def text(self) -> str:
        """`Owner.method(a, b, c=…)`, the generator's `_request_*` keywords left out."""
        parts: List[str] = []
        star_done = False
        for p in self.params:
            if p.name.startswith("_") and not p.required:
                continue
            if p.kind == VAR_POSITIONAL:
                parts.append(f"*{p.name}")
                star_done = True
            elif p.kind == VAR_KEYWORD:
                parts.append(f"**{p.name}")
            else:
                if p.kind == KEYWORD_ONLY and not star_done:
                    parts.append("*")
                    star_done = True
                parts.append(p.name if p.required else f"{p.name}=…")
        return f"{self.owner}({', '.join(parts)})"


@dataclasses.dataclass(frozen=True)
class CallShape:
    """What a call passes: positional count (before any *x), keyword names, and whether *x/**x appear."""

    positional: int
    keywords: Tuple[str, ...]
    star: bool = False
    double_star: bool = False


@dataclasses.dataclass(frozen=True)
class Problem:
    """One way a call fails to bind (or binds differently)."""

    kind: str
    detail: str


def signature_of(func: FunctionNode, owner: str, bound: bool) -> Signature:
    """The signature of a def, with its first parameter dropped when the call binds it (self/cls)."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    params: List[Param] = []
    for index, arg in enumerate(positional):
        kind = POSITIONAL_ONLY if index < len(args.posonlyargs) else POSITIONAL
        params.append(Param(arg.arg, kind, index < first_default))
    if args.vararg is not None:
        params.append(Param(args.vararg.arg, VAR_POSITIONAL, False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(Param(arg.arg, KEYWORD_ONLY, default is None))
    if args.kwarg is not None:
        params.append(Param(args.kwarg.arg, VAR_KEYWORD, False))
    if bound and params and params[0].positional:
        params = params[1:]
    return Signature(owner, tuple(params))


def decorators(func: FunctionNode) -> Set[str]:
    """Plain names of a def's decorators (`staticmethod`, `classmethod`, `validate_call`...)."""
    out: Set[str] = set()
    for deco in func.decorator_list:
        node = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def bind(sig: Signature, call: CallShape) -> List[Problem]:
    """What `inspect.Signature.bind` would reject for a call of this shape (statically knowable parts)."""
    problems: List[Problem] = []
    positional = [p for p in sig.params if p.positional]
    if call.positional > len(positional) and not sig.accepts_var_positional():
        problems.append(Problem(TOO_MANY, f"{call.positional} given, {len(positional)} accepted"))
    filled = {p.name for p in positional[:call.positional]}
    by_keyword: Dict[str, Param] = {}
    for p in sig.params:
        if p.kind in (POSITIONAL, KEYWORD_ONLY):
            for name in (p.name, *p.aliases):
                by_keyword.setdefault(name, p)
    takes_any = any(p.kind == VAR_KEYWORD for p in sig.params)
    for keyword in call.keywords:
        param = by_keyword.get(keyword)
        if param is None:
            if not takes_any:
                problems.append(Problem(UNKNOWN, f"'{keyword}'"))
            continue
        if param.name in filled:
            problems.append(Problem(MULTIPLE, f"'{param.name}'"))
        filled.add(param.name)
    if not (call.star or call.double_star):
        missing = [p.name for p in sig.params
                   if p.required and p.kind not in (VAR_POSITIONAL, VAR_KEYWORD) and p.name not in filled]
        problems += [Problem(MISSING, f"'{name}'") for name in missing]
    return problems


def shifts(live: Signature, new: Signature, call: CallShape) -> List[Problem]:
    """Positional arguments that land on a differently named parameter in `new` than in `live`."""
    old_names, new_names = live.positional_names(), new.positional_names()
    out: List[Problem] = []
    for index in range(min(call.positional, len(old_names), len(new_names))):
        if old_names[index] != new_names[index]:
            out.append(Problem(SHIFTED, f"argument {index + 1} was '{old_names[index]}', now binds "
                                        f"'{new_names[index]}'"))
    return out


def keyword_shape(live: Signature, call: CallShape) -> Optional[CallShape]:
    """The call with its positional arguments passed by their live names, if every one has a name."""
    names = live.positional_names()
    if call.positional > len(names):
        return None
    params = {p.name: p for p in live.params}
    chosen = names[:call.positional]
    if any(params[n].kind == POSITIONAL_ONLY for n in chosen):
        return None
    return CallShape(0, (*chosen, *call.keywords), call.star, call.double_star)
