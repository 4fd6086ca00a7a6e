// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IMemberRegistry
/// @notice The ABI surface of the consortium's member registry: the member status, the errors it
///         reverts with and the events it emits. `MemberRegistry` implements it.
/// @dev Events carry what an indexer needs to rebuild membership from events alone.
interface IMemberRegistry {
    /// @notice Where a member stands: never onboarded, active, or suspended by the operator.
    enum MemberStatus {
        None,
        Active,
        Suspended
    }

    error NotOperator(address caller);
    error NotPendingOperator(address caller);
    error ZeroAddress();
    error InvalidRoles(uint8 roles);
    error MemberAlreadyOnboarded(address account);
    error NotAMember(address account);
    error MemberNotActive(address account);
    error MemberNotSuspended(address account);
    error MissingRole(address account, uint8 role);

    event OperatorTransferStarted(address indexed currentOperator, address indexed pendingOperator);
    event OperatorTransferred(address indexed previousOperator, address indexed newOperator);
    event MemberOnboarded(address indexed account, uint8 roles);
    event MemberRolesChanged(address indexed account, uint8 roles);
    event MemberSuspended(address indexed account);
    event MemberReinstated(address indexed account);
}
