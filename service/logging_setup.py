"""Logging of the `credchain` processes, on stderr: plain text lines when stderr is a terminal, one
JSON object per line otherwise (`fmt="auto"`); `fmt="json"` or `"text"` forces one.

JSON lines carry no terminal colour: uvicorn passes an ANSI-coloured copy of its messages as the
`color_message` extra, which is dropped, and escape sequences are stripped from every value.

Only the CLI calls `configure_logging`, once at process start; library code just logs through
`logging.getLogger("credchain....")` and passes structured fields as `extra=`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# The attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}

LOG_FORMATS = ("auto", "json", "text")

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
"""CSI (colours, cursor), OSC (hyperlinks) and two-character escape sequences."""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text).replace("\x1b", "")


def _plain(value: Any) -> Any:
    return strip_ansi(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", **extra}` on one line; exceptions as `exc_info`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": strip_ansi(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exc_info"] = strip_ansi(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def resolve_format(fmt: str, stream: TextIO) -> str:
    """`json` or `text`: `auto` is text when `stream` is a terminal."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


class CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """A handler writing to whatever `sys.stderr` is when a record is emitted, not the stream it was
    when logging was configured: a command run in-process (tests' CliRunner, an embedding program)
    swaps and closes its stderr, and a handler bound to the old one would fail on every record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route the root logger to `stream` (by default the current stderr) as JSON lines
    (`fmt="json"`), plain text (`"text"`), or text on a terminal and JSON otherwise (`"auto"`)."""
    out = stream if stream is not None else sys.stderr
    handler: logging.StreamHandler[TextIO] = (
        logging.StreamHandler(out) if stream is not None else CurrentStderrHandler()
    )
    json_lines = resolve_format(fmt, out) == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
