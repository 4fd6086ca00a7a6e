"""Idempotency-Key: an action happens at most once per key, whatever fails after its transaction was
signed (receipt polls, the node, the process), records expire, secrets are never stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from service.api.idempotency import LeaseKeeper, LeaseLost, RecordJournal
from service.api.idempotency_expiry import IdempotencySweeper, purge_expired
from service.db.gateway_models import ApiMember, IdempotencyRecord
from service.ledger.errors import LedgerUnavailable, TransactionTimeout
from tests.api.conftest import Gateway

KEY = "Idempotency-Key"


class Crash(Exception):
    """The process dies here (nothing after it runs: no cleanup of the key's record)."""


def problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["type"].endswith("/" + slug)
    return body


@pytest.fixture
def broadcasts(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every raw transaction the gateway's ledger client broadcasts."""
    sender = gw.context.ledger.sender
    send_raw = sender._send_raw
    sent: list[bytes] = []

    def counted(raw: bytes) -> str:
        sent.append(bytes(raw))
        return send_raw(raw)

    monkeypatch.setattr(sender, "_send_raw", counted)
    return sent


def receipt_fails_once(gw: Gateway, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The next receipt poll raises `error` (the transaction was broadcast and is mined)."""
    sender = gw.context.ledger.sender
    receipt = sender._receipt

    def failing(tx_hash: str) -> Any:
        monkeypatch.setattr(sender, "_receipt", receipt)
        raise error

    monkeypatch.setattr(sender, "_receipt", failing)


def died(answer: Any) -> None:
    """The attempt died mid-write (`Crash`): the caller got the gateway's 500 problem and nothing
    after the crash ran."""
    problem(answer, 500, "internal-error")


def simulate_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing attempt leaves its record exactly as a dead process would (lease live)."""
    monkeypatch.setattr("service.api.idempotency._failed", lambda *args: None)


def record(gw: Gateway, member: str, key: str) -> IdempotencyRecord | None:
    with gw.context.session() as session:
        found = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.member_id == gw.ids[member], IdempotencyRecord.key == key
            )
        ).first()
        if found is not None:
            session.expunge(found)
        return found


def expire_lease(gw: Gateway, member: str, key: str) -> None:
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.member_id == gw.ids[member], IdempotencyRecord.key == key)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()


def notes_of(gw: Gateway, who: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = gw.get(who, "/v1/notes").json()["items"]
    return items


# ------------------------------------------------------------------ a lost receipt poll
def test_a_retry_after_a_receipt_poll_failure_does_not_send_again(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    body = gw.issue_body()
    receipt_fails_once(gw, monkeypatch, LedgerUnavailable("connection reset by peer"))
    first = gw.post("core", "/v1/notes", body, **{KEY: "poll-1"})
    failed = problem(first, 503, "ledger-unavailable")
    assert first.headers["retry-after"] == "1"
    assert len(failed["tx_hashes"]) == 1 and len(broadcasts) == 1

    retry = gw.post("core", "/v1/notes", body, **{KEY: "poll-1"})
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == failed["tx_hashes"][0]
    assert len(broadcasts) == 1
    assert len(notes_of(gw, "core")) == 1
    again = gw.post("core", "/v1/notes", body, **{KEY: "poll-1"})
    assert again.json() == retry.json() and again.headers["idempotent-replayed"] == "true"


def test_a_deposit_retried_after_a_receipt_poll_failure_mints_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    assert gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"}).status_code == 201
    body = {"member": gw.ids["bank"], "amount": "500", "reference": "wire 1"}
    receipt_fails_once(gw, monkeypatch, LedgerUnavailable("HTTP 502 from the node"))
    sent_before = len(broadcasts)
    first = gw.post("operator", "/v1/settlement-tokens/USD/deposits", body, **{KEY: "dep-1"})
    problem(first, 503, "ledger-unavailable")
    for _ in range(3):
        retry = gw.post("operator", "/v1/settlement-tokens/USD/deposits", body, **{KEY: "dep-1"})
        assert retry.status_code == 200, retry.text
        assert retry.json()["account"]["balance"] == "500"
    assert len(broadcasts) == sent_before + 1


# ------------------------------------------------------------------ a process that died
def test_a_retry_while_the_lease_is_live_is_refused_with_retry_after(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = gw.issue_body()
    simulate_crash(monkeypatch)
    receipt_fails_once(gw, monkeypatch, Crash())
    died(gw.post("core", "/v1/notes", body, **{KEY: "crash-0"}))
    busy = gw.post("core", "/v1/notes", body, **{KEY: "crash-0"})
    problem(busy, 409, "idempotency-key-in-use")
    assert 1 <= int(busy.headers["retry-after"]) <= gw.context.settings.idempotency_lease_seconds


def test_a_retry_after_a_crash_with_the_transaction_recorded_resolves_it_from_the_chain(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    body = gw.issue_body()
    simulate_crash(monkeypatch)
    receipt_fails_once(gw, monkeypatch, Crash())
    died(gw.post("core", "/v1/notes", body, **{KEY: "crash-1"}))
    stuck = record(gw, "core", "crash-1")
    assert stuck is not None and stuck.status_code is None and len(stuck.transactions) == 1
    assert len(broadcasts) == 1

    expire_lease(gw, "core", "crash-1")
    retry = gw.post("core", "/v1/notes", body, **{KEY: "crash-1"})
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == stuck.transactions[0]["hash"]
    assert retry.json()["notes"][0]["status"] == "pending"
    assert len(broadcasts) == 1
    assert len(notes_of(gw, "core")) == 1
    done = record(gw, "core", "crash-1")
    assert done is not None and done.status_code == 201 and done.lease_owner is None


def test_a_retry_after_a_crash_before_broadcast_runs_the_write_anew(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    body = gw.issue_body()
    simulate_crash(monkeypatch)
    sender = gw.context.ledger.sender
    estimate = sender._estimate

    def dies(call: dict[str, Any]) -> int:
        monkeypatch.setattr(sender, "_estimate", estimate)
        raise Crash()

    monkeypatch.setattr(sender, "_estimate", dies)
    died(gw.post("core", "/v1/notes", body, **{KEY: "crash-2"}))
    stuck = record(gw, "core", "crash-2")
    assert stuck is not None and stuck.transactions == [] and not broadcasts
    problem(gw.post("core", "/v1/notes", body, **{KEY: "crash-2"}), 409, "idempotency-key-in-use")

    expire_lease(gw, "core", "crash-2")
    retry = gw.post("core", "/v1/notes", body, **{KEY: "crash-2"})
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert len(broadcasts) == 1 and len(notes_of(gw, "core")) == 1


def test_a_write_of_two_transactions_interrupted_between_them_finishes_the_rest_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    """Registering a settlement token deploys it, then registers it with the ledger: the process dies
    after the deployment was mined, before the registration was signed; the retry registers the
    token it deployed (no second deployment) and answers the whole write."""
    sent_before = len(broadcasts)
    simulate_crash(monkeypatch)
    sender = gw.context.ledger.sender
    estimate = sender._estimate
    estimates: list[object] = []

    def second_dies(call: dict[str, Any]) -> int:
        estimates.append(call)
        if len(estimates) == 2:
            raise Crash()
        return estimate(call)

    monkeypatch.setattr(sender, "_estimate", second_dies)
    died(gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"}, **{KEY: "usd-1"}))
    monkeypatch.setattr(sender, "_estimate", estimate)
    assert len(broadcasts) == sent_before + 1
    expire_lease(gw, "operator", "usd-1")
    retry = gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"}, **{KEY: "usd-1"})
    assert retry.status_code == 201, retry.text
    assert len(broadcasts) == sent_before + 2
    assert gw.context.ledger.settlement_token("USD") == retry.json()["token"]["token"]


# ------------------------------------------------------------------ secrets and expiry
def test_a_replayed_onboarding_has_no_api_key(gw: Gateway) -> None:
    body = {"name": "Pistons", "roles": ["supplier"]}
    first = gw.post("operator", "/v1/members", body, **{KEY: "onboard-1"})
    assert first.status_code == 201, first.text
    api_key = first.json()["api_key"]
    assert api_key
    replay = gw.post("operator", "/v1/members", body, **{KEY: "onboard-1"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["api_key"] is None
    assert "credchain keys issue" in replay.json()["api_key_note"]
    assert replay.json()["id"] == first.json()["id"]
    stored = record(gw, "operator", "onboard-1")
    assert stored is not None and api_key not in str(stored.response_body)
    assert stored.answer_inputs is None  # the encrypted key it carried is dropped with the answer
    me = gw.client.get(f"/v1/members/{first.json()['id']}", headers={"Authorization": f"Bearer {api_key}"})
    assert me.status_code == 200


def test_an_onboarding_resolved_after_a_crash_creates_the_member_once(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"name": "Crankshafts", "roles": ["supplier"]}
    simulate_crash(monkeypatch)
    receipt = gw.context.ledger.sender._receipt

    def dies(tx_hash: str) -> Any:
        raise Crash()

    monkeypatch.setattr(gw.context.ledger.sender, "_receipt", dies)
    died(gw.post("operator", "/v1/members", body, **{KEY: "onboard-2"}))
    monkeypatch.setattr(gw.context.ledger.sender, "_receipt", receipt)
    expire_lease(gw, "operator", "onboard-2")
    retry = gw.post("operator", "/v1/members", body, **{KEY: "onboard-2"})
    assert retry.status_code == 201, retry.text
    assert retry.json()["api_key"]  # never shown before: shown now, once
    with gw.context.session() as session:
        named = session.scalars(select(ApiMember).where(ApiMember.name == "Crankshafts")).all()
    assert [m.id for m in named] == [retry.json()["id"]]
    replay = gw.post("operator", "/v1/members", body, **{KEY: "onboard-2"})
    assert replay.json()["api_key"] is None


def test_expired_records_are_deleted_in_batches(gw: Gateway) -> None:
    for i in range(5):
        answer = gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: f"old-{i}"})
        assert answer.status_code == 201, answer.text
    fresh = gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: "fresh"})
    assert fresh.status_code == 201
    past = datetime.now(UTC) - timedelta(seconds=1)
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key.like("old-%")).values(expires_at=past)
        )
        session.commit()
    assert purge_expired(gw.context, batch=2) == 5
    with gw.context.session() as session:
        keys = session.scalars(select(IdempotencyRecord.key)).all()
    assert keys == ["fresh"]


def test_a_record_expires_after_the_configured_ttl(gw: Gateway) -> None:
    before = datetime.now(UTC)
    assert gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: "ttl"}).status_code == 201
    stored = record(gw, "core", "ttl")
    assert stored is not None
    expires = stored.expires_at.replace(tzinfo=UTC) if stored.expires_at.tzinfo is None else stored.expires_at
    ttl = timedelta(seconds=gw.context.settings.idempotency_ttl_seconds)
    assert before + ttl <= expires <= datetime.now(UTC) + ttl


def test_a_retry_after_expiry_is_a_new_request(gw: Gateway) -> None:
    body = gw.issue_body()
    first = gw.post("core", "/v1/notes", body, **{KEY: "late"})
    assert first.status_code == 201
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "late")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    again = gw.post("core", "/v1/notes", body, **{KEY: "late"})
    # a new request: the ledger refuses the same invoice twice, it is not replayed
    problem(again, 409, "document-already-used")
    assert "idempotent-replayed" not in again.headers


def test_another_members_key_of_the_same_name_is_its_own(gw: Gateway) -> None:
    assert gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"}).status_code == 201
    mine = gw.post(
        "operator",
        "/v1/settlement-tokens/USD/deposits",
        {"member": gw.ids["bank"], "amount": "5", "reference": "w"},
        **{KEY: "shared-name"},
    )
    assert mine.status_code == 200
    theirs = gw.client.put(
        "/v1/settlement-tokens/USD/allowance",
        json={"amount": "1"},
        headers={**gw.auth("bank"), KEY: "shared-name"},
    )
    assert theirs.status_code == 200, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["tx_hash"] != mine.json()["tx_hash"]


def test_the_lease_is_refreshed_while_the_write_works(gw: Gateway) -> None:
    gw.context.settings = gw.context.settings.model_copy(update={"idempotency_lease_seconds": 0.3})
    assert gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: "lease"}).status_code == 201
    stored = record(gw, "core", "lease")
    assert stored is not None
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == stored.id)
            .values(lease_owner="me", lease_expires_at=datetime.now(UTC), status_code=None)
        )
        session.commit()
    with LeaseKeeper(gw.context, stored.id, "me"):
        time.sleep(0.5)
        renewed = record(gw, "core", "lease")
    assert renewed is not None and renewed.lease_expires_at is not None
    expires = renewed.lease_expires_at
    expires = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
    assert expires > datetime.now(UTC)


def test_a_receipt_timeout_keeps_the_key_for_a_retry_to_resolve(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, broadcasts: list[bytes]
) -> None:
    body = gw.issue_body()
    receipt_fails_once(gw, monkeypatch, TransactionTimeout("no receipt in time"))
    first = gw.post("core", "/v1/notes", body, **{KEY: "timeout-1"})
    problem(first, 504, "transaction-timeout")
    assert first.headers["retry-after"] == "1"
    retry = gw.post("core", "/v1/notes", body, **{KEY: "timeout-1"})
    assert retry.status_code == 201 and len(broadcasts) == 1


def test_a_request_whose_lease_was_taken_over_broadcasts_nothing(gw: Gateway) -> None:
    assert gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: "taken"}).status_code == 201
    stored = record(gw, "core", "taken")
    assert stored is not None
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == stored.id)
            .values(lease_owner="the-request-that-took-over", status_code=None)
        )
        session.commit()
    journal = RecordJournal(gw.context, stored.id, "a-stalled-request", [])
    with pytest.raises(LeaseLost):
        journal.before_broadcast("0x" + "ab" * 32, b"raw")
    after = record(gw, "core", "taken")
    assert after is not None and after.transactions == stored.transactions


def test_an_onboarding_records_the_funding_and_the_onboarding_before_broadcasting_each(gw: Gateway) -> None:
    answer = gw.post("operator", "/v1/members", {"name": "Valves", "roles": ["supplier"]}, **{KEY: "fund"})
    assert answer.status_code == 201, answer.text
    stored = record(gw, "operator", "fund")
    assert stored is not None
    assert [(t["step"], t["last"]) for t in stored.transactions] == [({}, False), ({"step": "onboard"}, True)]
    assert stored.transactions[1]["hash"] == answer.json()["tx_hash"]
    funding = gw.chain.w3.eth.get_transaction(stored.transactions[0]["hash"])
    assert funding["to"] == answer.json()["address"]


def test_the_sweeper_deletes_expired_records_in_the_background(gw: Gateway) -> None:
    assert gw.post("core", "/v1/notes", gw.issue_body(), **{KEY: "swept"}).status_code == 201
    with gw.context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "swept")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    gw.context.settings = gw.context.settings.model_copy(update={"idempotency_sweep_seconds": 0.05})
    sweeper = IdempotencySweeper(gw.context)
    sweeper.start()
    try:
        deadline = time.monotonic() + 5
        while record(gw, "core", "swept") is not None:
            assert time.monotonic() < deadline, "not swept"
            time.sleep(0.05)
    finally:
        sweeper.stop()
