"""Fixtures of the dispatcher tests: a migrated database (SQLite and PostgreSQL) with one member
owning subscriptions, events appended straight into the log, and a receiver process."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.api.subscriptions import service
from service.api.subscriptions.schemas import SubscriptionFilters, SubscriptionIn
from service.db.gateway_models import ApiMember
from service.db.migrate import upgrade
from service.db.webhook_models import WebhookSubscription
from service.events.log import EventDraft, append_events
from service.settings import Settings
from service.webhooks.dispatcher import Dispatcher, DispatcherConfig
from service.webhooks.secrets import SecretBox
from tests.databases import TestDatabase
from tests.webhooks.support import Receiver

OWNER = "0x1111111111111111111111111111111111111111"
STRANGER = "0x2222222222222222222222222222222222222222"
FAST = DispatcherConfig(
    timeout=2.0, concurrency=8, batch=200, poll=0.02, max_failures=10_000, retry_base=0.02, retry_max=0.2
)
"""Retries every few tens of milliseconds, never paused: a receiver back is served at once."""


@dataclass
class Hooks:
    """A migrated database with a member `s1` (address OWNER) and helpers to subscribe and append."""

    db: TestDatabase
    settings: Settings

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def box(self) -> SecretBox:
        return SecretBox(self.settings.master_secret.get_secret_value())

    def subscribe(self, url: str, member_id: str = "s1", **fields: Any) -> tuple[int, str]:
        """A subscription of `member_id` to `url`: its id and secret (whsec_...)."""
        filters = SubscriptionFilters(**fields.pop("filters", {}))
        with Session(self.engine) as session:
            member = session.get(ApiMember, member_id)
            assert member is not None
            created = service.create(
                session, self.settings, member, SubscriptionIn(url=url, filters=filters, **fields)
            )
        return int(created.id), created.secret

    def append(
        self, count: int, recipient: str = OWNER, type: str = "note.received", chunk: int = 500
    ) -> list[int]:
        seqs: list[int] = []
        for start in range(0, count, chunk):
            drafts = [
                EventDraft(
                    type=type,
                    occurred_at=datetime.now(UTC),
                    data={"n": start + i, "amount": str(1000 + start + i)},
                    recipient=recipient,
                    note_id=(start + i) % 7 + 1,
                )
                for i in range(min(chunk, count - start))
            ]
            with self.engine.begin() as conn:
                seqs += append_events(conn, drafts)
        return seqs

    def subscription(self, subscription_id: int) -> WebhookSubscription:
        with Session(self.engine, expire_on_commit=False) as session:
            sub = session.get(WebhookSubscription, subscription_id)
            assert sub is not None
            return sub

    def dispatcher(self, config: DispatcherConfig = FAST, name: str = "test") -> Dispatcher:
        return Dispatcher(self.engine, self.box(), config, name=name)


def _member(member_id: str, address: str) -> ApiMember:
    return ApiMember(
        id=member_id,
        name=member_id,
        address=address,
        roles="supplier",
        api_key_hash=secrets.token_hex(32),
        custody="external",
        created_at=datetime.now(UTC),
    )


def make_hooks(db: TestDatabase) -> Hooks:
    upgrade(db.url, db.schema)
    with Session(db.engine) as session:
        session.add_all([_member("s1", OWNER), _member("s2", STRANGER)])
        session.commit()
    settings = Settings(
        rpc_url="embedded", database_url=db.url, database_schema=db.schema, webhook_allow_loopback=True
    )
    return Hooks(db, settings)


@pytest.fixture
def hooks(empty_db: TestDatabase) -> Hooks:
    """On SQLite and on PostgreSQL."""
    return make_hooks(empty_db)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A receiver process answering 204 (stopped after the test)."""
    receiver = Receiver(tmp_path / "requests.jsonl").start()
    yield receiver
    receiver.stop()


@pytest.fixture
def down_receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A receiver not yet started: its port refuses connections until `start`."""
    receiver = Receiver(tmp_path / "requests.jsonl")
    yield receiver
    receiver.stop()
