"""The alerts inbox (every member): its alerts (auditor and operator: all of them), what triggered
each one (the rule, its subject and the figures it saw), and acknowledging one: the REST API's alert
use cases (`service.api.alerts.service`), the write under the idempotency journal."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from service.api.alerts.service import AlertFilter, acknowledge_alert, alert_of, find_alerts
from service.api.problems import ProblemError
from service.console.alerts.figures import readable
from service.console.web import (
    IDEMPOTENCY_FIELD,
    ConsoleContext,
    Form,
    User,
    console_router,
    render,
    translator,
)
from service.console.writes import form_key, perform
from service.domain import OPERATOR, parse_ledger_id

router = console_router("/alerts")
STATUSES: Final = ("open", "acknowledged", "resolved")
LIST_LIMIT: Final = 200


def _alert_id(raw: str) -> int:
    alert_id = parse_ledger_id(raw)
    if alert_id is None:
        raise ProblemError(404, "not-found", "Not found", f"no alert {raw}")
    return alert_id


@router.get("")
def inbox(
    request: Request,
    context: ConsoleContext,
    user: User,
    status: Annotated[str | None, Query(max_length=20)] = "open",
) -> Response:
    shown = status if status in STATUSES else None
    page = find_alerts(context, user.member, AlertFilter(status=shown), limit=LIST_LIMIT)
    return render(request, "alerts/inbox.html", user, alerts=page.items, shown=shown, statuses=STATUSES)


@router.get("/{alert_id}")
def alert_page(
    request: Request,
    alert_id: str,
    context: ConsoleContext,
    user: User,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    alert = alert_of(context, user.member, _alert_id(alert_id))
    t = translator(request)
    return render(
        request,
        "alerts/alert.html",
        user,
        alert=alert,
        figures=readable(t, alert.figures),
        may_acknowledge=alert.status == "open"
        and (alert.owner is not None or OPERATOR in user.member.role_names),
        message=t("alert_acknowledged") if done == "ack" else None,
    )


@router.post("/{alert_id}/acknowledge")
async def acknowledge(
    request: Request, alert_id: str, context: ConsoleContext, user: User, form: Form
) -> Response:
    t = translator(request)
    wanted = _alert_id(alert_id)
    outcome = await perform(
        context,
        t,
        user,
        form_key(form.get(IDEMPOTENCY_FIELD)),
        f"/v1/alerts/{wanted}/acknowledge",
        None,
        lambda: (200, acknowledge_alert(context, user.member, wanted)),
    )
    if not outcome.ok:
        alert = alert_of(context, user.member, wanted)
        return render(
            request,
            "alerts/alert.html",
            user,
            status=outcome.status,
            alert=alert,
            figures=readable(t, alert.figures),
            may_acknowledge=False,
            errors=outcome.errors,
        )
    return RedirectResponse(f"/console/alerts/{wanted}?done=ack", status_code=303)
