"""`ci-template`: a GitHub Actions workflow that watches the server's spec and proposes one pull request.

The workflow (data/drift-workflow.yml) runs nightly and on demand: it fetches the spec with the
repository's secrets, asks `diff --exit-code` whether regenerating would change the client, and only
then regenerates on a branch (`regenerate --branch --commit --pr-body`) and opens or updates one pull
request with the official `gh` CLI. It reuses the branch: the same spec two nights running pushes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

from conductor_regen.errors import ConfigError

DEFAULT_INSTALL = "conductor-regen"
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")
# What may go inside the workflow's double-quoted shell word: no quote, `$`, backtick or backslash.
_INSTALL = re.compile(r"^[A-Za-z0-9_.\-\[\]@:/+=<>!~ ,#]+$")
_BRANCH = re.compile(r"^(?![-/.])(?!.*//)(?!.*/\.)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/\-]+(?<![./])$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclasses.dataclass(frozen=True)
class WorkflowOptions:
    """What a maintainer may choose; everything else is fixed (pinned actions, permissions, secrets)."""

    program: str = "conductor-regen"
    cron: str = "17 3 * * *"
    branch: str = "conductor-regen/spec-drift"
    python: str = "3.11"
    install: str = DEFAULT_INSTALL
    environment: str = "conductor-regen"


def check_options(options: WorkflowOptions) -> None:
    """Refuse values that would make a broken or unsafe workflow, before anything is written."""
    fields = options.cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(f"--cron {options.cron!r} is not a five-field cron schedule",
                          "use e.g. '17 3 * * *' (03:17 UTC every day)")
    if not _BRANCH.match(options.branch) or options.branch.endswith(".lock"):
        raise ConfigError(f"--branch {options.branch!r} is not a usable git branch name",
                          "use letters, digits, '.', '_', '-' and '/' (e.g. conductor-regen/spec-drift)")
    if not re.match(r"^3\.\d{1,2}$", options.python):
        raise ConfigError(f"--python {options.python!r} is not a Python version", "use e.g. 3.11")
    if not _INSTALL.match(options.install):
        raise ConfigError(f"--install {options.install!r} holds a character the workflow cannot quote",
                          "pass a pip requirement, e.g. 'conductor-regen @ git+https://github.com/ORG/REPO@SHA'")
    if not _NAME.match(options.environment):
        raise ConfigError(f"--environment {options.environment!r} is not a GitHub environment name",
                          "use letters, digits, '_' and '-'")


def render_workflow(options: WorkflowOptions) -> str:
    """The workflow YAML for these options (checked first)."""
    check_options(options)
    text = resources.files("conductor_regen").joinpath("data", "drift-workflow.yml").read_text(encoding="utf-8")
    for key, value in (("__PROGRAM__", options.program), ("__CRON__", options.cron), ("__BRANCH__", options.branch),
                       ("__PYTHON__", options.python), ("__INSTALL__", options.install),
                       ("__ENVIRONMENT__", options.environment)):
        text = text.replace(key, value)
    return text
