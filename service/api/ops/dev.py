"""/v1/dev/clock: moves the in-process chain's clock forward (the embedded demo), so that notes can
reach maturity. Mounted only when the gateway runs on the embedded chain (`service.api.app`): on a
node the path does not exist (404 `not-found`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from service.api.context import AppContext
from service.api.deps import Context, Operator
from service.api.schemas import StrictModel

router = APIRouter(tags=["settlement tokens"])


class ClockAdvance(StrictModel):
    seconds: int = Field(ge=1, le=10 * 366 * 86_400, description="seconds to move the chain's clock forward")


class ClockOut(BaseModel):
    block_number: int
    block_time: int
    block_time_iso: str


@router.post("/v1/dev/clock", response_model=ClockOut)
def advance_clock(body: ClockAdvance, context: Context, _operator: Operator) -> ClockOut:
    """Move the in-process chain's clock forward and mine a block (the embedded demo only: not
    mounted on a real node), so that notes can reach maturity in a demo."""
    return advance_clock_by(context, body.seconds)


def advance_clock_by(context: AppContext, seconds: int) -> ClockOut:
    """Move the in-process chain's clock `seconds` forward, mine a block and wait for its index (the
    route's use case; the console's demo clock too)."""
    context.chain.advance_time(seconds)
    block = context.chain.w3.eth.get_block("latest")
    context.wait_indexed(int(block["number"]))
    when = int(block["timestamp"])
    return ClockOut(
        block_number=int(block["number"]),
        block_time=when,
        block_time_iso=datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z"),
    )
