"""Ledger writes on behalf of a member: sign with its custodial key, send, wait for the index.

A write route checks what it can, then calls `transact` with its steps (the ledger calls to send, in
order) and its answer builder: a module-level function that makes the answer from JSON `inputs` and
the mined transactions (`Sent`). Under an Idempotency-Key (`service.api.idempotency`) the builder's
name and inputs are recorded with every signed transaction before it is broadcast, so a retry after
a lost receipt or a crash rebuilds the same answer from the chain without acting again.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel
from sqlalchemy import func, select
from web3 import Web3

from service.api.context import AppContext
from service.api.notes.queries import notes_out
from service.api.notes.schemas import WriteResult
from service.api.problems import ProblemError, insufficient_gas
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.ledger.errors import InsufficientGas, TransactionDropped
from service.ledger.sender import current_journal
from service.ledger.types import TxResult

log = logging.getLogger("credchain.api")

Answer = tuple[int, BaseModel]
AnswerBuilder = Callable[[AppContext, dict[str, Any], "list[Sent]"], Answer]


@dataclass(frozen=True)
class Step:
    """One transaction of a write: the ledger call, and a JSON label kept with it (e.g. a batch's
    first index) for the answer builder. A labelled step that an earlier attempt of the same
    idempotent write already had mined is not sent again: `resumed`, if given, gets that attempt's
    result instead (e.g. the address a deployment created, for the next step)."""

    call: Callable[[LocalAccount], TxResult]
    label: dict[str, Any] = field(default_factory=dict)
    resumed: Callable[[TxResult], None] | None = None


@dataclass(frozen=True)
class Sent:
    """A mined transaction of a write, as an answer builder sees it."""

    result: TxResult
    indexed: bool
    label: dict[str, Any]


class WriteJournal:
    """What `transact` tells the journal of an idempotent write (installed with
    `service.ledger.client.journaling`): the answer builder and its inputs, before anything is
    signed, and the label of each step before it is signed."""

    def plan(self, builder: str, inputs: dict[str, Any]) -> None:
        raise NotImplementedError

    def label(self, label: dict[str, Any], *, last: bool) -> None:
        """The next transaction signed is step `label`; `last`: the write's last step."""
        raise NotImplementedError

    def sent(self) -> list[Sent]:
        """Transactions of this write mined in an earlier attempt (resolved), in order."""
        return []

    def before_broadcast(self, tx_hash: str, raw: bytes) -> None:
        raise NotImplementedError

    def refused(self, tx_hash: str) -> None:
        raise NotImplementedError


def builder_name(build: AnswerBuilder) -> str:
    return f"{build.__module__}:{build.__qualname__}"


def find_builder(name: str) -> AnswerBuilder:
    """The answer builder `builder_name` named (a module-level function of the gateway)."""
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("service.") or not qualname or "." in qualname:
        raise LookupError(f"not an answer builder: {name!r}")
    found = getattr(importlib.import_module(module_name), qualname, None)
    if not callable(found):
        raise LookupError(f"no answer builder {name!r}")
    build: AnswerBuilder = found
    return build


def transact(
    context: AppContext,
    member: ApiMember | LocalAccount,
    build: AnswerBuilder,
    inputs: dict[str, Any],
    *steps: Step | Callable[[LocalAccount], TxResult],
) -> Answer:
    """Send `steps` in order signed by `member` (its custodial key, or an account such as the
    relayer's), then answer `build(context, inputs, sent)`.

    `build` must be a module-level function and `inputs` JSON (no secrets: they are stored with an
    idempotent write's record), so that the answer can be rebuilt in any process from the recorded
    transactions. `sent` also holds the transactions an earlier attempt of the same idempotent write
    had mined (a write of several steps interrupted half-way and run again)."""
    journal = current_journal()
    flow = journal if isinstance(journal, WriteJournal) else None
    if flow is not None:
        flow.plan(builder_name(build), inputs)
    done = list(flow.sent()) if flow is not None else []
    mined = {_label_key(s.label): s for s in done if s.label}
    account = member if isinstance(member, LocalAccount) else signer(context, member)
    for i, given in enumerate(steps):
        step = given if isinstance(given, Step) else Step(given)
        earlier = mined.get(_label_key(step.label)) if step.label else None
        if earlier is not None:  # mined by an earlier attempt: never sent twice
            if step.resumed is not None:
                step.resumed(earlier.result)
            continue
        if flow is not None:
            flow.label(step.label, last=i == len(steps) - 1)
        result, indexed = send_signed(context, account, step.call)
        done.append(Sent(result, indexed, step.label))
    return build(context, inputs, done)


def _label_key(label: dict[str, Any]) -> str:
    return json.dumps(label, sort_keys=True, separators=(",", ":"))


def signer(context: AppContext, member: ApiMember) -> LocalAccount:
    """The custodial signing key of `member`; self-custodied members sign for themselves."""
    if member.custody != "custodial" or member.encrypted_key is None:
        raise ProblemError(
            409,
            "self-custody",
            "This member holds its own keys",
            "the gateway cannot sign for a self-custodied member: build the ledger call, have the gateway "
            "prepare it (POST /v1/relay/prepare answers EIP-712 typed data), sign that with your key and "
            "send it with the signature to POST /v1/relay; the gateway relays it and pays the gas",
        )
    return context.keyring.account(member.address, member.encrypted_key)


def send(
    context: AppContext, member: ApiMember, action: Callable[[LocalAccount], TxResult]
) -> tuple[TxResult, bool]:
    """Send `action` signed by `member`; returns the result and whether the index has caught up."""
    return send_signed(context, signer(context, member), action)


def send_signed(
    context: AppContext, account: LocalAccount, action: Callable[[LocalAccount], TxResult]
) -> tuple[TxResult, bool]:
    """Send `action` signed by `account` (a member's key or the relayer's); returns the result and
    whether the index has caught up."""
    started = time.perf_counter()
    outcome = "error"
    try:
        result = action(account)
        outcome = "ok"
    except InsufficientGas as exc:
        raise gas_problem(context, exc) from exc
    finally:
        context.metrics.ledger_tx_seconds.labels(outcome=outcome).observe(time.perf_counter() - started)
    indexed = context.wait_indexed(result.block_number)
    if (
        indexed
        and result.block_hash
        and not context.index.on_indexed_branch(result.block_number, result.block_hash)
    ):
        # the block it was mined in was replaced before the index got to it: it is not on the
        # chain any more; the write's record keeps it, and a retry resolves it from the chain
        raise TransactionDropped(
            f"{result.tx_hash} was mined in block {result.block_number}, which a reorganisation replaced"
        )
    return result, indexed


def gas_problem(context: AppContext, exc: InsufficientGas) -> ProblemError:
    """The `insufficient-gas` problem of a refused transaction, naming the member whose custodial
    account it is (or the relayer), with the account's balance (asked of the node only now: the
    refusal costs nothing when there is gas)."""
    address = exc.address
    member_id: str | None = None
    balance = exc.balance
    if address is not None:
        relayer = context.relayer() if context.settings.relayer_key is not None else None
        funder = context.chain.funder
        if relayer is not None and relayer.address == address:
            member_id = "relayer"
        elif funder is not None and funder.address == address:
            member_id = "funder"
        else:
            with context.session() as session:
                member_id = session.scalars(
                    select(ApiMember.id).where(func.lower(ApiMember.address) == address.lower())
                ).first()
        if balance is None:
            try:
                balance = int(context.chain.w3.eth.get_balance(Web3.to_checksum_address(address)))
            except Exception:  # the answer stays useful without it
                balance = None
    log.warning(
        "insufficient gas: %s (%s) has %s wei, the transaction may cost %s",
        member_id,
        address,
        balance,
        exc.cost,
        extra={"member_id": member_id, "address": address, "balance_wei": balance, "cost_wei": exc.cost},
    )
    return insufficient_gas(address, member_id=member_id, balance=balance, cost=exc.cost)


def note_result(context: AppContext, result: TxResult, indexed: bool, note_ids: Sequence[int]) -> WriteResult:
    """The answer of a note write: the transaction and the notes it touched, as read from SQL."""
    notes = []
    if indexed and note_ids:
        with context.session() as session:
            rows = session.scalars(select(Note).where(Note.id.in_(list(note_ids))).order_by(Note.id)).all()
            notes = notes_out(context, session, rows)
    return WriteResult(
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        indexed=indexed,
        note_ids=[str(n) for n in note_ids],
        notes=notes,
    )
