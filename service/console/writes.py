"""Console writes: the same use case the REST route runs, under the same idempotency journal and
write capacity, with the form's Idempotency-Key (one per rendered form: a double click, or the
form sent again, answers from the journal instead of acting twice). Refusals come back as
problem+json bodies, mapped to the form field they concern."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from service.api.context import AppContext
from service.api.idempotency import MAX_KEY_LENGTH, run_idempotent
from service.api.problems import ProblemError, ledger_problem
from service.api.writes import Answer
from service.console.i18n import Translator
from service.console.money import AmountError
from service.console.sessions import SessionUser
from service.ledger.errors import LedgerError

KEY_PREFIX = "console-"

PROBLEM_FIELDS: dict[str, str] = {
    "amounts-do-not-sum": "parts",
    "insufficient-credit-limit": "amount",
    "amount-too-large": "amount",
    "zero-amount": "amount",
    "document-already-used": "document_hash",
    "self-dealing": "to",
    "invalid-maturity": "maturity",
    "invalid-tenor": "maturity",
    "invalid-price": "price",
    "invalid-deadline": "deadline",
    "insufficient-settlement-tokens": "amount",
}
"""The form field a problem without a `field` member concerns."""


@dataclass
class Outcome:
    """A write's answer: the status and body (the REST answer, or the problem), and the problem's
    messages by form field (`""`: the whole form)."""

    status: int
    content: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400


def problem_errors(t: Translator, body: Mapping[str, Any]) -> dict[str, str]:
    """The messages of a problem+json body by the form field they concern: its `errors` (field and
    message each), its `field`, a field known for its type, else the whole form (`""`)."""
    slug = str(body.get("type", "")).rsplit("/", 1)[-1]
    title = str(body.get("title", ""))
    detail = body.get("detail")
    message = f"{title}: {detail}" if detail else title
    known = f"problem.{slug}"
    if known in t.catalogue:
        message = t(known) + (f" ({detail})" if detail else "")
    errors: dict[str, str] = {}
    for item in body.get("errors") or []:
        if isinstance(item, Mapping) and item.get("field"):
            name = str(item["field"]).removeprefix("body.")
            errors[name] = f"{message} — {item.get('message', '')}".strip(" —")
    if errors:
        return errors
    named = body.get("field")
    if isinstance(named, str) and named:
        return {named: message}
    return {PROBLEM_FIELDS.get(slug, ""): message}


def validation_errors(t: Translator, exc: ValidationError | AmountError, name: str = "") -> dict[str, str]:
    """The messages of a form that did not make a request body, by field."""
    if isinstance(exc, AmountError):
        return {name: t(exc.key, **exc.values)}
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        errors[loc or name] = t("invalid_value") + f" ({error.get('msg', '')})"
    return errors


def form_key(raw: object) -> str | None:
    """The journal's Idempotency-Key of a form's hidden key (None when the form sent none)."""
    if not isinstance(raw, str) or not raw or len(raw) + len(KEY_PREFIX) > MAX_KEY_LENGTH:
        return None
    return KEY_PREFIX + raw


async def perform(
    context: AppContext,
    t: Translator,
    user: SessionUser,
    key: str | None,
    path: str,
    body: BaseModel | None,
    action: Callable[[], Answer],
) -> Outcome:
    """Run `action` (a REST route's use case) as the REST route would for `POST path`: at most once
    per (member, key), on the context's write threads."""

    def work() -> Outcome:
        try:
            response = run_idempotent(context, user.member, key, "POST", path, body, action)
        except ProblemError as problem:
            content = problem.body(path)
            return Outcome(problem.status, content, problem_errors(t, content))
        except LedgerError as exc:
            refused = ledger_problem(exc)
            content = refused.body(path)
            return Outcome(refused.status, content, problem_errors(t, content))
        content = json.loads(bytes(response.body)) if response.body else {}
        if response.status_code >= 400:
            return Outcome(response.status_code, content, problem_errors(t, content))
        return Outcome(response.status_code, content)

    try:
        future = context.writes.submit(work)
    except ProblemError as busy:
        content = busy.body(path)
        return Outcome(busy.status, content, problem_errors(t, content))
    return await asyncio.wrap_future(future)
