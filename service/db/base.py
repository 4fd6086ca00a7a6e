"""The declarative base and the column types shared by the indexer's models (`service.db.models`)
and the gateway's own (`service.db.gateway_models`): neither imports the other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

ADDRESS = String(42)
HASH = String(66)


AMOUNT_DIGITS = 78
"""Decimal digits of the largest EVM integer (2^256 - 1); every ExactInteger fits."""

_SQLITE_OFFSET: int = 10**AMOUNT_DIGITS


class ExactInteger(TypeDecorator[int]):
    """An arbitrary-precision integer (up to 78 digits, any uint256), always returned as `int`.

    PostgreSQL stores NUMERIC(78, 0). SQLite has no exact type for integers beyond 64 bits (its NUMERIC
    affinity silently turns them into REALs), so there the value is a fixed-width decimal string:
    78 zero-padded digits, negatives as `-` followed by the 78-digit complement `10^78 + value`. Equality
    and order comparisons in SQL (`Note.amount > x`, `ORDER BY amount`) stay exact because bound
    parameters are encoded the same way; SQL arithmetic (`SUM`) on SQLite does not, so sum in Python.
    """

    impl = Numeric(AMOUNT_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(AMOUNT_DIGITS + 1))
        return dialect.type_descriptor(Numeric(AMOUNT_DIGITS, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"ExactInteger takes int, got {type(value).__name__}")
        if dialect.name == "sqlite":
            return sqlite_exact_integer(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and value.startswith("-"):
            return int(value[1:]) - _SQLITE_OFFSET
        return int(value)


def sqlite_exact_integer(value: int) -> str:
    """How ExactInteger stores `value` on SQLite (for writers that bypass SQLAlchemy's types)."""
    if not -_SQLITE_OFFSET < value < _SQLITE_OFFSET:
        raise ValueError(f"{value} does not fit in {AMOUNT_DIGITS} digits")
    if value >= 0:
        return f"{value:0{AMOUNT_DIGITS}d}"
    return f"-{value + _SQLITE_OFFSET:0{AMOUNT_DIGITS}d}"


class Base(DeclarativeBase):
    """Declarative base of all credchain tables."""
