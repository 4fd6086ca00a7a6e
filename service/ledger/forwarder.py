"""Typed client of the CreditChainForwarder (ERC-2771 relaying of EIP-712 signed requests), and the
deployment of a ledger that trusts one."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from service.ledger.abi_codec import CallEncoder, ErrorDecoder, EventDecoder
from service.ledger.artifacts import load_artifact
from service.ledger.client import ContractClient, EvidenceRegistryClient, LedgerClient
from service.ledger.errors import (
    LedgerUnavailable,
)
from service.ledger.nonces import NonceManager
from service.ledger.relay import ForwardRequest, inner_calldata
from service.ledger.sender import (
    CONNECTION_ERRORS,
    REVERT_ERRORS,
    TransactionSender,
    revert_abi,
    tx_result,
)
from service.ledger.types import (
    EVIDENCE_CONTRACT,
    FORWARDER_CONTRACT,
    LEDGER_CONTRACT,
    TxResult,
)


class ForwarderClient(ContractClient):
    """The ledger's ERC-2771 forwarder (CreditChainForwarder): relays EIP-712 requests signed by
    self-custodied members; the relayer pays the gas."""

    def __init__(self, w3: Web3, address: str, *, sender: TransactionSender) -> None:
        artifact = load_artifact(FORWARDER_CONTRACT)
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.events = EventDecoder(artifact.abi)
        self.calls = CallEncoder(artifact.abi)
        self.ledger_events = EventDecoder(
            load_artifact(LEDGER_CONTRACT).abi + load_artifact(EVIDENCE_CONTRACT).abi
        )
        """Decodes the events of a relayed request's target: the ledger or its evidence registry."""
        self.sender = sender

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        deployer: LocalAccount,
        *,
        nonces: NonceManager | None = None,
        receipt_timeout: float = 60.0,
    ) -> ForwarderClient:
        """Deploy a forwarder (before the ledger that trusts it); pass its `nonces` on to the ledger's
        deployment so both share one nonce manager."""
        artifact = load_artifact(FORWARDER_CONTRACT)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        sender = TransactionSender(w3, ErrorDecoder(revert_abi()), nonces, receipt_timeout)
        receipt = sender.send(deployer, to=None, data=factory.constructor().data_in_transaction)
        return cls(w3, receipt["contractAddress"], sender=sender)

    @classmethod
    def of_ledger(cls, ledger: LedgerClient) -> ForwarderClient | None:
        """The forwarder the ledger trusts (sharing the ledger's sender), or None if it trusts none."""
        address = ledger.trusted_forwarder()
        if int(address, 16) == 0:
            return None
        return cls(ledger.w3, address, sender=ledger.sender)

    @property
    def nonces(self) -> NonceManager:
        return self.sender.nonces

    def nonce_of(self, owner: str) -> int:
        """The nonce the next request signed by `owner` must carry."""
        return int(self._view("nonces", Web3.to_checksum_address(owner)))

    def verify(self, request: ForwardRequest, signature: bytes) -> bool:
        """Whether the forwarder would accept the request now (signature, nonce, deadline, target)."""
        return bool(self._view("verify", request.forward_request_data(signature)))

    def simulate(self, target: str, sender: str, data: bytes) -> int:
        """Run `data` on `target` as this forwarder relays it for `sender` (an `eth_call` from the
        forwarder, the calldata followed by the sender's address) and return its gas estimate. A
        revert raises the target's own error, which `execute` would hide behind `FailedCall`."""
        call: dict[str, Any] = {
            "from": self.address,
            "to": Web3.to_checksum_address(target),
            "data": "0x" + inner_calldata(data, sender).hex(),
            "gasPrice": 0,  # the forwarder holds no ether: a call that pays nothing
        }
        try:
            return int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except REVERT_ERRORS as exc:
            raise self.sender.translate(exc) from exc
        except CONNECTION_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def execute_data(self, request: ForwardRequest, signature: bytes) -> str:
        """Calldata of `execute(request)`."""
        return str(self.contract.encode_abi("execute", args=[request.forward_request_data(signature)]))

    def execute(self, relayer: LocalAccount, request: ForwardRequest, signature: bytes) -> TxResult:
        """Relay a signed request, `relayer` paying the gas; the result lists the forwarder's events
        and those of the ledger and of its evidence registry (a request to the registry may make the
        ledger emit too). A reverted inner call fails the whole transaction (`FailedCall`)."""
        receipt = self.sender.send(relayer, to=self.address, data=self.execute_data(request, signature))
        decoders = {str(log["address"]): self.ledger_events for log in receipt["logs"]}
        decoders[self.address] = self.events
        return tx_result(receipt, decoders)


def deploy_with_forwarder(
    w3: Web3,
    deployer: LocalAccount,
    operator: str,
    *,
    nonces: NonceManager | None = None,
    receipt_timeout: float = 60.0,
) -> tuple[LedgerClient, ForwarderClient]:
    """Deploy a CreditChainForwarder, then a ledger operated by `operator` that trusts it, then the
    ledger's EvidenceRegistry (trusting the same forwarder), which the ledger names when `deployer`
    is the operator (else the operator names it: `LedgerClient.set_evidence_registry`); the clients
    share one transaction sender (and nonce manager)."""
    forwarder = ForwarderClient.deploy(w3, deployer, nonces=nonces, receipt_timeout=receipt_timeout)
    ledger = LedgerClient.deploy(
        w3,
        deployer,
        operator,
        nonces=forwarder.nonces,
        receipt_timeout=receipt_timeout,
        forwarder=forwarder.address,
    )
    registry = EvidenceRegistryClient.deploy(ledger, deployer)
    if Web3.to_checksum_address(operator) == deployer.address:
        ledger.set_evidence_registry(deployer, registry.address)
    return ledger, ForwarderClient(w3, forwarder.address, sender=ledger.sender)
