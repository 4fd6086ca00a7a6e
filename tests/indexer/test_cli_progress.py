"""Progress of `credchain index --until-block` and `credchain reconcile` off a terminal, and
`reconcile --json`."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from service.cli import app
from service.cli_progress import ProgressLog, progress_reporter
from service.db.models import Note
from service.db.session import make_engine
from service.ledger.chain import Chain
from tests.anvil import REPO_ROOT
from tests.consortium import deploy_consortium


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_progress_log_writes_the_first_every_nth_second_and_the_last_line_with_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.progress")
    report = ProgressLog(every=3600)
    for done in range(11):
        report("blocks", done, 10)
    report("blocks", 10, 10)
    fields = [(r.task, r.done, r.total) for r in caplog.records]  # type: ignore[attr-defined]
    assert fields == [("blocks", 0, 10), ("blocks", 10, 10)]
    assert all(isinstance(r.rate, float) for r in caplog.records)  # type: ignore[attr-defined]


def test_index_and_reconcile_log_structured_progress_and_reconcile_json_has_the_counts(
    anvil: Chain, tmp_path: Path
) -> None:
    first = int(anvil.w3.eth.block_number) + 1
    consortium = deploy_consortium(anvil)
    root = consortium.active_note(1_000)
    head = int(anvil.w3.eth.block_number)
    database = f"sqlite:///{tmp_path / 'index.sqlite'}"
    url = anvil.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    common = ["--rpc-url", url, "--database-url", database, "--contract", consortium.ledger.address]
    runner = CliRunner()

    indexed = runner.invoke(
        app,
        ["index", *common, "--from-block", str(first), "--until-block", str(head), "--log-format", "json"],
    )
    assert indexed.exit_code == 0, indexed.output
    blocks = [line for line in _json_lines(indexed.stderr) if line.get("task") == "blocks"]
    assert blocks[0]["done"] == 0 and blocks[-1]["done"] == blocks[-1]["total"] == head - first + 1
    assert all("rate" in line for line in blocks)

    clean = runner.invoke(app, ["reconcile", *common, "--from-block", str(first), "--json"])
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.stdout)
    assert report["clean"] is True and report["differences"] == []
    assert report["counts"]["notes"] == 1 and report["counts"]["events"] > 0
    tasks = {line["task"] for line in _json_lines(clean.stderr) if "task" in line}
    assert tasks == {"notes", "event blocks"}

    engine = make_engine(database)
    with engine.begin() as conn:
        conn.execute(update(Note).where(Note.id == root).values(status=1))
    engine.dispose()
    differs = runner.invoke(app, ["reconcile", *common, "--no-events", "--json"])
    assert differs.exit_code == 1
    report = json.loads(differs.stdout)
    assert report["differences_count"] == 1 and report["counts"]["events"] is None
    assert report["differences"][0] == {
        "kind": "field_mismatch",
        "entity": "note",
        "key": str(root),
        "field": "status",
        "sql": "1",
        "chain": "2",
        "message": f"note {root}: status is 1 in SQL, 2 on chain",
    }


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_a_bar_with_the_target_and_no_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.progress")
    out = _Terminal()
    with progress_reporter(out) as report:
        for done in range(0, 2_001, 500):
            report("blocks", done, 2_000)
    assert "2000/2000" in out.getvalue() and "blocks" in out.getvalue()
    assert caplog.records == []


def test_following_the_head_reports_the_backfill_then_stops_cleanly_on_sigterm(
    anvil: Chain, tmp_path: Path
) -> None:
    first = int(anvil.w3.eth.block_number) + 1
    consortium = deploy_consortium(anvil)
    head = int(anvil.w3.eth.block_number)
    env = dict(os.environ, CREDCHAIN_CONTRACT_ADDRESS=consortium.ledger.address)
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "index",
        "--rpc-url",
        anvil.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "--database-url",
        f"sqlite:///{tmp_path / 'index.sqlite'}",
        "--from-block",
        str(first),
        "--poll-interval",
        "0.1",
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    watchdog = threading.Timer(60, process.kill)  # a silent indexer fails the test, never hangs it
    watchdog.start()
    done: dict[str, object] = {}
    for line in process.stderr:
        entry = json.loads(line)
        if entry.get("task") == "blocks" and entry["done"] == entry["total"]:
            done = entry
            break
    process.send_signal(signal.SIGTERM)
    watchdog.cancel()
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert done["total"] >= head - first + 1  # type: ignore[operator]


def test_on_a_terminal_log_lines_print_above_the_bar_and_the_handler_gets_its_stream_back() -> None:
    out = _Terminal()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with progress_reporter(out) as report:
            report("notes", 1, 2)
            logging.getLogger("credchain.test").warning("batch not applied")
            assert handler.stream is not out
        assert handler.stream is out
    finally:
        root.removeHandler(handler)
    assert "batch not applied" in out.getvalue()
