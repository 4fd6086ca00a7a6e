"""`CallEncoder` gives byte for byte the calldata web3.py's `encode_abi` gives, for every function of
every contract the service sends transactions to."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from service.ledger.abi_codec import CallEncoder
from service.ledger.artifacts import load_artifact
from service.ledger.types import FORWARDER_CONTRACT, LEDGER_CONTRACT, TOKEN_CONTRACT

ADDRESS = Web3.to_checksum_address("0x" + "ab" * 20)
CONTRACTS = (LEDGER_CONTRACT, TOKEN_CONTRACT, FORWARDER_CONTRACT)


def _sample(param: dict[str, Any], seed: int) -> Any:
    kind: str = param["type"]
    if kind.endswith("[]"):
        inner = {**param, "type": kind[:-2]}
        return [_sample(inner, seed + i) for i in range(2)]
    if kind == "tuple":
        return tuple(_sample(c, seed + i) for i, c in enumerate(param["components"]))
    if kind == "address":
        return ADDRESS
    if kind == "bool":
        return seed % 2 == 0
    if kind.startswith("uint"):
        return (seed * 7919) % (2 ** int(kind[4:] or 256))
    if kind.startswith("int"):
        return -seed
    if kind == "bytes":
        return bytes(range(seed % 40))
    if kind.startswith("bytes"):
        return bytes([seed % 256]) * int(kind[5:])
    if kind == "string":
        return f"text {seed}"
    raise AssertionError(f"no sample for {kind}")


def _functions(name: str) -> list[tuple[str, dict[str, Any]]]:
    abi = load_artifact(name).abi
    return [(name, entry) for entry in abi if entry["type"] == "function"]


@pytest.mark.parametrize(
    ("contract", "function"),
    [item for name in CONTRACTS for item in _functions(name)],
    ids=lambda value: value if isinstance(value, str) else value["name"],
)
def test_call_encoder_matches_web3(contract: str, function: dict[str, Any]) -> None:
    abi = load_artifact(contract).abi
    web3_contract = Web3().eth.contract(address=ADDRESS, abi=abi)
    args = [_sample(p, i + 1) for i, p in enumerate(function["inputs"])]
    expected = web3_contract.encode_abi(function["name"], args=args)
    assert CallEncoder(abi).encode(function["name"], args) == expected
