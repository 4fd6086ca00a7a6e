"""Typed client of the CreditNoteLedger contract over web3.

Every write is estimated first (a revert surfaces before anything is sent and costs no gas),
signed locally by the sender's key, sent, and awaited; reverts become the typed exceptions of
`service.ledger.errors`, an unreachable node becomes `LedgerUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from service.domain import MemberStatus, NoteStatus, Role
from service.ledger.abi_codec import CallEncoder, ErrorDecoder, EventDecoder
from service.ledger.artifacts import load_artifact
from service.ledger.errors import (
    LedgerUnavailable,
)
from service.ledger.nonces import NonceManager
from service.ledger.sender import (
    CONNECTION_ERRORS,
    TransactionSender,
    revert_abi,
    tx_result,
)
from service.ledger.types import (
    EVIDENCE_CONTRACT,
    LEDGER_CONTRACT,
    TOKEN_CONTRACT,
    ZERO_ADDRESS,
    EvidenceKind,
    EvidenceState,
    MemberState,
    NoteState,
    OfferState,
    SplitPart,
    TxResult,
    currency_bytes,
    reference_bytes,
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
        except CONNECTION_ERRORS as exc:
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
        self._evidence: EvidenceRegistryClient | None = None

    @property
    def nonces(self) -> NonceManager:
        return self.sender.nonces

    @property
    def evidence(self) -> EvidenceRegistryClient:
        """The EvidenceRegistry this ledger names (read once from `evidenceRegistry()`); raises
        `LookupError` if the operator has not named one."""
        if self._evidence is None:
            address = self.evidence_registry()
            if int(address, 16) == 0:
                raise LookupError("this ledger has no evidence registry")
            self._evidence = EvidenceRegistryClient(self, address)
        return self._evidence

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

    # ------------------------------------------------------------------ evidence-backed receivables
    def set_evidence_registry(self, sender: LocalAccount, registry: str) -> TxResult:
        """The operator names the ledger's EvidenceRegistry (once)."""
        return self._transact(sender, "setEvidenceRegistry", Web3.to_checksum_address(registry))

    def register_evidence(
        self,
        sender: LocalAccount,
        doc_hash: bytes,
        kind: EvidenceKind | int,
        buyer: str,
        currency: str | None,
        amount: int,
    ) -> TxResult:
        """A supplier registers a trade record against `buyer` (currency None: no amount)."""
        return self.evidence.register_evidence(sender, doc_hash, kind, buyer, currency, amount)

    def attest_evidence(self, sender: LocalAccount, doc_hash: bytes) -> TxResult:
        """A data provider attests a record."""
        return self.evidence.attest_evidence(sender, doc_hash)

    def revoke_attestation(self, sender: LocalAccount, doc_hash: bytes) -> TxResult:
        """A data provider withdraws its attestation of a record."""
        return self.evidence.revoke_attestation(sender, doc_hash)

    def originate_receivable(
        self,
        sender: LocalAccount,
        invoice_hash: bytes,
        supporting: Sequence[bytes],
        amount: int,
        maturity: int,
    ) -> TxResult:
        """A supplier originates an evidence-backed receivable; the root's id is
        `result.created_note_ids()[0]`."""
        return self.evidence.originate_receivable(sender, invoice_hash, supporting, amount, maturity)

    def convert_receivable(self, sender: LocalAccount, root_id: int) -> TxResult:
        """The buyer makes itself the obligor of a receivable's (unsplit) root."""
        return self.evidence.convert_receivable(sender, root_id)

    def evidence_registry(self) -> str:
        """The EvidenceRegistry the operator named (the zero address if none)."""
        return str(self._view("evidenceRegistry"))

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


class EvidenceRegistryClient(ContractClient):
    """Operations of a ledger's EvidenceRegistry; its results list the registry's and the ledger's
    events (an origination emits both), and it shares the ledger's transaction sender."""

    def __init__(self, ledger: LedgerClient, address: str) -> None:
        artifact = load_artifact(EVIDENCE_CONTRACT)
        self.w3 = ledger.w3
        self.address = Web3.to_checksum_address(address)
        self.ledger_address = ledger.address
        self.contract: Contract = self.w3.eth.contract(address=self.address, abi=artifact.abi)
        self.events = EventDecoder(artifact.abi)
        self.ledger_events = ledger.events
        self.calls = CallEncoder(artifact.abi)
        self.sender = ledger.sender

    @classmethod
    def deploy(cls, ledger: LedgerClient, deployer: LocalAccount) -> EvidenceRegistryClient:
        """Deploy a registry for `ledger`, trusting the ledger's forwarder (the operator must then
        name it: `LedgerClient.set_evidence_registry`)."""
        data = cls.deployment_data(ledger)
        receipt = ledger.sender.send(deployer, to=None, data=data)
        return cls(ledger, receipt["contractAddress"])

    @staticmethod
    def deployment_data(ledger: LedgerClient) -> str:
        """The contract-creation data of an EvidenceRegistry for `ledger`."""
        artifact = load_artifact(EVIDENCE_CONTRACT)
        factory = ledger.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        forwarder = Web3.to_checksum_address(ledger.trusted_forwarder())
        return str(factory.constructor(ledger.address, forwarder).data_in_transaction)

    def _transact(self, sender: LocalAccount, fn_name: str, *args: Any) -> TxResult:
        data = self.calls.encode(fn_name, args)
        receipt = self.sender.send(sender, to=self.address, data=data)
        return tx_result(receipt, {self.address: self.events, self.ledger_address: self.ledger_events})

    def register_evidence(
        self,
        sender: LocalAccount,
        doc_hash: bytes,
        kind: EvidenceKind | int,
        buyer: str,
        currency: str | None,
        amount: int,
    ) -> TxResult:
        code = currency_bytes(currency) if currency else b"\0\0\0"
        return self._transact(
            sender, "registerEvidence", doc_hash, int(kind), Web3.to_checksum_address(buyer), code, amount
        )

    def attest_evidence(self, sender: LocalAccount, doc_hash: bytes) -> TxResult:
        return self._transact(sender, "attestEvidence", doc_hash)

    def revoke_attestation(self, sender: LocalAccount, doc_hash: bytes) -> TxResult:
        return self._transact(sender, "revokeAttestation", doc_hash)

    def originate_receivable(
        self,
        sender: LocalAccount,
        invoice_hash: bytes,
        supporting: Sequence[bytes],
        amount: int,
        maturity: int,
    ) -> TxResult:
        return self._transact(
            sender, "originateReceivable", invoice_hash, [bytes(h) for h in supporting], amount, maturity
        )

    def convert_receivable(self, sender: LocalAccount, root_id: int) -> TxResult:
        return self._transact(sender, "convertReceivable", root_id)

    def get_evidence(self, doc_hash: bytes) -> EvidenceState:
        supplier, buyer, kind, currency, amount, attesters = self._view("getEvidence", doc_hash)
        return EvidenceState(
            doc_hash=bytes(doc_hash),
            supplier=supplier,
            buyer=buyer,
            kind=EvidenceKind(kind),
            currency=bytes(currency).rstrip(b"\0").decode("ascii", errors="replace"),
            amount=int(amount),
            attesters=int(attesters),
        )

    def attestation(self, doc_hash: bytes, attester: str) -> int:
        """0 never attested, 1 attested, 2 revoked."""
        return int(self._view("attestation", doc_hash, Web3.to_checksum_address(attester)))

    def receivable_invoice(self, note_id: int) -> bytes:
        """The invoice a receivable's root rests on (32 zero bytes for any other note)."""
        return bytes(self._view("receivableInvoice", note_id))

    def ledger(self) -> str:
        return str(self._view("ledger"))


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
