"""SDK resolution, path-escape guards, git cleanliness and disk-space checks on real trees."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from support.fake_sdk import PACKAGE, make_sdk, target_of

from conductor_regen.config import SdkConfig
from conductor_regen.errors import ConfigError, SdkError, VerificationError
from conductor_regen.checkout.target import (
    check_clean,
    check_disk_space,
    check_managed_paths,
    check_no_escape,
    git_dirty_paths,
    managed_size,
    resolve_sdk,
)
from conductor_regen.file_tree import safe_join


def test_resolves_a_checkout_to_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_sdk(tmp_path)
    monkeypatch.chdir(tmp_path)
    target = resolve_sdk(SdkConfig(root=Path("conductor-python")))
    assert target.root == root.resolve()
    assert target.root.is_absolute()
    assert target.package_dir == root.resolve() / PACKAGE
    assert target.http_dir == target.package_dir / "http"
    assert target.name == "conductor-python"
    assert target.managed == ("http", "adapters", "orkes")
    assert target.managed_paths() == tuple(target.package_dir / n for n in ("http", "adapters", "orkes"))


def test_no_root_selected() -> None:
    with pytest.raises(SdkError) as info:
        resolve_sdk(SdkConfig(root=None))
    assert info.value.message == "no SDK selected"
    assert "--sdk" in info.value.hint and "CONDUCTOR_SDK_ROOT" in info.value.hint


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SdkError, match="does not exist"):
        resolve_sdk(SdkConfig(root=tmp_path / "nope"))


def test_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SdkError, match="is not a directory"):
        resolve_sdk(SdkConfig(root=tmp_path / "file"))


def test_directory_without_http_is_not_an_sdk(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(SdkError) as info:
        resolve_sdk(SdkConfig(root=tmp_path))
    assert "not a Conductor Python SDK checkout" in info.value.message
    assert "\n" not in info.value.message and "\n" not in info.value.hint
    assert "conductor-python" in info.value.hint


@pytest.mark.parametrize(
    "managed",
    [("../outside",), ("/etc",), ("",), ("a\\b",), ("http", "http/api"), ("http", "http"), (".regen-staging",), ()],
)
def test_bad_managed_names(tmp_path: Path, managed: tuple[str, ...]) -> None:
    root = make_sdk(tmp_path)
    with pytest.raises(ConfigError):
        resolve_sdk(SdkConfig(root=root, managed=managed))


def test_nested_managed_name_is_allowed(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = resolve_sdk(SdkConfig(root=root, managed=("http", "adapters/models")))
    assert target.managed == ("http", "adapters/models")


def test_bad_package_dir(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    with pytest.raises(ConfigError):
        resolve_sdk(SdkConfig(root=root, package_dir="../elsewhere"))


def test_managed_folder_symlinked_out_of_the_sdk_is_refused(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    orkes = root / PACKAGE / "orkes"
    for child in orkes.iterdir():
        child.unlink()
    orkes.rmdir()
    os.symlink(outside, orkes)
    with pytest.raises(SdkError, match="symlink"):
        target_of(root)


def test_managed_folder_symlinked_inside_the_sdk_is_still_refused(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    orkes = target.package_dir / "orkes"
    os.rename(orkes, root / "orkes-real")
    os.symlink(root / "orkes-real", orkes)
    with pytest.raises(SdkError, match="symlink"):
        check_managed_paths(target)


def test_check_no_escape(tmp_path: Path) -> None:
    root = make_sdk(tmp_path)
    target = target_of(root)
    check_no_escape(target, target.http_dir / "api")
    check_no_escape(target, target.http_dir / "not-yet-created")
    os.symlink(tmp_path, target.package_dir / "escape")
    with pytest.raises(SdkError, match="outside the SDK"):
        check_no_escape(target, target.package_dir / "escape" / "x")
    with pytest.raises(SdkError):
        check_no_escape(target, root / ".." / "elsewhere")


def test_safe_join_accepts_plain_names(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "api/workflow_api.py") == tmp_path / "api" / "workflow_api.py"
    assert safe_join(tmp_path, "./models/x.py") == tmp_path / "models" / "x.py"


@pytest.mark.parametrize("name", ["../x.py", "/etc/passwd", "a/../../x", "", "a\x00b", "..", "a\\..\\b"])
def test_safe_join_rejects_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(VerificationError):
        safe_join(tmp_path / "base", name)


def test_safe_join_rejects_symlink_out(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", base / "link")
    with pytest.raises(VerificationError, match="outside"):
        safe_join(base, "link/passwd")


def test_not_a_git_repo_counts_as_clean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_sdk(tmp_path)
    # Keep git from finding a repository above tmp_path.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="conductor_regen.checkout.target"):
        assert git_dirty_paths(target_of(root)) == []
    assert "not a git work tree" in caplog.text


def test_clean_repo_passes(tmp_path: Path) -> None:
    root = make_sdk(tmp_path, git=True)
    target = target_of(root)
    assert git_dirty_paths(target) == []
    assert check_clean(target, allow_dirty=False) == []


def test_dirty_managed_folders_are_refused(tmp_path: Path) -> None:
    root = make_sdk(tmp_path, git=True)
    target = target_of(root)
    (target.http_dir / "api_client.py").write_text("edited\n")
    (target.package_dir / "orkes" / "new file.py").write_text("untracked\n")
    (root / "README.md").write_text("outside the managed folders: not our business\n")
    dirty = git_dirty_paths(target)
    assert sorted(dirty) == sorted(
        [f"{PACKAGE.as_posix()}/http/api_client.py", f"{PACKAGE.as_posix()}/orkes/new file.py"]
    )
    with pytest.raises(SdkError) as info:
        check_clean(target, allow_dirty=False)
    assert "2 uncommitted change(s)" in info.value.message
    assert "api_client.py" in info.value.message
    assert "commit or stash" in info.value.hint and "--allow-dirty" in info.value.hint
    assert check_clean(target, allow_dirty=True) == dirty


def test_dirty_list_is_capped_at_five(tmp_path: Path) -> None:
    root = make_sdk(tmp_path, git=True)
    target = target_of(root)
    for i in range(8):
        (target.http_dir / f"extra_{i}.py").write_text("x\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    with pytest.raises(SdkError) as info:
        check_clean(target, allow_dirty=False)
    assert "(+3 more)" in info.value.message
    assert info.value.message.count("extra_") == 5


def test_rename_counts_once(tmp_path: Path) -> None:
    root = make_sdk(tmp_path, git=True)
    target = target_of(root)
    orkes = f"{PACKAGE.as_posix()}/orkes"
    subprocess.run(["git", "mv", f"{orkes}/orkes_clients.py", f"{orkes}/clients.py"], cwd=root, check=True)
    assert git_dirty_paths(target) == [f"{PACKAGE.as_posix()}/orkes/clients.py"]


def test_disk_space(tmp_path: Path) -> None:
    check_disk_space(tmp_path, 1)
    check_disk_space(tmp_path / "not" / "yet", 1)  # measured on the nearest existing parent
    with pytest.raises(SdkError, match="not enough free space"):
        check_disk_space(tmp_path, 1 << 62)


def test_managed_size_counts_files(tmp_path: Path) -> None:
    target = target_of(make_sdk(tmp_path))
    assert managed_size(target) > 0
