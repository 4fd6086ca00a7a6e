"""The head follower's wait after failures: short at first, growing, never beyond its cap."""

from __future__ import annotations

import random

from service.indexer.follower import FIRST_BACKOFF, follower_backoff


def test_the_followers_backoff_grows_with_failures_and_never_exceeds_the_cap() -> None:
    rng = random.Random(14)
    cap = 2.0
    waits = [[follower_backoff(failures, cap, rng) for failures in range(1, 60)] for _ in range(200)]
    assert max(max(run) for run in waits) <= cap
    assert min(run[0] for run in waits) >= FIRST_BACKOFF / 2  # the first retry comes soon
    assert max(run[0] for run in waits) <= FIRST_BACKOFF
    assert min(run[-1] for run in waits) >= cap / 2  # after an outage: between 1 and 2 s apart
    assert len({round(run[-1], 6) for run in waits}) > 100  # jittered: processes do not retry in step
