"""/v1/alerts and /v1/alert-policy: the early-warning alerts a member owns (auditor and operator: all
of them), their acknowledgement and CSV export; the platform's and a financier's alert policy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import Connection

from service.alerts.policy import PLATFORM, effective_policy
from service.alerts.rules import RULES, SEVERITIES
from service.api.alerts import service
from service.api.alerts.schemas import AlertOut, AlertPage, PolicyIn, PolicyOut
from service.api.alerts.service import (
    AlertFilter,
    alert_of,
    find_alerts,
    policy_row,
    write_policy,
)
from service.api.csv_export import model_csv_response, wants_csv
from service.api.deps import Context, CurrentMember
from service.api.params import LedgerId
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember
from service.domain import FINANCIER, OPERATOR

router = APIRouter(tags=["alerts"])
MAX_PAGE = 200
STATUSES = ("open", "acknowledged", "resolved")
Format = Annotated[str | None, Query(alias="format", description="json (default) or csv")]
Accept = Annotated[str | None, Header()]
AMOUNT_FIELD = "buyer_indirect_exposure"


def _invalid(detail: str) -> ProblemError:
    return ProblemError(422, "invalid-request", "The request is not valid", detail)


@router.get("/v1/alerts", response_model=AlertPage)
def list_alerts(
    request: Request,
    context: Context,
    member: CurrentMember,
    status: str | None = Query(default=None, description="open, acknowledged or resolved"),
    rule: str | None = Query(default=None, description=f"one of {', '.join(RULES)}"),
    severity: str | None = Query(default=None, description="info, warning or critical"),
    subject: str | None = Query(
        default=None, max_length=80, description="an address, note id or document hash"
    ),
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
    fmt: Format = None,
    accept: Accept = None,
) -> AlertPage | Response:
    """The alerts the caller owns (auditor and operator: every alert, the platform's too), by id;
    JSON, or CSV with `?format=csv` or `Accept: text/csv`."""
    as_csv = wants_csv(fmt, accept)
    if status is not None and status not in STATUSES:
        raise _invalid(f"status must be one of {list(STATUSES)}")
    if rule is not None and rule not in RULES:
        raise _invalid(f"rule must be one of {list(RULES)}")
    if severity is not None and severity not in SEVERITIES:
        raise _invalid(f"severity must be one of {list(SEVERITIES)}")
    wanted = AlertFilter(status=status, rule=rule, severity=severity, subject=subject)
    page = find_alerts(context, member, wanted, cursor=cursor, limit=limit)
    if not as_csv:
        return page
    headers = {}
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return model_csv_response(AlertOut, page.items, "alerts", headers=headers)


@router.get("/v1/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: LedgerId, context: Context, member: CurrentMember) -> AlertOut:
    return alert_of(context, member, alert_id)


@router.post("/v1/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: LedgerId, context: Context, member: CurrentMember) -> AlertOut:
    """open -> acknowledged, by its owner (platform alerts: the operator). The alert still resolves
    when its condition clears; a double-financing alert is resolved by its acknowledgement."""
    return service.acknowledge_alert(context, member, alert_id)


def _policy_scope(member: ApiMember) -> str:
    if OPERATOR in member.role_names:
        return PLATFORM
    if FINANCIER in member.role_names:
        return member.address
    raise ProblemError(
        403,
        "forbidden",
        "Your roles do not allow this",
        "alert policies are the operator's (platform defaults) and each financier's (its overrides)",
        required_roles=[OPERATOR, FINANCIER],
    )


def _policy_out(conn: Connection, scope: str) -> PolicyOut:
    effective = effective_policy(conn, None if scope == PLATFORM else scope)
    overrides = {k: v for k, v in policy_row(conn, scope).items() if v is not None}
    values = asdict(effective)
    for amounts in (overrides, values):  # money travels as strings of minor units
        if AMOUNT_FIELD in amounts:
            amounts[AMOUNT_FIELD] = str(amounts[AMOUNT_FIELD])
    return PolicyOut(scope=scope, overrides=overrides, effective=values)


@router.get("/v1/alert-policy", response_model=PolicyOut)
def get_policy(context: Context, member: CurrentMember) -> PolicyOut:
    """The caller's alert policy: the operator's platform defaults, or a financier's overrides."""
    scope = _policy_scope(member)
    with context.engine.connect() as conn:
        return _policy_out(conn, scope)


@router.put("/v1/alert-policy", response_model=PolicyOut)
def put_policy(body: PolicyIn, context: Context, member: CurrentMember) -> PolicyOut:
    """Replace the caller's alert policy (fields left out are inherited); the closed-loop switch
    `block_offers_under_alert` is a financier's."""
    scope = _policy_scope(member)
    values: dict[str, Any] = body.model_dump(exclude_none=True)
    if AMOUNT_FIELD in values:
        values[AMOUNT_FIELD] = int(values[AMOUNT_FIELD])
    if scope == PLATFORM and "block_offers_under_alert" in values:
        raise _invalid("block_offers_under_alert is a financier's own choice, not a platform default")
    with context.engine.begin() as conn:
        write_policy(conn, scope, values, member.id)
        effective = effective_policy(conn, None if scope == PLATFORM else scope)
        if effective.utilisation_warning_bps > effective.utilisation_critical_bps:
            raise _invalid("the effective utilisation warning threshold would be above the critical one")
        return _policy_out(conn, scope)
