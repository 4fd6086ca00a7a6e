"""Pydantic models of /v1/relay: EIP-712 forward requests that self-custodied members sign and the
gateway relays. Integers travel as decimal strings (or JSON integers where they always fit in 2^53:
the deadline and the chain id); calldata and signatures as 0x-hex."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from service.api.schemas import StrictModel
from service.ledger.relay import MAX_DEADLINE, ForwardRequest

MAX_CALLDATA_BYTES = 32_768
"""Largest ledger calldata accepted (a split into the maximum 100 parts is about 6.5 kB)."""
DEFAULT_DEADLINE_SECONDS = 600
MAX_DEADLINE_SECONDS = 86_400
MAX_UINT256 = 2**256 - 1


def _parse_uint(value: Any, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a non-negative integer or a string of decimal digits, not a float")
    number: int
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 78:
            raise ValueError("must be a string of decimal digits")
        number = int(value)
    else:
        number = value
    if number < 0:
        raise ValueError("must not be negative")
    if number > maximum:
        raise ValueError(f"must not exceed {maximum}")
    return number


def _uint_schema(maximum: int, description: str) -> dict[str, Any]:
    return {
        "oneOf": [
            {"type": "string", "pattern": "^[0-9]{1,78}$"},
            {"type": "integer", "minimum": 0, "maximum": maximum},
        ],
        "description": description,
    }


Uint256 = Annotated[
    int,
    BeforeValidator(lambda v: _parse_uint(v, MAX_UINT256)),
    WithJsonSchema(_uint_schema(MAX_UINT256, "a uint256, as a decimal string or JSON integer")),
]
Deadline = Annotated[
    int,
    BeforeValidator(lambda v: _parse_uint(v, MAX_DEADLINE)),
    WithJsonSchema(_uint_schema(MAX_DEADLINE, "unix seconds (uint48), as a JSON integer or decimal string")),
]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="0x address")]
Calldata = Annotated[
    str,
    Field(
        pattern=r"^0x([0-9a-fA-F]{2})+$",
        max_length=2 + 2 * MAX_CALLDATA_BYTES,
        description="ledger calldata (function selector and ABI-encoded arguments), 0x-hex",
    ),
]
Signature = Annotated[
    str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-712 signature (r, s, v), 0x-hex")
]


# ------------------------------------------------------------------ requests
class RelayPrepareIn(StrictModel):
    """Ledger calldata the member built from the ledger's ABI, to be simulated and wrapped into a
    forward request ready to sign."""

    data: Calldata
    deadline_seconds: int = Field(
        default=DEFAULT_DEADLINE_SECONDS,
        ge=1,
        le=MAX_DEADLINE_SECONDS,
        description="how long the signed request stays valid, from the chain's current time",
    )


class ForwardRequestIn(StrictModel):
    """The `message` of the typed data from /v1/relay/prepare, as signed."""

    sender: Address = Field(alias="from")
    to: Address
    value: Uint256
    gas: Uint256
    nonce: Uint256
    deadline: Deadline
    data: Calldata

    def request(self) -> ForwardRequest:
        return ForwardRequest(
            sender=self.sender,
            to=self.to,
            value=self.value,
            gas=self.gas,
            nonce=self.nonce,
            deadline=self.deadline,
            data=bytes.fromhex(self.data[2:]),
        )


class RelayIn(StrictModel):
    """A signed forward request for the gateway to relay (it pays the gas)."""

    request: ForwardRequestIn
    signature: Signature


# ------------------------------------------------------------------ answers
class TypedDataField(BaseModel):
    name: str
    type: str


class Eip712Domain(BaseModel):
    name: str
    version: str
    chainId: int  # noqa: N815 (EIP-712 field name)
    verifyingContract: str  # noqa: N815 (EIP-712 field name)


class ForwardRequestMessage(BaseModel):
    """A forward request as EIP-712 message: uint256 values as decimal strings."""

    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)

    sender: str = Field(alias="from")
    to: str
    value: str
    gas: str
    nonce: str
    deadline: int
    data: str


class RelayPrepareOut(BaseModel):
    """Complete EIP-712 typed data (`eth_signTypedData_v4`, eth_account's
    `encode_typed_data(full_message=...)`): sign it and send its `message` with the signature to
    POST /v1/relay."""

    model_config = ConfigDict(serialize_by_alias=True)

    domain: Eip712Domain
    types: dict[str, list[TypedDataField]]
    primaryType: str  # noqa: N815 (EIP-712 field name)
    message: ForwardRequestMessage
