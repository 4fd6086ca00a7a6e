// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {IMemberRegistry} from "./interfaces/IMemberRegistry.sol";

/// @title MemberRegistry
/// @notice Operator-managed registry of the consortium's members: who may hold or act on a
///         credit note, with which roles, and whether they are active or suspended.
/// @dev Abstract: the ledger inherits it so that membership checks are plain storage reads
///      (no cross-contract call on the hot paths of split and transfer). The caller is always
///      `_msgSender()` (ERC-2771): the signer of a request relayed by the ledger's trusted forwarder,
///      else `msg.sender`; the ledger's constructor names the forwarder. Its status, errors and
///      events are declared in `IMemberRegistry`.
abstract contract MemberRegistry is IMemberRegistry, ERC2771Context {
    /// @notice Role bit of a core enterprise (an obligor that issues notes).
    uint8 public constant ROLE_CORE_ENTERPRISE = 1;
    /// @notice Role bit of a supplier (accepts, splits, passes on notes).
    uint8 public constant ROLE_SUPPLIER = 2;
    /// @notice Role bit of a financier (grants credit limits, discounts notes).
    uint8 public constant ROLE_FINANCIER = 4;
    /// @notice Role bit of an auditor or regulator (reads everything, acts on nothing).
    uint8 public constant ROLE_AUDITOR = 8;
    /// @notice Role bit of a data provider (a logistics company, an invoice service, an IoT platform,
    ///         a quality lab: attests suppliers' trade evidence in the EvidenceRegistry).
    uint8 public constant ROLE_DATA_PROVIDER = 16;
    uint8 internal constant ALL_ROLES = 31;
    /// @dev Roles that may hold a note passed on by split or transfer.
    uint8 internal constant HOLDER_ROLES = ROLE_SUPPLIER | ROLE_FINANCIER;

    /// @dev One storage slot per member.
    struct Member {
        uint8 roles;
        MemberStatus status;
        uint40 onboardedAt;
    }

    /// @notice The platform operator: onboards and suspends members, freezes notes.
    address public operator;
    /// @notice The address nominated to become operator; it must accept.
    address public pendingOperator;
    /// @notice Number of members ever onboarded.
    uint32 public memberCount;

    mapping(address account => Member) internal _members;

    modifier onlyOperator() {
        address caller = _msgSender();
        if (caller != operator) revert NotOperator(caller);
        _;
    }

    constructor(address initialOperator) {
        if (initialOperator == address(0)) revert ZeroAddress();
        operator = initialOperator;
        emit OperatorTransferred(address(0), initialOperator);
    }

    /// @notice Nominate a new operator (step one of two). Nominating the zero address cancels a
    ///         pending nomination.
    /// @param newOperator The nominee, who must call `acceptOperator`.
    function transferOperator(address newOperator) external onlyOperator {
        pendingOperator = newOperator;
        emit OperatorTransferStarted(_msgSender(), newOperator);
    }

    /// @notice Accept the operator role (step two of two); only the nominee may call.
    function acceptOperator() external {
        address caller = _msgSender();
        if (caller != pendingOperator || caller == address(0)) revert NotPendingOperator(caller);
        address previous = operator;
        operator = caller;
        delete pendingOperator;
        emit OperatorTransferred(previous, caller);
    }

    /// @notice Onboard a member (KYC done off-chain) with one or more roles; it starts active.
    /// @param account The member's signing address.
    /// @param roles Bitmask of ROLE_* constants, at least one.
    function onboardMember(address account, uint8 roles) external onlyOperator {
        if (account == address(0)) revert ZeroAddress();
        _checkRoles(roles);
        Member storage m = _members[account];
        if (m.status != MemberStatus.None) revert MemberAlreadyOnboarded(account);
        m.roles = roles;
        m.status = MemberStatus.Active;
        m.onboardedAt = uint40(block.timestamp);
        unchecked {
            ++memberCount;
        }
        emit MemberOnboarded(account, roles);
    }

    /// @notice Replace a member's roles.
    /// @param account The member.
    /// @param roles New bitmask of ROLE_* constants, at least one.
    function setMemberRoles(address account, uint8 roles) external onlyOperator {
        _checkRoles(roles);
        Member storage m = _members[account];
        if (m.status == MemberStatus.None) revert NotAMember(account);
        m.roles = roles;
        emit MemberRolesChanged(account, roles);
    }

    /// @notice Suspend an active member: it can no longer act, receive or pass on notes.
    /// @param account The member to suspend.
    function suspendMember(address account) external onlyOperator {
        Member storage m = _members[account];
        if (m.status == MemberStatus.None) revert NotAMember(account);
        if (m.status != MemberStatus.Active) revert MemberNotActive(account);
        m.status = MemberStatus.Suspended;
        emit MemberSuspended(account);
    }

    /// @notice Reinstate a suspended member.
    /// @param account The member to reinstate.
    function reinstateMember(address account) external onlyOperator {
        Member storage m = _members[account];
        if (m.status == MemberStatus.None) revert NotAMember(account);
        if (m.status != MemberStatus.Suspended) revert MemberNotSuspended(account);
        m.status = MemberStatus.Active;
        emit MemberReinstated(account);
    }

    /// @notice A member's roles, status and onboarding time (all zero for a non-member).
    /// @param account The address to look up.
    function getMember(address account)
        external
        view
        returns (uint8 roles, MemberStatus status, uint40 onboardedAt)
    {
        Member storage m = _members[account];
        return (m.roles, m.status, m.onboardedAt);
    }

    /// @notice Whether `account` is an active member holding every bit of `role`.
    /// @param account The address to look up.
    /// @param role Bitmask of ROLE_* constants.
    function hasActiveRole(address account, uint8 role) external view returns (bool) {
        Member storage m = _members[account];
        return m.status == MemberStatus.Active && (m.roles & role) == role;
    }

    /// @notice Whether `account` is an active member (any role).
    /// @param account The address to look up.
    function isActiveMember(address account) external view returns (bool) {
        return _members[account].status == MemberStatus.Active;
    }

    function _checkRoles(uint8 roles) private pure {
        if (roles == 0 || roles & ~ALL_ROLES != 0) revert InvalidRoles(roles);
    }

    /// @dev Reverts unless `account` is an active member with at least one bit of `anyOfRoles`.
    ///      The suspension guard: every state-changing function a member calls checks its caller
    ///      (`_msgSender()`) here, and the parties a note or an offer would reach. A suspended member
    ///      can do nothing but discharge what it owes and be paid what is due: as obligor `pay`,
    ///      `claimPayment`, `withdrawPaymentClaim` and `settleRoot` (paying holders protects them), as
    ///      holder `confirmPayment` (it acknowledges a payment to itself); payments reach suspended
    ///      holders. Those five check the caller's part in the note (obligor, holder) instead;
    ///      `markOverdue` is anyone's.
    function _requireActive(address account, uint8 anyOfRoles) internal view {
        Member storage m = _members[account];
        MemberStatus status = m.status;
        if (status != MemberStatus.Active) {
            if (status == MemberStatus.None) revert NotAMember(account);
            revert MemberNotActive(account);
        }
        if (m.roles & anyOfRoles == 0) revert MissingRole(account, anyOfRoles);
    }
}
