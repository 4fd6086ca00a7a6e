// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title CreditChainForwarder
/// @notice The ERC-2771 forwarder of a credchain ledger: relays requests that self-custodied members
///         sign as EIP-712 typed data (`ForwardRequest`, domain name "credchain", version "1"), so a
///         member that holds its own key acts on the ledger while the gateway's relayer pays the gas.
/// @dev OpenZeppelin's ERC2771Forwarder unchanged: a per-signer nonce, a deadline, the signer
///      recovered on chain, and the target must trust this forwarder. A reverted inner call makes
///      `execute` revert with `FailedCall()` (the target's own error is not passed on), so a relayer
///      simulates the inner call first to learn it.
contract CreditChainForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("credchain") {}
}
