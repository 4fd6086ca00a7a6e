"""`credchain notes`: the operator freezes and unfreezes notes (the domain services of
`service.api.notes`, signed by the operator's custodial key)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.api.notes.schemas import NoteFreeze, WriteResult
from service.api.notes.service import freeze_note, unfreeze_note
from service.cli_common import (
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    node_context,
    operator_member,
    refusal_exits,
    validated,
)

notes_app = typer.Typer(help="Notes: the operator's freeze.", no_args_is_help=True)

NoteId = Annotated[str, typer.Argument(help="the note's id, e.g. 12")]


def _done(what: str, note_id: str, answer: WriteResult) -> None:
    typer.echo(f"note {note_id} {what} (tx {answer.tx_hash})")


@notes_app.command("freeze")
def notes_freeze(
    note_id: NoteId,
    reason: Annotated[
        str,
        typer.Option("--reason", help="why (dispute, court order; at most 32 bytes), recorded on the ledger"),
    ],
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Freeze a live note: nobody can move, split, discount or settle it until it is unfrozen."""
    reason = validated(NoteFreeze, {"reason": "--reason"}, reason=reason).reason
    with (
        node_context(rpc_url, database_url, "`credchain notes freeze`", signs=True) as context,
        refusal_exits(),
    ):
        answer = freeze_note(context, operator_member(context), note_id, reason)
    _done("frozen", note_id, answer)


@notes_app.command("unfreeze")
def notes_unfreeze(
    note_id: NoteId, rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None
) -> None:
    """Lift a note's freeze."""
    with (
        node_context(rpc_url, database_url, "`credchain notes unfreeze`", signs=True) as context,
        refusal_exits(),
    ):
        answer = unfreeze_note(context, operator_member(context), note_id)
    _done("unfrozen", note_id, answer)
