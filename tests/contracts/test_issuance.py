"""issue: a core enterprise issues a pending root note to a supplier, within every check."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from service.domain import INDEX_BITS, MAX_AMOUNT, NoteStatus, Role
from service.ledger import errors
from service.ledger.types import TxResult
from tests.consortium import DAY, Consortium
from tests.contracts.helpers import ZERO_HASH, next_block_time, only_event, part

MAX_TENOR = 365 * DAY


def issue(
    c: Consortium,
    *,
    sender: LocalAccount | None = None,
    to: str | None = None,
    amount: int = 1_000,
    currency: str = "USD",
    maturity: int | None = None,
    document_hash: bytes | None = None,
) -> TxResult:
    """Issue from the core enterprise to supplier 0 by default; any argument may be overridden."""
    return c.ledger.issue(
        sender or c.core,
        to or c.suppliers[0].address,
        amount,
        currency,
        c.maturity(90) if maturity is None else maturity,
        c.next_document() if document_hash is None else document_hash,
    )


# ---------------------------------------------------------------- success


def test_issue_creates_a_pending_root_note_with_the_given_terms(consortium: Consortium) -> None:
    c = consortium
    maturity = c.maturity(90)
    doc = c.next_document()
    result = issue(c, amount=1_234, maturity=maturity, document_hash=doc)
    note_id = result.created_note_ids()[0]
    assert note_id == 1 << INDEX_BITS
    note = c.ledger.get_note(note_id)
    assert note.holder == c.suppliers[0].address
    assert note.obligor == c.core.address
    assert note.amount == 1_234
    assert note.currency == "USD"
    assert note.maturity == maturity
    assert note.status == NoteStatus.PENDING
    assert note.frozen is False
    assert note.root_id == note_id
    assert note.document_hash == doc
    assert c.ledger.root_count() == 1
    assert c.ledger.tree_size(note_id) == 1
    assert c.ledger.document_root(doc) == note_id


def test_issue_emits_note_issued_with_every_term(consortium: Consortium) -> None:
    c = consortium
    maturity = c.maturity(90)
    doc = c.next_document()
    result = issue(c, amount=1_234, maturity=maturity, document_hash=doc)
    assert only_event(result, "NoteIssued") == {
        "noteId": 1 << INDEX_BITS,
        "obligor": c.core.address,
        "holder": c.suppliers[0].address,
        "amount": 1_234,
        "currency": b"USD",
        "maturity": maturity,
        "documentHash": doc,
    }


def test_issue_adds_the_amount_to_the_obligors_outstanding(consortium: Consortium) -> None:
    c = consortium
    limit, _ = c.ledger.credit_of(c.core.address)
    issue(c, amount=700)
    issue(c, amount=300)
    assert c.ledger.credit_of(c.core.address) == (limit, 1_000)


def test_consecutive_issues_get_consecutive_root_ids(consortium: Consortium) -> None:
    c = consortium
    first = issue(c).created_note_ids()[0]
    second = issue(c).created_note_ids()[0]
    assert (first, second) == (1 << INDEX_BITS, 2 << INDEX_BITS)
    assert c.ledger.root_count() == 2


# ---------------------------------------------------------------- issuer and recipient


def test_issue_refuses_an_issuer_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        issue(c, sender=c.outsider)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_issue_refuses_a_suspended_issuer(consortium: Consortium) -> None:
    c = consortium
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        issue(c)
    assert exc.value.arguments == {"account": c.core.address}


def test_issue_refuses_an_issuer_without_the_core_enterprise_role(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[1]
    with pytest.raises(errors.MissingRole) as exc:
        issue(c, sender=supplier)
    assert exc.value.arguments == {"account": supplier.address, "role": int(Role.CORE_ENTERPRISE)}


def test_issue_refuses_a_note_to_the_issuer_itself(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_member_roles(c.operator, c.core.address, Role.CORE_ENTERPRISE | Role.SUPPLIER)
    with pytest.raises(errors.SelfDealing) as exc:
        issue(c, to=c.core.address)
    assert exc.value.arguments == {"account": c.core.address}


def test_issue_refuses_a_recipient_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAMember) as exc:
        issue(c, to=c.outsider.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_issue_refuses_a_suspended_recipient(consortium: Consortium) -> None:
    c = consortium
    supplier = c.suppliers[0]
    c.ledger.suspend_member(c.operator, supplier.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        issue(c, to=supplier.address)
    assert exc.value.arguments == {"account": supplier.address}


def test_issue_refuses_a_recipient_without_the_supplier_role(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.MissingRole) as exc:
        issue(c, to=c.bank.address)
    assert exc.value.arguments == {"account": c.bank.address, "role": int(Role.SUPPLIER)}


# ---------------------------------------------------------------- amount and currency


def test_issue_refuses_a_zero_amount(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroAmount) as exc:
        issue(c, amount=0)
    assert exc.value.arguments == {"partIndex": 0}


def test_issue_accepts_exactly_the_max_amount(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_credit_limit(c.bank, c.core.address, MAX_AMOUNT)
    note_id = issue(c, amount=MAX_AMOUNT).created_note_ids()[0]
    assert c.ledger.get_note(note_id).amount == MAX_AMOUNT
    assert c.ledger.credit_of(c.core.address) == (MAX_AMOUNT, MAX_AMOUNT)


def test_issue_refuses_an_amount_above_the_max_amount(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_credit_limit(c.bank, c.core.address, MAX_AMOUNT + 1)
    with pytest.raises(errors.AmountTooLarge) as exc:
        issue(c, amount=MAX_AMOUNT + 1)
    assert exc.value.arguments == {"amount": MAX_AMOUNT + 1, "maxAmount": MAX_AMOUNT}


@pytest.mark.parametrize(
    ("code", "raw"),
    [("usd", b"usd"), ("US1", b"US1"), ("US", b"US\0"), ("U D", b"U D")],
    ids=["lower-case", "digit", "two-letters", "space"],
)
def test_issue_refuses_a_currency_that_is_not_three_upper_case_letters(
    consortium: Consortium, code: str, raw: bytes
) -> None:
    c = consortium
    with pytest.raises(errors.InvalidCurrency) as exc:
        issue(c, currency=code)
    assert exc.value.arguments == {"currency": raw}


def test_issue_accepts_any_three_upper_case_letters_as_currency(consortium: Consortium) -> None:
    c = consortium
    note_id = issue(c, currency="AZZ").created_note_ids()[0]
    assert c.ledger.get_note(note_id).currency == "AZZ"


# ---------------------------------------------------------------- maturity


def test_issue_refuses_a_maturity_equal_to_now(consortium: Consortium) -> None:
    c = consortium
    now = next_block_time(c)
    with pytest.raises(errors.InvalidMaturity) as exc:
        issue(c, maturity=now)
    assert exc.value.arguments == {"maturity": now, "earliest": now + 1, "latest": now + MAX_TENOR}


def test_issue_refuses_a_maturity_in_the_past(consortium: Consortium) -> None:
    c = consortium
    now = next_block_time(c)
    with pytest.raises(errors.InvalidMaturity) as exc:
        issue(c, maturity=now - DAY)
    assert exc.value.arguments == {"maturity": now - DAY, "earliest": now + 1, "latest": now + MAX_TENOR}


def test_issue_refuses_a_maturity_beyond_the_max_tenor(consortium: Consortium) -> None:
    c = consortium
    now = next_block_time(c)
    maturity = now + MAX_TENOR + 1
    with pytest.raises(errors.InvalidMaturity) as exc:
        issue(c, maturity=maturity)
    assert exc.value.arguments == {"maturity": maturity, "earliest": now + 1, "latest": now + MAX_TENOR}


def test_issue_accepts_a_maturity_exactly_at_the_max_tenor(consortium: Consortium) -> None:
    c = consortium
    now = next_block_time(c)
    result = issue(c, maturity=now + MAX_TENOR)
    assert c.chain.w3.eth.get_block(result.block_number)["timestamp"] == now
    assert only_event(result, "NoteIssued")["maturity"] == now + MAX_TENOR


def test_issue_accepts_a_maturity_one_second_from_now(consortium: Consortium) -> None:
    c = consortium
    now = next_block_time(c)
    result = issue(c, maturity=now + 1)
    assert c.chain.w3.eth.get_block(result.block_number)["timestamp"] == now
    assert only_event(result, "NoteIssued")["maturity"] == now + 1


# ---------------------------------------------------------------- document hash


def test_issue_refuses_a_zero_document_hash(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.ZeroDocumentHash) as exc:
        issue(c, document_hash=ZERO_HASH)
    assert exc.value.arguments == {}


def test_issue_refuses_a_document_that_backs_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    first = issue(c, document_hash=doc).created_note_ids()[0]
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        issue(c, document_hash=doc, to=c.suppliers[1].address)
    assert exc.value.arguments == {"documentHash": doc, "rootId": first}


def test_issue_refuses_a_document_that_backs_an_accepted_note(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    first = issue(c, document_hash=doc).created_note_ids()[0]
    c.ledger.accept(c.suppliers[0], first)
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        issue(c, document_hash=doc)
    assert exc.value.arguments == {"documentHash": doc, "rootId": first}


def test_issue_refuses_a_document_whose_note_was_split(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    first = issue(c, amount=10, document_hash=doc).created_note_ids()[0]
    holder = c.suppliers[0]
    c.ledger.accept(holder, first)
    c.ledger.split(holder, first, [part(holder, 4), part(c.suppliers[1], 6)])
    with pytest.raises(errors.DocumentAlreadyUsed) as exc:
        issue(c, document_hash=doc)
    assert exc.value.arguments == {"documentHash": doc, "rootId": first}


def test_a_document_can_back_a_new_note_after_the_first_was_rejected(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    first = issue(c, document_hash=doc).created_note_ids()[0]
    c.ledger.reject(c.suppliers[0], first)
    second = issue(c, document_hash=doc).created_note_ids()[0]
    assert c.ledger.document_root(doc) == second
    assert c.ledger.get_note(second).document_hash == doc


def test_a_document_can_back_a_new_note_after_the_first_was_revoked(consortium: Consortium) -> None:
    c = consortium
    doc = c.next_document()
    first = issue(c, document_hash=doc).created_note_ids()[0]
    c.ledger.revoke(c.core, first)
    second = issue(c, document_hash=doc).created_note_ids()[0]
    assert c.ledger.document_root(doc) == second


# ---------------------------------------------------------------- credit limit


def test_issue_refuses_an_amount_that_would_exceed_the_credit_limit(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_credit_limit(c.bank, c.core.address, 1_000)
    issue(c, amount=600)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        issue(c, amount=401)
    assert exc.value.arguments == {
        "obligor": c.core.address,
        "outstanding": 600,
        "amount": 401,
        "limit": 1_000,
    }


def test_issue_accepts_an_amount_that_reaches_exactly_the_credit_limit(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_credit_limit(c.bank, c.core.address, 1_000)
    issue(c, amount=600)
    issue(c, amount=400)
    assert c.ledger.credit_of(c.core.address) == (1_000, 1_000)


def test_issue_refuses_an_obligor_that_no_financier_granted_credit(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_credit_limit(c.bank, c.core.address, 0)
    with pytest.raises(errors.CreditLimitExceeded) as exc:
        issue(c, amount=1)
    assert exc.value.arguments == {"obligor": c.core.address, "outstanding": 0, "amount": 1, "limit": 0}
