"""Sending transactions over a transport: estimate (a revert surfaces before anything is sent and
costs no gas), sign locally, journal before broadcast, send, await the receipt; reverts become the
typed exceptions of `service.ledger.errors`, an unreachable node `LedgerUnavailable`."""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_tester.exceptions import TransactionFailed
from eth_utils.exceptions import ValidationError as EthValidationError
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from service.ledger.abi_codec import ErrorDecoder, EventDecoder
from service.ledger.artifacts import load_artifact
from service.ledger.block_receipts import BlockReceipts
from service.ledger.errors import (
    InsufficientGas,
    LedgerError,
    LedgerUnavailable,
    TransactionDropped,
    TransactionTimeout,
    UnknownRevert,
    revert_from_data,
)
from service.ledger.jsonrpc import JsonRpc, NodeHttpError
from service.ledger.nonces import NonceManager
from service.ledger.types import (
    EVIDENCE_CONTRACT,
    FORWARDER_CONTRACT,
    LEDGER_CONTRACT,
    TOKEN_CONTRACT,
    TxResult,
)
from service.ledger.waiting import waiting

T = TypeVar("T")


GAS_HEADROOM_PERCENT = 20


PRIORITY_FEE_WEI = 10**9


def revert_abi() -> list[dict[str, Any]]:
    """The custom errors a ledger transaction may revert with: the ledger's own, those of the
    settlement token it calls (which bubble up unchanged), those of the forwarder relaying it and
    those of the evidence registry (whose member errors repeat the ledger's: each signature once)."""
    entries = (
        load_artifact(LEDGER_CONTRACT).abi
        + load_artifact(TOKEN_CONTRACT).abi
        + load_artifact(FORWARDER_CONTRACT).abi
        + load_artifact(EVIDENCE_CONTRACT).abi
    )
    unique: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("type") == "error":
            signature = entry["name"] + "(" + ",".join(i["type"] for i in entry.get("inputs", [])) + ")"
            unique.setdefault(signature, entry)
    return list(unique.values())


def _revert_data(exc: BaseException) -> bytes | None:
    """Revert data carried by the exceptions web3 and eth-tester raise, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(exc, TransactionFailed) and exc.args:
        message = exc.args[0]
        if isinstance(message, bytes):
            return message
        prefix = "execution reverted: "
        if isinstance(message, str) and message.startswith(prefix):
            literal = message[len(prefix) :]
            try:
                value = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                return None
            if isinstance(value, bytes):
                return value
            if isinstance(value, str) and value.startswith("0x"):
                return bytes.fromhex(value[2:])
    return None


INSUFFICIENT_FUNDS_MESSAGES = (
    # anvil: "Insufficient funds for gas * price + value" (code -32003); geth: "insufficient funds
    # for gas * price + value: address 0x.. have 0 want 123"
    "insufficient funds",
    # eth-tester (py-evm): "Sender b'..' cannot afford txn gas N with account balance B"
    "cannot afford txn gas",
    "upfront cost exceeds account balance",  # Besu
)
"""How nodes word their refusal of a transaction whose sender cannot pay for its gas (lower case)."""


def insufficient_funds(message: str) -> bool:
    """Whether a node's error message is its refusal of a sender that cannot pay for the gas."""
    lowered = message.lower()
    return any(words in lowered for words in INSUFFICIENT_FUNDS_MESSAGES)


def _tester_balance(message: str) -> int | None:
    """The balance eth-tester names in its refusal ("... with account balance 123"), if any."""
    head, found, tail = message.rpartition("account balance ")
    digits = tail.strip()
    return int(digits) if found and head and digits.isdigit() else None


def _tester_refusal(exc: EthValidationError) -> LedgerError:
    """eth-tester's validation error of a transaction as a ledger exception."""
    message = str(exc)
    if insufficient_funds(message):
        return InsufficientGas(message, balance=_tester_balance(message))
    return LedgerError(message)


CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, OSError)


REVERT_ERRORS = (ContractLogicError, TransactionFailed, Web3RPCError, ValueError)


class BroadcastJournal(Protocol):
    """Told of every transaction signed in its context before it is broadcast (see `journaling`)."""

    def before_broadcast(self, tx_hash: str, raw: bytes) -> None:
        """Record `tx_hash` and the signed `raw` bytes durably; raising stops the broadcast."""

    def refused(self, tx_hash: str) -> None:
        """The node refused `tx_hash` (recorded by `before_broadcast`) outright, e.g. its sender
        cannot pay for the gas: it was never accepted, and never will be as signed."""


_JOURNAL: ContextVar[BroadcastJournal | None] = ContextVar("credchain_broadcast_journal", default=None)


@contextmanager
def journaling(journal: BroadcastJournal) -> Iterator[BroadcastJournal]:
    """Within this block (this thread or task's context), every transaction signed by a
    `TransactionSender` or the chain's funder is handed to `journal` before it is broadcast."""
    token = _JOURNAL.set(journal)
    try:
        yield journal
    finally:
        _JOURNAL.reset(token)


def current_journal() -> BroadcastJournal | None:
    return _JOURNAL.get()


_BROADCAST_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar(
    "credchain_broadcast_listener", default=None
)


@contextmanager
def listening_for_broadcasts(listener: Callable[[str], None]) -> Iterator[None]:
    """Within this block (this thread or task's context), `listener(tx_hash)` is called after each
    transaction a `TransactionSender` broadcast was accepted by the node (before its receipt is
    waited for): e.g. to answer `202 Accepted` while the write goes on."""
    token = _BROADCAST_LISTENER.set(listener)
    try:
        yield
    finally:
        _BROADCAST_LISTENER.reset(token)


def journal_broadcast(tx_hash: str, raw: bytes) -> None:
    """Hand a signed transaction to the journal of the current context, if any, before broadcasting."""
    journal = _JOURNAL.get()
    if journal is not None:
        journal.before_broadcast(tx_hash, raw)


def journal_refusal(tx_hash: str) -> None:
    """Tell the journal of the current context, if any, that the node refused `tx_hash` outright."""
    journal = _JOURNAL.get()
    if journal is not None:
        journal.refused(tx_hash)


_TRANSIENT_STATUS = 500


def transient(exc: BaseException) -> bool:
    """Whether a failed node request may succeed if asked again: connection refused or reset, a
    timeout, an HTTP 5xx from the node (or a proxy before it)."""
    if isinstance(exc, NodeHttpError):
        return exc.status >= _TRANSIENT_STATUS
    cause = exc.__cause__
    if isinstance(exc, LedgerUnavailable) and cause is not None:
        return transient(cause)
    return isinstance(exc, (*CONNECTION_ERRORS, LedgerUnavailable))


class TransactionSender:
    """Estimates, signs, sends and awaits transactions; turns failures into ledger exceptions.

    Every transaction is estimated first, so a revert surfaces (decoded through `errors`) before
    anything is signed or sent and costs no gas.

    Over HTTP the node is asked directly, one JSON-RPC request per step (`NodeRpc`), without
    web3.py's middleware and result formatters, which cost more CPU per request than the request
    itself; receipts are waited for with `service.ledger.block_receipts.BlockReceipts` (asked for
    promptly for the first 90 ms while that finds them, else found per block for every waiter of
    the process at once). The in-process
    chain (eth-tester) is driven through web3.py.
    """

    def __init__(
        self,
        w3: Web3,
        errors: ErrorDecoder,
        nonces: NonceManager | None = None,
        receipt_timeout: float = 60.0,
    ) -> None:
        self.w3 = w3
        self.errors = errors
        self.nonces = nonces or NonceManager.for_web3(w3)
        self.receipt_timeout = receipt_timeout
        self.node = NodeRpc(w3, errors) if isinstance(w3.provider, HTTPProvider) else None
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.rpc(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def rpc(self, fn: Callable[[], T]) -> T:
        """Run one node request, turning connection failures into LedgerUnavailable."""
        try:
            return fn()
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def translate(self, exc: BaseException) -> LedgerError:
        """The ledger exception for a failed call or transaction."""
        data = _revert_data(exc)
        if data is not None and len(data) >= 4:
            return revert_from_data(self.errors, data)
        if isinstance(exc, CONNECTION_ERRORS):
            return LedgerUnavailable(str(exc))
        if isinstance(exc, ContractLogicError | TransactionFailed):
            return UnknownRevert(data or b"")
        return LedgerError(str(exc))

    def send(self, sender: LocalAccount, *, to: str | None, data: str, value: int = 0) -> Any:
        """Send a transaction calling `to` (or creating a contract) with `data` (and `value` wei);
        returns its receipt. A sender that cannot pay for the gas is `InsufficientGas` (naming it),
        found from the node's refusal: no balance is asked before sending."""
        call: dict[str, Any] = {"from": sender.address, "data": data}
        if to is not None:
            call["to"] = to
        if value:
            call["value"] = hex(value) if self.node is not None else value  # JSON-RPC: a hex quantity
        with waiting():  # node requests before the nonce is reserved: another write may work
            try:
                gas = self._estimate(call)
            except InsufficientGas as exc:  # eth-tester checks the balance when estimating
                raise InsufficientGas(str(exc), address=sender.address, balance=exc.balance) from exc
            base_fee = self._base_fee()
        tx: dict[str, Any] = {
            "data": data,
            "gas": gas + gas * GAS_HEADROOM_PERCENT // 100,
            "value": value,
            "chainId": self.chain_id,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
        }
        tx["maxFeePerGas"] = 2 * base_fee + PRIORITY_FEE_WEI
        if to is not None:
            tx["to"] = to
        with self.nonces.reserve(sender.address) as nonce:
            tx["nonce"] = nonce
            signed = sender.sign_transaction(tx)
            journal_broadcast(signed.hash.to_0x_hex(), bytes(signed.raw_transaction))
            try:
                tx_hash = self._send_raw(signed.raw_transaction)
            except InsufficientGas as exc:
                journal_refusal(signed.hash.to_0x_hex())
                cost = tx["gas"] * tx["maxFeePerGas"] + value
                raise InsufficientGas(
                    str(exc), address=sender.address, cost=cost, balance=exc.balance
                ) from exc
        listener = _BROADCAST_LISTENER.get()
        if listener is not None:
            listener(tx_hash)
        receipt = self._receipt(tx_hash)
        if receipt["status"] != 1:
            raise self._replay_failure(call, int(receipt["blockNumber"]))
        return receipt

    def _estimate(self, call: dict[str, Any]) -> int:
        if self.node is not None:
            return int(self.node.request("eth_estimateGas", [call]), 16)
        try:
            return int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except EthValidationError as exc:
            raise _tester_refusal(exc) from exc
        except REVERT_ERRORS as exc:
            raise self.translate(exc) from exc
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def _base_fee(self) -> int:
        if self.node is not None:
            block = self.node.request("eth_getBlockByNumber", ["latest", False])
            return int(block.get("baseFeePerGas") or "0x0", 16)
        return int(self.rpc(lambda: self.w3.eth.get_block("latest")).get("baseFeePerGas", 0))

    def _send_raw(self, raw: bytes) -> str:
        """Send a signed transaction; its hash (0x-hex)."""
        if self.node is not None:
            return str(self.node.request("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
        try:
            return self.w3.eth.send_raw_transaction(raw).to_0x_hex()
        except EthValidationError as exc:
            raise _tester_refusal(exc) from exc
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc
        except (ContractLogicError, TransactionFailed) as exc:
            raise self.translate(exc) from exc

    def _receipt(self, tx_hash: str) -> Any:
        """The receipt of `tx_hash`, waited for up to `receipt_timeout`; a look-up that fails
        transiently (connection reset, timeout, 5xx) is retried until then, not given up on."""
        if self.node is not None:
            return self.node.receipt(tx_hash, self.receipt_timeout)
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            try:
                return self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=max(deadline - time.monotonic(), 0.0)
                )
            except TimeExhausted as exc:
                raise TransactionTimeout(f"no receipt for {tx_hash}") from exc
            except CONNECTION_ERRORS as exc:
                if time.monotonic() >= deadline:
                    raise TransactionTimeout(f"no receipt for {tx_hash}: {exc}") from exc
                time.sleep(NodeRpc.PAUSE)

    # ------------------------------------------------------------------ resolving a sent transaction
    def find_receipt(self, tx_hash: str) -> Any | None:
        """The receipt of `tx_hash` if it is mined (one look), else None."""
        if self.node is not None:
            found = self.node.request("eth_getTransactionReceipt", [tx_hash])
            return _receipt(found) if found is not None else None
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def known(self, tx_hash: str) -> bool:
        """Whether the node knows `tx_hash` (pending or mined)."""
        if self.node is not None:
            return self.node.request("eth_getTransactionByHash", [tx_hash]) is not None
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return True

    def resolve(self, tx_hash: str, raw: bytes) -> Any:
        """The receipt of a transaction signed earlier (`raw`, whose hash is `tx_hash`) and maybe
        broadcast: mined -> its receipt (a reverted one raises the revert's ledger error); known to
        the node but pending -> waited for; unknown to the node -> `raw` broadcast again, then waited
        for. Raises TransactionDropped if it can never be mined (its nonce was used by another
        transaction: nothing it would have done happened) or would only be mined after transactions
        that are gone (`_behind_a_gap`), TransactionTimeout if it is not mined
        within `receipt_timeout`, LedgerUnavailable if the node cannot be asked."""
        receipt = self.find_receipt(tx_hash)
        if receipt is None and not self.known(tx_hash):
            if self._behind_a_gap(raw):
                raise TransactionDropped(
                    f"{tx_hash} is neither mined nor pending, and neither are transactions its sender "
                    "signed before it (a reorganisation dropped them): broadcast again it would wait "
                    "in the node's queue until other transactions used the nonces before it"
                )
            try:
                self._send_raw(raw)
            except LedgerUnavailable:
                raise
            except LedgerError as exc:
                receipt = self.find_receipt(tx_hash)  # mined meanwhile?
                if receipt is None and not self.known(tx_hash):
                    raise TransactionDropped(
                        f"{tx_hash} was never mined and cannot be: the node refused it again ({exc})"
                    ) from exc
        if receipt is None:
            receipt = self._receipt(tx_hash)
        if receipt["status"] != 1:
            raise self._mined_failure(tx_hash, int(receipt["blockNumber"]))
        return receipt

    def _behind_a_gap(self, raw: bytes) -> bool:
        """Whether the signed transaction `raw` has a nonce above its sender's next one on the node
        (mined and pending): its earlier transactions are gone. Broadcast again, it would not be mined
        but wait in the node's queue, and run whenever later transactions filled the gap, long after
        its write was given up and sent anew: so it is not broadcast again (nothing it would do has
        happened, and the write runs anew with the next nonce)."""
        try:
            decoded = TypedTransaction.from_bytes(HexBytes(raw))
        except (TypeError, ValueError):  # not a typed transaction: the gateway signs none such
            return False
        nonce = int(decoded.as_dict()["nonce"])
        return nonce > self.nonces.on_node(Account.recover_transaction(raw))

    def _mined_failure(self, tx_hash: str, block_number: int) -> LedgerError:
        """The error of a mined, failed transaction, found by re-running it on its block's parent."""
        if self.node is not None:
            tx = self.node.request("eth_getTransactionByHash", [tx_hash])
            call = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
        else:
            found = self.rpc(lambda: self.w3.eth.get_transaction(HexBytes(tx_hash)))
            call = {"from": found["from"], "to": found["to"], "data": HexBytes(found["input"]).to_0x_hex()}
        return self._replay_failure(call, block_number)

    def _replay_failure(self, call: dict[str, Any], block_number: int) -> LedgerError:
        """Re-run a mined, failed transaction as a call on the state before its block."""
        if self.node is not None:
            try:
                self.node.request("eth_call", [call, hex(max(block_number - 1, 0))])
            except LedgerUnavailable:
                raise
            except LedgerError as exc:
                return exc
            return UnknownRevert(b"")
        try:
            self.w3.eth.call(call, block_identifier=max(block_number - 1, 0))  # type: ignore[arg-type]
        except REVERT_ERRORS as exc:
            return self.translate(exc)
        return UnknownRevert(b"")


class NodeRpc:
    """JSON-RPC requests straight to the node (`JsonRpc`: none of web3.py's middleware or
    formatters): results as the node sends them, errors as ledger exceptions (a revert with data as
    the contract's custom error)."""

    PAUSE = 0.1
    """Between look-ups of a receipt through web3.py (the in-process chain) after a fault."""

    def __init__(self, w3: Web3, errors: ErrorDecoder) -> None:
        self._rpc = JsonRpc(w3)
        self._errors = errors
        self._receipts: BlockReceipts | None = None
        self._receipts_lock = threading.Lock()

    def request(self, method: str, params: list[Any]) -> Any:
        try:
            response = self._rpc.request(method, params)
        except (NodeHttpError, *CONNECTION_ERRORS) as exc:
            raise LedgerUnavailable(f"{method}: {exc}") from exc
        error = response.get("error")
        if error is not None:
            raise self.error(error)
        return response.get("result")

    def error(self, error: Any) -> LedgerError:
        """The ledger exception for a JSON-RPC error object."""
        if not isinstance(error, dict):
            return LedgerError(str(error))
        data = error.get("data")
        if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
            data = data.get("data")
        revert = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else b""
        if len(revert) >= 4:
            return revert_from_data(self._errors, revert)
        message = str(error.get("message", ""))
        if insufficient_funds(message):
            return InsufficientGas(message)
        if "revert" in message.lower():
            return UnknownRevert(revert)
        return LedgerError(message or str(error))

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls`, sent as one JSON-RPC batch, in order; an error answer raises."""
        try:
            responses = self._rpc.batch(calls)
        except (NodeHttpError, *CONNECTION_ERRORS) as exc:
            raise LedgerUnavailable(f"batch: {exc}") from exc
        if isinstance(responses, dict):
            raise self.error(responses.get("error", responses))
        results = []
        for response in responses:
            error = response.get("error")
            if error is not None:
                raise self.error(error)
            results.append(response.get("result"))
        return results

    @property
    def receipts(self) -> BlockReceipts:
        """This node's receipt waiter (one head follower for every transaction waited for)."""
        if self._receipts is None:
            with self._receipts_lock:
                if self._receipts is None:
                    self._receipts = BlockReceipts(self.request, self.batch, transient=transient)
        return self._receipts

    def receipt(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        """The receipt of `tx_hash` (shaped as web3.py's: ints, HexBytes, checksummed addresses),
        once it is there (`BlockReceipts`: looked up promptly while that pays off, else found in
        its block with every other transaction waited for); TransactionTimeout after `timeout`
        seconds."""
        return _receipt(self.receipts.wait(tx_hash, timeout))


def _receipt(raw: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC receipt with the fields this package reads, typed as web3.py types them."""
    contract = raw.get("contractAddress")
    return {
        "transactionHash": HexBytes(raw["transactionHash"]),
        "blockHash": HexBytes(raw["blockHash"]),
        "blockNumber": int(raw["blockNumber"], 16),
        "status": int(raw.get("status") or "0x1", 16),
        "gasUsed": int(raw["gasUsed"], 16),
        "contractAddress": Web3.to_checksum_address(contract) if contract else None,
        "logs": [
            {
                "address": Web3.to_checksum_address(log["address"]),
                "topics": [HexBytes(topic) for topic in log["topics"]],
                "data": HexBytes(log["data"]),
                "logIndex": int(log["logIndex"], 16),
            }
            for log in raw.get("logs", [])
        ],
    }


def tx_result(receipt: Any, decoders: dict[str, EventDecoder]) -> TxResult:
    """A mined transaction's result with the events of the contracts in `decoders` (by address),
    in log order; other contracts' logs are left out."""
    events = []
    for log in receipt["logs"]:
        decoder = decoders.get(log["address"])
        if decoder is None:
            continue
        decoded = decoder.decode(list(log["topics"]), bytes(log["data"]))
        if decoded is not None:
            events.append(decoded)
    return TxResult(
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        events=tuple(events),
        contract_address=str(receipt["contractAddress"]) if receipt.get("contractAddress") else None,
        block_hash=_hex(receipt.get("blockHash")),
    )


def _hex(value: Any) -> str | None:
    """A hash as 0x-hex (receipts carry HexBytes or str)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text
