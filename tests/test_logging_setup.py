"""Log lines: JSON without terminal colour when not on a terminal, text when asked."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from service.logging_setup import configure_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_no_escape_characters_from_uvicorns_colour_copy() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s", "http://127.0.0.1:8000", extra={"color_message": "\x1b[1m%s\x1b[0m"}
    )
    logging.getLogger("credchain.x").warning("\x1b[31mred\x1b[0m %s", "text", extra={"note": "\x1b[2mdim"})
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert [json.loads(line)["message"] for line in lines] == [
        "Uvicorn running on http://127.0.0.1:8000",
        "red text",
    ]
    assert json.loads(lines[1])["note"] == "dim"


def test_auto_format_writes_json_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    configure_logging("INFO", "auto", out)
    logging.getLogger("credchain.x").info("hello")
    assert json.loads(out.getvalue())["message"] == "hello"


def test_auto_format_writes_text_on_a_terminal() -> None:
    out = _Terminal()
    configure_logging("INFO", "auto", out)
    logging.getLogger("credchain.x").info("hello")
    assert out.getvalue().rstrip().endswith("INFO credchain.x: hello")


def test_a_forced_text_format_is_not_json_off_a_terminal() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    logging.getLogger("credchain.x").info("hello")
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.getvalue())
    assert "INFO credchain.x: hello" in out.getvalue()


def test_the_default_handler_writes_to_stderr_as_it_is_when_a_record_is_emitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_logging("INFO", "text")
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)  # as an in-process command runner does
    logging.getLogger("credchain.x").warning("after the swap")
    assert "after the swap" in swapped.getvalue()
