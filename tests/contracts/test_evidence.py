"""EvidenceRegistry and the ledger's evidence hooks: registering trade records, attesting and
revoking, originating evidence-backed receivables against the supplier's own limit, converting them
into the buyer's note; one document, one financing across both kinds of note; every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from service.domain import NoteStatus, Role
from service.ledger import errors
from service.ledger.artifacts import load_artifact
from service.ledger.client import EvidenceRegistryClient
from service.ledger.relay import ForwardRequest, sign_request
from service.ledger.types import EVIDENCE_CONTRACT, EvidenceKind, SplitPart, TxResult
from tests.consortium import Consortium
from tests.contracts.helpers import ZERO_ADDRESS, ZERO_HASH, at_maturity, module_state, new_member

SUPPLIER_LIMIT = 10_000_000
INVOICE_AMOUNT = 1_000_000
_EVIDENCE_SLOT = 0
"""Storage slot of `EvidenceRegistry._evidence` (the registry's first state variable)."""
_ATTESTERS_SHIFT = 160 + 8
"""Bit offset of `Evidence.attesters` in a record's first slot (after supplier and kind)."""


@dataclass(frozen=True)
class Parties:
    """Three data providers and a supplier whose own limit (granted by the bank) has room."""

    providers: list[LocalAccount]


@pytest.fixture(scope="module")
def _parties(_deployed: Consortium) -> Iterator[Parties]:
    c = _deployed
    with module_state(c):
        providers = [new_member(c, Role.DATA_PROVIDER) for _ in range(3)]
        supplier = c.suppliers[0]
        c.ledger.approve_financier(supplier, c.bank.address)
        c.ledger.set_credit_limit(c.bank, supplier.address, SUPPLIER_LIMIT)
        yield Parties(providers)


@pytest.fixture
def parties(consortium: Consortium, _parties: Parties) -> Iterator[Parties]:
    """The module's parties; their nonces are forgotten after each test (the chain is reverted)."""
    yield _parties
    for provider in _parties.providers:
        consortium.ledger.nonces.forget(provider.address)


def register(
    c: Consortium,
    kind: EvidenceKind = EvidenceKind.INVOICE,
    *,
    sender: LocalAccount | None = None,
    buyer: str | None = None,
    currency: str | None = "USD",
    amount: int = INVOICE_AMOUNT,
    doc: bytes | None = None,
) -> bytes:
    """Register a record of supplier 0 against the core enterprise by default; returns its hash."""
    doc_hash = c.next_document() if doc is None else doc
    c.ledger.register_evidence(
        sender or c.suppliers[0], doc_hash, kind, buyer or c.core.address, currency, amount
    )
    return doc_hash


def attested_invoice(c: Consortium, p: Parties, attesters: int = 1, amount: int = INVOICE_AMOUNT) -> bytes:
    doc = register(c, amount=amount)
    for provider in p.providers[:attesters]:
        c.ledger.attest_evidence(provider, doc)
    return doc


def originate(
    c: Consortium,
    invoice: bytes,
    *,
    supporting: list[bytes] | None = None,
    amount: int = INVOICE_AMOUNT,
    days: int = 90,
    sender: LocalAccount | None = None,
) -> TxResult:
    return c.ledger.originate_receivable(
        sender or c.suppliers[0], invoice, supporting or [], amount, c.maturity(days)
    )


def receivable(c: Consortium, p: Parties, amount: int = INVOICE_AMOUNT) -> int:
    return originate(c, attested_invoice(c, p, amount=amount), amount=amount).created_note_ids()[0]


def event_names(result: TxResult) -> list[str]:
    return [e.name for e in result.events]


# ---------------------------------------------------------------- deployment and wiring


def test_the_deployed_ledger_names_a_registry_that_names_the_ledger(consortium: Consortium) -> None:
    c = consortium
    assert c.ledger.evidence_registry() == c.ledger.evidence.address
    assert c.ledger.evidence.ledger() == c.ledger.address


def test_registry_deployment_refuses_a_zero_ledger(consortium: Consortium) -> None:
    c = consortium
    artifact = c.ledger.evidence.contract
    factory = c.chain.w3.eth.contract(abi=artifact.abi, bytecode=_registry_bytecode())
    data = factory.constructor(ZERO_ADDRESS, c.forwarder.address).data_in_transaction
    with pytest.raises(errors.ZeroAddress):
        c.ledger.sender.send(c.operator, to=None, data=data)


def _registry_bytecode() -> str:
    return load_artifact(EVIDENCE_CONTRACT).bytecode


def test_set_evidence_registry_refuses_a_second_registry(consortium: Consortium) -> None:
    c = consortium
    other = EvidenceRegistryClient.deploy(c.ledger, c.operator)
    with pytest.raises(errors.EvidenceRegistryAlreadySet) as exc:
        c.ledger.set_evidence_registry(c.operator, other.address)
    assert exc.value.arguments == {"registry": c.ledger.evidence.address}


def test_set_evidence_registry_refuses_anyone_but_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator):
        c.ledger.set_evidence_registry(c.core, c.core.address)


def test_set_evidence_registry_refuses_the_zero_address(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAddress):
        c.ledger.set_evidence_registry(c.operator, ZERO_ADDRESS)


@pytest.mark.parametrize(
    ("fn_name", "args"),
    [
        ("evidenceReserve", (b"\x01" * 32,)),
        ("evidenceOriginate", (ZERO_ADDRESS, 1, b"USD", 2**40, b"\x01" * 32)),
        ("evidenceConvert", (1 << 32, ZERO_ADDRESS, ZERO_ADDRESS)),
    ],
)
def test_the_ledger_hooks_refuse_any_caller_but_the_registry(
    consortium: Consortium, fn_name: str, args: tuple[object, ...]
) -> None:
    c = consortium
    with pytest.raises(errors.NotEvidenceRegistry) as exc:
        c.ledger._transact(c.suppliers[0], fn_name, *args)
    assert exc.value.arguments == {"caller": c.suppliers[0].address}


# ---------------------------------------------------------------- registerEvidence


def test_register_evidence_records_the_record_and_reserves_its_hash(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    result = c.ledger.register_evidence(
        c.suppliers[0], doc, EvidenceKind.INVOICE, c.core.address, "USD", 1_234
    )
    assert event_names(result) == ["EvidenceRegistered"]
    assert result.events[0].args == {
        "docHash": doc,
        "supplier": c.suppliers[0].address,
        "buyer": c.core.address,
        "kind": 3,
        "currency": b"USD",
        "amount": 1_234,
    }
    record = c.ledger.evidence.get_evidence(doc)
    assert (record.supplier, record.buyer, record.kind) == (
        c.suppliers[0].address,
        c.core.address,
        EvidenceKind.INVOICE,
    )
    assert (record.currency, record.amount, record.attesters) == ("USD", 1_234, 0)
    assert c.ledger.document_root(doc) == 2**256 - 1


def test_register_evidence_accepts_a_record_without_amount_or_currency(consortium: Consortium) -> None:
    c = consortium
    doc = register(c, EvidenceKind.DELIVERY, currency=None, amount=0)
    record = c.ledger.evidence.get_evidence(doc)
    assert (record.kind, record.amount, record.currency) == (EvidenceKind.DELIVERY, 0, "")


def test_register_evidence_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        register(c, sender=c.outsider)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_register_evidence_refuses_a_suspended_supplier(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.suppliers[0].address)
    with pytest.raises(errors.MemberNotActive):
        register(c)


def test_register_evidence_refuses_a_caller_without_the_supplier_role(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    with pytest.raises(errors.MissingRole) as exc:
        register(c, sender=parties.providers[0])
    assert exc.value.arguments == {"account": parties.providers[0].address, "role": int(Role.SUPPLIER)}


def test_register_evidence_refuses_the_caller_as_its_own_buyer(consortium: Consortium) -> None:
    c = consortium
    both = new_member(c, Role.SUPPLIER | Role.CORE_ENTERPRISE)
    with pytest.raises(errors.SelfDealing):
        register(c, sender=both, buyer=both.address)


def test_register_evidence_refuses_a_buyer_that_is_not_a_core_enterprise(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.MissingRole) as exc:
        register(c, buyer=c.suppliers[1].address)
    assert exc.value.arguments == {"account": c.suppliers[1].address, "role": int(Role.CORE_ENTERPRISE)}


def test_register_evidence_refuses_a_buyer_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember):
        register(c, buyer=c.outsider.address)


def test_register_evidence_refuses_a_suspended_buyer(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        register(c)
    assert exc.value.arguments == {"account": c.core.address}


def test_register_evidence_refuses_a_zero_hash(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroDocumentHash):
        register(c, doc=ZERO_HASH)


def test_register_evidence_refuses_an_unknown_kind(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidEvidenceKind) as exc:
        register(c, 6)  # type: ignore[arg-type]
    assert exc.value.arguments == {"kind": 6}


def test_register_evidence_refuses_an_invoice_without_amount(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvoiceAmountRequired):
        register(c, amount=0)


def test_register_evidence_refuses_an_amount_without_a_valid_currency(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidCurrency):
        register(c, EvidenceKind.PURCHASE_ORDER, currency="usd", amount=5)


def test_register_evidence_refuses_an_amount_above_the_largest(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.AmountTooLarge) as exc:
        register(c, amount=2**96)
    assert exc.value.arguments == {"amount": 2**96, "maxAmount": 2**96 - 1}


def test_register_evidence_refuses_a_hash_registered_before(consortium: Consortium) -> None:
    c = consortium
    doc = register(c)
    with pytest.raises(errors.EvidenceAlreadyRegistered):
        register(c, sender=c.suppliers[1], doc=doc)


def test_register_evidence_refuses_a_hash_behind_a_confirmed_note(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    note_id = c.ledger.issue(
        c.core, c.suppliers[0].address, 1_000, "USD", c.maturity(), doc
    ).created_note_ids()[0]
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        register(c, doc=doc)
    assert exc.value.arguments == {"documentHash": doc, "rootId": note_id}


def test_issue_refuses_a_hash_registered_as_evidence(consortium: Consortium) -> None:
    c = consortium
    doc = register(c)
    with pytest.raises(errors.DocumentIsEvidence) as exc:
        c.ledger.issue(c.core, c.suppliers[0].address, 1_000, "USD", c.maturity(), doc)
    assert exc.value.arguments == {"documentHash": doc}


# ---------------------------------------------------------------- attestations


def test_attest_evidence_counts_the_attester(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = register(c)
    result = c.ledger.attest_evidence(parties.providers[0], doc)
    assert event_names(result) == ["EvidenceAttested"]
    assert result.events[0].args == {"docHash": doc, "attester": parties.providers[0].address}
    c.ledger.attest_evidence(parties.providers[1], doc)
    assert c.ledger.evidence.get_evidence(doc).attesters == 2
    assert c.ledger.evidence.attestation(doc, parties.providers[0].address) == 1


def test_attest_evidence_refuses_a_member_without_the_data_provider_role(consortium: Consortium) -> None:
    c = consortium
    doc = register(c)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.attest_evidence(c.suppliers[0], doc)
    assert exc.value.arguments == {"account": c.suppliers[0].address, "role": int(Role.DATA_PROVIDER)}


def test_attest_evidence_refuses_a_suspended_data_provider(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = register(c)
    c.ledger.suspend_member(c.operator, parties.providers[0].address)
    with pytest.raises(errors.MemberNotActive):
        c.ledger.attest_evidence(parties.providers[0], doc)


def test_attest_evidence_refuses_an_unknown_record(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = c.next_document()
    with pytest.raises(errors.EvidenceNotFound) as exc:
        c.ledger.attest_evidence(parties.providers[0], doc)
    assert exc.value.arguments == {"docHash": doc}


def test_a_supplier_cannot_attest_its_own_record(consortium: Consortium) -> None:
    c = consortium
    both = new_member(c, Role.SUPPLIER | Role.DATA_PROVIDER)
    doc = register(c, sender=both)
    with pytest.raises(errors.SelfAttestation) as exc:
        c.ledger.attest_evidence(both, doc)
    assert exc.value.arguments == {"docHash": doc, "attester": both.address}


def test_the_buyer_cannot_attest_a_record_against_itself(consortium: Consortium) -> None:
    c = consortium
    buyer = new_member(c, Role.CORE_ENTERPRISE | Role.DATA_PROVIDER)
    doc = register(c, buyer=buyer.address)
    with pytest.raises(errors.SelfAttestation):
        c.ledger.attest_evidence(buyer, doc)


def test_attest_evidence_refuses_a_second_attestation_by_the_same_provider(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    doc = register(c)
    c.ledger.attest_evidence(parties.providers[0], doc)
    with pytest.raises(errors.AlreadyAttested):
        c.ledger.attest_evidence(parties.providers[0], doc)


def test_attest_evidence_refuses_a_provider_that_revoked_its_attestation(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    doc = register(c)
    c.ledger.attest_evidence(parties.providers[0], doc)
    c.ledger.revoke_attestation(parties.providers[0], doc)
    with pytest.raises(errors.AlreadyAttested):
        c.ledger.attest_evidence(parties.providers[0], doc)


def test_attest_evidence_refuses_past_the_largest_count(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = register(c)
    _set_attesters(c, doc, 255)
    with pytest.raises(errors.TooManyAttesters):
        c.ledger.attest_evidence(parties.providers[0], doc)


def _set_attesters(c: Consortium, doc: bytes, count: int) -> None:
    """Overwrite `Evidence.attesters` of `doc` in the registry's storage (in-process chain only):
    255 real attestations need 255 onboarded data providers."""
    assert c.chain.tester is not None
    registry = c.ledger.evidence.address
    slot = int.from_bytes(keccak(abi_encode(["bytes32", "uint256"], [doc, _EVIDENCE_SLOT])), "big")
    current = int.from_bytes(c.chain.w3.eth.get_storage_at(registry, slot), "big")
    mask = 0xFF << _ATTESTERS_SHIFT
    updated = (current & ~mask) | (count << _ATTESTERS_SHIFT)
    chain = c.chain.tester.backend.chain
    state = chain.get_vm().state
    state.set_storage(bytes.fromhex(registry[2:]), slot, updated)
    state.persist()
    chain.header = chain.header.copy(state_root=state.state_root)
    c.chain.tester.mine_blocks(1)
    assert c.ledger.evidence.get_evidence(doc).attesters == count


def test_revoke_attestation_uncounts_the_attester(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = attested_invoice(c, parties, attesters=2)
    result = c.ledger.revoke_attestation(parties.providers[1], doc)
    assert event_names(result) == ["AttestationRevoked"]
    assert result.events[0].args == {"docHash": doc, "attester": parties.providers[1].address}
    assert c.ledger.evidence.get_evidence(doc).attesters == 1
    assert c.ledger.evidence.attestation(doc, parties.providers[1].address) == 2


def test_a_suspended_data_provider_may_revoke_its_attestation(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    doc = attested_invoice(c, parties)
    c.ledger.suspend_member(c.operator, parties.providers[0].address)
    c.ledger.revoke_attestation(parties.providers[0], doc)
    assert c.ledger.evidence.get_evidence(doc).attesters == 0


def test_revoke_attestation_refuses_a_provider_that_never_attested(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    doc = attested_invoice(c, parties)
    with pytest.raises(errors.NotAttested) as exc:
        c.ledger.revoke_attestation(parties.providers[1], doc)
    assert exc.value.arguments == {"docHash": doc, "attester": parties.providers[1].address}


def test_revoke_attestation_refuses_a_second_revocation(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = attested_invoice(c, parties)
    c.ledger.revoke_attestation(parties.providers[0], doc)
    with pytest.raises(errors.NotAttested):
        c.ledger.revoke_attestation(parties.providers[0], doc)


def test_revoke_attestation_refuses_an_unknown_record(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    with pytest.raises(errors.EvidenceNotFound):
        c.ledger.revoke_attestation(parties.providers[0], c.next_document())


def test_a_relayed_attestation_acts_as_its_signer(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    doc = register(c)
    provider = parties.providers[2]
    registry = c.ledger.evidence
    data = bytes.fromhex(registry.contract.encode_abi("attestEvidence", args=[doc])[2:])
    request = ForwardRequest(
        sender=provider.address,
        to=registry.address,
        value=0,
        gas=200_000,
        nonce=c.forwarder.nonce_of(provider.address),
        deadline=c.chain.now() + 600,
        data=data,
    )
    signature = sign_request(provider, request, c.chain.w3.eth.chain_id, c.forwarder.address)
    result = c.forwarder.execute(c.operator, request, signature)
    attested = [e for e in result.events if e.name == "EvidenceAttested"]
    assert [e.args["attester"] for e in attested] == [provider.address]
    assert registry.attestation(doc, provider.address) == 1


# ---------------------------------------------------------------- originateReceivable


def test_originate_receivable_creates_an_active_root_of_the_supplier(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    supplier = c.suppliers[0]
    order = register(c, EvidenceKind.PURCHASE_ORDER)
    delivery = register(c, EvidenceKind.DELIVERY, currency=None, amount=0)
    invoice = attested_invoice(c, parties, attesters=2)
    maturity = c.maturity(60)
    core_credit = c.ledger.credit_of(c.core.address)
    result = c.ledger.originate_receivable(supplier, invoice, [order, delivery], 900_000, maturity)
    assert event_names(result) == ["NoteIssued", "NoteAccepted", "ReceivableOriginated"]
    note_id = result.created_note_ids()[0]
    assert result.events[2].args == {
        "noteId": note_id,
        "supplier": supplier.address,
        "buyer": c.core.address,
        "invoiceHash": invoice,
        "attesters": 2,
        "supportingCount": 2,
        "supporting": (order, delivery),
    }
    note = c.ledger.get_note(note_id)
    assert (note.holder, note.obligor, note.amount, note.currency) == (
        supplier.address,
        supplier.address,
        900_000,
        "USD",
    )
    assert (note.status, note.maturity, note.document_hash) == (NoteStatus.ACTIVE, maturity, invoice)
    assert c.ledger.credit_of(supplier.address) == (SUPPLIER_LIMIT, 900_000)
    assert c.ledger.credit_of(c.core.address) == core_credit
    assert c.ledger.document_root(invoice) == note_id
    assert c.ledger.evidence.receivable_invoice(note_id) == invoice


def test_originate_receivable_refuses_an_unknown_invoice(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    with pytest.raises(errors.EvidenceNotFound):
        originate(c, c.next_document())


def test_a_data_provider_cannot_originate(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    with pytest.raises(errors.NotEvidenceSupplier) as exc:
        originate(c, invoice, sender=parties.providers[0])
    assert exc.value.arguments == {"docHash": invoice, "caller": parties.providers[0].address}


def test_originate_receivable_refuses_a_record_that_is_not_an_invoice(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    order = register(c, EvidenceKind.PURCHASE_ORDER)
    c.ledger.attest_evidence(parties.providers[0], order)
    with pytest.raises(errors.NotAnInvoice) as exc:
        originate(c, order)
    assert exc.value.arguments == {"docHash": order, "kind": 0}


def test_originate_receivable_refuses_an_unattested_invoice(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    invoice = register(c)
    with pytest.raises(errors.EvidenceNotAttested):
        originate(c, invoice)


def test_originate_receivable_refuses_an_invoice_whose_attestations_were_revoked(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    c.ledger.revoke_attestation(parties.providers[0], invoice)
    with pytest.raises(errors.EvidenceNotAttested):
        originate(c, invoice)


def test_originate_receivable_refuses_more_than_the_invoice(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    with pytest.raises(errors.AmountExceedsInvoice) as exc:
        originate(c, invoice, amount=INVOICE_AMOUNT + 1)
    assert exc.value.arguments == {"amount": INVOICE_AMOUNT + 1, "invoiceAmount": INVOICE_AMOUNT}


def test_originate_receivable_refuses_too_many_supporting_records(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    records = [register(c, EvidenceKind.OTHER, currency=None, amount=0) for _ in range(9)]
    with pytest.raises(errors.TooManySupporting) as exc:
        originate(c, invoice, supporting=records)
    assert exc.value.arguments == {"count": 9, "maxCount": 8}


@pytest.mark.parametrize("which", ["unknown", "other supplier", "other buyer", "the invoice", "repeated"])
def test_originate_receivable_refuses_an_unrelated_supporting_record(
    consortium: Consortium, parties: Parties, which: str
) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    mine = register(c, EvidenceKind.DELIVERY, currency=None, amount=0)
    if which == "unknown":
        bad, supporting = c.next_document(), None
    elif which == "other supplier":
        bad, supporting = register(c, EvidenceKind.DELIVERY, sender=c.suppliers[1], amount=0), None
    elif which == "other buyer":
        buyer = new_member(c, Role.CORE_ENTERPRISE)
        bad, supporting = register(c, EvidenceKind.DELIVERY, buyer=buyer.address, amount=0), None
    elif which == "the invoice":
        bad, supporting = invoice, None
    else:
        bad, supporting = mine, [mine, mine]
    with pytest.raises(errors.UnrelatedEvidence) as exc:
        originate(c, invoice, supporting=supporting or [mine, bad])
    assert exc.value.arguments == {"docHash": bad}


def test_a_second_receivable_on_the_same_invoice_is_refused(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    note_id = originate(c, invoice, amount=400_000).created_note_ids()[0]
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        originate(c, invoice, amount=400_000)
    assert exc.value.arguments == {"documentHash": invoice, "rootId": note_id}


def test_an_invoice_behind_a_receivable_cannot_back_a_confirmed_note(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    note_id = originate(c, invoice).created_note_ids()[0]
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        c.ledger.issue(c.core, c.suppliers[0].address, 1_000, "USD", c.maturity(), invoice)
    assert exc.value.arguments == {"documentHash": invoice, "rootId": note_id}


def test_originate_receivable_refuses_beyond_the_suppliers_own_limit(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    supplier = c.suppliers[0]
    originate(c, attested_invoice(c, parties, amount=SUPPLIER_LIMIT), amount=SUPPLIER_LIMIT)
    invoice = attested_invoice(c, parties)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        originate(c, invoice, amount=1)
    assert exc.value.arguments == {
        "obligor": supplier.address,
        "outstanding": SUPPLIER_LIMIT,
        "amount": 1,
        "limit": SUPPLIER_LIMIT,
    }


def test_originate_receivable_refuses_a_supplier_without_a_limit(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    other = c.suppliers[1]
    invoice = register(c, sender=other)
    c.ledger.attest_evidence(parties.providers[0], invoice)
    with pytest.raises(errors.CreditLimitExceeded):
        originate(c, invoice, sender=other, amount=1)


def test_originate_receivable_refuses_a_suspended_supplier(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    invoice = attested_invoice(c, parties)
    c.ledger.suspend_member(c.operator, c.suppliers[0].address)
    with pytest.raises(errors.MemberNotActive):
        originate(c, invoice)


def test_originate_receivable_refuses_a_zero_amount(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAmount):
        originate(c, attested_invoice(c, parties), amount=0)


def test_originate_receivable_refuses_an_amount_below_the_minimum_part(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    c.ledger.set_min_part_amount(c.operator, "USD", 500)
    with pytest.raises(errors.AmountBelowMinimum):
        originate(c, attested_invoice(c, parties), amount=499)


def test_originate_receivable_refuses_a_maturity_beyond_the_tenor(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    with pytest.raises(errors.InvalidMaturity):
        originate(c, attested_invoice(c, parties), days=366)


def test_a_receivable_is_discounted_and_paid_by_the_supplier_at_maturity(
    consortium: Consortium, parties: Parties
) -> None:
    c = consortium
    supplier = c.suppliers[0]
    note_id = receivable(c, parties, amount=100_000)
    c.fund_tokens(c.bank, 97_000)
    offer = c.ledger.offer_discount(c.bank, note_id, 97_000, c.maturity(30)).offer_id()
    c.ledger.accept_discount_offer(supplier, offer)
    assert c.token.balance_of(supplier.address) == 97_000
    assert c.ledger.get_note(note_id).holder == c.bank.address
    c.fund_tokens(supplier, 3_000, approve=100_000)
    at_maturity(c, note_id)
    c.ledger.pay(supplier, note_id, 100_000)
    assert c.token.balance_of(c.bank.address) == 100_000
    assert c.token.balance_of(supplier.address) == 0
    assert c.ledger.get_note(note_id).status == NoteStatus.SETTLED
    assert c.ledger.credit_of(supplier.address) == (SUPPLIER_LIMIT, 0)


# ---------------------------------------------------------------- convertReceivable


def test_convert_receivable_moves_the_root_to_the_buyer(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    supplier = c.suppliers[0]
    limit, outstanding = c.ledger.credit_of(c.core.address)
    note_id = receivable(c, parties, amount=300_000)
    result = c.ledger.convert_receivable(c.core, note_id)
    assert event_names(result) == ["ReceivableConverted"]
    assert result.events[0].args == {
        "rootId": note_id,
        "buyer": c.core.address,
        "supplier": supplier.address,
        "amount": 300_000,
    }
    assert c.ledger.get_note(note_id).obligor == c.core.address
    assert c.ledger.credit_of(c.core.address) == (limit, outstanding + 300_000)
    assert c.ledger.credit_of(supplier.address) == (SUPPLIER_LIMIT, 0)


def test_convert_receivable_refuses_a_note_that_is_not_a_receivable(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NotAReceivable) as exc:
        c.ledger.convert_receivable(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id}


def test_convert_receivable_refuses_anyone_but_the_buyer(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    with pytest.raises(errors.NotReceivableBuyer) as exc:
        c.ledger.convert_receivable(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "caller": c.suppliers[0].address}


def test_convert_receivable_refuses_a_suspended_buyer(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive):
        c.ledger.convert_receivable(c.core, note_id)


def test_convert_receivable_refuses_a_root_already_split(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    supplier = c.suppliers[0]
    note_id = receivable(c, parties)
    c.ledger.split(
        supplier,
        note_id,
        [SplitPart(supplier.address, 600_000), SplitPart(c.suppliers[1].address, 400_000)],
    )
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.convert_receivable(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": int(NoteStatus.SPLIT)}


def test_convert_receivable_refuses_a_frozen_root(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    c.ledger.freeze(c.operator, note_id, b"dispute")
    with pytest.raises(errors.NoteIsFrozen):
        c.ledger.convert_receivable(c.core, note_id)


def test_convert_receivable_refuses_a_matured_root(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    at_maturity(c, note_id)
    with pytest.raises(errors.NoteMatured):
        c.ledger.convert_receivable(c.core, note_id)


def test_convert_receivable_refuses_a_second_conversion(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    c.ledger.convert_receivable(c.core, note_id)
    with pytest.raises(errors.ReceivableAlreadyConverted) as exc:
        c.ledger.convert_receivable(c.core, note_id)
    assert exc.value.arguments == {"rootId": note_id}


def test_convert_receivable_refuses_a_buyer_without_room(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties)
    c.ledger.set_credit_limit(c.bank, c.core.address, 1)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        c.ledger.convert_receivable(c.core, note_id)
    assert exc.value.arguments["obligor"] == c.core.address


def test_a_converted_receivable_is_paid_by_the_buyer(consortium: Consortium, parties: Parties) -> None:
    c = consortium
    note_id = receivable(c, parties, amount=50_000)
    c.ledger.convert_receivable(c.core, note_id)
    c.fund_tokens(c.core, 50_000)
    at_maturity(c, note_id)
    with pytest.raises(errors.NotObligor):
        c.ledger.pay(c.suppliers[0], note_id, 50_000)
    c.ledger.pay(c.core, note_id, 50_000)
    assert c.token.balance_of(c.suppliers[0].address) == 50_000
    assert c.ledger.credit_of(c.suppliers[0].address) == (SUPPLIER_LIMIT, 0)
