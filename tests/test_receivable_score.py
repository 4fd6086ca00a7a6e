"""The credit score of evidence-backed receivables (service/receivables/score.py): worked examples
computed by hand (inputs -> each factor's points -> total), then properties.

Points per factor: ``weight * num // den`` with the fractions of the module's docstring; the
weights are volume 150, count 100, buyers 75, attesters 75, four-way 150, repayment 200,
exposure 100, concentration 75, velocity 75.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.receivables.score import FACTORS, MAX_SCORE, ScoreInputs, score

NAMES = tuple(name for name, _, _ in FACTORS)

# inputs, points in the order volume, count, buyers, attesters, four-way, repayment, exposure,
# concentration, velocity; total
WORKED = [
    pytest.param(
        ScoreInputs(),
        # nothing attested: repayment 200 * 1/2 without history; no volume is no concentration
        (0, 0, 0, 0, 0, 100, 0, 75, 75),
        250,
        id="new-supplier",
    ),
    pytest.param(
        ScoreInputs(
            attested_volume=10_000_000,
            attested_count=4,
            distinct_buyers=1,
            distinct_attesters=3,
            receivables=1,
            four_way_complete=1,
            outstanding=10_000_000,
            credit_limit=50_000_000,
            largest_buyer_volume=10_000_000,
        ),
        # 150*10M/100M=15; 100*4//24=16; 75*1//5=15; 75*3/3; 150*1/1; 100; 100*40M//50M=80;
        # one buyer holds 10,000 bps -> 0; no velocity alert -> 75
        (15, 16, 15, 75, 150, 100, 80, 0, 75),
        526,
        id="four-way-matched-first-receivable",
    ),
    pytest.param(
        ScoreInputs(
            attested_volume=10_000_000,
            attested_count=3,
            distinct_buyers=1,
            distinct_attesters=2,
            receivables=1,
            four_way_complete=0,
            outstanding=10_000_000,
            credit_limit=50_000_000,
            largest_buyer_volume=10_000_000,
        ),
        # the quality lab revoked the acceptance report: 100*3//24=12; 75*2//3=50; four-way 0/1
        (15, 12, 15, 50, 0, 100, 80, 0, 75),
        347,
        id="acceptance-attestation-revoked",
    ),
    pytest.param(
        ScoreInputs(
            attested_volume=200_000_000,
            attested_count=30,
            distinct_buyers=6,
            distinct_attesters=4,
            receivables=10,
            four_way_complete=9,
            settled_on_time=8,
            settled_late=1,
            overdue=1,
            outstanding=30_000_000,
            credit_limit=100_000_000,
            largest_buyer_volume=50_000_000,
            velocity_alerts=1,
        ),
        # capped: 150, 100, 75, 75; 150*9//10=135; 200*(16+1)//20=170; 100*70M//100M=70;
        # share 2,500 bps -> 75*7,500//10,000=56; a velocity alert -> 0
        (150, 100, 75, 75, 135, 170, 70, 56, 0),
        831,
        id="established-supplier",
    ),
    pytest.param(
        ScoreInputs(written_off=2, outstanding=60, credit_limit=50),
        # only write-offs: 0 of 4 half-points; outstanding above the limit -> 0
        (0, 0, 0, 0, 0, 0, 0, 75, 75),
        150,
        id="defaulted-over-limit",
    ),
]


@pytest.mark.parametrize(("inputs", "points", "total"), WORKED)
def test_worked_example_gives_each_factor_and_the_total(
    inputs: ScoreInputs, points: tuple[int, ...], total: int
) -> None:
    result = score(inputs)
    assert tuple(f.name for f in result.factors) == NAMES
    assert tuple(f.contribution for f in result.factors) == points
    assert result.total == total


def test_weights_sum_to_the_maximum_score() -> None:
    assert sum(f.weight for f in score(ScoreInputs()).factors) == MAX_SCORE


def test_factor_shows_its_value_and_fraction() -> None:
    factors = {f.name: f for f in score(WORKED[1].values[0]).factors}  # type: ignore[arg-type]
    assert factors["four_way_match"].value == "1/1"
    assert factors["exposure"].value == "10000000/50000000"
    assert factors["exposure"].fraction_bps == 8_000
    assert factors["buyer_concentration"].value == "10000"
    assert factors["repayment"].value == "on_time=0 late=0 overdue=0 written_off=0"


counts = st.integers(min_value=0, max_value=1_000)
amounts = st.integers(min_value=0, max_value=10**12)


@st.composite
def inputs(draw: st.DrawFn) -> ScoreInputs:
    volume = draw(amounts)
    receivables = draw(counts)
    return ScoreInputs(
        attested_volume=volume,
        attested_count=draw(counts),
        distinct_buyers=draw(counts),
        distinct_attesters=draw(counts),
        receivables=receivables,
        four_way_complete=draw(st.integers(min_value=0, max_value=receivables)),
        settled_on_time=draw(counts),
        settled_late=draw(counts),
        overdue=draw(counts),
        written_off=draw(counts),
        outstanding=draw(amounts),
        credit_limit=draw(amounts),
        largest_buyer_volume=draw(st.integers(min_value=0, max_value=volume)),
        velocity_alerts=draw(st.integers(min_value=0, max_value=3)),
    )


@given(inputs(), st.integers(min_value=1, max_value=1_000))
def test_more_on_time_repayments_never_lower_the_score(base: ScoreInputs, more: int) -> None:
    better = replace(base, settled_on_time=base.settled_on_time + more)
    assert score(better).total >= score(base).total


@given(inputs())
def test_score_is_between_0_and_1000_and_the_sum_of_its_factors(base: ScoreInputs) -> None:
    result = score(base)
    assert 0 <= result.total <= MAX_SCORE
    assert result.total == sum(f.contribution for f in result.factors)
    assert all(0 <= f.contribution <= f.weight for f in result.factors)


@given(inputs())
def test_same_inputs_give_the_same_score(base: ScoreInputs) -> None:
    assert score(base) == score(replace(base))
