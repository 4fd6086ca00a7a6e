"""EIP-712 requests of the ledger's ERC-2771 forwarder (OpenZeppelin `ERC2771Forwarder`), pure.

A self-custodied member signs a `ForwardRequest` as EIP-712 typed data (domain "credchain",
version "1", the chain's id, the forwarder's address); the gateway checks the signature off-chain
and relays it. The ledger reads the signer as `_msgSender()`: the calldata the forwarder passes on
ends with the signer's 20-byte address (`inner_calldata`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError

DOMAIN_NAME = "credchain"
DOMAIN_VERSION = "1"
PRIMARY_TYPE = "ForwardRequest"
MAX_DEADLINE = 2**48 - 1
"""The request's deadline is a uint48 (unix seconds)."""
SIGNATURE_LENGTH = 65
_HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
"""secp256k1's n / 2: OpenZeppelin's ECDSA refuses signatures with a larger s (malleable)."""

TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    PRIMARY_TYPE: [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "gas", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint48"},
        {"name": "data", "type": "bytes"},
    ],
}
"""The EIP-712 types of a forward request, exactly as the OpenZeppelin forwarder hashes them."""


@dataclass(frozen=True)
class ForwardRequest:
    """What a member signs: call `to` with `data` as `sender`, with `gas` for the inner call, before
    `deadline`, as the signer's `nonce`-th request to the forwarder. Integers, never floats."""

    sender: str
    to: str
    value: int
    gas: int
    nonce: int
    deadline: int
    data: bytes

    def message(self) -> dict[str, Any]:
        """The EIP-712 message: addresses checksummed, integers above 2^53 as decimal strings
        (value, gas, nonce), the deadline as a number, data as 0x-hex."""
        return {
            "from": to_checksum_address(self.sender),
            "to": to_checksum_address(self.to),
            "value": str(self.value),
            "gas": str(self.gas),
            "nonce": str(self.nonce),
            "deadline": self.deadline,
            "data": "0x" + self.data.hex(),
        }

    def forward_request_data(self, signature: bytes) -> tuple[str, str, int, int, int, bytes, bytes]:
        """The forwarder's `ForwardRequestData` tuple for `execute` (the nonce is not part of it: the
        forwarder uses the signer's current one, so a stale nonce fails the signature check)."""
        return (
            to_checksum_address(self.sender),
            to_checksum_address(self.to),
            self.value,
            self.gas,
            self.deadline,
            self.data,
            signature,
        )


def domain(chain_id: int, forwarder: str) -> dict[str, Any]:
    """The EIP-712 domain of the forwarder at `forwarder` on chain `chain_id`."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(forwarder),
    }


def typed_data(request: ForwardRequest, chain_id: int, forwarder: str) -> dict[str, Any]:
    """The complete EIP-712 typed data of `request` (what `eth_signTypedData_v4` takes)."""
    return {
        "domain": domain(chain_id, forwarder),
        "types": {name: [dict(field) for field in fields] for name, fields in TYPES.items()},
        "primaryType": PRIMARY_TYPE,
        "message": request.message(),
    }


def sign_request(account: LocalAccount, request: ForwardRequest, chain_id: int, forwarder: str) -> bytes:
    """The 65-byte signature of `request` by `account`."""
    signable = encode_typed_data(full_message=typed_data(request, chain_id, forwarder))
    return bytes(account.sign_message(signable).signature)


def recover_signer(request: ForwardRequest, signature: bytes, chain_id: int, forwarder: str) -> str | None:
    """The address that signed `request`, or None when `signature` is not one the forwarder accepts
    (65 bytes r, s, v with v 27 or 28 and s in the lower half of the curve order, as OpenZeppelin's
    ECDSA wants)."""
    if len(signature) != SIGNATURE_LENGTH or signature[64] not in (27, 28):
        return None
    if int.from_bytes(signature[32:64], "big") > _HALF_CURVE_ORDER:
        return None
    signable = encode_typed_data(full_message=typed_data(request, chain_id, forwarder))
    try:
        return str(Account.recover_message(signable, signature=signature))
    except (BadSignature, ValidationError, ValueError, TypeError):
        return None


def inner_calldata(data: bytes, sender: str) -> bytes:
    """The calldata the forwarder passes to the target: `data` followed by the signer's address,
    which is how an ERC-2771 target reads its sender."""
    return data + bytes.fromhex(to_checksum_address(sender)[2:])
