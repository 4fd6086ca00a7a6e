// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice What the settlement token needs to know of the ledger: who the operator is and who
///         is an active member.
interface IMemberDirectory {
    function operator() external view returns (address);
    function isActiveMember(address account) external view returns (bool);
}

/// @title SettlementToken
/// @notice A permissioned ERC-20 standing for tokenized deposits at the settlement bank in one
///         currency. Only active members of the ledger's consortium hold or move it; the operator
///         (standing for the settlement bank) mints against deposits and burns on withdrawals.
/// @dev The ledger moves tokens for delivery-versus-payment and settlement through the standard
///      allowance (`transferFrom`); it has already checked both parties' membership, so the token
///      skips its own membership check when the ledger is the caller.
contract SettlementToken is ERC20 {
    /// @notice The credit-note ledger whose member registry and operator this token follows.
    IMemberDirectory public immutable ledger;
    /// @notice ISO 4217 currency code of the deposits this token stands for.
    bytes3 public immutable currency;
    uint8 private immutable _decimals;
    /// @notice Whether a settlement-bank reference was used by a deposit or a withdrawal: each
    ///         reference stands for one movement of money and is accepted once (mint and burn share
    ///         one namespace).
    mapping(bytes32 paymentReference => bool used) public referenceUsed;

    error NotOperator(address caller);
    error NotAnActiveMember(address account);
    error ZeroReference();
    error ReferenceAlreadyUsed(bytes32 paymentReference);

    /// @notice Deposited money was tokenized for `account`.
    event Deposited(address indexed account, uint256 amount, bytes32 paymentReference);
    /// @notice Tokens of `account` were redeemed for money paid out.
    event Withdrawn(address indexed account, uint256 amount, bytes32 paymentReference);

    /// @param ledger_ The CreditNoteLedger (member registry and operator).
    /// @param currency_ ISO 4217 code.
    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param decimals_ Minor-unit digits of the currency (e.g. 2 for EUR).
    constructor(address ledger_, bytes3 currency_, string memory name_, string memory symbol_, uint8 decimals_)
        ERC20(name_, symbol_)
    {
        ledger = IMemberDirectory(ledger_);
        currency = currency_;
        _decimals = decimals_;
    }

    /// @notice Minor-unit digits of the currency.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Tokenize a deposit received by the settlement bank (operator only).
    /// @param to The active member credited.
    /// @param amount Minor units.
    /// @param paymentReference The bank's reference of the deposit (non-zero, never used before).
    function mint(address to, uint256 amount, bytes32 paymentReference) external {
        _onlyOperator();
        _useReference(paymentReference);
        _mint(to, amount);
        emit Deposited(to, amount, paymentReference);
    }

    /// @notice Redeem a member's tokens for money paid out by the settlement bank (operator only).
    /// @param from The member debited.
    /// @param amount Minor units.
    /// @param paymentReference The bank's reference of the payout (non-zero, never used before).
    function burn(address from, uint256 amount, bytes32 paymentReference) external {
        _onlyOperator();
        _useReference(paymentReference);
        _burn(from, amount);
        emit Withdrawn(from, amount, paymentReference);
    }

    /// @notice Allow `spender` to move up to `value` of the caller's tokens. An active member may
    ///         approve anyone; a suspended one only the ledger, which takes tokens from it only to
    ///         discharge what it owes (`pay`, `settleRoot`).
    /// @param spender The account allowed.
    /// @param value Minor units.
    function approve(address spender, uint256 value) public override returns (bool) {
        if (spender != address(ledger) && !ledger.isActiveMember(msg.sender)) revert NotAnActiveMember(msg.sender);
        return super.approve(spender, value);
    }

    /// @dev Transfers need active members on both sides and mints an active recipient, except the
    ///      ledger's own transfers (it has checked both parties). A burn is the settlement bank paying
    ///      money out, which it may do to a suspended member too.
    function _update(address from, address to, uint256 value) internal override {
        if (msg.sender != address(ledger) && to != address(0)) {
            if (from != address(0) && !ledger.isActiveMember(from)) revert NotAnActiveMember(from);
            if (!ledger.isActiveMember(to)) revert NotAnActiveMember(to);
        }
        super._update(from, to, value);
    }

    function _useReference(bytes32 paymentReference) private {
        if (paymentReference == bytes32(0)) revert ZeroReference();
        if (referenceUsed[paymentReference]) revert ReferenceAlreadyUsed(paymentReference);
        referenceUsed[paymentReference] = true;
    }

    function _onlyOperator() private view {
        if (msg.sender != ledger.operator()) revert NotOperator(msg.sender);
    }
}
