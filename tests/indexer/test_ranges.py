"""AdaptiveRange: how many blocks one eth_getLogs asks for."""

from __future__ import annotations

import pytest

from service.indexer.ranges import AdaptiveRange
from service.indexer.source import RpcError

REFUSED = RpcError("eth_getLogs", -32005, "too many results")


def test_grows_while_cheap_and_shrinks_when_crowded() -> None:
    ranges = AdaptiveRange(size=100, maximum=1_000, target_logs=1_000)
    ranges.succeeded(blocks=100, logs=10)
    assert ranges.size == 200
    ranges.succeeded(blocks=200, logs=1_000)
    assert ranges.size == 200
    ranges.succeeded(blocks=200, logs=5_000)
    assert ranges.size == 100
    for _ in range(10):
        ranges.succeeded(blocks=ranges.size, logs=0)
    assert ranges.size == 1_000


def test_a_clamped_range_does_not_grow() -> None:
    ranges = AdaptiveRange(size=100)
    ranges.succeeded(blocks=3, logs=0)
    assert ranges.size == 100


def test_refusals_halve_and_cap_growth_for_a_while() -> None:
    ranges = AdaptiveRange(size=64, probe_after=3)
    ranges.failed(REFUSED, blocks=64)
    assert ranges.size == 32
    ranges.succeeded(blocks=32, logs=0)
    ranges.succeeded(blocks=32, logs=0)
    assert ranges.size == 32
    ranges.succeeded(blocks=32, logs=0)
    assert ranges.size == 64


def test_refused_at_the_minimum_raises() -> None:
    ranges = AdaptiveRange(size=2, minimum=1)
    ranges.failed(REFUSED)
    assert ranges.size == 1
    with pytest.raises(RpcError):
        ranges.failed(REFUSED)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveRange(minimum=5, maximum=4)
    assert AdaptiveRange(size=10**9, maximum=100).size == 100
