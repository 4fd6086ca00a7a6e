// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MemberRegistry} from "./MemberRegistry.sol";

/// @title CreditNoteLedger
/// @notice Splittable, transferable credit notes backed by a core enterprise's confirmed payables.
///         A root note is issued by its obligor to a supplier, accepted, then split and passed on
///         down the supply chain. Notes are never edited in place: a split consumes the parent and
///         creates children, so the tree of notes is the provenance.
/// @dev Note ids encode their root: `id = rootSeq << 32 | index`, index 0 being the root itself.
///      A note is one storage slot (holder, amount, status, frozen); the data every note of a tree
///      shares (obligor, maturity, currency, document hash) lives once per root.
contract CreditNoteLedger is MemberRegistry {
    enum NoteStatus {
        None,
        Pending,
        Active,
        Split,
        Rejected,
        Revoked
    }

    /// @dev One slot: 160 + 80 + 8 + 8 bits.
    struct Note {
        address holder;
        uint80 amount;
        NoteStatus status;
        bool frozen;
    }

    /// @dev Slot 0 is read on every split and transfer; slot 1 only on issue/reject/revoke.
    struct Root {
        address obligor;
        uint40 maturity;
        uint32 lastIndex;
        bytes3 currency;
        bytes32 documentHash;
    }

    /// @dev One slot per obligor: the sum of its financiers' grants and its outstanding face amount.
    struct Credit {
        uint128 limit;
        uint128 outstanding;
    }

    /// @notice Largest face amount of a note, in minor units (2^80 - 1).
    uint256 public constant MAX_AMOUNT = type(uint80).max;
    /// @notice Most parts one split may create.
    uint256 public constant MAX_SPLIT_PARTS = 100;
    /// @notice Bounds the operator may set the maximum tenor within.
    uint256 public constant MIN_TENOR_BOUND = 1 days;
    uint256 public constant MAX_TENOR_BOUND = 3650 days;
    uint256 internal constant INDEX_BITS = 32;
    uint256 internal constant INDEX_MASK = (1 << INDEX_BITS) - 1;

    /// @notice Longest time from issuance to maturity, in seconds (default 365 days).
    uint40 public maxTenor = 365 days;
    /// @notice Number of root notes ever issued.
    uint64 public rootCount;

    mapping(uint256 noteId => Note) internal _notes;
    mapping(uint256 rootId => Root) internal _roots;
    mapping(address obligor => Credit) internal _credit;
    mapping(address financier => mapping(address obligor => uint128)) public creditGrant;
    /// @notice The live root backed by a document hash (0 if none): one invoice, one note.
    mapping(bytes32 documentHash => uint256 rootId) public documentRoot;

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
    event MaxTenorChanged(uint256 maxTenor);

    /// @param initialOperator The platform operator's address.
    constructor(address initialOperator) MemberRegistry(initialOperator) {}

    // ------------------------------------------------------------------ configuration

    /// @notice Set the longest allowed time from issuance to maturity.
    /// @param tenor Seconds, between MIN_TENOR_BOUND and MAX_TENOR_BOUND.
    function setMaxTenor(uint256 tenor) external onlyOperator {
        if (tenor < MIN_TENOR_BOUND || tenor > MAX_TENOR_BOUND) revert InvalidTenor(tenor);
        maxTenor = uint40(tenor);
        emit MaxTenorChanged(tenor);
    }

    /// @notice Grant, change or withdraw (0) the caller's credit limit for an obligor. The obligor's
    ///         limit is the sum of its financiers' grants; lowering it below what is outstanding is
    ///         allowed and blocks further issuance until notes are settled.
    /// @param obligor A member with the core-enterprise role.
    /// @param grant The caller's grant, in minor units.
    function setCreditLimit(address obligor, uint128 grant) external {
        _requireActive(msg.sender, ROLE_FINANCIER);
        if (obligor == msg.sender) revert SelfDealing(obligor);
        Member storage m = _members[obligor];
        if (m.status == MemberStatus.None) revert NotAMember(obligor);
        if (m.roles & ROLE_CORE_ENTERPRISE == 0) revert MissingRole(obligor, ROLE_CORE_ENTERPRISE);
        uint128 previous = creditGrant[msg.sender][obligor];
        Credit storage c = _credit[obligor];
        uint256 limit = uint256(c.limit) - previous + grant;
        if (limit > type(uint128).max) revert CreditLimitTooLarge(limit, type(uint128).max);
        c.limit = uint128(limit);
        creditGrant[msg.sender][obligor] = grant;
        emit CreditLimitSet(msg.sender, obligor, grant, limit);
    }

    // ------------------------------------------------------------------ issuance

    /// @notice Issue a root note against a confirmed payable. It stays pending until the named
    ///         supplier accepts or rejects it; the obligor may revoke it while pending.
    /// @param to The supplier the payable is owed to.
    /// @param amount Face amount in minor units, 1..MAX_AMOUNT.
    /// @param currency ISO 4217 code, three upper-case ASCII letters.
    /// @param maturity Unix seconds, after now and within `maxTenor` of now.
    /// @param documentHash Hash of the underlying documents; must not back another live note.
    /// @return noteId The new root note's id.
    function issue(address to, uint256 amount, bytes3 currency, uint256 maturity, bytes32 documentHash)
        external
        returns (uint256 noteId)
    {
        _requireActive(msg.sender, ROLE_CORE_ENTERPRISE);
        if (to == msg.sender) revert SelfDealing(to);
        _requireActive(to, ROLE_SUPPLIER);
        _checkAmount(amount);
        _checkCurrency(currency);
        uint256 latest = block.timestamp + maxTenor;
        if (maturity <= block.timestamp || maturity > latest) {
            revert InvalidMaturity(maturity, block.timestamp + 1, latest);
        }
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        uint256 usedBy = documentRoot[documentHash];
        if (usedBy != 0) revert DocumentAlreadyUsed(documentHash, usedBy);
        Credit storage c = _credit[msg.sender];
        uint256 outstanding = c.outstanding;
        if (outstanding + amount > c.limit) revert CreditLimitExceeded(msg.sender, outstanding, amount, c.limit);

        c.outstanding = uint128(outstanding + amount);
        uint64 seq = ++rootCount;
        noteId = uint256(seq) << INDEX_BITS;
        _roots[noteId] = Root({
            obligor: msg.sender,
            maturity: uint40(maturity),
            lastIndex: 0,
            currency: currency,
            documentHash: documentHash
        });
        _notes[noteId] = Note({holder: to, amount: uint80(amount), status: NoteStatus.Pending, frozen: false});
        documentRoot[documentHash] = noteId;
        emit NoteIssued(noteId, msg.sender, to, amount, currency, uint40(maturity), documentHash);
    }

    /// @notice Accept a pending note addressed to the caller; it becomes active.
    /// @param noteId The pending root note.
    function accept(uint256 noteId) external {
        Note storage n = _pendingNote(noteId);
        address holder = n.holder;
        if (holder != msg.sender) revert NotHolder(noteId, msg.sender);
        _requireActive(msg.sender, ROLE_SUPPLIER);
        uint256 maturity = _roots[noteId].maturity;
        if (block.timestamp >= maturity) revert NoteMatured(noteId, maturity);
        n.status = NoteStatus.Active;
        emit NoteAccepted(noteId, holder);
    }

    /// @notice Reject a pending note addressed to the caller; the obligor's limit and the
    ///         document hash are released.
    /// @param noteId The pending root note.
    function reject(uint256 noteId) external {
        Note storage n = _pendingNote(noteId);
        if (n.holder != msg.sender) revert NotHolder(noteId, msg.sender);
        _requireActive(msg.sender, ROLE_SUPPLIER);
        n.status = NoteStatus.Rejected;
        uint256 amount = _release(noteId, n.amount);
        emit NoteRejected(noteId, msg.sender, amount);
    }

    /// @notice Withdraw a pending note the caller issued; the limit and document hash are released.
    /// @param noteId The pending root note.
    function revoke(uint256 noteId) external {
        Note storage n = _pendingNote(noteId);
        if (_roots[noteId].obligor != msg.sender) revert NotObligor(noteId, msg.sender);
        _requireActive(msg.sender, ROLE_CORE_ENTERPRISE);
        n.status = NoteStatus.Revoked;
        uint256 amount = _release(noteId, n.amount);
        emit NoteRevoked(noteId, msg.sender, amount);
    }

    // ------------------------------------------------------------------ moving notes

    /// @notice Split an active note the caller holds into 2..MAX_SPLIT_PARTS children, each to a
    ///         member that may hold notes (the caller included). The parent is consumed; the
    ///         children's amounts sum exactly to the parent's and they keep its root, obligor,
    ///         currency and maturity.
    /// @param noteId The note to split.
    /// @param parts Recipients and amounts, in order; child ids are consecutive.
    /// @return firstChildId The id of the first child; the others follow it.
    function split(uint256 noteId, Part[] calldata parts) external returns (uint256 firstChildId) {
        uint256 count = parts.length;
        if (count < 2 || count > MAX_SPLIT_PARTS) revert InvalidPartCount(count, 2, MAX_SPLIT_PARTS);
        Note storage n = _movableNote(noteId);
        uint256 rootId = noteId & ~INDEX_MASK;
        Root storage r = _roots[rootId];
        _checkNotMatured(noteId, r.maturity);

        uint256 expected = n.amount;
        uint256 total;
        for (uint256 i; i < count; ++i) {
            uint256 amount = parts[i].amount;
            if (amount == 0) revert ZeroAmount(i);
            if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
            total += amount;
            address to = parts[i].to;
            if (to != msg.sender) _requireActive(to, HOLDER_ROLES);
        }
        if (total != expected) revert AmountsDoNotSum(expected, total);

        uint256 last = r.lastIndex;
        if (last + count > INDEX_MASK) revert TreeFull(rootId);
        n.status = NoteStatus.Split;
        r.lastIndex = uint32(last + count);
        firstChildId = rootId | (last + 1);
        for (uint256 i; i < count; ++i) {
            uint256 childId = firstChildId + i;
            address to = parts[i].to;
            uint256 amount = parts[i].amount;
            _notes[childId] = Note({holder: to, amount: uint80(amount), status: NoteStatus.Active, frozen: false});
            emit NoteSplit(noteId, childId, to, rootId, amount);
        }
    }

    /// @notice Pass a whole active note the caller holds to another member that may hold notes.
    /// @param noteId The note.
    /// @param to The new holder.
    function transfer(uint256 noteId, address to) external {
        Note storage n = _movableNote(noteId);
        if (to == msg.sender) revert SelfDealing(to);
        _requireActive(to, HOLDER_ROLES);
        _checkNotMatured(noteId, _roots[noteId & ~INDEX_MASK].maturity);
        n.holder = to;
        emit NoteTransferred(noteId, msg.sender, to);
    }

    // ------------------------------------------------------------------ operator

    /// @notice Freeze a pending or active note under a dispute or court order: it cannot move,
    ///         be accepted, rejected or revoked until unfrozen.
    /// @param noteId The note.
    /// @param reason Reference of the dispute or order (e.g. a hash of the case file).
    function freeze(uint256 noteId, bytes32 reason) external onlyOperator {
        Note storage n = _existingNote(noteId);
        NoteStatus status = n.status;
        if (status != NoteStatus.Active && status != NoteStatus.Pending) revert NoteNotLive(noteId, status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        n.frozen = true;
        emit NoteFrozen(noteId, reason);
    }

    /// @notice Lift a freeze.
    /// @param noteId The frozen note.
    function unfreeze(uint256 noteId) external onlyOperator {
        Note storage n = _existingNote(noteId);
        if (!n.frozen) revert NoteNotFrozen(noteId);
        n.frozen = false;
        emit NoteUnfrozen(noteId);
    }

    // ------------------------------------------------------------------ views

    /// @notice Everything the ledger stores about a note (zeros but `rootId` for an unknown id).
    /// @param noteId The note.
    function getNote(uint256 noteId)
        external
        view
        returns (
            address holder,
            address obligor,
            uint256 amount,
            bytes3 currency,
            uint256 maturity,
            NoteStatus status,
            bool frozen,
            uint256 rootId,
            bytes32 documentHash
        )
    {
        Note storage n = _notes[noteId];
        rootId = noteId & ~INDEX_MASK;
        if (n.status == NoteStatus.None) {
            return (address(0), address(0), 0, bytes3(0), 0, NoteStatus.None, false, rootId, bytes32(0));
        }
        Root storage r = _roots[rootId];
        return (n.holder, r.obligor, n.amount, r.currency, r.maturity, n.status, n.frozen, rootId, r.documentHash);
    }

    /// @notice An obligor's credit limit (sum of grants) and outstanding face amount.
    /// @param obligor The core enterprise.
    function creditOf(address obligor) external view returns (uint256 limit, uint256 outstanding) {
        Credit storage c = _credit[obligor];
        return (c.limit, c.outstanding);
    }

    /// @notice Number of notes created in a tree so far (the root included); 0 for an unknown tree.
    /// @param noteId The root's id or the id of any note in the tree.
    function treeSize(uint256 noteId) external view returns (uint256) {
        uint256 rootId = noteId & ~INDEX_MASK;
        if (_notes[rootId].status == NoteStatus.None) return 0;
        return uint256(_roots[rootId].lastIndex) + 1;
    }

    // ------------------------------------------------------------------ internal

    function _existingNote(uint256 noteId) private view returns (Note storage n) {
        n = _notes[noteId];
        if (n.status == NoteStatus.None) revert NoteNotFound(noteId);
    }

    function _pendingNote(uint256 noteId) private view returns (Note storage n) {
        n = _existingNote(noteId);
        if (n.status != NoteStatus.Pending) revert NoteNotPending(noteId, n.status);
        if (n.frozen) revert NoteIsFrozen(noteId);
    }

    /// @dev An active, unfrozen note held by the caller, who must be an active member.
    function _movableNote(uint256 noteId) private view returns (Note storage n) {
        n = _existingNote(noteId);
        if (n.status != NoteStatus.Active) revert NoteNotActive(noteId, n.status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        if (n.holder != msg.sender) revert NotHolder(noteId, msg.sender);
        _requireActive(msg.sender, HOLDER_ROLES);
    }

    function _checkNotMatured(uint256 noteId, uint256 maturity) private view {
        if (block.timestamp >= maturity) revert NoteMatured(noteId, maturity);
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount == 0) revert ZeroAmount(0);
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
    }

    function _checkCurrency(bytes3 currency) private pure {
        for (uint256 i; i < 3; ++i) {
            bytes1 ch = currency[i];
            if (ch < "A" || ch > "Z") revert InvalidCurrency(currency);
        }
    }

    /// @dev Frees a pending root's credit and document hash; returns its amount.
    function _release(uint256 rootId, uint256 amount) private returns (uint256) {
        Root storage r = _roots[rootId];
        Credit storage c = _credit[r.obligor];
        c.outstanding -= uint128(amount);
        delete documentRoot[r.documentHash];
        return amount;
    }
}
