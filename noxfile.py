"""Nox sessions: the regeneration guide's step-5 test matrix, run against any SDK checkout.

    nox -l                                                  the matrix
    nox -s async_tests -- --sdk PATH [pytest args]          guide 5.6 (the default session)
    nox -s async_unit -p 3.12 -- --sdk PATH -k search       one session, one Python
    nox -s lint -- --sdk PATH [--absolute]                  the SDK's linter; only new findings fail
    nox -s typecheck -- --sdk PATH --accept REASON          accept its new findings (listed, not failed)
    nox -s contract -- --sdk PATH [--spec FILE]             request and response contract against a mock server
    CONDUCTOR_SDK_ROOT=PATH nox -R                          reuse venvs, skip installs

A thin edge: the sessions live in the package (conductor_regen/matrix/nox_sessions.py), so an installed
conductor-regen runs the same ones without this clone (it uses the packaged matrix/noxfile.py). Each session
runs in its own reused virtualenv (uv when available) with the SDK installed from the checkout and its test
dependencies read from the SDK's pyproject.toml; see docs/test-matrix.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "scripts"))  # the core, even under a nox from elsewhere

from conductor_regen.matrix.nox_sessions import *  # noqa: E402,F401,F403  (importing registers the sessions)
from conductor_regen.matrix.nox_sessions import link_pyenv_pythons  # noqa: E402

link_pyenv_pythons()
