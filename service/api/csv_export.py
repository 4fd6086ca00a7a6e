"""CSV answers shared by the views that offer them (notes, provenance, risk): whether the caller
asked for CSV, cells escaped against formula injection, and the response itself."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from service.api.problems import ProblemError

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet may read as the start of a formula (OWASP, "CSV Injection")."""
_INTEGER = re.compile(r"-?[0-9]+")


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """CSV if `?format=csv`, or no `format` and the Accept header names text/csv; 422 for another
    format than json or csv."""
    if format_ is not None:
        if format_ not in ("json", "csv"):
            raise ProblemError(
                422, "invalid-request", "The request is not valid", "format must be json or csv"
            )
        return format_ == "csv"
    return accept is not None and "text/csv" in accept.lower()


def safe_cell(text: str) -> str:
    """`text` with a single quote before it if a spreadsheet could take it for a formula. A plain
    integer (an amount in minor units, "-1500") is no formula and stays as it is."""
    if text.startswith(FORMULA_PREFIXES) and not _INTEGER.fullmatch(text):
        return "'" + text
    return text


def cell(value: Any) -> str:
    """A value as a CSV cell: empty for None, true/false, ISO 8601 times (UTC as Z), integers as
    digits; text that could start a formula escaped (`safe_cell`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(str(value))


def csv_response(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    name: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """`rows` (values in the order of `columns`) as a CSV attachment `name`.csv, a header row first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return Response(
        out.getvalue(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **(headers or {})},
    )


def model_csv_response(
    model: type[BaseModel], rows: Sequence[BaseModel], name: str, headers: dict[str, str] | None = None
) -> Response:
    """`rows` as CSV, one column per field of `model` (amounts as integer strings)."""
    columns = list(model.model_fields)
    return csv_response(columns, ([getattr(row, c) for c in columns] for row in rows), name, headers)
