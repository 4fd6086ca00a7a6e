"""The webhook dispatcher against a real receiver process, on SQLite and PostgreSQL: at least once,
in order per subscription, signatures checked by `standardwebhooks`, never skipped."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.subscriptions import service
from service.api.subscriptions.schemas import ReplayIn
from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.db.webhook_models import WebhookDelivery
from service.events.log import last_sequence
from service.webhooks.dispatcher import DispatcherConfig, DispatcherThread
from tests.webhooks.conftest import OWNER, STRANGER, Hooks
from tests.webhooks.support import Receiver, verified, wait_for


def seqs_of(bodies: list[dict[str, object]]) -> list[int]:
    return [int(str(b["id"]).removeprefix("evt_")) for b in bodies]


def test_receiver_down_under_load_then_back_gets_every_event_once_in_order(
    hooks: Hooks, down_receiver: Receiver
) -> None:
    sub_id, secret = hooks.subscribe(down_receiver.url())
    thread = DispatcherThread(hooks.dispatcher())
    thread.start()
    try:
        sent = hooks.append(2_000)  # while the receiver's port refuses connections
        wait_for(lambda: hooks.subscription(sub_id).total_failures >= 3, timeout=30)
        assert down_receiver.records() == []
        down_receiver.start()
        wait_for(lambda: hooks.subscription(sub_id).cursor == sent[-1], timeout=120)
    finally:
        thread.stop()
    bodies = verified(down_receiver.records(), secret)
    assert seqs_of(bodies) == sent  # all, in order, no duplicate (no dispatcher crashed)
    assert [b["data"]["n"] for b in bodies] == list(range(2_000))  # type: ignore[index]
    assert hooks.subscription(sub_id).status == "active"


def test_a_failed_delivery_is_logged_with_its_error_and_retried_as_the_next_attempt(
    hooks: Hooks, down_receiver: Receiver
) -> None:
    sub_id, _ = hooks.subscribe(down_receiver.url())
    (seq,) = hooks.append(1)
    dispatcher = hooks.dispatcher()
    asyncio.run(dispatcher.deliver_pending())
    time.sleep(0.25)  # past the backoff
    asyncio.run(dispatcher.deliver_pending())
    down_receiver.start()
    time.sleep(0.25)
    asyncio.run(dispatcher.deliver_pending())
    with Session(hooks.engine) as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [(r.event_seq, r.attempt, r.status_code) for r in rows] == [
        (seq, 1, None),
        (seq, 2, None),
        (seq, 3, 204),
    ]
    assert "ClientConnectorError" in (rows[0].error or "")
    assert hooks.subscription(sub_id).consecutive_failures == 0


def test_consecutive_failures_pause_the_subscription_and_raise_an_alert_to_its_owner(
    hooks: Hooks, tmp_path: object, down_receiver: Receiver
) -> None:
    down_receiver.status = 500
    down_receiver.start()
    sub_id, _ = hooks.subscribe(down_receiver.url())
    (seq,) = hooks.append(1)
    config = DispatcherConfig(timeout=2.0, poll=0.02, max_failures=3, retry_base=0.01, retry_max=0.02)
    dispatcher = hooks.dispatcher(config)
    for _ in range(10):
        asyncio.run(dispatcher.deliver_pending())
        time.sleep(0.05)
    sub = hooks.subscription(sub_id)
    assert (sub.status, sub.consecutive_failures, sub.cursor) == ("paused", 3, seq - 1)
    assert sub.pause_reason is not None and "3 consecutive failed deliveries" in sub.pause_reason
    assert len(down_receiver.records()) == 3  # then no more attempts: paused, the event still waiting
    with Session(hooks.engine) as session:
        alert = session.scalars(select(DomainEvent).where(DomainEvent.type == "alert.raised")).one()
    assert alert.recipient == OWNER
    assert alert.data["subscription_id"] == str(sub_id)
    assert alert.data["waiting_event_seq"] == seq
    assert alert.data["last_status_code"] == 500


def test_resume_after_a_pause_delivers_the_waiting_event(hooks: Hooks, down_receiver: Receiver) -> None:
    down_receiver.status = 500
    down_receiver.start()
    sub_id, secret = hooks.subscribe(down_receiver.url())
    (seq,) = hooks.append(1)
    dispatcher = hooks.dispatcher(DispatcherConfig(max_failures=1, retry_base=0.01, retry_max=0.02))
    asyncio.run(dispatcher.deliver_pending())
    assert hooks.subscription(sub_id).status == "paused"
    down_receiver.control(status=200)
    with Session(hooks.engine) as session:
        owner = session.get(ApiMember, "s1")
        assert owner is not None
        service.resume(session, owner, str(sub_id))
    asyncio.run(dispatcher.deliver_pending())
    bodies = verified(down_receiver.records(), secret)
    # the 500 answered, then the waiting event again, then the pause's own alert (to its owner)
    assert seqs_of(bodies) == [seq, seq, seq + 1]
    assert [b["type"] for b in bodies] == ["note.received", "note.received", "alert.raised"]
    assert hooks.subscription(sub_id).cursor == seq + 1


def test_replay_resends_events_with_the_same_webhook_id(hooks: Hooks, receiver: Receiver) -> None:
    sub_id, secret = hooks.subscribe(receiver.url())
    sent = hooks.append(5)
    dispatcher = hooks.dispatcher()
    asyncio.run(dispatcher.deliver_pending())
    first = verified(receiver.records(), secret)
    with Session(hooks.engine) as session:
        owner = session.get(ApiMember, "s1")
        assert owner is not None
        service.replay(session, owner, str(sub_id), ReplayIn(from_seq=sent[2]))
    asyncio.run(dispatcher.deliver_pending())
    bodies = verified(receiver.records(), secret)
    assert seqs_of(bodies) == sent + sent[2:]
    assert [b["id"] for b in bodies[5:]] == [b["id"] for b in first[2:]]
    assert bodies[5:] == first[2:]  # the same event, byte for byte once parsed


def test_only_events_the_owner_may_see_and_its_types_are_delivered(hooks: Hooks, receiver: Receiver) -> None:
    sub_id, secret = hooks.subscribe(receiver.url(), event_types=["note.received"])
    mine = hooks.append(3)
    hooks.append(3, recipient=STRANGER)  # another member's events
    hooks.append(2, type="note.split")  # a type not subscribed
    asyncio.run(hooks.dispatcher().deliver_pending())
    assert seqs_of(verified(receiver.records(), secret)) == mine
    with hooks.engine.connect() as conn:
        assert hooks.subscription(sub_id).cursor == last_sequence(conn)  # passed over the others


def test_a_note_filter_delivers_only_that_notes_events(hooks: Hooks, receiver: Receiver) -> None:
    _, secret = hooks.subscribe(receiver.url(), filters={"note_id": 3})
    sent = hooks.append(14)  # note ids cycle 1..7
    asyncio.run(hooks.dispatcher().deliver_pending())
    bodies = verified(receiver.records(), secret)
    assert seqs_of(bodies) == [sent[2], sent[9]]
    assert {b["note_id"] for b in bodies} == {"3"}


def test_a_redirect_is_not_followed_but_counted_as_a_failure(hooks: Hooks, receiver: Receiver) -> None:
    receiver.control(status=307)
    sub_id, _ = hooks.subscribe(receiver.url())
    (seq,) = hooks.append(1)
    asyncio.run(hooks.dispatcher().deliver_pending())
    sub = hooks.subscription(sub_id)
    assert (sub.cursor, sub.consecutive_failures, sub.last_error) == (seq - 1, 1, "HTTP 307")
    assert len(receiver.records()) == 1
