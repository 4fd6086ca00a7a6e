"""Settling a tree that needs more than one `settleRoot` batch: the gateway answers 202 with a
settlement job (Location: /v1/settlement-jobs/{id}) and runs it in the background; the job is a SQL
row, resumes after an interruption, never pays a note twice, fails with the ledger's problem, and is
seen only by its obligor, the auditor and the operator."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from service.api.financing.settlement_jobs import SettlementJobRunner, _send_batch
from service.db.gateway_models import SettlementJob
from service.db.models import Payment
from tests.api.financing import TOKENS, Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401
from tests.contracts.helpers import set_tree_last_index

JOB_ROUTES = {("GET", "/v1/settlement-jobs/{job_id}"), ("GET", "/v1/settlement-jobs")}
"""The routes of this module (tests/api/test_authz_matrix.py counts them as covered)."""

FACE = 1_000_000


def wait_for_job(fin: Fin, location: str, who: str = "core", timeout: float = 60.0) -> dict[str, Any]:
    """Poll the job until it is done or failed; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        answer = fin.get(who, location)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def wide_tree(fin: Fin) -> tuple[str, list[str]]:
    """A matured tree whose live notes need two batches: s1's piece at index 1, then (the tree's
    last index moved to 250 in storage) s2's and s3's pieces at 251 and 252. Returns the root and
    the three live note ids."""
    root = fin.issue_to("s1", FACE, days=30)
    first, second = fin.split("s1", root, [("s1", 400_000), ("s2", 600_000)])
    with fin.context.write_lock():
        set_tree_last_index(SimpleNamespace(chain=fin.chain, ledger=fin.context.ledger), int(root), 250)  # type: ignore[arg-type]
    third, fourth = fin.split("s2", second, [("s2", 250_000), ("s3", 350_000)])
    assert (int(third) & 0xFFFFFFFF, int(fourth) & 0xFFFFFFFF) == (251, 252)
    fin.advance(31)
    return root, [first, third, fourth]


def _settle(fin: Fin, root: str, who: str = "core", **headers: str) -> Any:
    return fin.post(who, f"/v1/roots/{root}/settle", None, **headers)


def _payments_per_note(fin: Fin, notes: list[str]) -> list[int]:
    with fin.context.session() as session:
        return [
            session.scalar(select(func.count()).select_from(Payment).where(Payment.note_id == int(n))) or 0
            for n in notes
        ]


def _stop_runner(fin: Fin) -> None:
    runner = fin.context.settlement_jobs
    assert runner is not None
    runner.stop()


def _job_row(fin: Fin, job_id: str) -> SettlementJob:
    with fin.context.session() as session:
        job = session.get(SettlementJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


class Crash(BaseException):
    """The gateway process dying (not an error any handler catches)."""


# ------------------------------------------------------------------ the job
def test_a_tree_needing_several_batches_is_answered_202_with_a_job(fin: Fin) -> None:
    root, _ = wide_tree(fin)
    answer = _settle(fin, root)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["Location"] == f"/v1/settlement-jobs/{body['id']}"
    assert body["root_id"] == root and body["status"] in ("queued", "running", "done")
    assert (body["notes_total"], body["amount_total"], body["batches_total"]) == (3, str(FACE), 2)


def test_the_job_completes_with_every_note_paid_once(fin: Fin) -> None:
    root, live = wide_tree(fin)
    job = wait_for_job(fin, _settle(fin, root).headers["Location"])
    assert job["status"] == "done", job
    assert (job["batches_done"], job["batches_total"], job["notes_paid"]) == (2, 2, 3)
    assert job["amount_paid"] == str(FACE) and len(set(job["tx_hashes"])) == 2
    assert job["error"] is None and job["finished_at"] is not None
    assert (fin.balance("s1"), fin.balance("s2"), fin.balance("s3")) == (400_000, 250_000, 350_000)
    assert fin.balance("core") == TOKENS - FACE
    assert _payments_per_note(fin, live) == [1, 1, 1]
    assert {fin.note(n)["status"] for n in live} == {"settled"}


def test_a_tree_paid_in_one_batch_is_still_answered_at_once(fin: Fin) -> None:
    root = fin.issue_to("s1", FACE, days=30)
    fin.advance(31)
    answer = _settle(fin, root)
    assert answer.status_code == 200, answer.text
    assert answer.json()["notes_paid"] == 1 and "Location" not in answer.headers


def test_prefer_respond_async_gives_a_job_even_for_one_batch(fin: Fin) -> None:
    root = fin.issue_to("s1", FACE, days=30)
    fin.advance(31)
    answer = _settle(fin, root, Prefer="respond-async")
    assert answer.status_code == 202, answer.text
    job = wait_for_job(fin, answer.headers["Location"])
    assert (job["status"], job["batches_done"], job["notes_paid"]) == ("done", 1, 1)
    assert fin.balance("s1") == FACE


def test_a_second_request_while_the_job_is_unfinished_gets_that_job(fin: Fin) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    first = _settle(fin, root)
    second = _settle(fin, root)
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["id"] == first.json()["id"] and second.json()["status"] == "queued"
    assert second.headers["Location"] == first.headers["Location"]
    assert fin.balance("s1") == 0


def test_a_retried_request_with_the_same_key_replays_the_202(fin: Fin) -> None:
    root, _ = wide_tree(fin)
    first = _settle(fin, root, **{"Idempotency-Key": "settle-wide-1"})
    again = _settle(fin, root, **{"Idempotency-Key": "settle-wide-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert wait_for_job(fin, first.headers["Location"])["status"] == "done"


def test_after_a_job_is_done_the_tree_has_nothing_to_settle(fin: Fin) -> None:
    root, _ = wide_tree(fin)
    assert wait_for_job(fin, _settle(fin, root).headers["Location"])["status"] == "done"
    problem(_settle(fin, root), 409, "nothing-to-settle")


# ------------------------------------------------------------------ interruptions
def test_an_interrupted_job_resumes_and_pays_each_note_once(fin: Fin) -> None:
    """The process dies after its second batch was mined but before it was recorded; the next
    runner recovers that batch from the index and finishes without paying anything twice."""
    _stop_runner(fin)
    root, live = wide_tree(fin)
    job_id = _settle(fin, root).json()["id"]
    dying = SettlementJobRunner(fin.context)
    sent: list[int] = []

    def send_then_die(*args: Any) -> Any:
        result = _send_batch(*args)
        sent.append(args[3])
        if len(sent) == 2:
            raise Crash
        return result

    dying.send = send_then_die
    with pytest.raises(Crash):
        dying.run_job(job_id)
    row = _job_row(fin, job_id)
    assert (row.status, row.batches_done, row.pending_first) == ("running", 1, 251)
    assert _payments_per_note(fin, live) == [1, 1, 1]  # the second batch was mined

    SettlementJobRunner(fin.context).run_pending()  # a process that starts picks the job up
    job = fin.get("core", f"/v1/settlement-jobs/{job_id}").json()
    assert (job["status"], job["batches_done"], job["notes_paid"], job["amount_paid"]) == (
        "done",
        2,
        3,
        str(FACE),
    )
    assert len(set(job["tx_hashes"])) == 2
    assert _payments_per_note(fin, live) == [1, 1, 1]
    assert (fin.balance("s1"), fin.balance("s2"), fin.balance("s3")) == (400_000, 250_000, 350_000)
    assert fin.balance("core") == TOKENS - FACE


def test_a_job_stopped_before_its_batch_was_sent_sends_it_on_resume(fin: Fin) -> None:
    _stop_runner(fin)
    root, live = wide_tree(fin)
    job_id = _settle(fin, root).json()["id"]
    dying = SettlementJobRunner(fin.context)

    def die(*args: Any) -> Any:
        raise Crash

    dying.send = die
    with pytest.raises(Crash):
        dying.run_job(job_id)
    assert _job_row(fin, job_id).pending_first == 1
    assert _payments_per_note(fin, live) == [0, 0, 0]
    SettlementJobRunner(fin.context).run_pending()
    job = fin.get("core", f"/v1/settlement-jobs/{job_id}").json()
    assert (job["status"], job["batches_done"], job["notes_paid"]) == ("done", 2, 3)
    assert _payments_per_note(fin, live) == [1, 1, 1]


def test_a_batch_sent_again_pays_nothing_twice(fin: Fin) -> None:
    """The ledger's own guarantee the job relies on: settleRoot over a window already paid pays
    nothing more."""
    root, _ = wide_tree(fin)
    assert wait_for_job(fin, _settle(fin, root).headers["Location"])["status"] == "done"
    core = fin.context.keyring.account(fin.addresses["core"], _encrypted_key(fin, "core"))
    with fin.context.write_lock():
        again = fin.context.ledger.settle_root(core, int(root), 251, 2)
    assert [e for e in again.events if e.name == "NotePaid"] == []
    assert fin.balance("core") == TOKENS - FACE


def _encrypted_key(fin: Fin, who: str) -> Any:
    from service.db.gateway_models import ApiMember

    with fin.context.session() as session:
        member = session.get(ApiMember, fin.ids[who])
        assert member is not None
        return member.encrypted_key


def test_a_refused_batch_fails_the_job_with_the_ledgers_problem(fin: Fin) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    job_id = _settle(fin, root).json()["id"]
    allowance = fin.client.put(
        "/v1/settlement-tokens/USD/allowance", json={"amount": "400000"}, headers=fin.auth("core")
    )
    assert allowance.status_code == 200, allowance.text
    SettlementJobRunner(fin.context).run_pending()
    job = fin.get("core", f"/v1/settlement-jobs/{job_id}").json()
    assert (job["status"], job["batches_done"], job["notes_paid"]) == ("failed", 1, 1)
    assert job["error"]["type"] == "https://credchain.dev/errors/insufficient-settlement-allowance"
    assert (fin.balance("s1"), fin.balance("s2")) == (400_000, 0)


def test_a_new_request_after_a_failed_job_settles_the_rest(fin: Fin) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    failed_id = _settle(fin, root).json()["id"]
    headers = fin.auth("core")
    assert (
        fin.client.put(
            "/v1/settlement-tokens/USD/allowance", json={"amount": "400000"}, headers=headers
        ).status_code
        == 200
    )
    SettlementJobRunner(fin.context).run_pending()
    assert (
        fin.client.put(
            "/v1/settlement-tokens/USD/allowance", json={"amount": str(TOKENS)}, headers=headers
        ).status_code
        == 200
    )
    answer = _settle(fin, root, Prefer="respond-async")
    assert answer.status_code == 202 and answer.json()["id"] != failed_id
    SettlementJobRunner(fin.context).run_pending()
    job = fin.get("core", answer.headers["Location"]).json()
    assert (job["status"], job["notes_paid"], job["amount_paid"]) == ("done", 2, "600000")
    assert fin.balance("core") == TOKENS - FACE


# ------------------------------------------------------------------ who sees a job
@pytest.mark.parametrize("who", ["core", "auditor", "operator"])
def test_the_obligor_auditor_and_operator_read_a_job(fin: Fin, who: str) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    location = _settle(fin, root).headers["Location"]
    answer = fin.get(who, location)
    assert answer.status_code == 200 and answer.json()["root_id"] == root


@pytest.mark.parametrize("who", ["core2", "s1", "s2", "bank", "bank2"])
def test_nobody_else_sees_a_job(fin: Fin, who: str) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    location = _settle(fin, root).headers["Location"]
    problem(fin.get(who, location), 404, "settlement-job-not-found")
    assert fin.get(who, "/v1/settlement-jobs").json()["items"] == []


def test_reading_a_job_needs_an_api_key(fin: Fin) -> None:
    problem(fin.client.get("/v1/settlement-jobs/sj_0"), 401, "unauthorized")
    problem(fin.client.get("/v1/settlement-jobs"), 401, "unauthorized")


def test_an_unknown_job_is_404(fin: Fin) -> None:
    problem(fin.get("core", "/v1/settlement-jobs/sj_nope"), 404, "settlement-job-not-found")


def test_another_obligor_cannot_settle_the_tree_nor_learn_of_its_job(fin: Fin) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    assert _settle(fin, root).status_code == 202
    problem(_settle(fin, root, who="core2"), 404, "note-not-found")


def test_the_list_filters_by_root_and_status(fin: Fin) -> None:
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    job_id = _settle(fin, root).json()["id"]
    items = fin.get("core", "/v1/settlement-jobs", root=root).json()["items"]
    assert [i["id"] for i in items] == [job_id]
    assert fin.get("auditor", "/v1/settlement-jobs", status="queued").json()["items"][0]["id"] == job_id
    assert fin.get("core", "/v1/settlement-jobs", status="done").json()["items"] == []


def test_a_job_another_process_runs_is_left_to_it(fin: Fin) -> None:
    """On PostgreSQL the job's lock is an advisory lock: while another process (here another
    session with the same lock scope) holds it, this process's runner leaves the job alone."""
    from sqlalchemy import create_engine

    from service.api.financing.settlement_jobs import lock_name
    from service.db.locks import ProcessLocks
    from tests.databases import PG_URL

    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except Exception as exc:  # pragma: no cover - environment without PostgreSQL
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    _stop_runner(fin)
    root, _ = wide_tree(fin)
    job_id = _settle(fin, root).json()["id"]
    scope = f"jobs-test:{job_id}"
    other_process = ProcessLocks(engine, scope)
    saved = fin.context.locks
    fin.context.locks = ProcessLocks(engine, scope)
    try:
        with other_process.hold(lock_name(job_id)) as held:
            assert held
            SettlementJobRunner(fin.context).run_pending()
            assert _job_row(fin, job_id).status == "queued"
            assert fin.balance("s1") == 0
        SettlementJobRunner(fin.context).run_pending()
        assert _job_row(fin, job_id).status == "done"
    finally:
        fin.context.locks.close()
        other_process.close()
        fin.context.locks = saved
        engine.dispose()
