"""Settlement through the gateway: a whole tree settled after maturity (in batches when large),
partial payment, off-chain payment claimed and confirmed, overdue derived then marked, write-off;
the notes' payment fields; every 4xx of the settlement endpoints; idempotent root settlement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from service.api.tokens.service import approve_ledger
from tests.api.financing import TOKENS, Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401
from tests.api.test_settlement_jobs_api import wait_for_job

FACE = 1_000_000
GRACE_DAYS = 5


def _settle_root(fin: Fin, root: str, who: str = "core", **headers: str) -> Any:
    return fin.post(who, f"/v1/roots/{root}/settle", None, **headers)


def _settle(fin: Fin, note_id: str, who: str = "core", **body: Any) -> Any:
    return fin.post(who, f"/v1/notes/{note_id}/settle", body or None)


# ------------------------------------------------------------------ the main flow
def test_settling_a_root_after_maturity_pays_every_holder_its_piece(fin: Fin) -> None:
    """Issue 1,000,000 to s1; s1 keeps 600,000 and passes 400,000 to s2; s2 keeps 250,000 and passes
    150,000 to s3; s3 discounts its piece to the bank at 148,500. At maturity the core enterprise
    settles the root: s1 +600,000, s2 +250,000, bank +150,000, core -1,000,000."""
    root = fin.issue_to("s1", FACE, days=30)
    _, piece = fin.split("s1", root, [("s1", 600_000), ("s2", 400_000)])
    _, leaf = fin.split("s2", piece, [("s2", 250_000), ("s3", 150_000)])
    offer = fin.offer(leaf, price=148_500)
    assert fin.post("s3", f"/v1/discount-offers/{offer['id']}/accept").status_code == 200
    assert (fin.balance("s3"), fin.balance("bank")) == (148_500, TOKENS - 148_500)
    problem(_settle_root(fin, root), 409, "note-not-matured")

    fin.advance(31)
    answer = _settle_root(fin, root)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["notes_paid"] == 3 and body["total_paid"] == str(FACE)
    assert len(body["tx_hashes"]) == 1 and body["batches"][0]["tx_hash"] == body["tx_hashes"][0]
    assert fin.balance("s1") == 600_000
    assert fin.balance("s2") == 250_000
    assert fin.balance("s3") == 148_500
    assert fin.balance("bank") == TOKENS - 148_500 + 150_000
    assert fin.balance("core") == TOKENS - FACE
    tree = fin.get("auditor", f"/v1/notes/{root}/provenance").json()["tree"]
    leaves = [n for n in tree if n["status"] != "split"]
    assert {n["status"] for n in leaves} == {"settled"} and len(leaves) == 3
    assert all(n["payment_status"] == "paid" and n["paid_amount"] == n["amount"] for n in leaves)
    assert all(n["remaining"] == "0" for n in tree)
    credit = fin.get("auditor", "/v1/risk/exposure").json()["items"]
    assert next(row for row in credit if row["obligor_member"] == fin.ids["core"])["outstanding"] == "0"
    problem(_settle_root(fin, root), 409, "nothing-to-settle")


def test_a_large_tree_is_settled_by_a_job_in_batches_each_named(fin: Fin) -> None:
    root = fin.issue_to("s1", 300 * 1_000, days=30)
    children = fin.split("s1", root, [("s1", 1_000) for _ in range(99)] + [("s1", 201_000)])
    # the last child (index 100) splits again into 100 (indices 101..200), then its last into
    # 100 more (201..300): 99 + 99 + 100 live leaves at indices 1..99, 101..199, 201..300
    second = fin.split("s1", children[-1], [("s1", 1_000) for _ in range(99)] + [("s1", 102_000)])
    third = fin.split("s1", second[-1], [("s1", 1_020) for _ in range(100)])
    assert int(third[-1]) & 0xFFFFFFFF == 300
    fin.advance(31)
    answer = _settle_root(fin, root)
    assert answer.status_code == 202, answer.text
    # windows of at most 200 indices from the first payable one: [1, 199] (index 200 is split),
    # then [201, 300]
    assert answer.json()["batches_total"] == 2 and answer.json()["notes_total"] == 298
    body = wait_for_job(fin, answer.headers["Location"])
    assert body["status"] == "done" and body["batches_done"] == body["batches_total"] == 2
    assert len(body["tx_hashes"]) == 2 and len(set(body["tx_hashes"])) == 2
    assert body["notes_paid"] == 298 and body["amount_paid"] == str(300 * 1_000)
    assert fin.balance("s1") == 300 * 1_000 and fin.balance("core") == TOKENS - 300 * 1_000
    statuses = {n["status"] for n in fin.get("auditor", "/v1/notes", root=root, limit=200).json()["items"]}
    assert statuses == {"settled", "split"}


def test_a_partial_payment_leaves_the_note_live_with_the_remainder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(30)
    paid = _settle(fin, note_id, amount="300000")
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["action"] == "paid" and (body["amount"], body["remaining"]) == ("300000", "700000")
    note = body["notes"][0]
    assert note["status"] == "active" and note["payment_status"] == "partially_paid"
    assert (note["paid_amount"], note["remaining"]) == ("300000", "700000")
    assert fin.balance("s1") == 300_000
    rest = _settle(fin, note_id)
    assert rest.status_code == 200, rest.text
    assert rest.json()["amount"] == "700000" and rest.json()["remaining"] == "0"
    note = fin.note(note_id)
    assert (
        note["status"] == "settled" and note["payment_status"] == "paid" and note["paid_amount"] == str(FACE)
    )
    assert fin.balance("s1") == FACE


def test_an_off_chain_payment_is_claimed_by_the_obligor_and_confirmed_by_the_holder(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(30)
    claimed = _settle(fin, note_id, amount=400_000, payment_reference="SWIFT-77")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["action"] == "claimed" and claimed.json()["remaining"] == str(FACE)
    assert fin.note(note_id)["paid_amount"] == "0"
    confirmed = fin.post("s1", f"/v1/notes/{note_id}/confirm-payment")
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["action"] == "confirmed" and body["payment_reference"] == "SWIFT-77"
    assert body["payments"] == [
        {
            "note_id": note_id,
            "holder": fin.addresses["s1"],
            "amount": "400000",
            "remaining": "600000",
            "payment_reference": "SWIFT-77",
        }
    ]
    assert fin.note(note_id)["remaining"] == "600000"
    assert fin.balance("s1") == 0 and fin.balance("core") == TOKENS
    problem(fin.post("s1", f"/v1/notes/{note_id}/confirm-payment"), 409, "payment-claim-mismatch")


def test_overdue_is_derived_past_the_grace_period_before_anyone_marks_it(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(30 + GRACE_DAYS - 1)
    assert fin.note(note_id)["overdue"] is False
    problem(fin.post("s1", f"/v1/notes/{note_id}/mark-overdue"), 409, "not-overdue-yet")
    fin.advance(2)
    note = fin.note(note_id)
    assert note["overdue"] is True and note["status"] == "active"
    marked = fin.post("s1", f"/v1/notes/{note_id}/mark-overdue")
    assert marked.status_code == 200, marked.text
    note = fin.note(note_id)
    assert note["overdue"] is True and note["status"] == "overdue"
    problem(fin.post("s1", f"/v1/notes/{note_id}/mark-overdue"), 409, "note-not-active")
    # an overdue note is still paid in full
    assert _settle(fin, note_id).status_code == 200
    assert fin.note(note_id)["status"] == "settled"


def test_a_write_off_records_the_default_and_frees_the_credit(fin: Fin) -> None:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(30)
    assert _settle(fin, note_id, amount=250_000).status_code == 200
    problem(
        fin.post("operator", f"/v1/notes/{note_id}/write-off", {"reference": "court-1"}),
        409,
        "not-overdue-yet",
    )
    fin.advance(GRACE_DAYS + 1)
    answer = fin.post("operator", f"/v1/notes/{note_id}/write-off", {"reference": "court-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["amount"] == "750000"
    note = fin.note(note_id)
    assert note["status"] == "written_off" and note["payment_status"] == "written_off"
    assert note["remaining"] == "0" and note["overdue"] is False
    exposure = fin.get("auditor", "/v1/risk/exposure").json()["items"]
    assert next(r for r in exposure if r["obligor_member"] == fin.ids["core"])["outstanding"] == "0"


def test_settling_a_root_leaves_frozen_notes_for_later(fin: Fin) -> None:
    root = fin.issue_to("s1", FACE, days=30)
    kept, disputed = fin.split("s1", root, [("s1", 700_000), ("s2", 300_000)])
    assert fin.post("operator", f"/v1/notes/{disputed}/freeze", {"reason": "dispute"}).status_code == 200
    fin.advance(31)
    body = _settle_root(fin, root).json()
    assert body["notes_paid"] == 1 and body["payments"][0]["note_id"] == kept
    assert fin.note(disputed)["status"] == "active" and fin.balance("s2") == 0
    problem(_settle_root(fin, root), 409, "nothing-to-settle")
    assert fin.post("operator", f"/v1/notes/{disputed}/unfreeze").status_code == 200
    assert _settle_root(fin, root).json()["total_paid"] == "300000"


def test_a_retried_root_settlement_with_the_same_key_pays_once(fin: Fin) -> None:
    root = fin.issue_to("s1", FACE, days=30)
    fin.advance(31)
    first = _settle_root(fin, root, **{"Idempotency-Key": "settle-1"})
    again = _settle_root(fin, root, **{"Idempotency-Key": "settle-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert fin.balance("s1") == FACE and fin.balance("core") == TOKENS - FACE


# ------------------------------------------------------------------ every 4xx
Case = Callable[[Fin], Any]


def _matured(fin: Fin, to: str = "s1") -> str:
    note_id = fin.issue_to(to, FACE, days=30)
    fin.advance(31)
    return note_id


def _core2_note(fin: Fin) -> str:
    return fin.issue_to("s3", FACE, days=30, by="core2")


def _claimed(fin: Fin, amount: int = 400_000, reference: str = "SWIFT-1") -> str:
    note_id = _matured(fin)
    assert _settle(fin, note_id, amount=amount, payment_reference=reference).status_code == 200
    return note_id


def _frozen_matured(fin: Fin) -> str:
    note_id = _matured(fin)
    assert fin.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "x"}).status_code == 200
    return note_id


def _poor_core(fin: Fin) -> str:
    note_id = _matured(fin)
    approve_ledger(fin.context, fin.ids["core"], 10)
    return note_id


def _huge_unfunded(fin: Fin) -> str:
    note_id = fin.issue_to("s1", TOKENS + 1, days=30)
    approve_ledger(fin.context, fin.ids["core"], TOKENS + 1)
    fin.advance(31)
    return note_id


def _split_root(fin: Fin) -> tuple[str, str]:
    root = fin.issue_to("s1", FACE, days=30)
    child, _ = fin.split("s1", root, [("s1", 1), ("s2", FACE - 1)])
    return root, child


SETTLE_CASES: dict[str, tuple[Case, int, str]] = {
    # a supplier may pay (its own evidence-backed notes), not core's
    "supplier": (lambda f: _settle(f, _matured(f), who="s1"), 403, "not-obligor"),
    "financier": (lambda f: _settle(f, _matured(f), who="bank"), 403, "forbidden"),
    "other-obligor-out-of-sight": (lambda f: _settle(f, _matured(f), who="core2"), 404, "note-not-found"),
    "unknown-note": (lambda f: _settle(f, "12345"), 404, "note-not-found"),
    "not-matured": (lambda f: _settle(f, f.issue_to("s1", FACE, days=30)), 409, "note-not-matured"),
    "pending": (lambda f: _settle(f, f.issue("s1", str(FACE))), 409, "note-not-payable"),
    "split-parent": (lambda f: _settle(f, _split_root(f)[0]), 409, "note-not-payable"),
    "frozen": (lambda f: _settle(f, _frozen_matured(f)), 409, "note-frozen"),
    "more-than-remains": (lambda f: _settle(f, _matured(f), amount=str(FACE + 1)), 422, "payment-too-large"),
    "zero-amount": (lambda f: _settle(f, _matured(f), amount="0"), 422, "invalid-request"),
    "float-amount": (lambda f: _settle(f, _matured(f), amount=10.5), 422, "invalid-request"),
    "zero-reference": (
        lambda f: _settle(f, _matured(f), payment_reference="0x" + "00" * 32),
        422,
        "zero-reference",
    ),
    "too-little-allowance": (lambda f: _settle(f, _poor_core(f)), 409, "insufficient-settlement-allowance"),
    "too-few-tokens": (lambda f: _settle(f, _huge_unfunded(f)), 409, "insufficient-settlement-tokens"),
}


@pytest.mark.parametrize("case", list(SETTLE_CASES))
def test_settle_refusals(fin: Fin, case: str) -> None:
    make, status, slug = SETTLE_CASES[case]
    problem(make(fin), status, slug)


def _confirm(fin: Fin, note_id: str, who: str = "s1", **body: Any) -> Any:
    return fin.post(who, f"/v1/notes/{note_id}/confirm-payment", body or None)


def _claimed_then_frozen(fin: Fin) -> str:
    note_id = _claimed(fin)
    assert fin.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "x"}).status_code == 200
    return note_id


CONFIRM_CASES: dict[str, tuple[Case, int, str]] = {
    "out-of-sight": (lambda f: _confirm(f, _claimed(f), who="s3"), 404, "note-not-found"),
    "not-the-holder": (lambda f: _confirm(f, _claimed(f), who="core"), 403, "not-holder"),
    "no-claim": (lambda f: _confirm(f, _matured(f)), 409, "payment-claim-mismatch"),
    "other-amount": (lambda f: _confirm(f, _claimed(f), amount="1"), 409, "payment-claim-mismatch"),
    "other-reference": (
        lambda f: _confirm(f, _claimed(f), payment_reference="X"),
        409,
        "payment-claim-mismatch",
    ),
    "frozen": (lambda f: _confirm(f, _claimed_then_frozen(f)), 409, "note-frozen"),
}


@pytest.mark.parametrize("case", list(CONFIRM_CASES))
def test_confirm_payment_refusals(fin: Fin, case: str) -> None:
    make, status, slug = CONFIRM_CASES[case]
    problem(make(fin), status, slug)


def test_confirming_with_the_claimed_amount_and_reference_spelled_out_works(fin: Fin) -> None:
    note_id = _claimed(fin, 400_000, "SWIFT-9")
    answer = _confirm(fin, note_id, amount=400_000, payment_reference="SWIFT-9")
    assert answer.status_code == 200, answer.text


ROOT_CASES: dict[str, tuple[Case, int, str]] = {
    "supplier": (lambda f: _settle_root(f, _matured(f), who="s1"), 403, "not-obligor"),
    "financier": (lambda f: _settle_root(f, _matured(f), who="bank"), 403, "forbidden"),
    "other-obligor": (lambda f: _settle_root(f, _matured(f), who="core2"), 404, "note-not-found"),
    "not-a-root": (lambda f: _settle_root(f, _split_root(f)[1]), 404, "note-not-found"),
    "unknown-root": (lambda f: _settle_root(f, str(99 << 32)), 404, "note-not-found"),
    "garbage-id": (lambda f: _settle_root(f, "abc"), 404, "note-not-found"),
    "not-matured": (lambda f: _settle_root(f, f.issue_to("s1", FACE, days=30)), 409, "note-not-matured"),
    "pending-root": (lambda f: _settle_root(f, _pending_matured(f)), 409, "nothing-to-settle"),
    "too-little-allowance": (
        lambda f: _settle_root(f, _poor_core(f)),
        409,
        "insufficient-settlement-allowance",
    ),
}


def _pending_matured(fin: Fin) -> str:
    body = fin.issue_body("s1", str(FACE))
    body["maturity"] = fin.maturity(2)
    note_id: str = fin.post("core", "/v1/notes", body).json()["note_ids"][0]
    fin.advance(3)
    return note_id


@pytest.mark.parametrize("case", list(ROOT_CASES))
def test_settle_root_refusals(fin: Fin, case: str) -> None:
    make, status, slug = ROOT_CASES[case]
    problem(make(fin), status, slug)


def _overdue_ready(fin: Fin) -> str:
    note_id = fin.issue_to("s1", FACE, days=30)
    fin.advance(30 + GRACE_DAYS + 1)
    return note_id


MARK_CASES: dict[str, tuple[Case, int, str]] = {
    "out-of-sight": (
        lambda f: f.post("s3", f"/v1/notes/{_overdue_ready(f)}/mark-overdue"),
        404,
        "note-not-found",
    ),
    "too-early": (lambda f: f.post("s1", f"/v1/notes/{_matured(f)}/mark-overdue"), 409, "not-overdue-yet"),
    "pending": (
        lambda f: f.post("core", f"/v1/notes/{_pending_matured(f)}/mark-overdue"),
        409,
        "note-not-active",
    ),
}


@pytest.mark.parametrize("case", list(MARK_CASES))
def test_mark_overdue_refusals(fin: Fin, case: str) -> None:
    make, status, slug = MARK_CASES[case]
    problem(make(fin), status, slug)


def _write_off(fin: Fin, note_id: str, who: str = "operator", reference: Any = "decision-1") -> Any:
    return fin.post(who, f"/v1/notes/{note_id}/write-off", {"reference": reference})


def _settled(fin: Fin) -> str:
    note_id = _overdue_ready(fin)
    assert _settle(fin, note_id).status_code == 200
    return note_id


WRITE_OFF_CASES: dict[str, tuple[Case, int, str]] = {
    "auditor": (lambda f: _write_off(f, _overdue_ready(f), who="auditor"), 403, "forbidden"),
    "obligor": (lambda f: _write_off(f, _overdue_ready(f), who="core"), 403, "forbidden"),
    "too-early": (lambda f: _write_off(f, _matured(f)), 409, "not-overdue-yet"),
    "settled": (lambda f: _write_off(f, _settled(f)), 409, "note-not-payable"),
    "unknown": (lambda f: _write_off(f, "777"), 404, "note-not-found"),
    "zero-reference": (
        lambda f: _write_off(f, _overdue_ready(f), reference="0x" + "00" * 32),
        422,
        "zero-reference",
    ),
    "reference-too-long": (
        lambda f: _write_off(f, _overdue_ready(f), reference="r" * 33),
        422,
        "invalid-request",
    ),
    "no-reference": (
        lambda f: f.post("operator", f"/v1/notes/{_overdue_ready(f)}/write-off", {}),
        422,
        "invalid-request",
    ),
}


@pytest.mark.parametrize("case", list(WRITE_OFF_CASES))
def test_write_off_refusals(fin: Fin, case: str) -> None:
    make, status, slug = WRITE_OFF_CASES[case]
    problem(make(fin), status, slug)


def test_refused_settlements_change_nothing(fin: Fin) -> None:
    note_id = _poor_core(fin)
    before = fin.state()
    problem(_settle(fin, note_id), 409, "insufficient-settlement-allowance")
    problem(_settle_root(fin, note_id), 409, "insufficient-settlement-allowance")
    problem(_settle(fin, note_id, amount=str(FACE + 1)), 422, "payment-too-large")
    assert fin.state() == before
