"""Chaos: `credchain run --workers 2` on anvil + PostgreSQL, written to by concurrent clients that
send every write again with the same Idempotency-Key on 5xx and connection errors, while the suite
kills it (supervisor alone, whole process group), takes the node away and black-holes it, drops the
answers to `eth_sendRawTransaction`, terminates its PostgreSQL backends and reverts blocks. After each
scenario: no 5xx that is not problem+json (no 500 at all), every final answer agrees with the chain,
re-sending every key creates no transaction, reconcile finds 0 differences. See docs/chaos.md.

Small by default (3 clients, one story each per scenario); CREDCHAIN_CHAOS_SCALE=N runs N+2 clients,
N stories each, and N times as many backend terminations and reorgs.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest

from tests.api.test_e2e_http import reconcile_gateway
from tests.chaos.rig import NO_FAULTS, Rig, await_condition, drop_schema, start_rig
from tests.chaos.verdict import check_answers, check_chain, check_replays
from tests.chaos.workload import Gateway, Load, Members, Write, maturity_in

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.xdist_group("chaos")]

SCALE = max(1, int(os.environ.get("CREDCHAIN_CHAOS_SCALE", "1")))
CLIENTS = SCALE + 2
ROUNDS = SCALE
OUTAGE_SECONDS = 3.0
"""How long the node stays away, and stays black-holed (the fault itself, not a wait)."""
WRITE_SECONDS = 45.0
"""A client gives up on a write (no final answer: a failure) after this long."""
REQUEST_SECONDS = 25.0
LOAD_SECONDS = 60.0
"""Longest wait for the load to make progress before (and between) faults."""


@dataclass
class Chaos:
    rig: Rig
    members: Members
    gateway: Gateway
    suppliers: list[str]
    maturity: str
    deadline: str


def _onboard(rig: Rig) -> tuple[Members, Gateway, list[str]]:
    """The operator onboards a core enterprise, a bank and a supplier per client; the core approves
    the bank, which grants it a limit (all through the retrying client: the same checks apply)."""
    members = Members(keys={"operator": rig.operator_key})
    gateway = Gateway(rig.base, members, request_seconds=REQUEST_SECONDS, write_seconds=WRITE_SECONDS)
    suppliers = [f"s{i}" for i in range(CLIENTS)]
    roles = {"core": ["core_enterprise"], "bank": ["financier"], **{s: ["supplier"] for s in suppliers}}
    setup: list[Write] = []

    def write(member: str, path: str, body: object) -> Write:
        w = Write("setup", 0, "setup", member, "POST", path, body, {})
        w.final = gateway.send(w, w.answers)
        setup.append(w)
        assert w.succeeded, f"{w}: {[str(a) for a in w.answers]}\n{rig.log_tail()}"
        return w

    for name, member_roles in roles.items():
        answer = write("operator", "/v1/members", {"name": name, "roles": member_roles}).final
        assert answer is not None
        members.keys[name] = answer.body["api_key"]
        members.ids[name] = answer.body["id"]
        members.addresses[name] = answer.body["address"]
    write("core", "/v1/credit-relationships", {"financier": members.ids["bank"]})
    write("bank", "/v1/credit-limits", {"obligor": members.ids["core"], "amount": str(10**15)})
    return members, gateway, suppliers


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    rig = start_rig(tmp_path_factory.mktemp("chaos"))
    try:
        started = time.monotonic()
        members, gateway, suppliers = _onboard(rig)
        print(f"chaos onboarding: {time.monotonic() - started:.1f} s")
        now = int(rig.w3.eth.get_block("latest")["timestamp"])
        yield Chaos(rig, members, gateway, suppliers, maturity_in(now, 90), maturity_in(now, 30))
    finally:
        rig.close()
        rig.node.stop()
        drop_schema(rig.schema)


def _ensure_running(rig: Rig) -> None:
    """A scenario starts with a gateway answering (a previous one may have left it dead)."""
    if rig.process is None or rig.process.poll() is not None:
        rig.stop()
        rig.start()


def run_scenario(chaos: Chaos, name: str, fault: Callable[[Load], None], *, reorg: bool = False) -> None:
    """Put the load on, apply `fault` once it is under way, let the clients finish, then check."""
    rig = chaos.rig
    _ensure_running(rig)
    findings_before = len(rig.findings)
    started = time.monotonic()
    load = Load(
        name, chaos.gateway, chaos.members, chaos.suppliers, chaos.maturity, chaos.deadline, ROUNDS
    ).start()
    notes = []
    if not load.await_answers(CLIENTS, LOAD_SECONDS):
        notes.append("the load made no progress before the fault")
    fault(load)
    still_running = load.finish(WRITE_SECONDS * 4 + LOAD_SECONDS)
    writes = load.writes
    failures = [f"rig: {f}" for f in rig.findings[findings_before:]]
    failures += [f"clients still running: {still_running}"] if still_running else []
    failures += check_answers(writes)
    failures += check_chain(rig, writes, reorg=reorg)
    failures += check_replays(rig, chaos.gateway, chaos.members, writes, reorg=reorg)
    failures += check_answers(writes, replays=True)
    if not rig.index_caught_up():
        failures.append("the index did not reach the chain's head within 30 s")
    where = {"rpc_url": rig.node.url, "schema": rig.schema, "contract": rig.contract}
    reconcile = reconcile_gateway({**where, "from_block": rig.from_block})
    if reconcile.returncode != 0 or not reconcile.stdout.strip().endswith(": 0 differences"):
        failures.append(f"reconcile: {reconcile.stdout.strip()[-3000:]} {reconcile.stderr[-2000:]}")
    slowest = max((w.seconds for w in writes), default=0.0)
    statuses = Counter(
        f"{a.status} {a.content_type}" if (a.status or 0) >= 500 else str(a.status or a.error)
        for w in writes
        for a in w.answers
    )
    summary = (
        f"chaos {name}: {len(writes)} writes, {sum(statuses.values())} attempts {dict(statuses)}, "
        f"{time.monotonic() - started:.1f} s, slowest write {slowest:.1f} s; "
        f"proxy {dict(rig.faulty.counts)}; {'; '.join(notes)}"
    )
    print(summary)
    if failures:
        listed = "\n  ".join(failures[:60])
        more = f"\n  ... and {len(failures) - 60} more" if len(failures) > 60 else ""
        tail = rig.log_tail()
        pytest.fail(f"{summary}\n{len(failures)} failures:\n  {listed}{more}\ngateway log tail:\n{tail}")


def test_kill_of_the_supervisor_under_load(chaos: Chaos) -> None:
    run_scenario(chaos, "kill-supervisor", lambda load: chaos.rig.kill_supervisor())


def test_kill_of_the_process_group_under_load(chaos: Chaos) -> None:
    run_scenario(chaos, "kill-group", lambda load: chaos.rig.kill_group())


def test_node_away_and_black_holed_under_load(chaos: Chaos) -> None:
    rig = chaos.rig

    def fault(load: Load) -> None:
        rig.tcp.down()
        time.sleep(OUTAGE_SECONDS)
        rig.tcp.up()
        load.await_answers(1, LOAD_SECONDS)
        rig.faulty.black_hole()
        time.sleep(OUTAGE_SECONDS)
        rig.faulty.release()

    run_scenario(chaos, "node-away", fault)


def test_lost_answers_to_send_raw_transaction(chaos: Chaos) -> None:
    rig = chaos.rig

    def fault(load: Load) -> None:
        rig.faulty.faults = replace(NO_FAULTS, send_answer_drop=0.5)
        target = rig.faulty.counts["send_answer_dropped"] + CLIENTS
        rig.faulty.enabled = True
        try:
            await_condition(lambda: rig.faulty.counts["send_answer_dropped"] >= target, LOAD_SECONDS, 0.1)
        finally:
            rig.faulty.enabled = False
            rig.faulty.faults = NO_FAULTS

    run_scenario(chaos, "send-answer-dropped", fault)


def test_database_backends_terminated_under_load(chaos: Chaos) -> None:
    rig = chaos.rig

    def fault(load: Load) -> None:
        for _ in range(2 * SCALE):
            rig.terminate_backends()
            load.await_answers(1, LOAD_SECONDS)
        rig.terminate_backends()

    run_scenario(chaos, "pg-backends-terminated", fault)


def test_blocks_reverted_under_load(chaos: Chaos) -> None:
    rig = chaos.rig

    def fault(load: Load) -> None:
        for _ in range(SCALE):
            snapshot = rig.rpc("evm_snapshot")
            load.await_answers(2, LOAD_SECONDS)
            rig.rpc("evm_revert", snapshot)
            load.await_answers(1, LOAD_SECONDS)
            depth = 2 if rig.head() >= 2 else 1
            rig.rpc("anvil_reorg", depth, [])
            load.await_answers(1, LOAD_SECONDS)

    run_scenario(chaos, "reorg", fault, reorg=True)
