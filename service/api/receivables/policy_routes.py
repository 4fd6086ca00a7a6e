"""/v1/receivable-policy: a financier's policy for evidence-backed receivables (minimum score and
attesters, four-way match, advance rate, rate by score band, exposure cap, auto-approval)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Context, Financier
from service.api.problems import ProblemError
from service.api.receivables.policies import read_policy, write_policy
from service.api.receivables.schemas import ReceivablePolicyIn, ReceivablePolicyOut

router = APIRouter(prefix="/v1/receivable-policy", tags=["receivables"])


@router.get("", response_model=ReceivablePolicyOut)
def get_receivable_policy(context: Context, financier: Financier) -> ReceivablePolicyOut:
    """The caller's policy; 404 `no-receivable-policy` before it set one."""
    with context.engine.connect() as conn:
        found = read_policy(conn, financier.address)
    if found is None:
        raise ProblemError(
            404,
            "no-receivable-policy",
            "No receivable policy",
            "you have not set a policy for evidence-backed receivables: PUT /v1/receivable-policy",
        )
    policy, updated_at = found
    return ReceivablePolicyOut.of(financier.address, policy, updated_at)


@router.put("", response_model=ReceivablePolicyOut)
def put_receivable_policy(
    body: ReceivablePolicyIn, context: Context, financier: Financier
) -> ReceivablePolicyOut:
    """Replace the caller's policy. With `auto_approve`, every receivable indexed from now on that
    meets it gets an offer at once (one per receivable)."""
    policy = body.to_policy()
    with context.engine.begin() as conn:
        updated_at = write_policy(conn, financier.address, policy, financier.id)
    return ReceivablePolicyOut.of(financier.address, policy, updated_at)
