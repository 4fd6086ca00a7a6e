"""Marking the stretches where a write only waits (for its block, for the index), so that whoever
runs writes may let another one work meanwhile (`service.api.write_capacity`: a few writes work at
once, many wait). Outside such a runner, `waiting()` does nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

_WAIT_HOOK: ContextVar[Callable[[], AbstractContextManager[object]] | None] = ContextVar(
    "credchain_wait_hook", default=None
)


def waiting() -> AbstractContextManager[object]:
    """A block in which this thread only waits (no CPU work, no locks held that another write may
    need: never inside a nonce reservation). Nested blocks are one wait."""
    hook = _WAIT_HOOK.get()
    return _waiting(hook) if hook is not None else nullcontext()


@contextmanager
def _waiting(hook: Callable[[], AbstractContextManager[object]]) -> Iterator[None]:
    token = _WAIT_HOOK.set(None)  # already waiting: a nested `waiting()` does nothing
    try:
        with hook():
            yield
    finally:
        _WAIT_HOOK.reset(token)


@contextmanager
def waits_marked_by(hook: Callable[[], AbstractContextManager[object]]) -> Iterator[None]:
    """Within this block (this thread or task's context), `waiting()` enters `hook()`."""
    token = _WAIT_HOOK.set(hook)
    try:
        yield
    finally:
        _WAIT_HOOK.reset(token)
