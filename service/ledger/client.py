"""Typed client of the CreditNoteLedger contract over web3.

Every write is estimated first (a revert surfaces before anything is sent and costs no gas),
signed locally by the sender's key, sent, and awaited; reverts become the typed exceptions of
`service.ledger.errors`, an unreachable node becomes `LedgerUnavailable`.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from service.domain import MemberStatus, NoteStatus, Role
from service.ledger.abi_codec import CallEncoder, DecodedEvent, ErrorDecoder, EventDecoder
from service.ledger.artifacts import load_artifact
from service.ledger.errors import (
    LedgerError,
    LedgerUnavailable,
    TransactionDropped,
    TransactionTimeout,
    UnknownRevert,
    revert_from_data,
)
from service.ledger.jsonrpc import RECEIPT_PROMPT_SECONDS, JsonRpc, NodeHttpError, prompt_pauses
from service.ledger.nonces import NonceManager
from service.ledger.relay import ForwardRequest, inner_calldata

T = TypeVar("T")
LEDGER_CONTRACT = "CreditNoteLedger"
TOKEN_CONTRACT = "SettlementToken"
FORWARDER_CONTRACT = "CreditChainForwarder"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
GAS_HEADROOM_PERCENT = 20
PRIORITY_FEE_WEI = 10**9


@dataclass(frozen=True)
class TxResult:
    """A mined transaction and the ledger events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[DecodedEvent, ...]
    contract_address: str | None = None
    """The contract a deployment created (None for calls)."""

    def created_note_ids(self) -> list[int]:
        """Ids of the notes the transaction created (issue or split), in order."""
        ids: list[int] = []
        for event in self.events:
            if event.name in ("NoteIssued", "NoteSplit"):
                ids.append(int(event.args["noteId"]))
        return ids

    def offer_id(self) -> int:
        """Id of the discount offer the transaction made."""
        for event in self.events:
            if event.name == "DiscountOffered":
                return int(event.args["offerId"])
        raise LookupError("the transaction made no discount offer")


@dataclass(frozen=True)
class NoteState:
    """A note as the ledger stores it."""

    note_id: int
    holder: str
    obligor: str
    amount: int
    currency: str
    maturity: int
    status: NoteStatus
    frozen: bool
    root_id: int
    document_hash: bytes


@dataclass(frozen=True)
class MemberState:
    """A member as the registry stores it."""

    address: str
    roles: Role
    status: MemberStatus
    onboarded_at: int


@dataclass(frozen=True)
class SplitPart:
    """One part of a split: recipient address and amount in minor units."""

    to: str
    amount: int


@dataclass(frozen=True)
class OfferState:
    """An open discount offer as the ledger stores it (note_id 0: unknown or closed)."""

    offer_id: int
    note_id: int
    financier: str
    holder: str
    price: int
    deadline: int
    off_chain: bool
    payment_reference: bytes


def revert_abi() -> list[dict[str, Any]]:
    """The custom errors a ledger transaction may revert with: the ledger's own, those of the
    settlement token it calls (which bubble up unchanged) and those of the forwarder relaying it."""
    entries = (
        load_artifact(LEDGER_CONTRACT).abi
        + load_artifact(TOKEN_CONTRACT).abi
        + load_artifact(FORWARDER_CONTRACT).abi
    )
    return [e for e in entries if e.get("type") == "error"]


def reference_bytes(reference: bytes | str) -> bytes:
    """A payment or decision reference as bytes32: raw bytes or text, right-padded with zeros."""
    raw = reference.encode("utf-8") if isinstance(reference, str) else reference
    if len(raw) > 32:
        raise ValueError("a reference is at most 32 bytes")
    return raw.ljust(32, b"\0")


def currency_bytes(code: str) -> bytes:
    """ISO 4217 code as the contract's bytes3 (validation is the contract's job)."""
    raw = code.encode("ascii", errors="replace")
    return raw[:3].ljust(3, b"\0")


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


_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, OSError)
_REVERT_ERRORS = (ContractLogicError, TransactionFailed, Web3RPCError, ValueError)


class BroadcastJournal(Protocol):
    """Told of every transaction signed in its context before it is broadcast (see `journaling`)."""

    def before_broadcast(self, tx_hash: str, raw: bytes) -> None:
        """Record `tx_hash` and the signed `raw` bytes durably; raising stops the broadcast."""


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


def journal_broadcast(tx_hash: str, raw: bytes) -> None:
    """Hand a signed transaction to the journal of the current context, if any, before broadcasting."""
    journal = _JOURNAL.get()
    if journal is not None:
        journal.before_broadcast(tx_hash, raw)


_TRANSIENT_STATUS = 500


def transient(exc: BaseException) -> bool:
    """Whether a failed node request may succeed if asked again: connection refused or reset, a
    timeout, an HTTP 5xx from the node (or a proxy before it)."""
    if isinstance(exc, NodeHttpError):
        return exc.status >= _TRANSIENT_STATUS
    cause = exc.__cause__
    if isinstance(exc, LedgerUnavailable) and cause is not None:
        return transient(cause)
    return isinstance(exc, (*_CONNECTION_ERRORS, LedgerUnavailable))


class TransactionSender:
    """Estimates, signs, sends and awaits transactions; turns failures into ledger exceptions.

    Every transaction is estimated first, so a revert surfaces (decoded through `errors`) before
    anything is signed or sent and costs no gas.

    Over HTTP the node is asked directly, one JSON-RPC request per step (`NodeRpc`), without
    web3.py's middleware and result formatters, which cost more CPU per request than the request
    itself; a receipt not there yet is asked for again promptly for the first 90 ms
    (`prompt_pauses`: 1 ms, then 2, 4, ... at most 20 ms apart), then every 100 ms. The in-process
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
        except _CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def translate(self, exc: BaseException) -> LedgerError:
        """The ledger exception for a failed call or transaction."""
        data = _revert_data(exc)
        if data is not None and len(data) >= 4:
            return revert_from_data(self.errors, data)
        if isinstance(exc, _CONNECTION_ERRORS):
            return LedgerUnavailable(str(exc))
        if isinstance(exc, ContractLogicError | TransactionFailed):
            return UnknownRevert(data or b"")
        return LedgerError(str(exc))

    def send(self, sender: LocalAccount, *, to: str | None, data: str) -> Any:
        """Send a transaction calling `to` (or creating a contract) with `data`; returns its receipt."""
        call: dict[str, Any] = {"from": sender.address, "data": data}
        if to is not None:
            call["to"] = to
        gas = self._estimate(call)
        tx: dict[str, Any] = {
            "data": data,
            "gas": gas + gas * GAS_HEADROOM_PERCENT // 100,
            "value": 0,
            "chainId": self.chain_id,
            "maxPriorityFeePerGas": PRIORITY_FEE_WEI,
        }
        tx["maxFeePerGas"] = 2 * self._base_fee() + PRIORITY_FEE_WEI
        if to is not None:
            tx["to"] = to
        with self.nonces.reserve(sender.address) as nonce:
            tx["nonce"] = nonce
            signed = sender.sign_transaction(tx)
            journal_broadcast(signed.hash.to_0x_hex(), bytes(signed.raw_transaction))
            tx_hash = self._send_raw(signed.raw_transaction)
        receipt = self._receipt(tx_hash)
        if receipt["status"] != 1:
            raise self._replay_failure(call, int(receipt["blockNumber"]))
        return receipt

    def _estimate(self, call: dict[str, Any]) -> int:
        if self.node is not None:
            return int(self.node.request("eth_estimateGas", [call]), 16)
        try:
            return int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except _REVERT_ERRORS as exc:
            raise self.translate(exc) from exc
        except _CONNECTION_ERRORS as exc:
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
        except _CONNECTION_ERRORS as exc:
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
            except _CONNECTION_ERRORS as exc:
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
        except _CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def known(self, tx_hash: str) -> bool:
        """Whether the node knows `tx_hash` (pending or mined)."""
        if self.node is not None:
            return self.node.request("eth_getTransactionByHash", [tx_hash]) is not None
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        except _CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return True

    def resolve(self, tx_hash: str, raw: bytes) -> Any:
        """The receipt of a transaction signed earlier (`raw`, whose hash is `tx_hash`) and maybe
        broadcast: mined -> its receipt (a reverted one raises the revert's ledger error); known to
        the node but pending -> waited for; unknown to the node -> `raw` broadcast again, then waited
        for. Raises TransactionDropped if it can never be mined (its nonce was used by another
        transaction: nothing it would have done happened), TransactionTimeout if it is not mined
        within `receipt_timeout`, LedgerUnavailable if the node cannot be asked."""
        receipt = self.find_receipt(tx_hash)
        if receipt is None and not self.known(tx_hash):
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
        except _REVERT_ERRORS as exc:
            return self.translate(exc)
        return UnknownRevert(b"")


class NodeRpc:
    """JSON-RPC requests straight to the node (`JsonRpc`: none of web3.py's middleware or
    formatters): results as the node sends them, errors as ledger exceptions (a revert with data as
    the contract's custom error)."""

    PAUSE = 0.1
    """Between look-ups of a receipt once the prompt ones (`prompt_pauses`) are over."""

    def __init__(self, w3: Web3, errors: ErrorDecoder) -> None:
        self._rpc = JsonRpc(w3)
        self._errors = errors

    def request(self, method: str, params: list[Any]) -> Any:
        try:
            response = self._rpc.request(method, params)
        except (NodeHttpError, *_CONNECTION_ERRORS) as exc:
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
        if "revert" in message.lower():
            return UnknownRevert(revert)
        return LedgerError(message or str(error))

    def receipt(self, tx_hash: str, timeout: float) -> dict[str, Any]:
        """The receipt of `tx_hash` (shaped as web3.py's: ints, HexBytes, checksummed addresses),
        asked for until it is there; TransactionTimeout after `timeout` seconds."""
        started = time.monotonic()
        pauses = prompt_pauses()
        while True:
            try:
                found = self.request("eth_getTransactionReceipt", [tx_hash])
            except LedgerUnavailable as exc:  # transient: asked again until the timeout
                if not transient(exc):
                    raise
                if time.monotonic() - started >= timeout:
                    raise TransactionTimeout(f"no receipt for {tx_hash}: {exc}") from exc
                time.sleep(min(self.PAUSE, max(timeout - (time.monotonic() - started), 0.0)))
                continue
            if found is not None:
                return _receipt(found)
            elapsed = time.monotonic() - started
            if elapsed >= timeout:
                raise TransactionTimeout(f"no receipt for {tx_hash}")
            wait = next(pauses) if elapsed < RECEIPT_PROMPT_SECONDS else self.PAUSE
            time.sleep(min(wait, timeout - elapsed))


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
    )


class ContractClient:
    """Sending transactions to and reading views of one deployed contract."""

    w3: Web3
    address: str
    contract: Contract
    events: EventDecoder
    calls: CallEncoder
    sender: TransactionSender

    def _transact(self, sender: LocalAccount, fn_name: str, *args: Any) -> TxResult:
        data = self.calls.encode(fn_name, args)
        receipt = self.sender.send(sender, to=self.address, data=data)
        return tx_result(receipt, {self.address: self.events})

    def _view(self, fn_name: str, *args: Any) -> Any:
        fn = getattr(self.contract.functions, fn_name)(*args)
        try:
            return fn.call()
        except (ContractLogicError, TransactionFailed) as exc:
            raise self.sender.translate(exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc


class LedgerClient(ContractClient):
    """Operations of one deployed CreditNoteLedger."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        *,
        nonces: NonceManager | None = None,
        receipt_timeout: float = 60.0,
    ) -> None:
        artifact = load_artifact(LEDGER_CONTRACT)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.events = EventDecoder(artifact.abi)
        self.calls = CallEncoder(artifact.abi)
        self.errors = ErrorDecoder(revert_abi())
        self.sender = TransactionSender(w3, self.errors, nonces, receipt_timeout)

    @property
    def nonces(self) -> NonceManager:
        return self.sender.nonces

    # ------------------------------------------------------------------ deployment
    @classmethod
    def deploy(
        cls,
        w3: Web3,
        deployer: LocalAccount,
        operator: str,
        *,
        nonces: NonceManager | None = None,
        receipt_timeout: float = 60.0,
        forwarder: str | None = None,
    ) -> LedgerClient:
        """Deploy a new ledger whose operator is `operator` and whose trusted ERC-2771 forwarder is
        `forwarder` (None: the zero address, no relaying); returns its client."""
        artifact = load_artifact(LEDGER_CONTRACT)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(
            Web3.to_checksum_address(operator), Web3.to_checksum_address(forwarder or ZERO_ADDRESS)
        ).data_in_transaction
        sender = TransactionSender(w3, ErrorDecoder(revert_abi()), nonces, receipt_timeout)
        receipt = sender.send(deployer, to=None, data=data)
        return cls(w3, receipt["contractAddress"], nonces=sender.nonces, receipt_timeout=receipt_timeout)

    # ------------------------------------------------------------------ operator and registry
    def transfer_operator(self, sender: LocalAccount, new_operator: str) -> TxResult:
        return self._transact(sender, "transferOperator", Web3.to_checksum_address(new_operator))

    def accept_operator(self, sender: LocalAccount) -> TxResult:
        return self._transact(sender, "acceptOperator")

    def onboard_member(self, sender: LocalAccount, account: str, roles: Role | int) -> TxResult:
        return self._transact(sender, "onboardMember", Web3.to_checksum_address(account), int(roles))

    def set_member_roles(self, sender: LocalAccount, account: str, roles: Role | int) -> TxResult:
        return self._transact(sender, "setMemberRoles", Web3.to_checksum_address(account), int(roles))

    def suspend_member(self, sender: LocalAccount, account: str) -> TxResult:
        return self._transact(sender, "suspendMember", Web3.to_checksum_address(account))

    def reinstate_member(self, sender: LocalAccount, account: str) -> TxResult:
        return self._transact(sender, "reinstateMember", Web3.to_checksum_address(account))

    def set_max_tenor(self, sender: LocalAccount, seconds: int) -> TxResult:
        return self._transact(sender, "setMaxTenor", seconds)

    def set_credit_limit(self, sender: LocalAccount, obligor: str, grant: int) -> TxResult:
        return self._transact(sender, "setCreditLimit", Web3.to_checksum_address(obligor), grant)

    def approve_financier(self, sender: LocalAccount, financier: str) -> TxResult:
        """The obligor `sender` agrees to a credit relationship with `financier`."""
        return self._transact(sender, "markFinancierApproved", Web3.to_checksum_address(financier), True)

    def withdraw_financier(self, sender: LocalAccount, financier: str) -> TxResult:
        """The obligor `sender` ends its relationship with `financier` (its grant is removed)."""
        return self._transact(sender, "markFinancierApproved", Web3.to_checksum_address(financier), False)

    # ------------------------------------------------------------------ notes
    def issue(
        self,
        sender: LocalAccount,
        to: str,
        amount: int,
        currency: str,
        maturity: int,
        document_hash: bytes,
    ) -> TxResult:
        """Issue a pending root note; its id is `result.created_note_ids()[0]`."""
        return self._transact(
            sender,
            "issue",
            Web3.to_checksum_address(to),
            amount,
            currency_bytes(currency),
            maturity,
            document_hash,
        )

    def accept(self, sender: LocalAccount, note_id: int) -> TxResult:
        return self._transact(sender, "accept", note_id)

    def reject(self, sender: LocalAccount, note_id: int) -> TxResult:
        return self._transact(sender, "reject", note_id)

    def revoke(self, sender: LocalAccount, note_id: int) -> TxResult:
        return self._transact(sender, "revoke", note_id)

    def split(self, sender: LocalAccount, note_id: int, parts: Sequence[SplitPart]) -> TxResult:
        """Split a note; the children's ids are `result.created_note_ids()`, in `parts` order."""
        encoded = [(Web3.to_checksum_address(p.to), p.amount) for p in parts]
        return self._transact(sender, "split", note_id, encoded)

    def transfer(self, sender: LocalAccount, note_id: int, to: str) -> TxResult:
        return self._transact(sender, "transfer", note_id, Web3.to_checksum_address(to))

    def freeze(self, sender: LocalAccount, note_id: int, reason: bytes) -> TxResult:
        return self._transact(sender, "freeze", note_id, reason.ljust(32, b"\0")[:32])

    def unfreeze(self, sender: LocalAccount, note_id: int) -> TxResult:
        return self._transact(sender, "unfreeze", note_id)

    # ------------------------------------------------------------------ financing
    def set_grace_period(self, sender: LocalAccount, seconds: int) -> TxResult:
        return self._transact(sender, "setGracePeriod", seconds)

    def set_settlement_token(self, sender: LocalAccount, currency: str, token: str) -> TxResult:
        return self._transact(
            sender, "setSettlementToken", currency_bytes(currency), Web3.to_checksum_address(token)
        )

    def offer_discount(
        self, sender: LocalAccount, note_id: int, price: int, deadline: int, *, off_chain: bool = False
    ) -> TxResult:
        """Offer to buy a note; the offer's id is `result.offer_id()`."""
        return self._transact(sender, "offerDiscount", note_id, price, deadline, off_chain)

    def cancel_discount_offer(self, sender: LocalAccount, offer_id: int) -> TxResult:
        return self._transact(sender, "cancelDiscountOffer", offer_id)

    def record_discount_payment(
        self, sender: LocalAccount, offer_id: int, reference: bytes | str
    ) -> TxResult:
        return self._transact(sender, "recordDiscountPayment", offer_id, reference_bytes(reference))

    def accept_discount_offer(self, sender: LocalAccount, offer_id: int) -> TxResult:
        return self._transact(sender, "acceptDiscountOffer", offer_id)

    def pay(self, sender: LocalAccount, note_id: int, amount: int) -> TxResult:
        return self._transact(sender, "pay", note_id, amount)

    def claim_payment(
        self, sender: LocalAccount, note_id: int, amount: int, reference: bytes | str
    ) -> TxResult:
        return self._transact(sender, "claimPayment", note_id, amount, reference_bytes(reference))

    def confirm_payment(
        self, sender: LocalAccount, note_id: int, amount: int, reference: bytes | str
    ) -> TxResult:
        return self._transact(sender, "confirmPayment", note_id, amount, reference_bytes(reference))

    def withdraw_payment_claim(self, sender: LocalAccount, note_id: int) -> TxResult:
        """The obligor withdraws its unconfirmed claim of an off-chain payment."""
        return self._transact(sender, "withdrawPaymentClaim", note_id)

    def set_min_part_amount(self, sender: LocalAccount, currency: str, amount: int) -> TxResult:
        """The operator sets the smallest note / split part of a currency (0: no minimum)."""
        return self._transact(sender, "setMinPartAmount", currency_bytes(currency), amount)

    def settle_root(self, sender: LocalAccount, root_id: int, first_index: int, count: int) -> TxResult:
        return self._transact(sender, "settleRoot", root_id, first_index, count)

    def mark_overdue(self, sender: LocalAccount, note_id: int) -> TxResult:
        return self._transact(sender, "markOverdue", note_id)

    def write_off(self, sender: LocalAccount, note_id: int, reference: bytes | str) -> TxResult:
        return self._transact(sender, "writeOff", note_id, reference_bytes(reference))

    # ------------------------------------------------------------------ views
    def get_offer(self, offer_id: int) -> OfferState:
        note_id, financier, holder, price, deadline, off_chain, reference = self._view("getOffer", offer_id)
        return OfferState(
            offer_id=offer_id,
            note_id=int(note_id),
            financier=financier,
            holder=holder,
            price=int(price),
            deadline=int(deadline),
            off_chain=bool(off_chain),
            payment_reference=bytes(reference),
        )

    def paid_amount(self, note_id: int) -> int:
        """What has been paid so far on a live note paid in part (0 otherwise)."""
        return int(self._view("paidAmount", note_id))

    def payment_claim(self, note_id: int) -> bytes:
        return bytes(self._view("paymentClaim", note_id))

    def is_overdue(self, note_id: int) -> bool:
        return bool(self._view("isOverdue", note_id))

    def settlement_token(self, currency: str) -> str:
        """The settlement token registered for `currency` (the zero address if none)."""
        return str(self._view("settlementToken", currency_bytes(currency)))

    def grace_period(self) -> int:
        return int(self._view("gracePeriod"))

    def min_part_amount(self, currency: str) -> int:
        """The smallest note / split part allowed in `currency` (0: no minimum)."""
        return int(self._view("minPartAmount", currency_bytes(currency)))

    def offer_count(self) -> int:
        return int(self._view("offerCount"))

    def get_note(self, note_id: int) -> NoteState:
        holder, obligor, amount, currency, maturity, status, frozen, root_id, doc = self._view(
            "getNote", note_id
        )
        return NoteState(
            note_id=note_id,
            holder=holder,
            obligor=obligor,
            amount=int(amount),
            currency=bytes(currency).rstrip(b"\0").decode("ascii", errors="replace"),
            maturity=int(maturity),
            status=NoteStatus(status),
            frozen=bool(frozen),
            root_id=int(root_id),
            document_hash=bytes(doc),
        )

    def get_member(self, account: str) -> MemberState:
        address = Web3.to_checksum_address(account)
        roles, status, onboarded_at = self._view("getMember", address)
        return MemberState(
            address=address, roles=Role(roles), status=MemberStatus(status), onboarded_at=int(onboarded_at)
        )

    def credit_of(self, obligor: str) -> tuple[int, int]:
        """(limit, outstanding) of an obligor."""
        limit, outstanding = self._view("creditOf", Web3.to_checksum_address(obligor))
        return int(limit), int(outstanding)

    def credit_grant(self, financier: str, obligor: str) -> int:
        """`financier`'s grant to `obligor` (0 unless the obligor approved it)."""
        amount, _ = self._view(
            "creditGrant", Web3.to_checksum_address(financier), Web3.to_checksum_address(obligor)
        )
        return int(amount)

    def financier_approved(self, obligor: str, financier: str) -> bool:
        """Whether `obligor` has approved `financier` (and not withdrawn the approval)."""
        _, approved = self._view(
            "creditGrant", Web3.to_checksum_address(financier), Web3.to_checksum_address(obligor)
        )
        return bool(approved)

    def document_root(self, document_hash: bytes) -> int:
        return int(self._view("documentRoot", document_hash))

    def tree_size(self, note_id: int) -> int:
        """Notes created so far in the tree of `note_id` (the root or any note of it)."""
        return int(self._view("treeSize", note_id))

    def operator(self) -> str:
        return str(self._view("operator"))

    def trusted_forwarder(self) -> str:
        """The ERC-2771 forwarder whose relayed requests act as their signer (zero: none)."""
        return str(self._view("trustedForwarder"))

    def is_trusted_forwarder(self, address: str) -> bool:
        return bool(self._view("isTrustedForwarder", Web3.to_checksum_address(address)))

    def pending_operator(self) -> str:
        return str(self._view("pendingOperator"))

    def max_tenor(self) -> int:
        return int(self._view("maxTenor"))

    def root_count(self) -> int:
        return int(self._view("rootCount"))

    def member_count(self) -> int:
        return int(self._view("memberCount"))


class SettlementTokenClient(ContractClient):
    """Operations of one SettlementToken (a permissioned ERC-20 of tokenized deposits)."""

    def __init__(self, w3: Web3, address: str, *, sender: TransactionSender) -> None:
        artifact = load_artifact(TOKEN_CONTRACT)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.events = EventDecoder(artifact.abi)
        self.calls = CallEncoder(artifact.abi)
        self.sender = sender

    @classmethod
    def deploy(
        cls,
        ledger: LedgerClient,
        deployer: LocalAccount,
        currency: str,
        *,
        name: str | None = None,
        symbol: str | None = None,
        decimals: int = 2,
    ) -> SettlementTokenClient:
        """Deploy the settlement token of `currency` for `ledger` (sharing its nonce manager)."""
        data = cls.deployment_data(ledger, currency, name=name, symbol=symbol, decimals=decimals)
        receipt = ledger.sender.send(deployer, to=None, data=data)
        return cls(ledger.w3, receipt["contractAddress"], sender=ledger.sender)

    @staticmethod
    def deployment_data(
        ledger: LedgerClient,
        currency: str,
        *,
        name: str | None = None,
        symbol: str | None = None,
        decimals: int = 2,
    ) -> str:
        """The contract-creation data of `currency`'s settlement token for `ledger`."""
        artifact = load_artifact(TOKEN_CONTRACT)
        factory = ledger.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        return str(
            factory.constructor(
                ledger.address,
                currency_bytes(currency),
                name or f"credchain settlement {currency}",
                symbol or f"cc{currency}",
                decimals,
            ).data_in_transaction
        )

    def mint(self, sender: LocalAccount, to: str, amount: int, reference: bytes | str) -> TxResult:
        """Tokenize a deposit (operator only)."""
        return self._transact(
            sender, "mint", Web3.to_checksum_address(to), amount, reference_bytes(reference)
        )

    def burn(self, sender: LocalAccount, account: str, amount: int, reference: bytes | str) -> TxResult:
        """Redeem tokens for a payout (operator only)."""
        return self._transact(
            sender, "burn", Web3.to_checksum_address(account), amount, reference_bytes(reference)
        )

    def approve(self, sender: LocalAccount, spender: str, amount: int) -> TxResult:
        return self._transact(sender, "approve", Web3.to_checksum_address(spender), amount)

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxResult:
        return self._transact(sender, "transfer", Web3.to_checksum_address(to), amount)

    def balance_of(self, account: str) -> int:
        return int(self._view("balanceOf", Web3.to_checksum_address(account)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(
            self._view("allowance", Web3.to_checksum_address(owner), Web3.to_checksum_address(spender))
        )

    def total_supply(self) -> int:
        return int(self._view("totalSupply"))

    def reference_used(self, reference: bytes | str) -> bool:
        """Whether a deposit or withdrawal already used this settlement-bank reference."""
        return bool(self._view("referenceUsed", reference_bytes(reference)))

    def currency(self) -> str:
        return bytes(self._view("currency")).decode("ascii", errors="replace")


class ForwarderClient(ContractClient):
    """The ledger's ERC-2771 forwarder (CreditChainForwarder): relays EIP-712 requests signed by
    self-custodied members; the relayer pays the gas."""

    def __init__(self, w3: Web3, address: str, *, sender: TransactionSender) -> None:
        artifact = load_artifact(FORWARDER_CONTRACT)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.events = EventDecoder(artifact.abi)
        self.calls = CallEncoder(artifact.abi)
        self.ledger_events = EventDecoder(load_artifact(LEDGER_CONTRACT).abi)
        self.sender = sender

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        deployer: LocalAccount,
        *,
        nonces: NonceManager | None = None,
        receipt_timeout: float = 60.0,
    ) -> ForwarderClient:
        """Deploy a forwarder (before the ledger that trusts it); pass its `nonces` on to the ledger's
        deployment so both share one nonce manager."""
        artifact = load_artifact(FORWARDER_CONTRACT)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        sender = TransactionSender(w3, ErrorDecoder(revert_abi()), nonces, receipt_timeout)
        receipt = sender.send(deployer, to=None, data=factory.constructor().data_in_transaction)
        return cls(w3, receipt["contractAddress"], sender=sender)

    @classmethod
    def of_ledger(cls, ledger: LedgerClient) -> ForwarderClient | None:
        """The forwarder the ledger trusts (sharing the ledger's sender), or None if it trusts none."""
        address = ledger.trusted_forwarder()
        if int(address, 16) == 0:
            return None
        return cls(ledger.w3, address, sender=ledger.sender)

    @property
    def nonces(self) -> NonceManager:
        return self.sender.nonces

    def nonce_of(self, owner: str) -> int:
        """The nonce the next request signed by `owner` must carry."""
        return int(self._view("nonces", Web3.to_checksum_address(owner)))

    def verify(self, request: ForwardRequest, signature: bytes) -> bool:
        """Whether the forwarder would accept the request now (signature, nonce, deadline, target)."""
        return bool(self._view("verify", request.forward_request_data(signature)))

    def simulate(self, target: str, sender: str, data: bytes) -> int:
        """Run `data` on `target` as this forwarder relays it for `sender` (an `eth_call` from the
        forwarder, the calldata followed by the sender's address) and return its gas estimate. A
        revert raises the target's own error, which `execute` would hide behind `FailedCall`."""
        call: dict[str, Any] = {
            "from": self.address,
            "to": Web3.to_checksum_address(target),
            "data": "0x" + inner_calldata(data, sender).hex(),
            "gasPrice": 0,  # the forwarder holds no ether: a call that pays nothing
        }
        try:
            return int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except _REVERT_ERRORS as exc:
            raise self.sender.translate(exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def execute_data(self, request: ForwardRequest, signature: bytes) -> str:
        """Calldata of `execute(request)`."""
        return str(self.contract.encode_abi("execute", args=[request.forward_request_data(signature)]))

    def execute(self, relayer: LocalAccount, request: ForwardRequest, signature: bytes) -> TxResult:
        """Relay a signed request, `relayer` paying the gas; the result lists the forwarder's and the
        target ledger's events. A reverted inner call fails the whole transaction (`FailedCall`)."""
        receipt = self.sender.send(relayer, to=self.address, data=self.execute_data(request, signature))
        return tx_result(
            receipt, {self.address: self.events, Web3.to_checksum_address(request.to): self.ledger_events}
        )


def deploy_with_forwarder(
    w3: Web3,
    deployer: LocalAccount,
    operator: str,
    *,
    nonces: NonceManager | None = None,
    receipt_timeout: float = 60.0,
) -> tuple[LedgerClient, ForwarderClient]:
    """Deploy a CreditChainForwarder, then a ledger operated by `operator` that trusts it; both
    clients share one transaction sender (and nonce manager)."""
    forwarder = ForwarderClient.deploy(w3, deployer, nonces=nonces, receipt_timeout=receipt_timeout)
    ledger = LedgerClient.deploy(
        w3,
        deployer,
        operator,
        nonces=forwarder.nonces,
        receipt_timeout=receipt_timeout,
        forwarder=forwarder.address,
    )
    return ledger, ForwarderClient(w3, forwarder.address, sender=ledger.sender)
