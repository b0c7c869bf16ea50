"""Nox sessions: the regeneration guide's step-5 test matrix, run against any SDK checkout.

The noxfile an installed conductor-regen runs (`conductor-regen test`, regenerate's test gate): it ships in
the package, so no clone of this tool is needed. The sessions live in `conductor_regen.matrix.nox_sessions`;
`nox -f <this file> -l` lists them. A clone's own `noxfile.py` imports the same module.
"""

from __future__ import annotations

from conductor_regen.matrix.nox_sessions import *  # noqa: F401,F403  (importing registers the sessions)
from conductor_regen.matrix.nox_sessions import link_pyenv_pythons

link_pyenv_pythons()
