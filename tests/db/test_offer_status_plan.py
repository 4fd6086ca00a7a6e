"""GET /v1/discount-offers?status=expired&limit=1 on PostgreSQL: the offers are found through the
caller's (financier | holder, status, deadline) indexes, not by reading its whole history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from service.api.financing.queries import offer_status_condition, offer_visibility, offers_with_status
from service.db.gateway_models import ApiMember
from service.db.models import Base, DiscountOffer, Note
from service.domain import INDEX_BITS, NoteStatus
from tests.databases import TestDatabase

BANK = "0x" + "BA" * 20
SELLERS = ["0x" + f"{i:040x}" for i in range(1, 41)]
NOW = 1_800_000_000


@pytest.fixture
def session(empty_db: TestDatabase) -> Iterator[Session]:
    if empty_db.kind != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    Base.metadata.create_all(empty_db.engine)
    with Session(empty_db.engine) as session:
        yield session


def _history(session: Session) -> list[int]:
    """BANK's offers: 4,000 closed (accepted or cancelled), 1,000 open within their deadline, 3
    expired; other financiers' offers besides. Returns the expired ids."""
    notes, offers = [], []
    for i in range(6_000):
        note_id = (i + 1) << INDEX_BITS
        holder = SELLERS[i % len(SELLERS)]
        notes.append(
            {
                "id": note_id,
                "root_id": note_id,
                "parent_id": None,
                "depth": 0,
                "holder": holder,
                "obligor": "0x" + "0B" * 20,
                "amount": 1000,
                "currency": "USD",
                "maturity": NOW + 90 * 86_400,
                "document_hash": f"0x{i:064x}",
                "status": int(NoteStatus.ACTIVE),
                "frozen": False,
                "created_block": 1,
                "created_tx": "0x" + "00" * 32,
                "updated_block": 1,
            }
        )
        mine = i < 5_003
        status = "open" if i >= 4_000 else ("accepted" if i % 2 else "cancelled")
        offers.append(
            {
                "id": i + 1,
                "note_id": note_id,
                "root_id": note_id,
                "financier": BANK if mine else "0x" + "B2" * 20,
                "holder": holder,
                "price": 990,
                "deadline": NOW - 10 if 5_000 <= i < 5_003 else NOW + 86_400,
                "off_chain": False,
                "status": status,
                "payment_reference": None,
                "created_block": 2,
                "created_tx": f"0x{i:064x}",
                "closed_block": None,
                "closed_tx": None,
            }
        )
    session.execute(insert(Note), notes)
    session.execute(insert(DiscountOffer), offers)
    session.commit()
    session.execute(text("ANALYZE"))
    return [5_001, 5_002, 5_003]


def test_expired_offers_of_a_financier_are_found_through_its_status_deadline_index(session: Session) -> None:
    expired = _history(session)
    member = ApiMember(id="m_bank", name="bank", address=BANK, roles="financier", custody="custodial")
    visible = offer_visibility(member)
    assert visible is not None
    stmt = (
        offers_with_status(NOW)
        .where(*offer_status_condition("expired", NOW), visible)
        .order_by(DiscountOffer.id)
        .limit(2)
    )
    rows = session.execute(stmt).all()
    assert [o.id for o, _ in rows] == expired[:2] and {s for _, s in rows} == {"expired"}
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(str(r[0]) for r in session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_discount_offers_financier_status_deadline" in plan, plan
    assert "Seq Scan on discount_offers" not in plan, plan
