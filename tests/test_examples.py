"""The README's story cannot rot: examples/walkthrough.sh and then examples/relay.sh run end to end
against a fresh embedded gateway (`credchain run` as a process of its own, with its own var
directory), as a reader runs them against `make run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.anvil import REPO_ROOT, free_port
from tests.api.test_e2e_http import wait_until_answering

EXAMPLES = REPO_ROOT / "examples"

pytestmark = pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("curl") is None,
    reason="examples/*.sh need jq and curl on PATH",
)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh embedded demo on a free port, its database, chain and credentials under tmp_path;
    the environment the example scripts are run with."""
    var = tmp_path / "var"
    credentials = var / "demo-credentials.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    port = free_port()
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "service.cli", "run", "--port", str(port), "--reset"),
                *("--database-url", f"sqlite:///{var / 'credchain.sqlite'}"),
                *("--credentials", str(credentials)),
            ],
            cwd=tmp_path,
            env={**env, "CREDCHAIN_KEY_KDF_ITERATIONS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{api}/readyz", log, 60)
        yield {
            **env,
            "CREDCHAIN_API": api,
            "CREDCHAIN_CREDENTIALS": str(credentials),
            "CREDCHAIN_PYTHON": sys.executable,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _run(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(EXAMPLES / script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=90
    )


def test_the_walkthrough_then_the_relay_run_end_to_end_on_a_fresh_demo(
    demo: dict[str, str], tmp_path: Path
) -> None:
    walkthrough = _run("walkthrough.sh", demo, tmp_path)
    assert walkthrough.returncode == 0, walkthrough.stdout + walkthrough.stderr
    assert walkthrough.stdout.splitlines()[-1].startswith("walkthrough: done"), walkthrough.stdout
    relay = _run("relay.sh", demo, tmp_path)
    assert relay.returncode == 0, relay.stdout + relay.stderr
    assert relay.stdout.splitlines()[-1].startswith("relay: done"), relay.stdout


def _credentials(tmp_path: Path) -> Path:
    credentials = tmp_path / "demo-credentials.json"
    credentials.write_text('{"operator": {"id": "m_0", "api_key": "k"}}')
    return credentials


def _env(api: str, credentials: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    return {**env, "CREDCHAIN_API": api, "CREDCHAIN_CREDENTIALS": str(credentials)}


def test_the_walkthrough_stops_at_an_unexpected_status(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(  # answers 501 to every POST
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.05)
        done = _run("walkthrough.sh", _env(f"http://127.0.0.1:{port}", _credentials(tmp_path)), tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 1
    assert "FAILED: POST /v1/dev/clock answered 501, expected 200" in done.stderr
    assert "walkthrough: done" not in done.stdout


def test_the_walkthrough_stops_when_the_gateway_does_not_answer(tmp_path: Path) -> None:
    done = _run("walkthrough.sh", _env(f"http://127.0.0.1:{free_port()}", _credentials(tmp_path)), tmp_path)
    assert done.returncode != 0
    assert "walkthrough: done" not in done.stdout


def test_the_relay_needs_the_credentials_file(tmp_path: Path) -> None:
    done = _run("relay.sh", _env("http://127.0.0.1:1", tmp_path / "absent.json"), tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"relay: no credentials file at {tmp_path / 'absent.json'} (start the demo with make run)"
    )
