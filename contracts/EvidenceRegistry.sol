// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {IEvidenceRegistry} from "./interfaces/IEvidenceRegistry.sol";
import {IMemberRegistry} from "./interfaces/IMemberRegistry.sol";

/// @notice What the registry needs of its CreditNoteLedger: membership, and the three hooks only the
///         registry the ledger names (`evidenceRegistry`) may call.
interface IEvidenceLedger {
    function getMember(address account)
        external
        view
        returns (uint8 roles, IMemberRegistry.MemberStatus status, uint40 onboardedAt);

    function evidenceReserve(bytes32 docHash) external;

    function evidenceOriginate(address supplier, uint256 amount, bytes3 currency, uint256 maturity, bytes32 invoiceHash)
        external
        returns (uint256 noteId);

    function evidenceConvert(uint256 rootId, address supplier, address buyer) external returns (uint256 amount);
}

/// @title EvidenceRegistry
/// @notice Trade evidence behind receivables financed without the buyer's confirmation. A supplier
///         registers a record (purchase order, delivery, acceptance, invoice, production data, other)
///         against a named buyer by the hash of its document (documents stay off chain); data
///         providers attest records; a supplier originates an evidence-backed receivable on an attested
///         invoice: a root note of the ledger whose obligor is the supplier itself (financing with
///         recourse to the seller), counted against the supplier's own credit limit, never the
///         buyer's. The buyer may later convert it into its own confirmed note.
/// @dev Every evidence hash is reserved in the ledger's `documentRoot` (the confirmed notes' document
///      registry) at registration: one document, one use, network-wide. The ledger's `documentRoot` of
///      an invoice becomes the receivable's root id at origination, so an invoice backs at most one
///      note of either kind. Membership is read from the ledger; the caller is `_msgSender()` (ERC-2771,
///      the same forwarder as the ledger's). The registry's own storage is written before it calls the
///      ledger, except the receivable's invoice, which needs the id the ledger returns (the ledger is
///      fixed at deployment and calls nothing back).
contract EvidenceRegistry is IEvidenceRegistry, ERC2771Context {
    /// @notice Evidence kinds.
    uint8 public constant KIND_PURCHASE_ORDER = 0;
    uint8 public constant KIND_DELIVERY = 1;
    uint8 public constant KIND_ACCEPTANCE = 2;
    uint8 public constant KIND_INVOICE = 3;
    uint8 public constant KIND_PRODUCTION_DATA = 4;
    uint8 public constant KIND_OTHER = 5;
    /// @notice Most supporting records one receivable may name.
    uint256 public constant MAX_SUPPORTING = 8;
    /// @notice Largest amount of a record, in minor units (2^96 - 1).
    uint256 public constant MAX_EVIDENCE_AMOUNT = type(uint96).max;

    uint8 internal constant ROLE_CORE_ENTERPRISE = 1;
    uint8 internal constant ROLE_SUPPLIER = 2;
    uint8 internal constant ROLE_DATA_PROVIDER = 16;
    uint8 internal constant ATTESTATION_LIVE = 1;
    uint8 internal constant ATTESTATION_REVOKED = 2;

    /// @dev Two slots: (supplier, kind, attesters, currency) and (buyer, amount).
    struct Evidence {
        address supplier;
        uint8 kind;
        uint8 attesters;
        bytes3 currency;
        address buyer;
        uint96 amount;
    }

    /// @notice The ledger whose members register and attest, and whose notes receivables are.
    IEvidenceLedger public immutable ledger;

    mapping(bytes32 docHash => Evidence) internal _evidence;
    /// @notice Per record and data provider: 0 never attested, 1 attested, 2 attestation revoked
    ///         (an attester vouches for a record at most once).
    mapping(bytes32 docHash => mapping(address attester => uint8 state)) public attestation;
    /// @notice The invoice a receivable's root note rests on (zero for any other note).
    mapping(uint256 noteId => bytes32 invoiceHash) public receivableInvoice;

    /// @param ledger_ The CreditNoteLedger (which must then name this registry).
    /// @param trustedForwarder_ The ledger's ERC-2771 forwarder (zero: no relaying).
    constructor(address ledger_, address trustedForwarder_) ERC2771Context(trustedForwarder_) {
        if (ledger_ == address(0)) revert ZeroAddress();
        ledger = IEvidenceLedger(ledger_);
    }

    /// @notice Register a trade record of the caller (an active supplier) against `buyer`.
    /// @param docHash Hash of the document or data set: non-zero, never used on the ledger before
    ///        (neither as evidence nor behind a confirmed note).
    /// @param kind KIND_* (0..5).
    /// @param buyer An active core enterprise, not the caller.
    /// @param currency ISO 4217 code; required (with amount > 0) for an invoice, and whenever an
    ///        amount is given.
    /// @param amount Minor units, 0 for kinds without an amount, at most MAX_EVIDENCE_AMOUNT.
    function registerEvidence(bytes32 docHash, uint8 kind, address buyer, bytes3 currency, uint128 amount)
        external
    {
        address caller = _msgSender();
        _requireActive(caller, ROLE_SUPPLIER);
        if (buyer == caller) revert SelfDealing(buyer);
        _requireActive(buyer, ROLE_CORE_ENTERPRISE);
        if (docHash == bytes32(0)) revert ZeroDocumentHash();
        if (kind > KIND_OTHER) revert InvalidEvidenceKind(kind);
        if (kind == KIND_INVOICE && amount == 0) revert InvoiceAmountRequired(docHash);
        if (amount > MAX_EVIDENCE_AMOUNT) revert AmountTooLarge(amount, MAX_EVIDENCE_AMOUNT);
        if (amount != 0) _checkCurrency(currency);
        Evidence storage e = _evidence[docHash];
        if (e.supplier != address(0)) revert EvidenceAlreadyRegistered(docHash);
        e.supplier = caller;
        e.kind = kind;
        e.currency = currency;
        e.buyer = buyer;
        e.amount = uint96(amount);
        emit EvidenceRegistered(docHash, caller, buyer, kind, currency, amount);
        ledger.evidenceReserve(docHash);
    }

    /// @notice Attest a record, as an active data provider that is neither its supplier nor its buyer
    ///         (so every attester counted is independent of both parties), once per record.
    /// @param docHash A registered record.
    function attestEvidence(bytes32 docHash) external {
        address caller = _msgSender();
        _requireActive(caller, ROLE_DATA_PROVIDER);
        Evidence storage e = _existing(docHash);
        if (caller == e.supplier || caller == e.buyer) revert SelfAttestation(docHash, caller);
        if (attestation[docHash][caller] != 0) revert AlreadyAttested(docHash, caller);
        uint8 count = e.attesters;
        if (count == type(uint8).max) revert TooManyAttesters(docHash);
        attestation[docHash][caller] = ATTESTATION_LIVE;
        e.attesters = count + 1;
        emit EvidenceAttested(docHash, caller);
    }

    /// @notice Withdraw the caller's attestation of a record. Allowed while the caller is suspended:
    ///         withdrawing a statement only protects the parties relying on it.
    /// @param docHash A record the caller attests.
    function revokeAttestation(bytes32 docHash) external {
        address caller = _msgSender();
        Evidence storage e = _existing(docHash);
        if (attestation[docHash][caller] != ATTESTATION_LIVE) revert NotAttested(docHash, caller);
        attestation[docHash][caller] = ATTESTATION_REVOKED;
        e.attesters -= 1;
        emit AttestationRevoked(docHash, caller);
    }

    /// @notice Originate an evidence-backed receivable: a root note of the ledger, obligor and holder
    ///         the caller, active at once, counted against the caller's own credit limit. The
    ///         invoice's currency is the note's; its attester count at origination is recorded.
    /// @param invoiceHash An invoice record of the caller's with at least one live attestation, not
    ///        yet financed.
    /// @param supporting Other records of the caller's against the same buyer (at most
    ///        MAX_SUPPORTING, no repeats, not the invoice).
    /// @param amount Face amount, 1..the invoice's amount (and the ledger's bounds).
    /// @param maturity Unix seconds, within the ledger's tenor rules.
    /// @return noteId The new root note's id.
    function originateReceivable(bytes32 invoiceHash, bytes32[] calldata supporting, uint256 amount, uint256 maturity)
        external
        returns (uint256 noteId)
    {
        address caller = _msgSender();
        Evidence storage e = _existing(invoiceHash);
        if (e.supplier != caller) revert NotEvidenceSupplier(invoiceHash, caller);
        if (e.kind != KIND_INVOICE) revert NotAnInvoice(invoiceHash, e.kind);
        uint8 attesters = e.attesters;
        if (attesters == 0) revert EvidenceNotAttested(invoiceHash);
        if (amount > e.amount) revert AmountExceedsInvoice(amount, e.amount);
        uint256 count = supporting.length;
        if (count > MAX_SUPPORTING) revert TooManySupporting(count, MAX_SUPPORTING);
        address buyer = e.buyer;
        for (uint256 i; i < count; ++i) {
            bytes32 h = supporting[i];
            Evidence storage s = _evidence[h];
            if (h == invoiceHash || s.supplier != caller || s.buyer != buyer) revert UnrelatedEvidence(h);
            for (uint256 j; j < i; ++j) {
                if (supporting[j] == h) revert UnrelatedEvidence(h);
            }
        }
        noteId = ledger.evidenceOriginate(caller, amount, e.currency, maturity, invoiceHash);
        receivableInvoice[noteId] = invoiceHash;
        emit ReceivableOriginated(noteId, caller, buyer, invoiceHash, attesters, uint8(count), supporting);
    }

    /// @notice Convert a receivable into a confirmed note of its buyer (the caller): the root's obligor
    ///         becomes the buyer, whose credit limit must have room for it; the supplier's is freed.
    ///         The ledger emits `ReceivableConverted`. Only a root not yet split, active and unfrozen
    ///         before maturity converts (its face amount is then the whole tree's outstanding).
    /// @param rootId A receivable's root note.
    function convertReceivable(uint256 rootId) external {
        address caller = _msgSender();
        bytes32 invoiceHash = receivableInvoice[rootId];
        if (invoiceHash == bytes32(0)) revert NotAReceivable(rootId);
        Evidence storage e = _evidence[invoiceHash];
        if (e.buyer != caller) revert NotReceivableBuyer(rootId, caller);
        ledger.evidenceConvert(rootId, e.supplier, caller);
    }

    /// @notice A record (all zeros for an unknown hash).
    /// @param docHash The record's hash.
    function getEvidence(bytes32 docHash)
        external
        view
        returns (address supplier, address buyer, uint8 kind, bytes3 currency, uint256 amount, uint8 attesters)
    {
        Evidence storage e = _evidence[docHash];
        return (e.supplier, e.buyer, e.kind, e.currency, e.amount, e.attesters);
    }

    function _existing(bytes32 docHash) private view returns (Evidence storage e) {
        e = _evidence[docHash];
        if (e.supplier == address(0)) revert EvidenceNotFound(docHash);
    }

    /// @dev Reverts unless `account` is an active member of the ledger with a bit of `anyOfRoles`.
    function _requireActive(address account, uint8 anyOfRoles) private view {
        (uint8 roles, IMemberRegistry.MemberStatus status,) = ledger.getMember(account);
        if (status != IMemberRegistry.MemberStatus.Active) {
            if (status == IMemberRegistry.MemberStatus.None) revert NotAMember(account);
            revert MemberNotActive(account);
        }
        if (roles & anyOfRoles == 0) revert MissingRole(account, anyOfRoles);
    }

    function _checkCurrency(bytes3 currency) private pure {
        for (uint256 i; i < 3; ++i) {
            bytes1 ch = currency[i];
            if (ch < "A" || ch > "Z") revert InvalidCurrency(currency);
        }
    }
}
