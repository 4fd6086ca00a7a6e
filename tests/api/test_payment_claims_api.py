"""A claim of an off-chain payment through the gateway ends with the note's next payment (in
tokens or by settling the tree) or a write-off, and the obligor may withdraw it: a body-less
confirmation can never record a payment a second time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.financing import TOKENS, Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401

FACE = 1_000_000


def _matured(fin: Fin) -> str:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(31)
    return note_id


def _claim(fin: Fin, note_id: str, amount: int = 400_000, reference: str = "SWIFT-1") -> None:
    answer = fin.post(
        "core", f"/v1/notes/{note_id}/settle", {"amount": str(amount), "payment_reference": reference}
    )
    assert answer.status_code == 200, answer.text


def _withdraw(fin: Fin, note_id: str, who: str = "core", **headers: str) -> Any:
    return fin.post(who, f"/v1/notes/{note_id}/payment-claim/withdraw", None, **headers)


def _confirm(fin: Fin, note_id: str, who: str = "s1") -> Any:
    return fin.post(who, f"/v1/notes/{note_id}/confirm-payment")


def test_a_body_less_confirm_after_a_payment_in_tokens_is_refused_not_a_second_payment(fin: Fin) -> None:
    note_id = _matured(fin)
    _claim(fin, note_id, 400_000)
    paid = fin.post("core", f"/v1/notes/{note_id}/settle", {"amount": "400000"})
    assert paid.status_code == 200, paid.text
    problem(_confirm(fin, note_id), 409, "payment-claim-mismatch")
    note = fin.note(note_id)
    assert (note["paid_amount"], note["remaining"]) == ("400000", "600000")
    assert fin.balance("s1") == 400_000


def test_a_confirm_after_the_tree_was_settled_is_refused(fin: Fin) -> None:
    note_id = _matured(fin)
    _claim(fin, note_id, FACE)
    assert fin.post("core", f"/v1/roots/{note_id}/settle").status_code == 200
    answer = _confirm(fin, note_id)
    assert answer.status_code == 409
    note = fin.note(note_id)
    assert (note["status"], note["paid_amount"]) == ("settled", str(FACE))
    assert fin.balance("core") == TOKENS - FACE


def test_the_obligor_withdraws_a_claim_and_the_holder_can_no_longer_confirm_it(fin: Fin) -> None:
    note_id = _matured(fin)
    _claim(fin, note_id, 400_000, "SWIFT-2")
    answer = _withdraw(fin, note_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["action"], body["amount"], body["payment_reference"]) == (
        "claim_withdrawn",
        "400000",
        "SWIFT-2",
    )
    assert body["remaining"] == str(FACE)
    problem(_confirm(fin, note_id), 409, "payment-claim-mismatch")
    assert fin.note(note_id)["paid_amount"] == "0"


def test_after_a_withdrawal_a_new_claim_can_be_made_and_confirmed(fin: Fin) -> None:
    note_id = _matured(fin)
    _claim(fin, note_id, 400_000, "SWIFT-2")
    assert _withdraw(fin, note_id).status_code == 200
    _claim(fin, note_id, 300_000, "SWIFT-3")
    confirmed = _confirm(fin, note_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["payment_reference"] == "SWIFT-3"
    assert fin.note(note_id)["paid_amount"] == "300000"


def test_a_retried_withdrawal_with_the_same_key_is_replayed(fin: Fin) -> None:
    note_id = _matured(fin)
    _claim(fin, note_id)
    first = _withdraw(fin, note_id, **{"Idempotency-Key": "withdraw-1"})
    again = _withdraw(fin, note_id, **{"Idempotency-Key": "withdraw-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["tx_hash"] == first.json()["tx_hash"]


WITHDRAW_CASES = {
    "no-claim": (lambda f: _withdraw(f, _matured(f)), 409, "no-payment-claim"),
    "already-withdrawn": (lambda f: _withdraw_twice(f), 409, "no-payment-claim"),
    "the-holder": (lambda f: _withdraw(f, _claimed(f), who="s1"), 403, "not-obligor"),
    "a-financier": (lambda f: _withdraw(f, _claimed(f), who="bank"), 403, "forbidden"),
    "another-obligor": (lambda f: _withdraw(f, _claimed(f), who="core2"), 404, "note-not-found"),
    "unknown-note": (lambda f: _withdraw(f, "12345"), 404, "note-not-found"),
}


def _claimed(fin: Fin) -> str:
    note_id = _matured(fin)
    _claim(fin, note_id)
    return note_id


def _withdraw_twice(fin: Fin) -> Any:
    note_id = _claimed(fin)
    assert _withdraw(fin, note_id).status_code == 200
    return _withdraw(fin, note_id)


@pytest.mark.parametrize("case", list(WITHDRAW_CASES))
def test_withdraw_payment_claim_refusals(fin: Fin, case: str) -> None:
    make, status, slug = WITHDRAW_CASES[case]
    problem(make(fin), status, slug)
