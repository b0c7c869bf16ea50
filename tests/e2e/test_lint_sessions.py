"""Real `lint` and `typecheck` nox sessions on copies of the example SDK, judged against its newest backup.

A finding the backup had is pre-existing, a new one fails the session and is named, a finding
whose line moved is not new, and `--absolute` keeps the old all-or-nothing verdict.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from conductor_regen.matrix.interpreters import PYTHONS
from conductor_regen.matrix.results import parse_junit
from conductor_regen.checkout.backups import create_backup
from conductor_regen.checkout.target import SdkTarget
from support.sdk_copies import copy_example_sdk
from test_noxfile_sessions import NOXFILE, PY, clean_env

PACKAGE = "src/conductor/asyncio_client"
CLIENT = f"{PACKAGE}/orkes/orkes_secret_client.py"
ANCHOR = "return await self.secret_api.get_secret(key)"

pytestmark = [pytest.mark.e2e,  # runs nox sessions
              pytest.mark.skipif(PY not in PYTHONS, reason=f"the matrix has no Python {PY}")]



def _copy(tmp_path: Path, pyproject_extra: str = "") -> Path:
    sdk = copy_example_sdk(tmp_path / "sdk")
    # A finding that is there before the regeneration (unused import), in the SDK's own code.
    client = sdk / CLIENT
    client.write_text("import os\n" + client.read_text())
    if pyproject_extra:
        (sdk / "pyproject.toml").write_text((sdk / "pyproject.toml").read_text() + pyproject_extra)
    target = SdkTarget(root=sdk.resolve(), package_dir=sdk.resolve() / PACKAGE, managed=("http", "adapters", "orkes"))
    create_backup(tmp_path / "backups", target, "v1")
    return sdk


def _env(tmp_path: Path) -> Dict[str, str]:
    return clean_env(REGEN_BACKUPS_DIR=str(tmp_path / "backups"), REGEN_CACHE_DIR=str(tmp_path / "cache"))


def _nox(envdir: Path, tmp_path: Path, session: str, sdk: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), "-s", session, "--",
           "--sdk", str(sdk), "--junit-dir", str(tmp_path / "junit"), *extra]
    return subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
                          check=False)


def _shift_and_add_undefined_name(sdk: Path) -> None:
    """Move every line of the client down (a moved finding) and use an undefined name in orkes/."""
    client = sdk / CLIENT
    text = client.read_text()
    assert ANCHOR in text
    client.write_text("# moved down\n" * 3 + text.replace(ANCHOR, "return await undefined_helper(key)"))


def _verdict(output: str, name: str) -> str:
    match = re.search(rf"^{name}: .*\d+ new, \d+ fixed, \d+ pre-existing \(.*\)$", output, re.M)
    assert match, output
    return match.group(0)


def test_lint_falls_back_to_the_guides_flake8_and_judges_against_the_backup(envdir: Path, tmp_path: Path) -> None:
    sdk = _copy(tmp_path)
    proc = _nox(envdir, tmp_path, "lint", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    line = _verdict(out, "lint")
    assert "flake8 (nothing configured: the guide's flake8 src/conductor/asyncio_client/)" in line
    assert re.search(r": 0 new, 0 fixed, [1-9]\d* pre-existing \(vs backup ", line), line

    _shift_and_add_undefined_name(sdk)
    proc = _nox(envdir, tmp_path, "lint", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ": 1 new, 0 fixed, " in _verdict(out, "lint")  # the moved unused import is not new
    assert re.search(r"new: src/conductor/asyncio_client/orkes/orkes_secret_client\.py:\d+:\d+: F821 undefined name "
                     r"'undefined_helper' \(in OrkesSecretClient\.get_secret\)", out), out
    summary = parse_junit(tmp_path / "junit" / "lint.xml")
    assert summary.failed == 1 and summary.summary.startswith("lint: flake8: 1 new, 0 fixed, ")

    proc = _nox(envdir, tmp_path, "lint", sdk, "--absolute")
    assert proc.returncode != 0 and "absolute: no baseline" in _verdict(proc.stdout + proc.stderr, "lint")


def test_lint_uses_the_sdks_ruff_settings(envdir: Path, tmp_path: Path) -> None:
    sdk = _copy(tmp_path, '\n[tool.ruff]\nline-length = 100\n\n[tool.ruff.lint]\nselect = ["F", "E"]\n')
    proc = _nox(envdir, tmp_path, "lint", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    line = _verdict(out, "lint")
    assert "ruff (pyproject.toml [tool.ruff])" in line
    pre = int(re.search(r": 0 new, 0 fixed, (\d+) pre-existing", line).group(1))  # type: ignore[union-attr]
    assert pre >= 1
    _shift_and_add_undefined_name(sdk)
    proc = _nox(envdir, tmp_path, "lint", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f": 1 new, 0 fixed, {pre} pre-existing" in _verdict(out, "lint")
    assert "F821 Undefined name `undefined_helper` (in OrkesSecretClient.get_secret)" in out
    assert not (sdk / ".ruff_cache").exists()


def test_typecheck_names_a_new_undefined_name(envdir: Path, tmp_path: Path) -> None:
    sdk = _copy(tmp_path)
    proc = _nox(envdir, tmp_path, "typecheck", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert ": 0 new, 0 fixed, " in _verdict(out, "typecheck")
    _shift_and_add_undefined_name(sdk)
    proc = _nox(envdir, tmp_path, "typecheck", sdk)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ": 1 new, 0 fixed, " in _verdict(out, "typecheck")
    assert 'name-defined Name "undefined_helper" is not defined (in OrkesSecretClient.get_secret)' in out

    # Reviewed and accepted with a reason: listed, no longer failing, recorded in the SDK.
    proc = _nox(envdir, tmp_path, "typecheck", sdk, "--accept", "helper arrives in the next release")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^typecheck: mypy .*: 0 new, 1 accepted, 0 fixed, \d+ pre-existing \(vs backup ", out, re.M), out
    assert "(in OrkesSecretClient.get_secret) -- helper arrives in the next release" in out
    assert "undefined_helper" in (sdk / ".conductor-regen" / "accepted-findings.json").read_text()
    proc = _nox(envdir, tmp_path, "typecheck", sdk)
    assert proc.returncode == 0 and ": 0 new, 1 accepted, " in proc.stdout + proc.stderr
