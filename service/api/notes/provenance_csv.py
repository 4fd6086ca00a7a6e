"""The provenance of a note as CSV for auditors' working papers: one row per event of the tree's
page, in the chain's order (block, then log index), with the note it concerns."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

from service.api.csv_export import csv_response

COLUMNS = (
    "root_id",
    "reference",
    "note_id",
    "parent_id",
    "depth",
    "holder",
    "holder_member",
    "amount",
    "currency",
    "status",
    "event",
    "block_number",
    "block_time",
    "log_index",
    "tx_hash",
    "args",
    "holder_name",
    "amount_display",
)
"""The note's columns are its state now (as in the JSON answer); `args` is the event's arguments as
a JSON object with sorted keys (decoded as in the JSON answer); the readable columns (holder's name,
amount in major units) come last so the others keep their places."""


def provenance_rows(answer: dict[str, Any]) -> list[list[Any]]:
    """The rows of a provenance answer (`ProvenanceOut` as JSON): every event of every node of its
    tree page, ordered by block number and log index."""
    rows: list[tuple[tuple[int, int], list[Any]]] = []
    for node in answer["tree"]:
        for event in node["events"]:
            row = [
                node["root_id"],
                node["reference"],
                node["id"],
                node["parent_id"],
                node["depth"],
                node["holder"],
                node["holder_member"],
                node["amount"],
                node["currency"],
                node["status"],
                event["name"],
                event["block_number"],
                event["block_time"],
                event["log_index"],
                event["tx_hash"],
                json.dumps(event["args"], sort_keys=True, separators=(",", ":")),
                node["holder_name"],
                node["amount_display"],
            ]
            rows.append(((int(event["block_number"]), int(event["log_index"])), row))
    rows.sort(key=lambda pair: pair[0])
    return [row for _, row in rows]


def provenance_csv(answer: dict[str, Any], note_id: str, headers: dict[str, str]) -> Response:
    """The CSV answer of a provenance answer (`ProvenanceOut` as JSON)."""
    return csv_response(COLUMNS, provenance_rows(answer), f"provenance-{note_id}", headers)
