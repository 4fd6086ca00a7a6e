"""Secret files (the demo credentials, env files): 0600 whatever the mode of an existing file,
never written or read through a symbolic link (issue 12, finding 15)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.secret_files import UnsafeSecretPath, read_private_text, write_env_file, write_private_text
from service.setup.seed import Credential, write_credentials

CREDENTIALS = {"acme": Credential("m_1", "Acme Motors", ["core_enterprise"], "0x" + "11" * 20, "cc_secret")}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "demo-credentials.json"
    write_credentials(path, CREDENTIALS)
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["acme"]["api_key"] == "cc_secret"


def test_existing_world_readable_credentials_file_ends_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "demo-credentials.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_credentials(path, CREDENTIALS)
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["acme"]["api_key"] == "cc_secret"


def test_symlink_at_the_credentials_path_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("untouched")
    target.chmod(0o644)
    link = tmp_path / "demo-credentials.json"
    link.symlink_to(target)
    with pytest.raises(UnsafeSecretPath):
        write_credentials(link, CREDENTIALS)
    assert target.read_text() == "untouched" and _mode(target) == 0o644
    assert link.is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_dangling_symlink_at_the_credentials_path_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "created-by-the-link.json"
    link = tmp_path / "demo-credentials.json"
    link.symlink_to(target)
    with pytest.raises(UnsafeSecretPath):
        write_credentials(link, CREDENTIALS)
    assert not target.exists()


def test_directory_at_a_secret_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    with pytest.raises(UnsafeSecretPath):
        write_private_text(tmp_path / "secret", "x")


def test_secret_file_is_not_read_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "shadow"
    target.write_text("CREDCHAIN_MASTER_SECRET=x\n")
    link = tmp_path / "gateway.env"
    link.symlink_to(target)
    with pytest.raises(UnsafeSecretPath):
        read_private_text(link)
    assert read_private_text(tmp_path / "missing.env") is None


def test_env_file_keeps_its_lines_and_ends_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "gateway.env"
    path.write_text("CREDCHAIN_MASTER_SECRET=s3cret\nCREDCHAIN_CONTRACT_ADDRESS=0xold\n")
    path.chmod(0o644)
    write_env_file(path, {"CREDCHAIN_CONTRACT_ADDRESS": "0xnew"})
    assert path.read_text() == "CREDCHAIN_MASTER_SECRET=s3cret\nCREDCHAIN_CONTRACT_ADDRESS=0xnew\n"
    assert _mode(path) == 0o600


def test_env_file_symlink_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    target = tmp_path / "shadow"
    target.write_text("keep\n")
    link = tmp_path / "gateway.env"
    link.symlink_to(target)
    with pytest.raises(UnsafeSecretPath):
        write_env_file(link, {"CREDCHAIN_CONTRACT_ADDRESS": "0xnew"})
    assert target.read_text() == "keep\n"


def test_deploy_refuses_a_symlinked_env_file_before_deploying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDCHAIN_RPC_URL", "http://127.0.0.1:9")  # never reached
    target = tmp_path / "shadow"
    target.write_text("keep\n")
    link = tmp_path / "gateway.env"
    link.symlink_to(target)
    monkeypatch.setenv("CREDCHAIN_OPERATOR_KEY", "0x" + "01" * 32)
    result = CliRunner().invoke(app, ["deploy", "--env-file", str(link)])
    assert result.exit_code == 2, result.output
    assert "symbolic link" in result.output
    assert target.read_text() == "keep\n"


def test_run_refuses_a_symlinked_credentials_file_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDCHAIN_RPC_URL", raising=False)
    target = tmp_path / "shadow.json"
    target.write_text("keep")
    link = tmp_path / "demo-credentials.json"
    link.symlink_to(target)
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    result = CliRunner().invoke(app, ["run", "--database-url", url, "--credentials", str(link)])
    assert result.exit_code == 2, result.output
    assert target.read_text() == "keep"
    assert not os.path.exists(tmp_path / "demo.sqlite")
