// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IEvidenceRegistry
/// @notice The ABI surface of the evidence registry: the errors it reverts with and the events it
///         emits. `EvidenceRegistry` implements it.
/// @dev Events carry what an indexer needs to rebuild the evidence records, their attestations and
///      the receivables from events alone. The member errors repeat `IMemberRegistry`'s (same
///      selectors), as the registry checks membership through the ledger.
interface IEvidenceRegistry {
    error NotAMember(address account);
    error MemberNotActive(address account);
    error MissingRole(address account, uint8 role);
    error SelfDealing(address account);
    error ZeroAddress();
    error ZeroDocumentHash();
    error InvalidCurrency(bytes3 currency);
    error AmountTooLarge(uint256 amount, uint256 maxAmount);
    error InvalidEvidenceKind(uint8 kind);
    error InvoiceAmountRequired(bytes32 docHash);
    error EvidenceAlreadyRegistered(bytes32 docHash);
    error EvidenceNotFound(bytes32 docHash);
    error NotEvidenceSupplier(bytes32 docHash, address caller);
    error SelfAttestation(bytes32 docHash, address attester);
    error AlreadyAttested(bytes32 docHash, address attester);
    error NotAttested(bytes32 docHash, address attester);
    error TooManyAttesters(bytes32 docHash);
    error NotAnInvoice(bytes32 docHash, uint8 kind);
    error EvidenceNotAttested(bytes32 docHash);
    error AmountExceedsInvoice(uint256 amount, uint256 invoiceAmount);
    error TooManySupporting(uint256 count, uint256 maxCount);
    error UnrelatedEvidence(bytes32 docHash);
    error NotAReceivable(uint256 noteId);
    error NotReceivableBuyer(uint256 noteId, address caller);

    /// @notice A supplier registered a trade record against `buyer`; the document stays off chain.
    ///         `amount` is 0 (and `currency` may be zero) for kinds without an amount.
    event EvidenceRegistered(
        bytes32 indexed docHash,
        address indexed supplier,
        address indexed buyer,
        uint8 kind,
        bytes3 currency,
        uint128 amount
    );
    /// @notice A data provider vouched for a record.
    event EvidenceAttested(bytes32 indexed docHash, address indexed attester);
    /// @notice A data provider withdrew its attestation of a record.
    event AttestationRevoked(bytes32 indexed docHash, address indexed attester);
    /// @notice A supplier originated an evidence-backed receivable: root note `noteId` (issued by the
    ///         ledger in the same transaction, obligor and holder the supplier) rests on invoice
    ///         `invoiceHash`, vouched for by `attesters` independent data providers at origination,
    ///         and on the `supporting` records (their count repeated as `supportingCount`).
    event ReceivableOriginated(
        uint256 indexed noteId,
        address indexed supplier,
        address indexed buyer,
        bytes32 invoiceHash,
        uint8 attesters,
        uint8 supportingCount,
        bytes32[] supporting
    );
}
