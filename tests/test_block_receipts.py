"""Receipts found per block for every waiter (`service.ledger.block_receipts.BlockReceipts`), on real
anvil nodes: with a block period, many waiters cost one fetch of the block's receipts; on an
automining node the prompt look-up finds the receipt and nothing follows the head; a transaction
never mined times out; a node away for a while is asked again until it answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from service.ledger.abi_codec import ErrorDecoder
from service.ledger.block_receipts import BlockReceipts
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from service.ledger.errors import LedgerError, TransactionTimeout
from service.ledger.sender import NodeRpc
from tests.anvil import AnvilNode, TcpProxy, start_anvil
from tests.chaos.rig import await_condition

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow_node() -> Iterator[AnvilNode]:
    """anvil with a 1-second block period (no automine)."""
    node = start_anvil(args=("--block-time", "1"))
    try:
        yield node
    finally:
        node.stop()


class CountingRpc:
    """The node's JSON-RPC requests, counted by method (a spy on a real `NodeRpc`)."""

    def __init__(self, url: str) -> None:
        self.node = NodeRpc(Web3(Web3.HTTPProvider(url)), ErrorDecoder([]))
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def request(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        return self.node.request(method, params)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        with self._lock:
            self.calls["batch"] = self.calls.get("batch", 0) + 1
        return self.node.batch(calls)


def send_transfers(url: str, count: int) -> list[str]:
    """`count` ether transfers from anvil's first dev account, broadcast at once; their hashes."""
    w3 = Web3(Web3.HTTPProvider(url))
    sender = Account.from_key(ANVIL_DEV_KEY)
    nonce = w3.eth.get_transaction_count(sender.address, "pending")
    fee = 2 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9
    hashes = []
    for i in range(count):
        tx = {
            "to": Account.create().address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": fee,
            "maxPriorityFeePerGas": 10**9,
            "nonce": nonce + i,
            "chainId": w3.eth.chain_id,
        }
        hashes.append(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction).to_0x_hex())
    return hashes


def test_many_waiters_on_a_slow_chain_cost_one_fetch_of_their_block(slow_node: AnvilNode) -> None:
    rpc = CountingRpc(slow_node.url)
    receipts = BlockReceipts(rpc.request, rpc.batch)
    hashes = send_transfers(slow_node.url, 30)
    with ThreadPoolExecutor(30) as pool:
        found = list(pool.map(lambda h: receipts.wait(h, 10.0), hashes))
    assert [r["transactionHash"] for r in found] == hashes
    assert len({r["blockNumber"] for r in found}) == 1  # all in the next block
    assert rpc.calls.get("eth_getBlockReceipts", 0) <= 2  # that block (maybe one empty before it)
    # a few waiters looked their receipts up promptly, the others once: not each every 100 ms
    assert rpc.calls["eth_getTransactionReceipt"] <= 30 * 4


def test_prompt_look_ups_stop_on_a_chain_with_a_block_period(slow_node: AnvilNode) -> None:
    rpc = CountingRpc(slow_node.url)
    receipts = BlockReceipts(rpc.request, rpc.batch)
    w3 = Web3(Web3.HTTPProvider(slow_node.url))
    head = w3.eth.block_number
    while w3.eth.block_number == head:  # just after a block: the next one is a second away
        time.sleep(0.01)
    hashes = send_transfers(slow_node.url, 4)
    with ThreadPoolExecutor(4) as pool:  # four prompt phases, each missing
        list(pool.map(lambda h: receipts.wait(h, 10.0), hashes))
    before = rpc.calls["eth_getTransactionReceipt"]
    (tx_hash,) = send_transfers(slow_node.url, 1)
    receipts.wait(tx_hash, 10.0)
    assert rpc.calls["eth_getTransactionReceipt"] - before == 1  # one direct look, then the block


def test_a_node_without_block_receipts_is_asked_for_the_block_transactions(slow_node: AnvilNode) -> None:
    rpc = CountingRpc(slow_node.url)

    def no_block_receipts(method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockReceipts":
            raise LedgerError("the method eth_getBlockReceipts does not exist/is not available")
        return rpc.request(method, params)

    receipts = BlockReceipts(no_block_receipts, rpc.batch)
    hashes = send_transfers(slow_node.url, 5)
    with ThreadPoolExecutor(5) as pool:
        found = list(pool.map(lambda h: receipts.wait(h, 10.0), hashes))
    assert [r["transactionHash"] for r in found] == hashes
    assert rpc.calls["batch"] >= 1


def test_on_an_automining_node_the_prompt_look_up_finds_the_receipt(anvil: Chain) -> None:
    url = str(anvil.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    rpc = CountingRpc(url)
    receipts = BlockReceipts(rpc.request, rpc.batch)
    (tx_hash,) = send_transfers(url, 1)
    started = time.monotonic()
    assert receipts.wait(tx_hash, 5.0)["transactionHash"] == tx_hash
    assert time.monotonic() - started < 0.5
    assert "eth_blockNumber" not in rpc.calls  # nothing followed the head
    assert receipts.blocks_fetched == 0


def test_a_transaction_never_mined_times_out(slow_node: AnvilNode) -> None:
    rpc = CountingRpc(slow_node.url)
    receipts = BlockReceipts(rpc.request, rpc.batch)
    started = time.monotonic()
    with pytest.raises(TransactionTimeout, match="no receipt for 0x"):
        receipts.wait("0x" + "ab" * 32, 0.5)
    assert 0.5 <= time.monotonic() - started < 2.0
    assert receipts.waiters() == 0


def test_a_node_away_for_a_while_is_asked_again_until_the_receipt_is_found(slow_node: AnvilNode) -> None:
    proxy = TcpProxy(slow_node.port)
    rpc = CountingRpc(proxy.url)  # the waiter reaches the node through the proxy, which is down
    receipts = BlockReceipts(rpc.request, rpc.batch)
    (tx_hash,) = send_transfers(slow_node.url, 1)
    threading.Timer(1.5, proxy.up).start()
    try:
        found = receipts.wait(tx_hash, 10.0)
        # the follower recovers: a step of its that failed as the node came back is followed by one
        # that succeeds (the receipt may have been found by the waiter's own look-up meanwhile);
        # looked at while the node is still there
        recovered = await_condition(lambda: receipts.last_error is None, 5.0)
    finally:
        proxy.down()
    assert found["transactionHash"] == tx_hash
    assert recovered, receipts.last_error
