"""Suspension in the gateway, on a fresh gateway per test (issue 12, finding 8): a suspension takes
effect at once whichever process indexed it, despite the per-process caller cache; a suspended
auditor loses its view of everything; reinstatement gives everything back."""

from __future__ import annotations

from sqlalchemy import update

from service.db.models import Member
from service.domain import MemberStatus
from tests.api.financing import Fin, fin_fixture, fin_template_fixture, problem

__all__ = ["fin_fixture", "fin_template_fixture"]


def test_suspended_auditor_loses_its_view_of_everything(fin: Fin) -> None:
    note = fin.issue_to("s1", 1_000)
    assert fin.get("auditor", f"/v1/notes/{note}").status_code == 200
    answer = fin.post("operator", f"/v1/members/{fin.ids['auditor']}/suspend")
    assert answer.status_code == 200, answer.text
    problem(fin.get("auditor", f"/v1/notes/{note}"), 404, "note-not-found")
    problem(fin.get("auditor", "/v1/risk/exposure"), 403, "member-suspended")
    assert fin.get("auditor", "/v1/notes").json()["items"] == []


def test_suspension_indexed_by_another_process_takes_effect_at_once_despite_the_caller_cache(
    fin: Fin,
) -> None:
    """The caller cache holds s1 as active; another process's indexer then records the suspension
    in SQL (here: the same UPDATE it would make). The next request sees it."""
    root = fin.issue_to("s1", 1_000)
    _, passed = fin.split("s1", root, [("s1", 600), ("s2", 400)])
    assert fin.get("s1", f"/v1/notes/{passed}").status_code == 200  # caches s1 (active)
    assert fin.get("s1", f"/v1/notes/{passed}/provenance").status_code == 200
    with fin.context.session() as session:
        session.execute(
            update(Member)
            .where(Member.address == fin.addresses["s1"])
            .values(status=int(MemberStatus.SUSPENDED))
        )
        session.commit()
    problem(fin.get("s1", f"/v1/notes/{passed}"), 404, "note-not-found")
    problem(fin.get("s1", f"/v1/notes/{passed}/provenance"), 403, "member-suspended")
    problem(fin.get("s1", "/v1/members"), 403, "member-suspended")
    with fin.context.session() as session:
        session.execute(
            update(Member)
            .where(Member.address == fin.addresses["s1"])
            .values(status=int(MemberStatus.ACTIVE))
        )
        session.commit()
    assert fin.get("s1", f"/v1/notes/{passed}").status_code == 200  # reinstated: at once too


def test_reinstated_member_may_act_again(fin: Fin) -> None:
    note = fin.issue_to("s1", 1_000)
    for action in ("suspend", "reinstate"):
        answer = fin.post("operator", f"/v1/members/{fin.ids['s1']}/{action}")
        assert answer.status_code == 200, answer.text
    answer = fin.post("s1", f"/v1/notes/{note}/transfer", {"to": fin.ids["s2"]})
    assert answer.status_code == 200, answer.text
