"""Typed Python exceptions for every custom error of the credchain contracts.

Each class is named exactly like the Solidity error it stands for and carries the error's
arguments in `arguments` (by parameter name). `revert_from_data` turns raw revert data into the
matching exception; a test checks that every custom error in the ABI has a class here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from service.ledger.abi_codec import ErrorDecoder


class LedgerError(Exception):
    """Anything that went wrong talking to the ledger."""


class LedgerUnavailable(LedgerError):
    """The node could not be reached or did not answer in time."""


class TransactionTimeout(LedgerError):
    """A transaction was sent but no receipt arrived in time."""


class TransactionDropped(LedgerError):
    """A transaction signed earlier was never mined and never can be: the node refuses it (its nonce
    was used by another transaction of the same account), so nothing it would have done happened."""


class InsufficientGas(LedgerError):
    """The node refused a transaction because its sender cannot pay for it (gas times price plus
    value above its ether balance): nothing was sent, nothing happened. `address` is the sender,
    `cost` the most the transaction could have cost (gas limit times max fee, plus value) and
    `balance` the sender's balance, when known."""

    def __init__(
        self, message: str, *, address: str | None = None, cost: int | None = None, balance: int | None = None
    ) -> None:
        super().__init__(message)
        self.address = address
        self.cost = cost
        self.balance = balance


class LedgerRevert(LedgerError):
    """A contract call reverted with a custom error of the credchain ABI."""

    description: ClassVar[str] = "the ledger refused the transaction"

    def __init__(self, arguments: dict[str, Any] | None = None) -> None:
        self.arguments: dict[str, Any] = dict(arguments or {})
        self.error_name: str = type(self).__name__
        rendered = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        super().__init__(f"{self.error_name}({rendered}): {self.description}")


class UnknownRevert(LedgerRevert):
    """The call reverted with data that is not a credchain custom error (e.g. a panic)."""

    description = "the ledger reverted without a known custom error"

    def __init__(self, data: bytes) -> None:
        super().__init__({"data": "0x" + data.hex()})
        self.error_name = "UnknownRevert"


# ---------------------------------------------------------------- member registry
class NotOperator(LedgerRevert):
    description = "only the operator may do this"


class NotPendingOperator(LedgerRevert):
    description = "only the nominated operator may accept the role"


class ZeroAddress(LedgerRevert):
    description = "the zero address is not allowed"


class InvalidRoles(LedgerRevert):
    description = "roles must be a non-empty combination of the known role bits"


class MemberAlreadyOnboarded(LedgerRevert):
    description = "the account is already a member"


class NotAMember(LedgerRevert):
    description = "the account is not a member"


class MemberNotActive(LedgerRevert):
    description = "the member is suspended"


class MemberNotSuspended(LedgerRevert):
    description = "the member is not suspended"


class MissingRole(LedgerRevert):
    description = "the member lacks the role this needs"


# ---------------------------------------------------------------- credit notes
class NoteNotFound(LedgerRevert):
    description = "no such note"


class NotHolder(LedgerRevert):
    description = "only the note's holder may do this"


class NotObligor(LedgerRevert):
    description = "only the note's obligor may do this"


class NoteNotPending(LedgerRevert):
    description = "the note is not pending"


class NoteNotActive(LedgerRevert):
    description = "the note is not active"


class NoteNotLive(LedgerRevert):
    description = "the note is neither pending nor active"


class NoteIsFrozen(LedgerRevert):
    description = "the note is frozen"


class NoteNotFrozen(LedgerRevert):
    description = "the note is not frozen"


class NoteMatured(LedgerRevert):
    description = "the note has reached maturity and can no longer move"


class ZeroAmount(LedgerRevert):
    description = "amounts must be positive"


class AmountTooLarge(LedgerRevert):
    description = "the amount exceeds the largest the ledger accepts"


class AmountsDoNotSum(LedgerRevert):
    description = "the parts' amounts do not sum to the note's amount"


class InvalidPartCount(LedgerRevert):
    description = "a split needs between 2 and MAX_SPLIT_PARTS parts"


class InvalidCurrency(LedgerRevert):
    description = "currency must be three upper-case letters (ISO 4217)"


class InvalidMaturity(LedgerRevert):
    description = "maturity must be in the future and within the maximum tenor"


class InvalidTenor(LedgerRevert):
    description = "the maximum tenor is out of bounds"


class ZeroDocumentHash(LedgerRevert):
    description = "a document hash is required"


class DocumentAlreadyUsed(LedgerRevert):
    description = "the document already backs a live note"


class CreditLimitExceeded(LedgerRevert):
    description = "issuing this would exceed the obligor's credit limit"


class CreditLimitTooLarge(LedgerRevert):
    description = "the obligor's total credit limit would exceed the largest the ledger stores"


class SelfDealing(LedgerRevert):
    description = "an account cannot deal with itself here"


class TreeFull(LedgerRevert):
    description = "the note's tree has no ids left"


class FinancierNotApproved(LedgerRevert):
    description = "the obligor has not approved this financier (or withdrew its approval)"


class FinancierAlreadyApproved(LedgerRevert):
    description = "the obligor has already approved this financier"


# ---------------------------------------------------------------- discount and settlement
class SettlementTokenNotSet(LedgerRevert):
    description = "no settlement token is registered for the note's currency"


class SettlementTokenAlreadySet(LedgerRevert):
    description = "the currency already has a settlement token"


class SettlementTokenMismatch(LedgerRevert):
    description = "the token is not a settlement token of this ledger in that currency"


class TokenTransferFailed(LedgerRevert):
    description = "the settlement token refused the transfer"


class InvalidGracePeriod(LedgerRevert):
    description = "the grace period is out of bounds"


class InvalidPrice(LedgerRevert):
    description = "the price must be positive and at most the note's amount"


class InvalidDeadline(LedgerRevert):
    description = "the offer's deadline must be in the future and before the note's maturity"


class OfferNotOpen(LedgerRevert):
    description = "no such open offer (unknown, accepted or cancelled)"


class NotOfferer(LedgerRevert):
    description = "only the financier who made the offer may do this"


class OfferExpired(LedgerRevert):
    description = "the offer's deadline has passed"


class OfferVoid(LedgerRevert):
    description = "the note has changed hands since the offer was made"


class NotAnOffChainOffer(LedgerRevert):
    description = "the offer is paid in settlement tokens, not off the ledger"


class DiscountPaymentNotRecorded(LedgerRevert):
    description = "the financier has not recorded the off-chain payment yet"


class ZeroReference(LedgerRevert):
    description = "a payment reference is required"


class NoteNotMatured(LedgerRevert):
    description = "the note has not reached maturity"


class NoteNotPayable(LedgerRevert):
    description = "the note is neither active nor overdue"


class PaymentTooLarge(LedgerRevert):
    description = "the payment exceeds what remains of the note"


class PaymentClaimMismatch(LedgerRevert):
    description = "no matching payment claim by the obligor"


class NotOverdueYet(LedgerRevert):
    description = "the note is not past maturity plus the grace period"


class InvalidBatch(LedgerRevert):
    description = "the settlement batch is empty, too large or past the tree's end"


class AmountBelowMinimum(LedgerRevert):
    description = "a note or split part is below its currency's minimum part amount"


class NoPaymentClaim(LedgerRevert):
    description = "the note has no pending claim of an off-chain payment"


# ---------------------------------------------------------------- settlement token (ERC-20)
class NotAnActiveMember(LedgerRevert):
    description = "settlement tokens move only between active members"


class ReferenceAlreadyUsed(LedgerRevert):
    description = "the settlement bank's reference was already used by a deposit or withdrawal"


class ERC20InsufficientBalance(LedgerRevert):
    description = "the payer's settlement-token balance is too low"


class ERC20InsufficientAllowance(LedgerRevert):
    description = "the payer's settlement-token allowance to the ledger is too low"


class ERC20InvalidSender(LedgerRevert):
    description = "invalid token sender"


class ERC20InvalidReceiver(LedgerRevert):
    description = "invalid token receiver"


class ERC20InvalidApprover(LedgerRevert):
    description = "invalid token approver"


class ERC20InvalidSpender(LedgerRevert):
    description = "invalid token spender"


# ---------------------------------------------------------------- forwarder (ERC-2771 relay)
class ERC2771ForwarderInvalidSigner(LedgerRevert):
    description = "the relayed request is not signed by its `from` (bad signature or stale nonce)"


class ERC2771ForwarderMismatchedValue(LedgerRevert):
    description = "the ether sent does not match the relayed request's value"


class ERC2771ForwarderExpiredRequest(LedgerRevert):
    description = "the relayed request's deadline has passed"


class ERC2771UntrustfulTarget(LedgerRevert):
    description = "the request's target does not trust this forwarder"


class FailedCall(LedgerRevert):
    description = "the relayed call reverted"


class InsufficientBalance(LedgerRevert):
    description = "the forwarder's ether balance is too low for the request's value"


class InvalidAccountNonce(LedgerRevert):
    description = "the request's nonce is not the signer's current nonce"


class InvalidShortString(LedgerRevert):
    description = "invalid EIP-712 domain string"


class StringTooLong(LedgerRevert):
    description = "EIP-712 domain string too long"


# ---------------------------------------------------------------- evidence-backed receivables


class DocumentIsEvidence(LedgerRevert):
    description = "the document is registered as trade evidence (one document, one financing)"


class NotEvidenceRegistry(LedgerRevert):
    description = "only the ledger's evidence registry may call this"


class EvidenceRegistryAlreadySet(LedgerRevert):
    description = "the ledger already names an evidence registry"


class ReceivableAlreadyConverted(LedgerRevert):
    description = "the receivable was already converted into the buyer's note"


class InvalidEvidenceKind(LedgerRevert):
    description = "unknown evidence kind"


class InvoiceAmountRequired(LedgerRevert):
    description = "an invoice needs an amount above zero and a currency"


class EvidenceAlreadyRegistered(LedgerRevert):
    description = "a record with this hash is already registered"


class EvidenceNotFound(LedgerRevert):
    description = "no evidence record with this hash"


class NotEvidenceSupplier(LedgerRevert):
    description = "only the supplier that registered the record may do this"


class SelfAttestation(LedgerRevert):
    description = "a record's supplier or buyer cannot attest it"


class AlreadyAttested(LedgerRevert):
    description = "this data provider has already attested the record (or revoked its attestation)"


class NotAttested(LedgerRevert):
    description = "the caller has no live attestation of the record"


class TooManyAttesters(LedgerRevert):
    description = "the record has the most attestations the registry counts"


class NotAnInvoice(LedgerRevert):
    description = "a receivable rests on an invoice record"


class EvidenceNotAttested(LedgerRevert):
    description = "the invoice has no live attestation"


class AmountExceedsInvoice(LedgerRevert):
    description = "the receivable's amount is above the invoice's"


class TooManySupporting(LedgerRevert):
    description = "too many supporting records"


class UnrelatedEvidence(LedgerRevert):
    description = (
        "a supporting record is unknown, repeated, the invoice itself, or of another supplier or buyer"
    )


class NotAReceivable(LedgerRevert):
    description = "the note is not the root of an evidence-backed receivable"


class NotReceivableBuyer(LedgerRevert):
    description = "only the buyer named by the receivable's invoice may convert it"


def _all_revert_classes() -> dict[str, type[LedgerRevert]]:
    return {cls.__name__: cls for cls in LedgerRevert.__subclasses__() if cls is not UnknownRevert}


REVERT_CLASSES: dict[str, type[LedgerRevert]] = _all_revert_classes()


def revert_from_data(decoder: ErrorDecoder, data: bytes) -> LedgerRevert:
    """The typed exception for revert `data`, or UnknownRevert."""
    decoded = decoder.decode(data)
    if decoded is None:
        return UnknownRevert(data)
    name, args = decoded
    cls = REVERT_CLASSES.get(name)
    if cls is None:
        return UnknownRevert(data)
    return cls(args)
