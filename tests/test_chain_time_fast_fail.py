"""Chain time over HTTP: a node that did not answer is not waited for again by every pre-check."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from service.ledger.chain import UNREACHABLE_MEMORY_SECONDS, http_chain
from service.ledger.errors import LedgerUnavailable


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_after_the_node_failed_to_answer_chain_time_fails_at_once_for_a_moment(black_hole: str) -> None:
    chain = http_chain(black_hole, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable):
        chain.now()
    first = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable, match="did not answer a moment ago"):
        chain.now()
    second = time.monotonic() - started
    assert first >= 0.3 and second < 0.05


def test_after_the_moment_chain_time_asks_the_node_again(black_hole: str) -> None:
    chain = http_chain(black_hole, timeout=0.2)
    with pytest.raises(LedgerUnavailable):
        chain.now()
    time.sleep(UNREACHABLE_MEMORY_SECONDS + 0.05)
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable) as refused:
        chain.now()
    assert time.monotonic() - started >= 0.2 and "a moment ago" not in str(refused.value)
