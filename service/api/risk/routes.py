"""/v1/risk: exposure by obligor, maturity ladder, concentration by holder and the overdue list, for
financiers (the obligors they grant credit to or hold notes of), auditors and the operator (all).
Each answers JSON, or CSV with `?format=csv` or `Accept: text/csv` (amounts as integer strings).
The views are computed by `service.api.risk.service` (how, there)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel

from service.api.csv_export import model_csv_response, wants_csv
from service.api.deps import Context, CurrentMember
from service.api.risk import service
from service.api.risk.schemas import (
    ConcentrationOut,
    ConcentrationRow,
    EvidenceExposureOut,
    EvidenceExposureRow,
    ExposureOut,
    ExposureRow,
    LadderOut,
    LadderRow,
    OverdueOut,
    OverdueRow,
)

router = APIRouter(prefix="/v1/risk", tags=["risk"])
Format = Annotated[str | None, Query(alias="format", description="json (default) or csv")]
Accept = Annotated[str | None, Header()]


@router.get("/exposure", response_model=ExposureOut)
def exposure(context: Context, member: CurrentMember, fmt: Format = None, accept: Accept = None) -> Response:
    """By obligor: credit limit, the caller's own grant (financiers), outstanding as the ledger counts
    it, headroom, and the live and overdue notes with their unpaid remainders."""
    view = service.exposure(context, member)
    if wants_csv(fmt, accept):
        return model_csv_response(ExposureRow, view.items, "exposure")
    return _json(view)


@router.get("/maturity-ladder", response_model=LadderOut)
def maturity_ladder(
    context: Context, member: CurrentMember, fmt: Format = None, accept: Accept = None
) -> Response:
    """Unpaid remainders of live notes by ISO week of maturity and currency (weeks already past
    included: what is overdue stays in the week it fell due)."""
    view = service.maturity_ladder(context, member)
    if wants_csv(fmt, accept):
        return model_csv_response(LadderRow, view.items, "maturity-ladder")
    return _json(view)


@router.get("/concentration", response_model=ConcentrationOut)
def concentration(
    context: Context, member: CurrentMember, fmt: Format = None, accept: Accept = None
) -> Response:
    """Unpaid remainders of live notes by holder and currency, largest first, with each holder's
    share of the currency's total in basis points (rounded down)."""
    view = service.concentration(context, member)
    if wants_csv(fmt, accept):
        return model_csv_response(ConcentrationRow, view.items, "concentration")
    return _json(view)


@router.get("/overdue", response_model=OverdueOut)
def overdue(context: Context, member: CurrentMember, fmt: Format = None, accept: Accept = None) -> Response:
    """Every overdue note (marked or not), oldest maturity first."""
    view = service.overdue(context, member)
    if wants_csv(fmt, accept):
        return model_csv_response(OverdueRow, view.items, "overdue")
    return _json(view)


@router.get("/evidence-exposure", response_model=EvidenceExposureOut)
def evidence_exposure(
    context: Context, member: CurrentMember, fmt: Format = None, accept: Accept = None
) -> Response:
    """Evidence-backed receivables by supplier (its debt as obligor of record) and by buyer (the
    indirect exposure its credit line does not show): live receivables, unpaid remainder, the part
    financed (held by others than the supplier) and overdue. A financier sees the suppliers in its
    risk scope (those that approved it with a grant, or whose notes it holds)."""
    view = service.evidence_exposure(context, member)
    if wants_csv(fmt, accept):
        return model_csv_response(EvidenceExposureRow, view.items, "evidence-exposure")
    return _json(view)


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")
