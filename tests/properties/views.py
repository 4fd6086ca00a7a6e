"""Contract view calls straight on the in-process chain's latest state.

The invariants read every note, balance and offer after every step; through web3 each `eth_call`
costs several JSON-RPC round trips through the eth-tester middlewares (~7 ms), which made the
reads, not the transactions, the bulk of the property test's time. This runs the same view
function's EVM code on the latest block's state directly (about 1 ms). On another chain it falls
back to an ordinary `eth_call`.
"""

from __future__ import annotations

from typing import Any

from eth.vm.message import Message
from eth_abi import decode, encode
from eth_utils import to_canonical_address, to_checksum_address
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from web3.contract import Contract

from service.ledger.chain import Chain

VIEW_GAS = 10_000_000


class LatestViews:
    """Calls view functions on the state of the latest block; `refresh()` after new blocks."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._abis: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}
        self._state: Any = None
        self._context: Any = None
        self._codes: dict[bytes, bytes] = {}

    def refresh(self) -> None:
        """Forget the state read so far (call after every transaction or clock move)."""
        self._state = None
        self._codes.clear()

    def _function(self, contract: Contract, name: str) -> tuple[bytes, list[str], list[str]]:
        key = (contract.address, name)
        if key not in self._abis:
            abi = contract.get_function_by_name(name).abi
            self._abis[key] = (
                function_abi_to_4byte_selector(abi),
                list(get_abi_input_types(abi)),
                list(get_abi_output_types(abi)),
            )
        return self._abis[key]

    def call(self, contract: Contract, name: str, *args: Any) -> tuple[Any, ...]:
        """The view's return values, addresses checksummed."""
        if self.chain.tester is None:
            value = getattr(contract.functions, name)(*args).call()
            return tuple(value) if isinstance(value, list | tuple) else (value,)
        selector, inputs, outputs = self._function(contract, name)
        output = self._execute(contract.address, selector + encode(inputs, list(args)))
        values = decode(outputs, output)
        return tuple(
            to_checksum_address(v) if t == "address" else v for t, v in zip(outputs, values, strict=True)
        )

    def _execute(self, address: str, data: bytes) -> bytes:
        if self._state is None:
            assert self.chain.tester is not None
            chain = self.chain.tester.backend.chain
            vm = chain.get_vm(at_header=chain.get_canonical_head())
            self._state = vm.state
            self._context = self._state.transaction_context_class(gas_price=0, origin=b"\0" * 20)
        to = to_canonical_address(address)
        if to not in self._codes:
            self._codes[to] = self._state.get_code(to)
        message = Message(gas=VIEW_GAS, to=to, sender=b"\0" * 20, value=0, data=data, code=self._codes[to])
        computation = self._state.computation_class.apply_message(self._state, message, self._context)
        if computation.is_error:
            raise AssertionError(f"view call to {address} failed: {computation.error!r}")
        return bytes(computation.output)
