"""What must hold after a chaos scenario, each check returning the failures it found (strings):

- no 500 at all, and no 5xx that is not application/problem+json;
- every write got a final answer within the bound, and it agrees with the chain, read directly: a
  2xx answer's transaction is mined and the notes it names are on chain as it says (at the block of
  its receipt); a final 4xx is for a write whose effect is not on chain (otherwise: a failure for a
  write that happened) -- after a reorg, a write mined in a reverted block answers `reverted-by-reorg`;
- re-sending every (key, request) creates no transaction (nonces of the members' and the relayer's
  accounts, blocks and the node's pending pool unchanged) and answers what the first answer said;
- `credchain reconcile` finds 0 differences (once the index has caught up with the head).
"""

from __future__ import annotations

from typing import Any

from web3.exceptions import TransactionNotFound

from service.api.problems import ERRORS_BASE
from service.domain import NoteStatus
from tests.chaos.rig import Rig
from tests.chaos.workload import Gateway, Members, Write, is_problem

REVERTED_BY_REORG = ERRORS_BASE + "reverted-by-reorg"
NOT_ACCEPTED = (NoteStatus.NONE, NoteStatus.PENDING, NoteStatus.REJECTED, NoteStatus.REVOKED)


def check_answers(writes: list[Write], *, replays: bool = False) -> list[str]:
    """No 500 and no 5xx but problem+json among the answers (to the replays if `replays`); every
    write answered in time."""
    failures = []
    for write in writes:
        what = "replay" if replays else "answer"
        for answer in write.replay_answers if replays else write.answers:
            if answer.status == 500:
                failures.append(f"{write}: {what} 500 ({answer})")
            elif answer.status is not None and answer.status >= 500 and not is_problem(answer):
                failures.append(f"{write}: {what} 5xx not problem+json ({answer})")
        if replays:
            continue
        if write.final is None:
            last = ", ".join(str(a) for a in write.answers[-3:])
            failures.append(f"{write}: no final answer in time after {len(write.answers)} attempts ({last})")
    return failures


def _receipt(rig: Rig, tx_hash: str) -> Any:
    try:
        return rig.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def _note(rig: Rig, note_id: int, block: int | str = "latest") -> dict[str, Any]:
    state = rig.ledger.functions.getNote(note_id).call(block_identifier=block)
    holder, amount, status = state[0], state[2], state[5]
    return {"holder": holder, "amount": int(amount), "status": int(status)}


def _happened(rig: Rig, write: Write, block: int | str = "latest") -> bool:
    """Whether the chain (at `block`) shows the write's effect."""
    intent = write.intent
    if write.step == "issue":
        root = rig.ledger.functions.documentRoot(bytes.fromhex(intent["document_hash"][2:])).call(
            block_identifier=block
        )
        return int(root) != 0
    if write.step == "offer":
        return _logged(
            rig, "DiscountOffered", block, noteId=int(intent["note_id"]), financier=intent["financier"]
        )
    if write.step == "payment":
        return _logged(rig, "DiscountPaymentRecorded", block, offerId=int(intent["offer_id"]))
    note = _note(rig, int(intent["note_id"]), block)
    if write.step == "accept":
        return note["status"] not in NOT_ACCEPTED
    if write.step == "split":
        return bool(note["status"] == NoteStatus.SPLIT)
    if write.step in ("transfer", "take-offer"):
        return bool(note["holder"].lower() == intent["to"].lower())
    raise AssertionError(write.step)


def _logged(rig: Rig, event: str, block: int | str, **arguments: Any) -> bool:
    """Whether the ledger emitted `event` with `arguments` (indexed) up to `block`."""
    logs = getattr(rig.ledger.events, event)().get_logs(
        from_block=int(rig.from_block), to_block=block, argument_filters=arguments
    )
    return bool(logs)


def _reverted_before(rig: Rig, write: Write) -> Write | None:
    """An earlier write of the same story answered 2xx whose transaction the chain no longer has."""
    earlier = write.previous
    while earlier is not None:
        if earlier.succeeded and _receipt(rig, earlier.final.body["tx_hash"]) is None:  # type: ignore[union-attr]
            return earlier
        earlier = earlier.previous
    return None


def check_chain(rig: Rig, writes: list[Write], *, reorg: bool = False) -> list[str]:
    failures = []
    for write in writes:
        if reorg and _reverted_before(rig, write) is not None:
            continue  # it built on a write a reorg removed: refused or not, the replays tell the story
        final = write.final
        if final is None:
            if _happened(rig, write):
                failures.append(f"{write}: no final answer, but it happened on chain")
            continue
        if write.succeeded:
            tx_hash = final.body["tx_hash"]
            receipt = _receipt(rig, tx_hash)
            if receipt is None:
                if not reorg:
                    failures.append(f"{write}: phantom success, {tx_hash} is not on chain")
                continue  # after a reorg: its replay must say `reverted-by-reorg` (check_replays)
            if receipt["status"] != 1:
                failures.append(f"{write}: {final.status} for {tx_hash}, reverted on chain")
                continue
            block = int(receipt["blockNumber"])
            for note in final.body["notes"]:
                chain = _note(rig, int(note["id"]), block)
                said = {
                    "holder": note["holder"].lower(),
                    "amount": int(note["amount"]),
                    "status": note["status"],
                }
                seen = {
                    "holder": chain["holder"].lower(),
                    "amount": chain["amount"],
                    "status": NoteStatus(chain["status"]).name.lower(),
                }
                if said != seen:
                    failures.append(
                        f"{write}: note {note['id']} answered {said}, at {block} chain has {seen}"
                    )
            if not _happened(rig, write, block):
                failures.append(f"{write}: {final.status} with {tx_hash}, but its effect is not on chain")
        elif reorg and final.problem_type == REVERTED_BY_REORG:
            if _happened(rig, write):
                failures.append(f"{write}: answered reverted-by-reorg, but it is on chain")
        elif _happened(rig, write):
            failures.append(f"{write}: failure for a write that happened ({final})")
        else:
            failures.append(f"{write}: a valid write refused ({final})")
    return failures


def chain_counts(rig: Rig, members: Members) -> dict[str, int]:
    """What a new transaction would change: every account's nonce (mined and pending), the head
    block, and the node's pending pool."""
    counts: dict[str, int] = {"head": rig.head()}
    for address in [*members.addresses.values(), rig.relayer]:
        counts[address] = rig.w3.eth.get_transaction_count(address)  # type: ignore[arg-type]
        counts[address + " pending"] = rig.w3.eth.get_transaction_count(address, "pending")  # type: ignore[arg-type]
    status = rig.rpc("txpool_status")
    counts["txpool pending"] = int(status["pending"], 16)
    counts["txpool queued"] = int(status["queued"], 16)
    return counts


def check_replays(
    rig: Rig, gateway: Gateway, members: Members, writes: list[Write], *, reorg: bool = False
) -> list[str]:
    """Send every write that had a final answer again with its key; nothing new may happen on chain,
    and the answer must be the first one (a 2xx for a transaction a reorg removed: reverted-by-reorg).
    A write refused before anything was sent keeps no record: its replay is judged afresh, so after
    a reorg (`reorg`) it may be refused for another reason (its note's issue reverted meanwhile),
    but it must still be refused."""
    answered = [w for w in writes if w.final is not None]
    before = chain_counts(rig, members)
    for write in answered:
        write.replay = gateway.send(write, write.replay_answers)
    after = chain_counts(rig, members)
    failures = []
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    if changed:
        failures.append(f"re-sending {len(answered)} keys created transactions: {changed}")
    for write in answered:
        assert write.final is not None
        replay = write.replay
        if replay is None:
            failures.append(f"{write}: replay got no final answer in time")
            continue
        if write.succeeded:
            tx_hash = write.final.body["tx_hash"]
            if _receipt(rig, tx_hash) is None:
                if replay.problem_type != REVERTED_BY_REORG:
                    failures.append(f"{write}: {tx_hash} is gone from the chain, replay answered {replay}")
            elif not (replay.status == write.final.status and replay.body.get("tx_hash") == tx_hash):
                failures.append(f"{write}: answered {write.final}, replay answered {replay}")
        elif reorg and write.final.status is not None and 400 <= write.final.status < 500:
            if not (replay.status is not None and 400 <= replay.status < 500):
                failures.append(f"{write}: answered {write.final}, replay answered {replay}")
        elif replay.status != write.final.status or replay.problem_type != write.final.problem_type:
            failures.append(f"{write}: answered {write.final}, replay answered {replay}")
    return failures
