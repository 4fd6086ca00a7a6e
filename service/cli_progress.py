"""Progress of the CLI's long work (`credchain index --until-block`, `credchain reconcile`).

On a terminal: a rich progress bar per task, with the target, the rate and the time left. Otherwise
(a service log, a pipe): a structured log line per task at the start, every `every` seconds and at
the end, with `task`, `done`, `total` and `rate` (units per second) as fields.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from service.indexer.progress import ProgressCallback

LOG_EVERY = 5.0
"""Seconds between progress log lines of one task."""

log = logging.getLogger("credchain.progress")


class RateColumn(ProgressColumn):
    """Units per second, e.g. `1,250 blocks/s`."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "")
        return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="progress.data.speed")


@dataclass
class _Logged:
    started: float
    last_line: float
    finished: bool = False


@dataclass
class ProgressLog:
    """The non-terminal reporter: log lines, not redrawn bars."""

    every: float = LOG_EVERY
    _tasks: dict[str, _Logged] = field(default_factory=dict)

    def __call__(self, task: str, done: int, total: int) -> None:
        now = time.monotonic()
        state = self._tasks.get(task)
        first = state is None
        if state is None:
            state = self._tasks[task] = _Logged(started=now, last_line=now)
        finished = done >= total
        if state.finished or not (first or finished or now - state.last_line >= self.every):
            return
        state.last_line = now
        state.finished = finished
        elapsed = now - state.started
        rate = done / elapsed if elapsed > 0 else 0.0
        log.info(
            "%s: %s of %s (%.1f/s)",
            task,
            done,
            total,
            rate,
            extra={"task": task, "done": done, "total": total, "rate": round(rate, 1)},
        )


@contextmanager
def progress_reporter(
    stream: TextIO | None = None, *, every: float = LOG_EVERY
) -> Iterator[ProgressCallback]:
    """A progress callback for the duration of the block: bars if `stream` (stderr) is a
    terminal, log lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield ProgressLog(every)
        return
    bars = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
    )
    tasks: dict[str, TaskID] = {}

    def update(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total, unit=task.split()[-1])
        bars.update(tasks[task], completed=done, total=total)

    with bars, _logs_above(bars, out):
        yield update


@contextmanager
def _logs_above(bars: Progress, out: TextIO) -> Iterator[None]:
    """Log lines meant for `out` printed above the bars instead of through them."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (out, sys.__stderr__, sys.stderr)
    ]
    previous = [h.setStream(_ConsoleStream(bars)) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


class _ConsoleStream(io.TextIOBase):
    """A text stream whose lines rich prints above its live progress display."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars

    def write(self, text: str) -> int:
        if text.strip():
            self._bars.console.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
        return len(text)
