"""Small helpers shared by the contract unit tests (events, time, extra members, storage)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from service.domain import INDEX_BITS, Role
from service.ledger.client import ContractClient
from service.ledger.types import SplitPart, TxResult
from tests.consortium import Consortium, new_account

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = b"\0" * 32
ROLE_HOLDER = int(Role.SUPPLIER | Role.FINANCIER)
"""The contract's HOLDER_ROLES: roles that may receive a note by split or transfer."""

_ROOTS_SLOT = 5
"""Storage slot of `CreditNoteLedger._roots` (after the registry's 3 slots, maxTenor/rootCount, _notes)."""
_LAST_INDEX_SHIFT = 160 + 40
"""Bit offset of `Root.lastIndex` in the root's first slot (after obligor and maturity)."""


def only_event(result: TxResult, name: str) -> dict[str, Any]:
    """The arguments of the single event `result` emitted, which must be named `name`."""
    assert [e.name for e in result.events] == [name], result.events
    return result.events[0].args


def next_block_time(c: Consortium) -> int:
    """`block.timestamp` the next transaction (or estimate) will see on the in-process chain."""
    return int(c.chain.w3.eth.get_block("pending")["timestamp"])


def set_next_block_time(c: Consortium, timestamp: int) -> None:
    """Move the chain's clock so that the next transaction runs at exactly `timestamp`."""
    c.chain.advance_time(timestamp - 1 - c.chain.now())
    assert next_block_time(c) == timestamp


def new_member(c: Consortium, roles: Role | int) -> LocalAccount:
    """A funded account the operator onboards with `roles`."""
    account = new_account(c.chain)
    c.ledger.onboard_member(c.operator, account.address, roles)
    return account


def part(account: LocalAccount, amount: int) -> SplitPart:
    return SplitPart(to=account.address, amount=amount)


def child_id(root_id: int, index: int) -> int:
    return root_id | index


def set_tree_last_index(c: Consortium, root_id: int, last_index: int) -> None:
    """Overwrite `Root.lastIndex` of `root_id` in contract storage (in-process chain only).

    Filling a tree for real takes 2^32 notes; this makes the TreeFull path reachable in a test.
    """
    assert c.chain.tester is not None
    assert root_id >> INDEX_BITS << INDEX_BITS == root_id
    address = bytes.fromhex(c.ledger.address[2:])
    slot = int.from_bytes(keccak(abi_encode(["uint256", "uint256"], [root_id, _ROOTS_SLOT])), "big")
    current = int.from_bytes(c.chain.w3.eth.get_storage_at(c.ledger.address, slot), "big")
    mask = ((1 << 32) - 1) << _LAST_INDEX_SHIFT
    updated = (current & ~mask) | (last_index << _LAST_INDEX_SHIFT)
    chain = c.chain.tester.backend.chain
    state = chain.get_vm().state
    state.set_storage(address, slot, updated)
    state.persist()
    chain.header = chain.header.copy(state_root=state.state_root)
    c.chain.tester.mine_blocks(1)
    assert c.ledger.tree_size(root_id) == last_index + 1


# ---------------------------------------------------------------- financing and settlement

ROLE_FINANCIER = int(Role.FINANCIER)


def at_maturity(c: Consortium, note_id: int, offset: int = 0) -> int:
    """Move the clock so that the next transaction runs at the note's maturity plus `offset` seconds;
    returns the maturity."""
    maturity = c.ledger.get_note(note_id).maturity
    set_next_block_time(c, maturity + offset)
    return maturity


def token_events(c: Consortium, result: TxResult) -> list[tuple[str, dict[str, Any]]]:
    """The settlement token's events in the transaction of `result`, as (name, arguments).

    A ledger `TxResult` lists only the ledger's own events; this reads the same receipt's token logs.
    """
    receipt = c.chain.w3.eth.get_transaction_receipt(result.tx_hash)
    found: list[tuple[str, dict[str, Any]]] = []
    for log in receipt["logs"]:
        if log["address"] != c.token.address:
            continue
        decoded = c.token.events.decode(list(log["topics"]), bytes(log["data"]))
        assert decoded is not None, log
        found.append((decoded.name, decoded.args))
    return found


def token_transfer_from(c: Consortium, spender: LocalAccount, owner: str, to: str, amount: int) -> TxResult:
    """`SettlementToken.transferFrom(owner, to, amount)` sent by `spender` (the client has no method
    for it: only the ledger spends allowances in the service)."""
    return c.token._transact(spender, "transferFrom", owner, to, amount)


def mine_reverting(
    c: Consortium, client: ContractClient, sender: LocalAccount, fn_name: str, *args: Any
) -> None:
    """Send `fn_name(*args)` without estimating it first, so that it is mined although it reverts,
    and check that it was mined and failed (the client never sends a call whose estimate reverts)."""
    w3 = c.chain.w3
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    tx: dict[str, Any] = {
        "to": client.address,
        "data": client.contract.encode_abi(fn_name, args=list(args)),
        "gas": 1_000_000,
        "value": 0,
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 2 * base_fee + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    with client.sender.nonces.reserve(sender.address) as nonce:
        tx["nonce"] = nonce
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 0, "the transaction was expected to revert"


def forget_nonces(c: Consortium) -> None:
    """Drop the cached nonces of the consortium's accounts (after the chain was reverted)."""
    for account in (c.operator, c.core, c.bank, c.auditor, c.outsider, *c.suppliers):
        c.ledger.nonces.forget(account.address)


@contextmanager
def module_state(c: Consortium) -> Iterator[None]:
    """For a module-scoped fixture: the chain changes made inside are shared by the module's tests
    (each test's own changes are still reverted by the `consortium` fixture) and reverted on exit."""
    snapshot = c.chain.snapshot()
    try:
        yield
    finally:
        c.chain.revert(snapshot)
        forget_nonces(c)
