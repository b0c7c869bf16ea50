"""Environments for child processes: the Orkes credentials reach only the processes that need them."""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional

# CONDUCTOR_AUTH_KEY / CONDUCTOR_AUTH_SECRET, and any sibling a future SDK adds.
SECRET_PREFIX = "CONDUCTOR_AUTH_"


def secret_names(env: Mapping[str, str]) -> List[str]:
    """The names in `env` that hold Orkes credentials."""
    return sorted(name for name in env if name.upper().startswith(SECRET_PREFIX))


def child_env(extra: Optional[Mapping[str, str]] = None, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """A copy of `base` (default: os.environ) without credentials, plus `extra`.

    Children run code we did not write (the generator, the SDK's modules, its tests), so they
    get no secret; only the fetch (in this process) and the integration session use them.
    """
    env = dict(os.environ if base is None else base)
    for name in secret_names(env):
        del env[name]
    env.update(extra or {})
    return env
