"""Resolving a transaction signed earlier, over HTTP on anvil through `tests.rpc_faults`: every signed
transaction reaches the broadcast journal before it is sent; a transaction the node never saw is
broadcast again; one that can never be mined (its nonce taken) or only behind transactions a
reorganisation dropped is `TransactionDropped`; receipt polls that fail transiently are asked again
until the receipt timeout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3

from service.ledger.abi_codec import ErrorDecoder
from service.ledger.chain import Chain, http_chain
from service.ledger.client import LedgerClient
from service.ledger.errors import LedgerUnavailable, NotHolder, TransactionDropped, TransactionTimeout
from service.ledger.jsonrpc import NodeHttpError, NodeUnreachable
from service.ledger.sender import NodeRpc, journaling, revert_abi
from tests.consortium import Consortium, deploy_consortium
from tests.rpc_faults import Faults, FaultyRpcProxy

pytestmark = pytest.mark.integration


@dataclass
class Journal:
    entries: list[tuple[str, bytes]] = field(default_factory=list)

    def before_broadcast(self, tx_hash: str, raw: bytes) -> None:
        self.entries.append((tx_hash, raw))


@pytest.fixture(scope="module")
def consortium(anvil: Chain) -> Iterator[Consortium]:
    yield deploy_consortium(anvil, n_suppliers=2)


@pytest.fixture
def lossy(anvil: Chain) -> Iterator[FaultyRpcProxy]:
    """A proxy that loses every eth_sendRawTransaction (never forwarded) while enabled."""
    proxy = FaultyRpcProxy(
        str(anvil.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        seed=1,
        faults=Faults(receipt_drop=0, receipt_delay=0, send_answer_drop=0, send_lost=1.0, reset=0),
    ).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _ledger_through(proxy: FaultyRpcProxy, consortium: Consortium) -> LedgerClient:
    return LedgerClient(
        http_chain(proxy.url).w3,
        consortium.ledger.address,
        nonces=consortium.ledger.nonces,
        receipt_timeout=5,
    )


def test_a_transaction_the_node_never_saw_is_broadcast_again_and_mined_once(
    consortium: Consortium, lossy: FaultyRpcProxy
) -> None:
    c = consortium
    ledger = _ledger_through(lossy, c)
    note = c.active_note(1_000)
    journal = Journal()
    lossy.enabled = True
    with journaling(journal), pytest.raises(LedgerUnavailable):
        ledger.transfer(c.suppliers[0], note, c.suppliers[1].address)
    lossy.enabled = False
    ((tx_hash, raw),) = journal.entries
    assert not ledger.sender.known(tx_hash)

    receipt = ledger.sender.resolve(tx_hash, raw)
    assert receipt["status"] == 1 and receipt["transactionHash"].to_0x_hex() == tx_hash
    assert ledger.get_note(note).holder == c.suppliers[1].address
    assert ledger.sender.resolve(tx_hash, raw)["blockNumber"] == receipt["blockNumber"]  # mined once


def test_a_transaction_whose_nonce_was_taken_is_dropped(
    consortium: Consortium, lossy: FaultyRpcProxy
) -> None:
    c = consortium
    ledger = _ledger_through(lossy, c)
    note = c.active_note(1_000)
    journal = Journal()
    lossy.enabled = True
    with journaling(journal), pytest.raises(LedgerUnavailable):
        ledger.transfer(c.suppliers[0], note, c.suppliers[1].address)
    lossy.enabled = False
    ((lost_hash, lost_raw),) = journal.entries
    other = c.active_note(500)
    ledger.transfer(c.suppliers[0], other, c.suppliers[1].address)  # same account: takes the nonce

    with pytest.raises(TransactionDropped):
        ledger.sender.resolve(lost_hash, lost_raw)
    assert ledger.get_note(note).holder == c.suppliers[0].address


def test_a_transaction_whose_predecessors_a_reorganisation_dropped_is_not_queued_behind_them(
    consortium: Consortium,
) -> None:
    c = consortium
    w3 = c.chain.w3
    note, other = c.active_note(1_000), c.active_note(500)
    holder, payee = c.suppliers[0], c.suppliers[1]
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    c.ledger.transfer(holder, other, payee.address)  # the holder's nonce N
    journal = Journal()
    with journaling(journal):
        c.ledger.transfer(holder, note, payee.address)  # N + 1
    ((tx_hash, raw),) = journal.entries
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]  # both gone, pool emptied
    c.ledger.nonces.forget_all()

    with pytest.raises(TransactionDropped, match="reorganisation"):
        c.ledger.sender.resolve(tx_hash, raw)
    assert not c.ledger.sender.known(tx_hash)  # not left waiting in the node's queue
    c.ledger.transfer(holder, other, payee.address)  # uses nonce N: a queued N + 1 would run now
    assert c.ledger.get_note(note).holder == holder.address
    assert c.ledger.sender.find_receipt(tx_hash) is None


def test_a_mined_but_reverted_transaction_resolves_to_its_error(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(1_000)
    w3 = c.chain.w3
    outsider = c.suppliers[1]  # not the holder: the ledger refuses, the block keeps the failure
    tx: dict[str, Any] = {
        "to": c.ledger.address,
        "data": c.ledger.calls.encode("transfer", (note, outsider.address)),
        "gas": 200_000,
        "value": 0,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(outsider.address, "pending"),
        "maxFeePerGas": 2 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    signed = outsider.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
    assert w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=30)["status"] == 0
    c.ledger.nonces.forget(outsider.address)
    with pytest.raises(NotHolder) as refused:
        c.ledger.sender.resolve(tx_hash, bytes(signed.raw_transaction))
    assert refused.value.arguments["noteId"] == note


class FlakyRpc:
    """Stands for the node: the first answers are failures, then a receipt."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {
            "result": {
                "transactionHash": "0x" + "ab" * 32,
                "blockHash": "0x" + "cd" * 32,
                "blockNumber": "0x7",
                "status": "0x1",
                "gasUsed": "0x5208",
                "logs": [],
            }
        }


def _node(rpc: FlakyRpc) -> NodeRpc:
    node = NodeRpc(Web3(HTTPProvider("http://127.0.0.1:9")), ErrorDecoder(revert_abi()))
    node._rpc = rpc  # type: ignore[assignment]
    return node


def test_a_receipt_poll_that_fails_transiently_is_asked_again() -> None:
    rpc = FlakyRpc(
        [
            NodeUnreachable("connection reset by peer"),
            NodeHttpError(502, b"bad gateway"),
            NodeUnreachable("timeout"),
        ]
    )
    receipt = _node(rpc).receipt("0x" + "ab" * 32, timeout=5)
    assert receipt["blockNumber"] == 7 and rpc.calls == 4


def test_a_receipt_poll_refused_with_a_client_error_is_not_asked_again() -> None:
    rpc = FlakyRpc([NodeHttpError(401, b"unauthorized")])
    with pytest.raises(LedgerUnavailable):
        _node(rpc).receipt("0x" + "ab" * 32, timeout=5)
    assert rpc.calls == 1


def test_receipt_polls_failing_until_the_timeout_are_a_transaction_timeout() -> None:
    rpc = FlakyRpc([NodeUnreachable("down")] * 1000)
    with pytest.raises(TransactionTimeout):
        _node(rpc).receipt("0x" + "ab" * 32, timeout=0.3)
