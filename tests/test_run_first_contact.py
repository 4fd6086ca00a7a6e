"""`credchain run` and `make run` on first contact: the port (option, environment variable, one
clear line when it is taken, before anything is written) and a `run` recipe that needs no npm."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.anvil import REPO_ROOT

runner = CliRunner()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_in_use_is_one_line_and_nothing_is_written(tmp_path: Path, taken_port: int) -> None:
    database = tmp_path / "var" / "credchain.sqlite"
    result = runner.invoke(
        app, ["run", "--port", str(taken_port), "--database-url", f"sqlite:///{database}", "--reset"]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"port {taken_port} on 127.0.0.1 is in use: stop what serves it or choose another port "
        "(--port, CREDCHAIN_PORT, make run PORT=...)"
    ]
    assert not (tmp_path / "var").exists()


def test_credchain_port_sets_the_port(tmp_path: Path, taken_port: int) -> None:
    database = tmp_path / "credchain.sqlite"
    result = runner.invoke(
        app, ["run", "--database-url", f"sqlite:///{database}"], env={"CREDCHAIN_PORT": str(taken_port)}
    )
    assert result.exit_code == 2
    assert f"port {taken_port} on 127.0.0.1 is in use" in result.stderr
    assert not database.exists()


def test_reset_against_a_node_is_a_usage_error() -> None:
    result = runner.invoke(app, ["run", "--rpc-url", "http://127.0.0.1:1", "--reset"])
    assert result.exit_code == 2
    assert "only the embedded demo is started over" in result.stderr


def _make_run_dry(tmp_path: Path, *arguments: str) -> str:
    """`make -n run` in a copy of the Makefile whose Python side is installed (its stamp newer than
    pyproject.toml), with a PATH that has make and a shell but no npm."""
    shutil.copy(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch(mode=0o755)
    os.utime(tmp_path / "pyproject.toml", (0, 0))
    (tmp_path / ".venv" / ".installed").touch()
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("make", "bash"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    env = {"PATH": str(tools)}
    done = subprocess.run(
        ["make", "-n", "run", *arguments], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_make_run_needs_no_npm(tmp_path: Path) -> None:
    recipe = _make_run_dry(tmp_path)
    assert "npm" not in recipe
    assert recipe.split() == [".venv/bin/credchain", "run"]


def test_make_run_passes_the_port_and_reset(tmp_path: Path) -> None:
    assert _make_run_dry(tmp_path, "PORT=8123", "RESET=1").split() == [
        ".venv/bin/credchain",
        "run",
        "--port",
        "8123",
        "--reset",
    ]
