// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {MemberRegistry} from "./MemberRegistry.sol";
import {ICreditNoteLedger} from "./interfaces/ICreditNoteLedger.sol";
import {SettlementToken} from "./SettlementToken.sol";

/// @title CreditNoteLedger
/// @notice Splittable, transferable credit notes backed by a core enterprise's confirmed payables.
///         A root note is issued by its obligor to a supplier, accepted, then split and passed on
///         down the supply chain. Notes are never edited in place: a split consumes the parent and
///         creates children, so the tree of notes is the provenance.
/// @dev Note ids encode their root: `id = rootSeq << 32 | index`, index 0 being the root itself.
///      A note is one storage slot (holder, amount, status, frozen); the data every note of a tree
///      shares (obligor, maturity, currency, document hash) lives once per root.
///      Financing: a financier offers to buy a note before maturity (discount); the holder's
///      acceptance delivers the note against the price in the currency's settlement token in one
///      transaction (or against a payment recorded off-chain). On or after maturity the obligor pays
///      the live notes' holders, in full or in part; unpaid past maturity plus a grace period a note
///      is overdue, and the operator may write it off.
///      Meta-transactions (ERC-2771): a member that holds its own key may sign a request that the
///      trusted forwarder (a CreditChainForwarder, fixed at deployment) relays; every check then
///      applies to the signer (`_msgSender()`), never to the forwarder or the relayer paying the gas.
///      The note status, the split part, the errors and the events are declared in `ICreditNoteLedger`.
contract CreditNoteLedger is ICreditNoteLedger, MemberRegistry {
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

    /// @dev One slot per (financier, obligor): the financier's grant and the obligor's approval.
    struct Grant {
        uint128 amount;
        bool approved;
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
    /// @dev Roles that may owe notes and receive credit limits: core enterprises (confirmed payables)
    ///      and suppliers (their own evidence-backed receivables).
    uint8 internal constant OBLIGOR_ROLES = ROLE_CORE_ENTERPRISE | ROLE_SUPPLIER;
    /// @dev Bit sets over NoteStatus, bit i for the status of value i (see `_isPayable`, `_isLive`):
    ///      payable = Active (2) | Overdue (6); live = payable | Pending (1). Literals, as inline
    ///      assembly reads only literal constants.
    uint256 private constant PAYABLE_STATUSES = 0x44;
    uint256 private constant LIVE_STATUSES = 0x46;

    /// @notice Longest grace period the operator may set.
    uint256 public constant MAX_GRACE_PERIOD = 90 days;
    /// @notice Most notes one `settleRoot` call may look at.
    uint256 public constant MAX_SETTLE_BATCH = 200;

    /// @notice Longest time from issuance to maturity, in seconds (default 365 days).
    uint40 public maxTenor = 365 days;
    /// @notice Number of root notes ever issued.
    uint64 public rootCount;
    /// @notice Time after maturity from which an unpaid note is overdue (default 5 days).
    uint40 public gracePeriod = 5 days;
    /// @notice Number of discount offers ever made.
    uint64 public offerCount;

    mapping(uint256 noteId => Note) internal _notes;
    mapping(uint256 rootId => Root) internal _roots;
    mapping(address obligor => Credit) internal _credit;
    /// @notice A financier's grant to an obligor, and whether the obligor approved the financier
    ///         (only an approved financier may grant; see `markFinancierApproved`).
    mapping(address financier => mapping(address obligor => Grant)) public creditGrant;
    /// @notice The live root backed by a document hash (0 if none): one invoice, one note.
    mapping(bytes32 documentHash => uint256 rootId) public documentRoot;
    /// @notice The settlement token of each currency (0 if none registered).
    mapping(bytes3 currency => address token) public settlementToken;
    /// @notice What has been paid so far on a note paid in part that is still live or was written
    ///         off (0 for a note never paid, or settled in full).
    mapping(uint256 noteId => uint256 amount) public paidAmount;
    /// @notice The obligor's pending claim of an off-chain payment: keccak256(abi.encode(amount, ref)).
    mapping(uint256 noteId => bytes32 claim) public paymentClaim;
    /// @notice The financier's reference of an off-chain discount payment, until the holder confirms.
    mapping(uint256 offerId => bytes32 paymentReference) public discountPaymentReference;
    mapping(uint256 offerId => Offer) internal _offers;
    /// @dev Per note: 0 while no offer was ever made on it; then bumped whenever the note changes
    ///      hands or is frozen, which voids every offer made before (an offer keeps the epoch it
    ///      was made in). Notes never offered pay one cold read on transfer, nothing more.
    mapping(uint256 noteId => uint256 epoch) internal _offerEpoch;
    /// @notice Smallest face amount a note may have in a currency, in minor units: every issued note
    ///         and every split part (0: no minimum). Set by the operator so that nobody can grind a
    ///         tree into dust that makes settlement expensive for the obligor.
    mapping(bytes3 currency => uint256 amount) public minPartAmount;
    /// @notice The EvidenceRegistry whose suppliers originate evidence-backed receivables (zero until
    ///         the operator names it, once).
    address public evidenceRegistry;

    /// @dev `documentRoot` of a hash registered as evidence and not (yet) behind a note.
    uint256 private constant EVIDENCE_DOCUMENT = type(uint256).max;

    /// @dev A financier's standing offer to buy a note from its holder at the time of the offer.
    struct Offer {
        address financier;
        uint40 deadline;
        bool offChain;
        uint40 epoch;
        address holder;
        uint80 price;
        uint256 noteId;
    }

    /// @param initialOperator The platform operator's address.
    /// @param trustedForwarder_ The ERC-2771 forwarder whose relayed requests act as their signer;
    ///        the zero address disables relaying (every caller is `msg.sender`).
    constructor(address initialOperator, address trustedForwarder_)
        ERC2771Context(trustedForwarder_)
        MemberRegistry(initialOperator)
    {}

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
    /// @param obligor A member with the core-enterprise role, or a supplier (the obligor of its own
    ///        evidence-backed receivables), that has approved the caller
    ///        (`markFinancierApproved`).
    /// @param grant The caller's grant, in minor units.
    function setCreditLimit(address obligor, uint128 grant) external {
        address caller = _msgSender();
        _requireActive(caller, ROLE_FINANCIER);
        if (obligor == caller) revert SelfDealing(obligor);
        Member storage m = _members[obligor];
        if (m.status == MemberStatus.None) revert NotAMember(obligor);
        if (m.roles & OBLIGOR_ROLES == 0) revert MissingRole(obligor, OBLIGOR_ROLES);
        Grant storage g = creditGrant[caller][obligor];
        if (!g.approved) revert FinancierNotApproved(obligor, caller);
        uint128 previous = g.amount;
        Credit storage c = _credit[obligor];
        uint256 limit = uint256(c.limit) - previous + grant;
        if (limit > type(uint128).max) revert CreditLimitTooLarge(limit, type(uint128).max);
        c.limit = uint128(limit);
        g.amount = grant;
        emit CreditLimitSet(caller, obligor, grant, limit);
    }

    /// @notice Set the grace period after maturity from which an unpaid note is overdue.
    /// @param period Seconds, at most MAX_GRACE_PERIOD.
    function setGracePeriod(uint256 period) external onlyOperator {
        if (period > MAX_GRACE_PERIOD) revert InvalidGracePeriod(period);
        gracePeriod = uint40(period);
        emit GracePeriodChanged(period);
    }

    /// @notice Register the settlement token of a currency, once. The token must name this ledger
    ///         and the same currency.
    /// @param currency ISO 4217 code.
    /// @param token A SettlementToken deployed for this ledger.
    function setSettlementToken(bytes3 currency, address token) external onlyOperator {
        _checkCurrency(currency);
        if (token == address(0)) revert ZeroAddress();
        address current = settlementToken[currency];
        if (current != address(0)) revert SettlementTokenAlreadySet(currency, current);
        SettlementToken t = SettlementToken(token);
        if (t.currency() != currency || address(t.ledger()) != address(this)) revert SettlementTokenMismatch(token);
        settlementToken[currency] = token;
        emit SettlementTokenRegistered(currency, token);
    }

    /// @notice Set the smallest face amount a note may have in a currency: every issued note and
    ///         every split part. Notes already smaller stay as they are (they may still be paid,
    ///         moved whole or split into parts that meet the minimum).
    /// @param currency ISO 4217 code.
    /// @param amount Minor units, 0 (no minimum)..MAX_AMOUNT.
    function setMinPartAmount(bytes3 currency, uint256 amount) external onlyOperator {
        _checkCurrency(currency);
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
        minPartAmount[currency] = amount;
        emit MinPartAmountSet(currency, amount);
    }

    // ------------------------------------------------------------------ credit relationships

    /// @notice Approve (`approved` true) or withdraw the approval of (false) a financier, as the
    ///         obligor: a financier may grant the obligor credit only while approved. Approving
    ///         needs the caller to be an active core enterprise or supplier and the financier an active member
    ///         with the financier role. Withdrawing removes the financier's grant from the caller's
    ///         credit limit at once (issuance beyond what remains is refused; notes already issued
    ///         stay valid), and a new approval starts from no grant. A suspended obligor can do
    ///         neither (it cannot hide its book from the financiers that fund it). Only the obligor itself approves (directly or through the trusted
    ///         forwarder): the operator cannot agree to a relationship on its behalf.
    /// @dev One function for both directions, and this name, because its selector (0xffc86a19)
    ///      sorts after every other one: the dispatcher compares selectors in ascending order, so a
    ///      function sorting before `split` (0xff30a702) or `issue` would cost them 22 gas a call.
    /// @param financier The financier.
    /// @param approved True to approve (reverts if already approved), false to withdraw (reverts if
    ///        not approved).
    function markFinancierApproved(address financier, bool approved) external {
        address caller = _msgSender();
        Grant storage g = creditGrant[financier][caller];
        _requireActive(caller, OBLIGOR_ROLES);
        if (approved) {
            if (financier == caller) revert SelfDealing(financier);
            _requireActive(financier, ROLE_FINANCIER);
            if (g.approved) revert FinancierAlreadyApproved(caller, financier);
            g.approved = true;
            emit FinancierApproved(caller, financier);
            return;
        }
        if (!g.approved) revert FinancierNotApproved(caller, financier);
        uint128 amount = g.amount;
        delete creditGrant[financier][caller];
        Credit storage c = _credit[caller];
        uint256 limit = c.limit;
        if (amount != 0) {
            limit -= amount;
            c.limit = uint128(limit);
        }
        emit FinancierWithdrawn(caller, financier, amount, limit);
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
        address caller = _msgSender();
        _requireActive(caller, ROLE_CORE_ENTERPRISE);
        if (to == caller) revert SelfDealing(to);
        _requireActive(to, ROLE_SUPPLIER);
        _checkAmount(amount);
        _checkCurrency(currency);
        _checkMinPart(currency, 0, amount);
        uint256 latest = block.timestamp + maxTenor;
        if (maturity <= block.timestamp || maturity > latest) {
            revert InvalidMaturity(maturity, block.timestamp + 1, latest);
        }
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        uint256 usedBy = documentRoot[documentHash];
        if (usedBy != 0) {
            if (usedBy == EVIDENCE_DOCUMENT) revert DocumentIsEvidence(documentHash);
            revert DocumentAlreadyUsed(documentHash, usedBy);
        }
        Credit storage c = _credit[caller];
        uint256 outstanding = c.outstanding;
        if (outstanding + amount > c.limit) revert CreditLimitExceeded(caller, outstanding, amount, c.limit);

        c.outstanding = uint128(outstanding + amount);
        uint64 seq = ++rootCount;
        noteId = uint256(seq) << INDEX_BITS;
        _roots[noteId] = Root({
            obligor: caller,
            maturity: uint40(maturity),
            lastIndex: 0,
            currency: currency,
            documentHash: documentHash
        });
        _notes[noteId] = Note({holder: to, amount: uint80(amount), status: NoteStatus.Pending, frozen: false});
        documentRoot[documentHash] = noteId;
        emit NoteIssued(noteId, caller, to, amount, currency, uint40(maturity), documentHash);
    }

    /// @notice Accept a pending note addressed to the caller; it becomes active.
    /// @param noteId The pending root note.
    function accept(uint256 noteId) external {
        address caller = _msgSender();
        Note storage n = _pendingNote(noteId);
        address holder = n.holder;
        if (holder != caller) revert NotHolder(noteId, caller);
        _requireActive(caller, ROLE_SUPPLIER);
        uint256 maturity = _roots[noteId].maturity;
        if (block.timestamp >= maturity) revert NoteMatured(noteId, maturity);
        n.status = NoteStatus.Active;
        emit NoteAccepted(noteId, holder);
    }

    /// @notice Reject a pending note addressed to the caller; the obligor's limit and the
    ///         document hash are released.
    /// @param noteId The pending root note.
    function reject(uint256 noteId) external {
        address caller = _msgSender();
        Note storage n = _pendingNote(noteId);
        if (n.holder != caller) revert NotHolder(noteId, caller);
        _requireActive(caller, ROLE_SUPPLIER);
        n.status = NoteStatus.Rejected;
        uint256 amount = _release(noteId, n.amount);
        emit NoteRejected(noteId, caller, amount);
    }

    /// @notice Withdraw a pending note the caller issued; the limit and document hash are released.
    /// @param noteId The pending root note.
    function revoke(uint256 noteId) external {
        address caller = _msgSender();
        Note storage n = _pendingNote(noteId);
        if (_roots[noteId].obligor != caller) revert NotObligor(noteId, caller);
        _requireActive(caller, ROLE_CORE_ENTERPRISE);
        n.status = NoteStatus.Revoked;
        uint256 amount = _release(noteId, n.amount);
        emit NoteRevoked(noteId, caller, amount);
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
        address caller = _msgSender();
        uint256 count = parts.length;
        if (count < 2 || count > MAX_SPLIT_PARTS) revert InvalidPartCount(count, 2, MAX_SPLIT_PARTS);
        Note storage n = _movableNote(noteId, caller);
        uint256 rootId = _rootIdOf(noteId);
        Root storage r = _roots[rootId];
        _checkNotMatured(noteId, r.maturity);

        uint256 expected = n.amount;
        uint256 total;
        uint256 minimum = minPartAmount[r.currency];
        for (uint256 i; i < count; ++i) {
            uint256 amount = parts[i].amount;
            if (amount == 0) revert ZeroAmount(i);
            if (amount < minimum) revert AmountBelowMinimum(i, amount, minimum);
            if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
            total += amount;
            address to = parts[i].to;
            if (to != caller) _requireActive(to, HOLDER_ROLES);
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
        address caller = _msgSender();
        Note storage n = _movableNote(noteId, caller);
        if (to == caller) revert SelfDealing(to);
        _requireActive(to, HOLDER_ROLES);
        _checkNotMatured(noteId, _roots[_rootIdOf(noteId)].maturity);
        n.holder = to;
        _voidOffers(noteId);
        emit NoteTransferred(noteId, caller, to);
    }

    // ------------------------------------------------------------------ discount

    /// @notice Offer to buy an active note from its current holder at `price` until `deadline`.
    ///         The offer is void once the note moves (even if it comes back), splits or is frozen.
    /// @param noteId The note.
    /// @param price Minor units, 1..the note's amount.
    /// @param deadline Unix seconds, after now and before the note's maturity.
    /// @param offChain True if the price will be paid outside the ledger (recorded by reference);
    ///        false to pay in the currency's settlement token at acceptance.
    /// @return offerId The new offer's id.
    function offerDiscount(uint256 noteId, uint256 price, uint256 deadline, bool offChain)
        external
        returns (uint256 offerId)
    {
        address caller = _msgSender();
        _requireActive(caller, ROLE_FINANCIER);
        Note storage n = _existingNote(noteId);
        if (n.status != NoteStatus.Active) revert NoteNotActive(noteId, n.status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        address holder = n.holder;
        if (holder == caller) revert SelfDealing(holder);
        Root storage r = _roots[_rootIdOf(noteId)];
        uint256 maturity = r.maturity;
        _checkNotMatured(noteId, maturity);
        uint256 amount = n.amount;
        if (price == 0 || price > amount) revert InvalidPrice(price, amount);
        if (deadline <= block.timestamp || deadline >= maturity) {
            revert InvalidDeadline(deadline, block.timestamp + 1, maturity - 1);
        }
        if (!offChain && settlementToken[r.currency] == address(0)) revert SettlementTokenNotSet(r.currency);

        uint256 epoch = _offerEpoch[noteId];
        if (epoch == 0) {
            epoch = 1;
            _offerEpoch[noteId] = 1;
        }
        offerId = ++offerCount;
        _offers[offerId] = Offer({
            financier: caller,
            deadline: uint40(deadline),
            offChain: offChain,
            epoch: uint40(epoch),
            holder: holder,
            price: uint80(price),
            noteId: noteId
        });
        emit DiscountOffered(offerId, noteId, caller, holder, price, uint40(deadline), offChain);
    }

    /// @notice Withdraw an open offer the caller made.
    /// @param offerId The offer.
    function cancelDiscountOffer(uint256 offerId) external {
        address caller = _msgSender();
        Offer storage o = _openOffer(offerId);
        if (o.financier != caller) revert NotOfferer(offerId, caller);
        _requireActive(caller, ROLE_FINANCIER);
        uint256 noteId = o.noteId;
        delete _offers[offerId];
        delete discountPaymentReference[offerId];
        emit DiscountOfferCancelled(offerId, noteId, caller);
    }

    /// @notice Record that the price of an off-chain offer has been paid to the holder, with the
    ///         payment's reference; the holder's acceptance then confirms receipt and delivers.
    /// @param offerId An open off-chain offer the caller made.
    /// @param paymentReference The payment's reference (non-zero).
    function recordDiscountPayment(uint256 offerId, bytes32 paymentReference) external {
        address caller = _msgSender();
        Offer storage o = _openOffer(offerId);
        if (o.financier != caller) revert NotOfferer(offerId, caller);
        _requireActive(caller, ROLE_FINANCIER);
        if (!o.offChain) revert NotAnOffChainOffer(offerId);
        if (paymentReference == bytes32(0)) revert ZeroReference();
        uint256 deadline = o.deadline;
        if (block.timestamp > deadline) revert OfferExpired(offerId, deadline);
        discountPaymentReference[offerId] = paymentReference;
        emit DiscountPaymentRecorded(offerId, o.noteId, paymentReference);
    }

    /// @notice Accept an offer for a note the caller holds: delivery versus payment. The note goes
    ///         to the financier and the price in settlement tokens comes to the caller (from the
    ///         financier's allowance to this ledger) in this one transaction, or nothing happens.
    ///         For an off-chain offer, acceptance confirms the recorded payment was received.
    /// @param offerId An open, unexpired offer made to the caller for the note it still holds.
    function acceptDiscountOffer(uint256 offerId) external {
        address caller = _msgSender();
        Offer storage o = _openOffer(offerId);
        uint256 deadline = o.deadline;
        if (block.timestamp > deadline) revert OfferExpired(offerId, deadline);
        uint256 noteId = o.noteId;
        Note storage n = _movableNote(noteId, caller);
        uint256 epoch = _offerEpoch[noteId];
        if (o.holder != caller || o.epoch != epoch) revert OfferVoid(offerId);
        address financier = o.financier;
        _requireActive(financier, ROLE_FINANCIER);
        uint256 price = o.price;
        bool offChain = o.offChain;
        bytes32 paymentReference;
        address token;
        if (offChain) {
            paymentReference = discountPaymentReference[offerId];
            if (paymentReference == bytes32(0)) revert DiscountPaymentNotRecorded(offerId);
            delete discountPaymentReference[offerId];
        } else {
            token = _tokenOf(_roots[_rootIdOf(noteId)].currency);
        }

        n.holder = financier;
        _offerEpoch[noteId] = epoch + 1;
        delete _offers[offerId];
        emit NoteDiscounted(noteId, caller, financier, offerId, price, paymentReference);
        if (!offChain) _transferFrom(token, financier, caller, price);
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Pay `amount` of a live note, on or after maturity, in settlement tokens from the
    ///         caller's allowance to this ledger. Paying the whole remainder settles the note;
    ///         less leaves it live with the remainder. Settled amounts free the credit limit.
    ///      Allowed while the obligor is suspended (see `_requireActive`): discharging a debt protects
    ///      its holders.
    /// @param noteId An active or overdue, unfrozen note of the caller's.
    /// @param amount Minor units, 1..the remainder.
    function pay(uint256 noteId, uint256 amount) external {
        address caller = _msgSender();
        (Note storage n, bytes3 currency, uint256 remaining) = _payableNote(noteId, amount);
        address token = _tokenOf(currency);
        address holder = n.holder;
        _applyPayment(noteId, n, remaining, amount);
        _clearClaim(noteId);
        _credit[caller].outstanding -= uint128(amount);
        emit NotePaid(noteId, caller, holder, amount, remaining - amount, bytes32(0));
        _transferFrom(token, caller, holder, amount);
    }

    /// @notice Claim an off-chain payment of `amount` on a live note, on or after maturity; it takes
    ///         effect when the holder confirms it. A new claim replaces an unconfirmed one.
    ///      Allowed while the obligor is suspended (see `_requireActive`): the holder still confirms it.
    /// @param noteId An active or overdue, unfrozen note of the caller's.
    /// @param amount Minor units, 1..the remainder.
    /// @param paymentReference The payment's reference (non-zero).
    function claimPayment(uint256 noteId, uint256 amount, bytes32 paymentReference) external {
        if (paymentReference == bytes32(0)) revert ZeroReference();
        (Note storage n,,) = _payableNote(noteId, amount);
        paymentClaim[noteId] = keccak256(abi.encode(amount, paymentReference));
        emit PaymentClaimed(noteId, _msgSender(), n.holder, amount, paymentReference);
    }

    /// @notice Confirm, as the holder, the obligor's claim of an off-chain payment; the payment is
    ///         then applied as `pay` would (without moving tokens).
    ///      Allowed while the holder is suspended (see `_requireActive`): it is being paid what is due.
    /// @param noteId A live, unfrozen note the caller holds.
    /// @param amount The claimed amount.
    /// @param paymentReference The claimed reference.
    function confirmPayment(uint256 noteId, uint256 amount, bytes32 paymentReference) external {
        address caller = _msgSender();
        Note storage n = _existingNote(noteId);
        if (n.holder != caller) revert NotHolder(noteId, caller);
        if (paymentClaim[noteId] != keccak256(abi.encode(amount, paymentReference))) {
            revert PaymentClaimMismatch(noteId);
        }
        NoteStatus status = n.status;
        if (!_isPayable(status)) revert NoteNotPayable(noteId, status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        uint256 remaining = n.amount - paidAmount[noteId];
        if (amount > remaining) revert PaymentTooLarge(noteId, amount, remaining);
        address obligor = _roots[_rootIdOf(noteId)].obligor;

        delete paymentClaim[noteId];
        _applyPayment(noteId, n, remaining, amount);
        _credit[obligor].outstanding -= uint128(amount);
        emit NotePaid(noteId, obligor, caller, amount, remaining - amount, paymentReference);
    }

    /// @notice Withdraw, as the obligor, an unconfirmed claim of an off-chain payment (e.g. one made
    ///         by mistake, or for a payment that bounced).
    /// @dev Allowed while the obligor is suspended (see `_requireActive`): it corrects its own claim.
    /// @param noteId A note of the caller's with a pending claim.
    function withdrawPaymentClaim(uint256 noteId) external {
        address caller = _msgSender();
        Note storage n = _existingNote(noteId);
        if (_roots[_rootIdOf(noteId)].obligor != caller) revert NotObligor(noteId, caller);
        if (paymentClaim[noteId] == bytes32(0)) revert NoPaymentClaim(noteId);
        delete paymentClaim[noteId];
        emit PaymentClaimWithdrawn(noteId, caller, n.holder);
    }

    /// @notice Settle, on or after maturity, every live unfrozen note of a tree among the indices
    ///         [firstIndex, firstIndex + count): each holder is paid its note's remainder in
    ///         settlement tokens from the caller's allowance. Frozen and already settled notes are
    ///         skipped; large trees are settled in several calls. Allowed while the obligor is suspended
    ///         (see `_requireActive`); suspended holders are paid too.
    /// @param rootId The root note's id.
    /// @param firstIndex The first index in the tree to look at (0 is the root).
    /// @param count How many indices to look at, 1..MAX_SETTLE_BATCH (clipped to the tree's end).
    /// @return notesPaid Number of notes settled by this call.
    /// @return totalPaid Sum paid by this call, in minor units.
    function settleRoot(uint256 rootId, uint256 firstIndex, uint256 count)
        external
        returns (uint256 notesPaid, uint256 totalPaid)
    {
        address caller = _msgSender();
        if (rootId & INDEX_MASK != 0) revert NoteNotFound(rootId);
        _existingNote(rootId);
        Root storage r = _roots[rootId];
        if (r.obligor != caller) revert NotObligor(rootId, caller);
        uint256 maturity = r.maturity;
        if (block.timestamp < maturity) revert NoteNotMatured(rootId, maturity);
        uint256 lastIndex = r.lastIndex;
        if (count == 0 || count > MAX_SETTLE_BATCH || firstIndex > lastIndex) {
            revert InvalidBatch(firstIndex, count, lastIndex);
        }
        uint256 end = firstIndex + count;
        if (end > lastIndex + 1) end = lastIndex + 1;
        address token = _tokenOf(r.currency);

        address[] memory payees = new address[](end - firstIndex);
        uint256[] memory amounts = new uint256[](end - firstIndex);
        for (uint256 i = firstIndex; i < end; ++i) {
            uint256 noteId = rootId | i;
            Note storage n = _notes[noteId];
            NoteStatus status = n.status;
            if (!_isPayable(status) || n.frozen) continue;
            uint256 paid = paidAmount[noteId];
            uint256 remaining = n.amount - paid;
            n.status = NoteStatus.Settled;
            if (paid != 0) delete paidAmount[noteId];
            _clearClaim(noteId);
            address holder = n.holder;
            payees[notesPaid] = holder;
            amounts[notesPaid] = remaining;
            ++notesPaid;
            totalPaid += remaining;
            emit NotePaid(noteId, caller, holder, remaining, 0, bytes32(0));
        }
        _credit[caller].outstanding -= uint128(totalPaid);
        for (uint256 k; k < notesPaid; ++k) {
            _transferFrom(token, caller, payees[k], amounts[k]);
        }
    }

    /// @notice Mark a live note overdue: unpaid at maturity plus the grace period. Anyone may call (a
    ///         fact of the clock, not an act of the caller): no membership is checked.
    /// @param noteId An active note.
    function markOverdue(uint256 noteId) external {
        Note storage n = _existingNote(noteId);
        if (n.status != NoteStatus.Active) revert NoteNotActive(noteId, n.status);
        Root storage r = _roots[_rootIdOf(noteId)];
        uint256 overdueAt = _overdueAt(r.maturity, gracePeriod);
        if (block.timestamp < overdueAt) revert NotOverdueYet(noteId, overdueAt);
        n.status = NoteStatus.Overdue;
        emit NoteOverdue(noteId, r.obligor, n.holder, n.amount - paidAmount[noteId]);
    }

    /// @notice Record a default: write off what remains of a note unpaid past maturity plus the
    ///         grace period (operator only). The remainder stops counting against the credit limit.
    /// @param noteId An active or overdue note.
    /// @param decisionReference Reference of the default decision (non-zero).
    function writeOff(uint256 noteId, bytes32 decisionReference) external onlyOperator {
        if (decisionReference == bytes32(0)) revert ZeroReference();
        Note storage n = _existingNote(noteId);
        NoteStatus status = n.status;
        if (!_isPayable(status)) revert NoteNotPayable(noteId, status);
        Root storage r = _roots[_rootIdOf(noteId)];
        uint256 overdueAt = _overdueAt(r.maturity, gracePeriod);
        if (block.timestamp < overdueAt) revert NotOverdueYet(noteId, overdueAt);
        uint256 remaining = n.amount - paidAmount[noteId];
        address obligor = r.obligor;
        n.status = NoteStatus.WrittenOff;
        _clearClaim(noteId);
        _credit[obligor].outstanding -= uint128(remaining);
        emit NoteWrittenOff(noteId, obligor, n.holder, remaining, decisionReference);
    }

    // ------------------------------------------------------------------ operator

    /// @notice Freeze a pending, active or overdue note under a dispute or court order: it cannot move,
    ///         be accepted, rejected or revoked until unfrozen.
    /// @param noteId The note.
    /// @param reason Reference of the dispute or order (e.g. a hash of the case file).
    function freeze(uint256 noteId, bytes32 reason) external onlyOperator {
        Note storage n = _existingNote(noteId);
        NoteStatus status = n.status;
        if (!_isLive(status)) revert NoteNotLive(noteId, status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        n.frozen = true;
        _voidOffers(noteId);
        emit NoteFrozen(noteId, reason);
    }

    /// @notice Lift a freeze. A note written off while frozen stays as it is: closed notes never change.
    /// @param noteId The frozen, live (pending, active or overdue) note.
    function unfreeze(uint256 noteId) external onlyOperator {
        Note storage n = _existingNote(noteId);
        if (!n.frozen) revert NoteNotFrozen(noteId);
        NoteStatus status = n.status;
        if (!_isLive(status)) revert NoteNotLive(noteId, status);
        n.frozen = false;
        emit NoteUnfrozen(noteId);
    }

    // ------------------------------------------------------------------ evidence-backed receivables

    /// @notice Name the EvidenceRegistry (operator, once): the only caller of the `evidence*` hooks.
    /// @param registry An EvidenceRegistry deployed for this ledger.
    function setEvidenceRegistry(address registry) external onlyOperator {
        if (registry == address(0)) revert ZeroAddress();
        address current = evidenceRegistry;
        if (current != address(0)) revert EvidenceRegistryAlreadySet(current);
        evidenceRegistry = registry;
        emit EvidenceRegistrySet(registry);
    }

    /// @notice Reserve a newly registered evidence hash in the document registry, so that no
    ///         confirmed note can rest on it (registry only).
    /// @param docHash The record's hash, unused so far.
    function evidenceReserve(bytes32 docHash) external {
        _onlyEvidenceRegistry();
        uint256 usedBy = documentRoot[docHash];
        if (usedBy != 0) {
            if (usedBy == EVIDENCE_DOCUMENT) revert DocumentIsEvidence(docHash);
            revert DocumentAlreadyUsed(docHash, usedBy);
        }
        documentRoot[docHash] = EVIDENCE_DOCUMENT;
    }

    /// @notice Create the root note of an evidence-backed receivable the registry has checked
    ///         (registry only): obligor and holder the supplier, active at once, counted against the
    ///         supplier's own credit limit; the invoice's `documentRoot` becomes the note (one invoice,
    ///         one financing). Emits `NoteIssued` then `NoteAccepted` (as an issued and accepted note).
    /// @param supplier The originating supplier (an active supplier).
    /// @param amount Face amount, 1..MAX_AMOUNT, at least the currency's minimum part.
    /// @param currency The invoice's currency.
    /// @param maturity Unix seconds, after now and within `maxTenor` of now.
    /// @param invoiceHash The invoice record's hash (reserved as evidence, not yet financed).
    /// @return noteId The new root note's id.
    function evidenceOriginate(
        address supplier,
        uint256 amount,
        bytes3 currency,
        uint256 maturity,
        bytes32 invoiceHash
    ) external returns (uint256 noteId) {
        _onlyEvidenceRegistry();
        _requireActive(supplier, ROLE_SUPPLIER);
        _checkAmount(amount);
        _checkMinPart(currency, 0, amount);
        uint256 latest = block.timestamp + maxTenor;
        if (maturity <= block.timestamp || maturity > latest) {
            revert InvalidMaturity(maturity, block.timestamp + 1, latest);
        }
        uint256 usedBy = documentRoot[invoiceHash];
        if (usedBy != EVIDENCE_DOCUMENT) revert DocumentAlreadyUsed(invoiceHash, usedBy);
        Credit storage c = _credit[supplier];
        uint256 outstanding = c.outstanding;
        if (outstanding + amount > c.limit) revert CreditLimitExceeded(supplier, outstanding, amount, c.limit);

        c.outstanding = uint128(outstanding + amount);
        uint64 seq = ++rootCount;
        noteId = uint256(seq) << INDEX_BITS;
        _roots[noteId] = Root({
            obligor: supplier,
            maturity: uint40(maturity),
            lastIndex: 0,
            currency: currency,
            documentHash: invoiceHash
        });
        _notes[noteId] = Note({holder: supplier, amount: uint80(amount), status: NoteStatus.Active, frozen: false});
        documentRoot[invoiceHash] = noteId;
        emit NoteIssued(noteId, supplier, supplier, amount, currency, uint40(maturity), invoiceHash);
        emit NoteAccepted(noteId, supplier);
    }

    /// @notice Make the buyer the obligor of a receivable's root (registry only, on the buyer's
    ///         request): the root must be unsplit, active, unfrozen and not matured, so that its face
    ///         amount is all the tree owes; the buyer's limit must have room for it.
    /// @param rootId The receivable's root note.
    /// @param supplier Its originating supplier (still its obligor).
    /// @param buyer The buyer named by the invoice (an active core enterprise).
    /// @return amount The face amount moved from the supplier's outstanding to the buyer's.
    function evidenceConvert(uint256 rootId, address supplier, address buyer) external returns (uint256 amount) {
        _onlyEvidenceRegistry();
        _requireActive(buyer, ROLE_CORE_ENTERPRISE);
        Note storage n = _existingNote(rootId);
        if (n.status != NoteStatus.Active) revert NoteNotActive(rootId, n.status);
        if (n.frozen) revert NoteIsFrozen(rootId);
        Root storage r = _roots[rootId];
        if (r.obligor != supplier) revert ReceivableAlreadyConverted(rootId);
        _checkNotMatured(rootId, r.maturity);
        amount = n.amount;
        Credit storage c = _credit[buyer];
        uint256 outstanding = c.outstanding;
        if (outstanding + amount > c.limit) revert CreditLimitExceeded(buyer, outstanding, amount, c.limit);

        c.outstanding = uint128(outstanding + amount);
        _credit[supplier].outstanding -= uint128(amount);
        r.obligor = buyer;
        emit ReceivableConverted(rootId, buyer, supplier, amount);
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
        rootId = _rootIdOf(noteId);
        if (n.status == NoteStatus.None) {
            return (address(0), address(0), 0, bytes3(0), 0, NoteStatus.None, false, rootId, bytes32(0));
        }
        Root storage r = _roots[rootId];
        return (n.holder, r.obligor, n.amount, r.currency, r.maturity, n.status, n.frozen, rootId, r.documentHash);
    }

    /// @notice An open discount offer (all zeros if unknown, accepted or cancelled).
    /// @param offerId The offer.
    function getOffer(uint256 offerId)
        external
        view
        returns (
            uint256 noteId,
            address financier,
            address holder,
            uint256 price,
            uint256 deadline,
            bool offChain,
            bytes32 paymentReference
        )
    {
        Offer storage o = _offers[offerId];
        return (o.noteId, o.financier, o.holder, o.price, o.deadline, o.offChain, discountPaymentReference[offerId]);
    }

    /// @notice Whether a note is overdue now: live, unpaid, and past maturity plus the grace period
    ///         (marked or not).
    /// @param noteId The note.
    function isOverdue(uint256 noteId) external view returns (bool) {
        NoteStatus status = _notes[noteId].status;
        if (status == NoteStatus.Overdue) return true;
        if (status != NoteStatus.Active) return false;
        return block.timestamp >= _overdueAt(_roots[_rootIdOf(noteId)].maturity, gracePeriod);
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
        uint256 rootId = _rootIdOf(noteId);
        if (_notes[rootId].status == NoteStatus.None) return 0;
        return uint256(_roots[rootId].lastIndex) + 1;
    }

    // ------------------------------------------------------------------ internal

    function _onlyEvidenceRegistry() private view {
        if (msg.sender != evidenceRegistry) revert NotEvidenceRegistry(msg.sender);
    }

    /// @dev The id of the root of `noteId`'s tree (index 0 of the same tree; a root is its own root).
    function _rootIdOf(uint256 noteId) private pure returns (uint256) {
        return noteId & ~INDEX_MASK;
    }

    /// @dev Live: pending, active or overdue (not yet closed); a live note may be frozen or unfrozen.
    ///      A bit test in assembly: the Solidity form converts the enum, whose range check keeps via-IR
    ///      from inlining the helper (a status read from storage is always in range).
    function _isLive(NoteStatus status) private pure returns (bool live) {
        assembly ("memory-safe") {
            live := and(shr(status, LIVE_STATUSES), 1)
        }
    }

    /// @dev Payable: active or overdue; its obligor may pay it or settle it, the operator write it off.
    ///      A bit test in assembly, as in `_isLive`.
    function _isPayable(NoteStatus status) private pure returns (bool payable_) {
        assembly ("memory-safe") {
            payable_ := and(shr(status, PAYABLE_STATUSES), 1)
        }
    }

    /// @dev When an unpaid note maturing at `maturity` becomes overdue: `grace` seconds later (the
    ///      ledger's `gracePeriod`). Pure, so that via-IR inlines it; two uint40 cannot overflow.
    function _overdueAt(uint40 maturity, uint40 grace) private pure returns (uint256) {
        unchecked {
            return uint256(maturity) + grace;
        }
    }

    function _existingNote(uint256 noteId) private view returns (Note storage n) {
        n = _notes[noteId];
        if (n.status == NoteStatus.None) revert NoteNotFound(noteId);
    }

    function _pendingNote(uint256 noteId) private view returns (Note storage n) {
        n = _existingNote(noteId);
        if (n.status != NoteStatus.Pending) revert NoteNotPending(noteId, n.status);
        if (n.frozen) revert NoteIsFrozen(noteId);
    }

    /// @dev An active, unfrozen note held by `caller` (the `_msgSender()`), who must be an active member.
    function _movableNote(uint256 noteId, address caller) private view returns (Note storage n) {
        n = _existingNote(noteId);
        if (n.status != NoteStatus.Active) revert NoteNotActive(noteId, n.status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        if (n.holder != caller) revert NotHolder(noteId, caller);
        _requireActive(caller, HOLDER_ROLES);
    }

    /// @dev Voids every offer made so far on the note (if any ever was).
    function _voidOffers(uint256 noteId) private {
        uint256 epoch = _offerEpoch[noteId];
        if (epoch != 0) _offerEpoch[noteId] = epoch + 1;
    }

    function _openOffer(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        if (o.financier == address(0)) revert OfferNotOpen(offerId);
    }

    /// @dev A live unfrozen note of the caller's, matured, with `amount` in 1..remainder.
    function _payableNote(uint256 noteId, uint256 amount)
        private
        view
        returns (Note storage n, bytes3 currency, uint256 remaining)
    {
        address caller = _msgSender();
        n = _existingNote(noteId);
        NoteStatus status = n.status;
        if (!_isPayable(status)) revert NoteNotPayable(noteId, status);
        if (n.frozen) revert NoteIsFrozen(noteId);
        Root storage r = _roots[_rootIdOf(noteId)];
        if (r.obligor != caller) revert NotObligor(noteId, caller);
        uint256 maturity = r.maturity;
        if (block.timestamp < maturity) revert NoteNotMatured(noteId, maturity);
        if (amount == 0) revert ZeroAmount(0);
        remaining = n.amount - paidAmount[noteId];
        if (amount > remaining) revert PaymentTooLarge(noteId, amount, remaining);
        currency = r.currency;
    }

    /// @dev Settles the note when `amount` is its whole remainder, else records the part paid.
    function _applyPayment(uint256 noteId, Note storage n, uint256 remaining, uint256 amount) private {
        if (amount == remaining) {
            n.status = NoteStatus.Settled;
            if (n.amount != remaining) delete paidAmount[noteId];
        } else {
            paidAmount[noteId] = n.amount - remaining + amount;
        }
    }

    function _tokenOf(bytes3 currency) private view returns (address token) {
        token = settlementToken[currency];
        if (token == address(0)) revert SettlementTokenNotSet(currency);
    }

    function _transferFrom(address token, address from, address to, uint256 amount) private {
        if (!IERC20(token).transferFrom(from, to, amount)) revert TokenTransferFailed(token);
    }

    function _checkNotMatured(uint256 noteId, uint256 maturity) private view {
        if (block.timestamp >= maturity) revert NoteMatured(noteId, maturity);
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount == 0) revert ZeroAmount(0);
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
    }

    function _checkMinPart(bytes3 currency, uint256 partIndex, uint256 amount) private view {
        uint256 minimum = minPartAmount[currency];
        if (amount < minimum) revert AmountBelowMinimum(partIndex, amount, minimum);
    }

    /// @dev Ends a pending claim of an off-chain payment: every payment and write-off does.
    function _clearClaim(uint256 noteId) private {
        if (paymentClaim[noteId] != bytes32(0)) delete paymentClaim[noteId];
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
