"""Many ledger events, fast: pipelined raw transactions for indexer tests and benchmarks.

`LedgerClient` estimates, sends and awaits each transaction (and web3's ABI encoder alone takes
~90 ms for a 100-part split); here calldata is encoded with eth_abi, gas is fixed, nonces are
counted locally, and one phase's transactions (each phase has one sender, so nonces order them)
are sent back to back and awaited once at the end.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from service.ledger.abi_codec import abi_type, signature
from service.ledger.types import currency_bytes
from tests.consortium import DAY, Consortium

MAX_FEE = 50 * 10**9
PRIORITY_FEE = 10**9


class RawSender:
    """Signs and sends ledger calls without waiting for each receipt."""

    def __init__(self, consortium: Consortium) -> None:
        self.c = consortium
        self.w3: Web3 = consortium.chain.w3
        self.address = consortium.ledger.address
        self.chain_id = int(self.w3.eth.chain_id)
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        for entry in consortium.ledger.contract.abi:
            if entry.get("type") == "function":
                selector = keccak(text=signature(dict(entry)))[:4]
                self._functions[str(entry["name"])] = (selector, [abi_type(dict(p)) for p in entry["inputs"]])
        self._nonces: dict[str, int] = {}
        self.sent: list[str] = []

    def calldata(self, fn_name: str, *args: Any) -> bytes:
        selector, types = self._functions[fn_name]
        return selector + abi_encode(types, list(args))

    def send(self, sender: LocalAccount, fn_name: str, *args: Any, gas: int = 500_000) -> str:
        nonce = self._nonces.get(sender.address)
        if nonce is None:
            nonce = int(self.w3.eth.get_transaction_count(sender.address, "pending"))
        tx = {
            "to": self.address,
            "data": self.calldata(fn_name, *args),
            "gas": gas,
            "value": 0,
            "nonce": nonce,
            "chainId": self.chain_id,
            "maxFeePerGas": MAX_FEE,
            "maxPriorityFeePerGas": PRIORITY_FEE,
        }
        signed = sender.sign_transaction(tx)
        response = self.w3.provider.make_request(
            "eth_sendRawTransaction",  # type: ignore[arg-type]
            ["0x" + bytes(signed.raw_transaction).hex()],
        )
        if "error" in response:
            raise RuntimeError(f"{fn_name}: {response['error']}")
        self._nonces[sender.address] = nonce + 1
        tx_hash = str(response["result"])
        self.sent.append(tx_hash)
        return tx_hash

    def wait(self, timeout: float = 120.0) -> None:
        """Wait until every transaction sent so far is mined; all must have succeeded."""
        deadline = time.monotonic() + timeout
        for tx_hash in self.sent:
            while True:
                receipt = self.w3.provider.make_request(
                    "eth_getTransactionReceipt",  # type: ignore[arg-type]
                    [tx_hash],
                ).get("result")
                if receipt is not None:
                    if int(receipt["status"], 16) != 1:
                        raise RuntimeError(f"transaction {tx_hash} reverted")
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"transaction {tx_hash} not mined")
                time.sleep(0.01)
        self.sent.clear()
        for account in self._nonce_accounts():
            self.c.ledger.nonces.forget(account)

    def _nonce_accounts(self) -> Sequence[str]:
        return list(self._nonces)


@dataclass(frozen=True)
class Workload:
    roots: list[int]
    children: list[int]
    grandchildren_parents: list[int]
    events: int


def split_workload(c: Consortium, roots: int, parts: int = 100, resplits: int = 0) -> Workload:
    """Issue and accept `roots` root notes (to supplier 0), split each into `parts` children
    (alternately to suppliers 1 and 2), then split `resplits` of those children again into
    `parts` grandchildren. About `roots * (parts + 2) + resplits * parts` events."""
    sender = RawSender(c)
    s0, s1, s2 = c.suppliers[:3]
    maturity = c.chain.now() + 120 * DAY
    issue_gas = 250_000
    first_seq = c.ledger.root_count() + 1
    ids = [(first_seq + i) << 32 for i in range(roots)]
    for _ in ids:
        sender.send(
            c.core,
            "issue",
            s0.address,
            parts * parts,
            currency_bytes("EUR"),
            maturity,
            c.next_document(),
            gas=issue_gas,
        )
    sender.wait()
    for note_id in ids:
        sender.send(s0, "accept", note_id, gas=120_000)
    sender.wait()
    split_gas = 60_000 + 40_000 * parts
    children: list[int] = []
    for note_id in ids:
        holders = [s1.address if i % 2 == 0 else s2.address for i in range(parts)]
        sender.send(s0, "split", note_id, [(h, parts) for h in holders], gas=split_gas)
        children.extend(note_id + 1 + i for i in range(parts))
    sender.wait()
    resplit = [child for child in children if (child & 0xFFFFFFFF) % 2 == 1][:resplits]
    for child in resplit:
        sender.send(s1, "split", child, [(s2.address, 1)] * parts, gas=split_gas)
    sender.wait()
    return Workload(ids, children, resplit, roots * (parts + 2) + len(resplit) * parts)
