"""Rate and day-count basis parameters of the discount and quote endpoints (422 problems)."""

from __future__ import annotations

from service.api.financing.pricing import Basis, PricingError, parse_basis
from service.api.problems import ProblemError


def invalid_rate(detail: str) -> ProblemError:
    return ProblemError(422, "invalid-rate", "The rate is not valid", detail, field="rate")


def parse_basis_param(raw: str | None) -> Basis:
    try:
        return parse_basis(raw)
    except PricingError as exc:
        raise ProblemError(422, "invalid-basis", "The day-count basis is not valid", str(exc)) from exc
