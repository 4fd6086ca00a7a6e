"""The explainable credit score of a supplier for evidence-backed receivables: 0..1000 points.

Computed from ledger data only (what the index holds of the ledger's events), in integer arithmetic:
the same `ScoreInputs` always give the same score, and every factor is shown with its value, its
weight (the most points it can add) and its contribution. No model, no floats.

Each factor turns its value into a fraction `num / den` between 0 and 1 (capped), and contributes
``weight * num // den`` points (rounded down). The total is the sum of the contributions.

Factors (weight: value -> fraction):

* attested_volume (150): attested invoice amount of the last 12 months, minor units
  -> volume / 100,000,000 (1,000,000.00 in a 2-decimal currency), capped at 1
* attested_count (100): attested records of the last 12 months -> count / 24, capped at 1
* distinct_buyers (75): distinct buyers of those records -> buyers / 5, capped at 1
* distinct_attesters (75): distinct data providers attesting them -> attesters / 3, capped at 1
* four_way_match (150): its receivables of the last 12 months whose evidence holds an order, a
  delivery, an acceptance and an invoice, the last three attested -> complete / receivables; 0
  without receivables
* repayment (200): its evidence-backed notes settled on time, late, overdue, written off
  -> (on_time + late / 2) / (on_time + late + overdue + written_off); 1/2 without history
* exposure (100): outstanding of its own notes against its credit limit
  -> (limit - outstanding) / limit, at least 0; 0 without a limit
* buyer_concentration (75): largest buyer's share of the attested volume, bps
  -> (10,000 - share) / 10,000; 1 without volume
* velocity (75): open velocity alerts on its notes (the early-warning rule) -> 1 without, 0 with any

Weights sum to 1000. An attested record is one with at least one live (unrevoked) attestation; a
record counts in the window when it was registered within the last 365 days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

BPS: Final = 10_000
MAX_SCORE: Final = 1_000
VOLUME_FULL: Final = 100_000_000
"""Attested volume (minor units) that earns the whole volume weight."""
COUNT_FULL: Final = 24
BUYERS_FULL: Final = 5
ATTESTERS_FULL: Final = 3
WINDOW_DAYS: Final = 365


@dataclass(frozen=True)
class ScoreInputs:
    """What the score reads; the SQL in `service.receivables.inputs` builds it from the index."""

    attested_volume: int = 0
    attested_count: int = 0
    distinct_buyers: int = 0
    distinct_attesters: int = 0
    receivables: int = 0
    four_way_complete: int = 0
    settled_on_time: int = 0
    settled_late: int = 0
    overdue: int = 0
    written_off: int = 0
    outstanding: int = 0
    credit_limit: int = 0
    largest_buyer_volume: int = 0
    velocity_alerts: int = 0


@dataclass(frozen=True)
class Factor:
    """One line of the score: its value (as shown), the weight, the fraction earned and the points."""

    name: str
    value: str
    weight: int
    fraction_bps: int
    contribution: int


@dataclass(frozen=True)
class Score:
    total: int
    factors: tuple[Factor, ...]


def _capped(num: int, den: int) -> tuple[int, int]:
    """`num / den` as a fraction capped to [0, 1]."""
    if den <= 0:
        return 0, 1
    return max(0, min(num, den)), den


def _volume(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return str(i.attested_volume), _capped(i.attested_volume, VOLUME_FULL)


def _count(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return str(i.attested_count), _capped(i.attested_count, COUNT_FULL)


def _buyers(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return str(i.distinct_buyers), _capped(i.distinct_buyers, BUYERS_FULL)


def _attesters(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return str(i.distinct_attesters), _capped(i.distinct_attesters, ATTESTERS_FULL)


def _four_way(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return f"{i.four_way_complete}/{i.receivables}", _capped(i.four_way_complete, i.receivables)


def _repayment(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    value = (
        f"on_time={i.settled_on_time} late={i.settled_late} overdue={i.overdue} written_off={i.written_off}"
    )
    history = i.settled_on_time + i.settled_late + i.overdue + i.written_off
    if history == 0:
        return value, (1, 2)
    return value, _capped(2 * i.settled_on_time + i.settled_late, 2 * history)


def _exposure(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    value = f"{i.outstanding}/{i.credit_limit}"
    if i.credit_limit <= 0:
        return value, (0, 1)
    return value, _capped(i.credit_limit - i.outstanding, i.credit_limit)


def _concentration(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    if i.attested_volume <= 0:
        return "0", (1, 1)
    share = min(BPS, i.largest_buyer_volume * BPS // i.attested_volume)
    return str(share), (BPS - share, BPS)


def _velocity(i: ScoreInputs) -> tuple[str, tuple[int, int]]:
    return str(i.velocity_alerts), ((0, 1) if i.velocity_alerts > 0 else (1, 1))


FACTORS: Final[tuple[tuple[str, int, Callable[[ScoreInputs], tuple[str, tuple[int, int]]]], ...]] = (
    ("attested_volume", 150, _volume),
    ("attested_count", 100, _count),
    ("distinct_buyers", 75, _buyers),
    ("distinct_attesters", 75, _attesters),
    ("four_way_match", 150, _four_way),
    ("repayment", 200, _repayment),
    ("exposure", 100, _exposure),
    ("buyer_concentration", 75, _concentration),
    ("velocity", 75, _velocity),
)


def score(inputs: ScoreInputs) -> Score:
    """The score of `inputs`: every factor, then the total (0..1000)."""
    factors = []
    for name, weight, rule in FACTORS:
        value, (num, den) = rule(inputs)
        factors.append(Factor(name, value, weight, num * BPS // den, weight * num // den))
    return Score(sum(f.contribution for f in factors), tuple(factors))
