// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IMemberRegistry} from "./IMemberRegistry.sol";

/// @title ICreditNoteLedger
/// @notice The ABI surface of the credit-note ledger: the note status, the split part, the errors it
///         reverts with and the events it emits (the member registry's included). `CreditNoteLedger`
///         implements it.
/// @dev Every state change emits an event carrying what an indexer needs to rebuild state from events
///      alone, without calling the chain.
interface ICreditNoteLedger is IMemberRegistry {
    /// @notice Where a note stands: pending until its holder accepts, then active (overdue once unpaid
    ///         past maturity plus the grace period); closed once split, rejected, revoked, settled or
    ///         written off. Live: pending, active or overdue. Payable: active or overdue.
    enum NoteStatus {
        None,
        Pending,
        Active,
        Split,
        Rejected,
        Revoked,
        Overdue,
        Settled,
        WrittenOff
    }

    /// @notice One part of a split: the recipient and its amount in minor units.
    struct Part {
        address to;
        uint256 amount;
    }

    error NoteNotFound(uint256 noteId);
    error NotHolder(uint256 noteId, address caller);
    error NotObligor(uint256 noteId, address caller);
    error NoteNotPending(uint256 noteId, NoteStatus status);
    error NoteNotActive(uint256 noteId, NoteStatus status);
    error NoteNotLive(uint256 noteId, NoteStatus status);
    error NoteIsFrozen(uint256 noteId);
    error NoteNotFrozen(uint256 noteId);
    error NoteMatured(uint256 noteId, uint256 maturity);
    error ZeroAmount(uint256 partIndex);
    error AmountTooLarge(uint256 amount, uint256 maxAmount);
    error AmountsDoNotSum(uint256 expected, uint256 actual);
    error InvalidPartCount(uint256 count, uint256 minParts, uint256 maxParts);
    error InvalidCurrency(bytes3 currency);
    error InvalidMaturity(uint256 maturity, uint256 earliest, uint256 latest);
    error InvalidTenor(uint256 tenor);
    error ZeroDocumentHash();
    error DocumentAlreadyUsed(bytes32 documentHash, uint256 rootId);
    error CreditLimitExceeded(address obligor, uint256 outstanding, uint256 amount, uint256 limit);
    error CreditLimitTooLarge(uint256 limit, uint256 maxLimit);
    error SelfDealing(address account);
    error TreeFull(uint256 rootId);
    error SettlementTokenNotSet(bytes3 currency);
    error SettlementTokenAlreadySet(bytes3 currency, address token);
    error SettlementTokenMismatch(address token);
    error TokenTransferFailed(address token);
    error InvalidGracePeriod(uint256 gracePeriod);
    error InvalidPrice(uint256 price, uint256 maxPrice);
    error InvalidDeadline(uint256 deadline, uint256 earliest, uint256 latest);
    error OfferNotOpen(uint256 offerId);
    error NotOfferer(uint256 offerId, address caller);
    error OfferExpired(uint256 offerId, uint256 deadline);
    error OfferVoid(uint256 offerId);
    error NotAnOffChainOffer(uint256 offerId);
    error DiscountPaymentNotRecorded(uint256 offerId);
    error ZeroReference();
    error NoteNotMatured(uint256 noteId, uint256 maturity);
    error NoteNotPayable(uint256 noteId, NoteStatus status);
    error PaymentTooLarge(uint256 noteId, uint256 amount, uint256 remaining);
    error PaymentClaimMismatch(uint256 noteId);
    error NotOverdueYet(uint256 noteId, uint256 overdueAt);
    error InvalidBatch(uint256 firstIndex, uint256 count, uint256 lastIndex);
    error FinancierNotApproved(address obligor, address financier);
    error FinancierAlreadyApproved(address obligor, address financier);
    /// @notice A note (partIndex 0 at issue) or split part below its currency's minimum part amount.
    error AmountBelowMinimum(uint256 partIndex, uint256 amount, uint256 minimum);
    error NoPaymentClaim(uint256 noteId);
    /// @notice `issue` with a hash registered as trade evidence (one document, one financing).
    error DocumentIsEvidence(bytes32 documentHash);
    error NotEvidenceRegistry(address caller);
    error EvidenceRegistryAlreadySet(address registry);
    error ReceivableAlreadyConverted(uint256 rootId);

    event NoteIssued(
        uint256 indexed noteId,
        address indexed obligor,
        address indexed holder,
        uint256 amount,
        bytes3 currency,
        uint40 maturity,
        bytes32 documentHash
    );
    event NoteAccepted(uint256 indexed noteId, address indexed holder);
    event NoteRejected(uint256 indexed noteId, address indexed holder, uint256 amount);
    event NoteRevoked(uint256 indexed noteId, address indexed obligor, uint256 amount);
    /// @notice One child created by a split; the parent `parentId` is consumed by the first.
    event NoteSplit(
        uint256 indexed parentId, uint256 indexed noteId, address indexed holder, uint256 rootId, uint256 amount
    );
    event NoteTransferred(uint256 indexed noteId, address indexed from, address indexed to);
    event NoteFrozen(uint256 indexed noteId, bytes32 reason);
    event NoteUnfrozen(uint256 indexed noteId);
    event CreditLimitSet(address indexed financier, address indexed obligor, uint256 grant, uint256 limit);
    /// @notice The obligor agreed to a credit relationship with the financier.
    event FinancierApproved(address indexed obligor, address indexed financier);
    /// @notice The obligor ended its relationship with the financier; the financier's grant `grant`
    ///         (0 if none) was removed, leaving the obligor's credit limit at `limit`.
    event FinancierWithdrawn(address indexed obligor, address indexed financier, uint256 grant, uint256 limit);
    event MaxTenorChanged(uint256 maxTenor);
    event GracePeriodChanged(uint256 gracePeriod);
    event SettlementTokenRegistered(bytes3 indexed currency, address indexed token);
    event DiscountOffered(
        uint256 indexed offerId,
        uint256 indexed noteId,
        address indexed financier,
        address holder,
        uint256 price,
        uint40 deadline,
        bool offChain
    );
    event DiscountOfferCancelled(uint256 indexed offerId, uint256 indexed noteId, address indexed financier);
    event DiscountPaymentRecorded(uint256 indexed offerId, uint256 indexed noteId, bytes32 paymentReference);
    /// @notice A note sold to a financier; `paymentReference` is zero when the price moved in tokens.
    event NoteDiscounted(
        uint256 indexed noteId,
        address indexed from,
        address indexed to,
        uint256 offerId,
        uint256 price,
        bytes32 paymentReference
    );
    /// @notice A payment on a note; `remaining` 0 means settled; `paymentReference` is zero when paid
    ///         in settlement tokens, else the confirmed off-chain payment's reference.
    event NotePaid(
        uint256 indexed noteId,
        address indexed obligor,
        address indexed holder,
        uint256 amount,
        uint256 remaining,
        bytes32 paymentReference
    );
    /// @notice The obligor claims an off-chain payment. The claim ends with the note's next NotePaid
    ///         (whichever way it was paid) or NoteWrittenOff, with a new PaymentClaimed replacing
    ///         it, or with PaymentClaimWithdrawn.
    event PaymentClaimed(
        uint256 indexed noteId, address indexed obligor, address indexed holder, uint256 amount, bytes32 paymentReference
    );
    /// @notice The obligor withdrew its unconfirmed claim of an off-chain payment.
    event PaymentClaimWithdrawn(uint256 indexed noteId, address indexed obligor, address indexed holder);
    event MinPartAmountSet(bytes3 indexed currency, uint256 amount);
    event NoteOverdue(uint256 indexed noteId, address indexed obligor, address indexed holder, uint256 remaining);
    /// @notice The operator named the evidence registry (once).
    event EvidenceRegistrySet(address indexed registry);
    /// @notice The buyer confirmed an evidence-backed receivable: root `rootId` (face `amount`) now has
    ///         the buyer as obligor, counted against the buyer's credit limit instead of the supplier's.
    event ReceivableConverted(uint256 indexed rootId, address indexed buyer, address indexed supplier, uint256 amount);
    event NoteWrittenOff(
        uint256 indexed noteId, address indexed obligor, address indexed holder, uint256 amount, bytes32 decisionReference
    );
}
