"""Nox sessions: the regeneration guide's step-5 test matrix, run against any SDK checkout (`nox -l` lists them;
their usage is in conductor_regen/matrix/nox_sessions.py and docs/test-matrix.md).

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
