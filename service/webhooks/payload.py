"""The body of a webhook delivery: one domain event, as `GET /v1/events` tells it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping


def webhook_id(seq: int) -> str:
    """The `webhook-id` of the event with sequence number `seq`: the same on every attempt, replay
    and subscription, so a receiver de-duplicates by it."""
    return f"evt_{seq}"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def event_body(row: RowMapping) -> dict[str, Any]:
    """The JSON object of one `domain_events` row (ids as strings of decimal digits)."""
    return {
        "id": webhook_id(row["seq"]),
        "seq": row["seq"],
        "type": row["type"],
        "occurred_at": _time(row["occurred_at"]),
        "recorded_at": _time(row["recorded_at"]),
        "ledger": {
            "contract": row["contract"],
            "block_number": row["block_number"],
            "block_hash": row["block_hash"],
            "tx_hash": row["tx_hash"],
            "log_index": row["log_index"],
        },
        "note_id": _id(row["note_id"]),
        "root_id": _id(row["root_id"]),
        "offer_id": _id(row["offer_id"]),
        "alert_id": _id(row["alert_id"]),
        "subject": row["subject"],
        "recipient": row["recipient"],
        "retracts": _id(row["retracts"]),
        "data": row["data"],
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
