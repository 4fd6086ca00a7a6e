"""The chaos workload: concurrent clients (threads), each writing one story after another (issue,
accept, split, transfer), every write with an Idempotency-Key of its own, sent again with the SAME
key on every 5xx, connection error and `409 idempotency-key-in-use` (honouring Retry-After) until a
final answer or a bounded time; every answer recorded."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from service.api.problems import ERRORS_BASE, PROBLEM_JSON

FACE = 1_000
KEY_IN_USE = ERRORS_BASE + "idempotency-key-in-use"
RETRY_AFTER_CAP = 2.0
"""Longest pause between two attempts, whatever Retry-After says (bounds the run)."""
PAUSE = 0.2
"""Pause before sending again after a connection error or a 5xx without Retry-After."""


@dataclass(frozen=True)
class Answer:
    """One attempt: the HTTP status and content type and JSON body, or the connection error."""

    status: int | None
    content_type: str = ""
    body: Any = None
    error: str | None = None
    retry_after: float | None = None
    """Retry-After in seconds, capped at RETRY_AFTER_CAP."""

    @property
    def problem_type(self) -> str:
        return str(self.body.get("type", "")) if isinstance(self.body, dict) else ""

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.problem_type == KEY_IN_USE

    def __str__(self) -> str:
        if self.status is None:
            return f"connection error ({self.error})"
        detail = self.problem_type.removeprefix(ERRORS_BASE) or (
            self.body.get("tx_hash", "") if isinstance(self.body, dict) else str(self.body)[:80]
        )
        return f"{self.status} {self.content_type} {detail}"


@dataclass
class Write:
    """One write a client means to happen once: who sends it, what, under which key."""

    scenario: str
    client: int
    step: str
    """issue, accept, split, transfer, offer, payment or take-offer."""
    member: str
    method: str
    path: str
    body: Any
    intent: dict[str, Any]
    """What the write does, for checking the chain: document_hash, note_id, holder, to, ..."""
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    answers: list[Answer] = field(default_factory=list)
    final: Answer | None = None
    """The first non-retryable answer (None: none came within the bound)."""
    replay: Answer | None = None
    replay_answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0
    """From the first attempt to the final answer (or giving up)."""
    previous: Write | None = None
    """The write before this one in its client's story (what this one builds on)."""

    @property
    def succeeded(self) -> bool:
        return self.final is not None and self.final.status is not None and 200 <= self.final.status < 300

    def __str__(self) -> str:
        return f"[{self.scenario} client {self.client} {self.step} {self.method} {self.path} key {self.key}]"


@dataclass
class Members:
    """API keys, member ids and custodial addresses of the consortium."""

    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)


class Gateway:
    """Sends a `Write` until it has a final answer (one requests.Session per thread)."""

    def __init__(self, base: str, members: Members, *, request_seconds: float, write_seconds: float) -> None:
        self.base = base
        self.members = members
        self.request_seconds = request_seconds
        self.write_seconds = write_seconds
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def attempt(self, write: Write) -> Answer:
        headers = {"Authorization": f"Bearer {self.members.keys[write.member]}", "Idempotency-Key": write.key}
        try:
            url = self.base + write.path
            response = self.session.request(
                write.method, url, json=write.body, headers=headers, timeout=self.request_seconds
            )
        except requests.RequestException as exc:
            self._local.session = None  # a fresh connection next time
            return Answer(None, error=type(exc).__name__)
        content_type = response.headers.get("content-type", "")
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        return Answer(response.status_code, content_type, body, retry_after=_seconds(response.headers))

    def send(self, write: Write, answers: list[Answer]) -> Answer | None:
        """Send until a final answer (appended to `answers` with every attempt); None past the bound."""
        deadline = time.monotonic() + self.write_seconds
        while True:
            answer = self.attempt(write)
            answers.append(answer)
            if not answer.retryable:
                return answer
            pause = answer.retry_after if answer.retry_after is not None else PAUSE
            if time.monotonic() + pause > deadline:
                return None
            time.sleep(pause)


def _seconds(headers: Any) -> float | None:
    """Retry-After (delta-seconds) capped at RETRY_AFTER_CAP; None if absent or not a number."""
    try:
        return min(RETRY_AFTER_CAP, max(0.0, float(headers["retry-after"])))
    except (KeyError, ValueError):
        return None


def is_problem(answer: Answer) -> bool:
    return answer.content_type.startswith(PROBLEM_JSON)


def maturity_in(now: int, days: int = 90) -> str:
    return datetime.fromtimestamp(now + days * 86_400, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Story:
    """One client's writes: issue to its supplier, accept, split (a part to the next supplier),
    transfer of the part kept to the next supplier, and the bank's discount of the part the next
    supplier got (an off-ledger offer, its payment recorded, the holder's acceptance); stops at the
    first write without a 2xx answer."""

    scenario: str
    client: int
    supplier: str
    next_supplier: str
    maturity: str
    deadline: str
    """Of the discount offers (before `maturity`)."""
    writes: list[Write] = field(default_factory=list)

    def run(self, gateway: Gateway, members: Members, on_answer: Any) -> None:
        ids = members.ids
        document = "0x" + uuid.uuid4().hex * 2
        issue = self._write(
            "issue",
            "core",
            "POST",
            "/v1/notes",
            {
                "to": ids[self.supplier],
                "amount": str(FACE),
                "currency": "USD",
                "maturity": self.maturity,
                "document_hash": document,
                "reference": f"chaos-{document[2:18]}",
            },
            {"document_hash": document, "holder": members.addresses[self.supplier]},
        )
        if not self._send(issue, gateway, on_answer):
            return
        root = issue.final.body["note_ids"][0]  # type: ignore[union-attr]
        path = f"/v1/notes/{root}/accept"
        accept = self._write("accept", self.supplier, "POST", path, None, {"note_id": root})
        if not self._send(accept, gateway, on_answer):
            return
        parts = [
            {"to": ids[self.next_supplier], "amount": str(FACE * 4 // 10)},
            {"to": ids[self.supplier], "amount": str(FACE * 6 // 10)},
        ]
        split = self._write(
            "split", self.supplier, "POST", f"/v1/notes/{root}/split", {"parts": parts}, {"note_id": root}
        )
        if not self._send(split, gateway, on_answer):
            return
        kept = split.final.body["note_ids"][1]  # type: ignore[union-attr]
        transfer = self._write(
            "transfer",
            self.supplier,
            "POST",
            f"/v1/notes/{kept}/transfer",
            {"to": ids[self.next_supplier]},
            {"note_id": kept, "to": members.addresses[self.next_supplier]},
        )
        if not self._send(transfer, gateway, on_answer):
            return
        # the bank buys the part sent to the next supplier, paid off the ledger
        part = split.final.body["note_ids"][0]  # type: ignore[union-attr]
        bank = members.addresses["bank"]
        offer = self._write(
            "offer",
            "bank",
            "POST",
            f"/v1/notes/{part}/discount-offers",
            {"price": str(FACE * 4 // 10 - 10), "deadline": self.deadline, "off_chain": True},
            {"note_id": part, "financier": bank},
        )
        if not self._send(offer, gateway, on_answer):
            return
        offer_id = offer.final.body["offer"]["id"]  # type: ignore[union-attr]
        reference = {"reference": f"wire-{uuid.uuid4().hex[:12]}"}
        path = f"/v1/discount-offers/{offer_id}"
        payment = self._write("payment", "bank", "POST", f"{path}/payment", reference, {"offer_id": offer_id})
        if not self._send(payment, gateway, on_answer):
            return
        intent = {"note_id": part, "to": bank}
        self._send(
            self._write("take-offer", self.next_supplier, "POST", f"{path}/accept", None, intent),
            gateway,
            on_answer,
        )

    def _write(
        self, step: str, member: str, method: str, path: str, body: Any, intent: dict[str, Any]
    ) -> Write:
        write = Write(self.scenario, self.client, step, member, method, path, body, intent)
        write.previous = self.writes[-1] if self.writes else None
        self.writes.append(write)
        return write

    @staticmethod
    def _send(write: Write, gateway: Gateway, on_answer: Any) -> bool:
        started = time.monotonic()
        write.final = gateway.send(write, write.answers)
        write.seconds = time.monotonic() - started
        on_answer()
        return write.succeeded


class Load:
    """`clients` threads writing stories until told to stop (and at least `rounds` stories each);
    `progress` counts final answers so a fault can wait for the load to be under way."""

    def __init__(
        self,
        scenario: str,
        gateway: Gateway,
        members: Members,
        suppliers: list[str],
        maturity: str,
        deadline: str,
        rounds: int,
    ) -> None:
        self.scenario = scenario
        self.gateway = gateway
        self.members = members
        self.suppliers = suppliers
        self.maturity = maturity
        self.deadline = deadline
        self.rounds = rounds
        self.stories: list[Story] = []
        self._done = 0
        self._running = len(suppliers)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True, name=f"chaos-{scenario}-{i}")
            for i in range(len(suppliers))
        ]

    @property
    def writes(self) -> list[Write]:
        return [w for story in self.stories for w in story.writes]

    def _answered(self) -> None:
        with self._cond:
            self._done += 1
            self._cond.notify_all()

    def _client(self, i: int) -> None:
        try:
            self._stories(i)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _stories(self, i: int) -> None:
        """Stories one after another (a broken one -- a write without a 2xx -- ends early, and the
        next begins) until told to stop, and at least `rounds` of them."""
        n = len(self.suppliers)
        story_count = 0
        while story_count < self.rounds or not self._stop.is_set():
            story = Story(
                self.scenario, i, self.suppliers[i], self.suppliers[(i + 1) % n], self.maturity, self.deadline
            )
            with self._cond:
                self.stories.append(story)
            story.run(self.gateway, self.members, self._answered)
            story_count += 1

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def await_answers(self, more: int, seconds: float) -> bool:
        """Wait until `more` further final answers (or failed sends) came in; False after `seconds`
        or once no client is running any more."""
        with self._cond:
            target = self._done + more
            self._cond.wait_for(lambda: self._done >= target or not self._running, timeout=seconds)
            return self._done >= target

    def finish(self, seconds: float) -> list[str]:
        """Tell the clients to stop after their current story; the names of those still running."""
        self._stop.set()
        deadline = time.monotonic() + seconds
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]
