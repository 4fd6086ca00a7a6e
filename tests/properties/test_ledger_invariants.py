"""Stateful property test: random sequences of ledger operations, by the right and the wrong
parties, checked step by step against a pure-Python model and the invariants of DESIGN.md:

1. for every root, the live notes' amounts sum to the root's face amount (nothing is settled yet;
   a rejected or revoked root releases its whole face);
2. no note reaches a non-member or a suspended member;
3. a consumed (split), rejected or revoked note never changes again;
4. an obligor's outstanding face amount never exceeds its credit limit at issuance;
5. only the holder moves a note, only the obligor revokes it, only the operator freezes it
   (every operation is also attempted by other parties and must be refused with the model's error).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from service.domain import MemberStatus, NoteStatus, Role
from service.ledger.client import NoteState, SplitPart, TxResult
from service.ledger.errors import LedgerRevert
from tests.consortium import DAY, Consortium
from tests.properties.ledger_model import HOLDER_ROLES, LedgerModel, ModelMember, Refused

T = TypeVar("T")
CREDIT_LIMIT = 20_000
TERMINAL = (NoteStatus.SPLIT, NoteStatus.REJECTED, NoteStatus.REVOKED)
LIVE = (NoteStatus.PENDING, NoteStatus.ACTIVE)
PENDING = (NoteStatus.PENDING,)
ACTIVE = (NoteStatus.ACTIVE,)
EXAMPLES = int(os.environ.get("CREDCHAIN_PROPERTY_EXAMPLES", "10"))
STEPS = int(os.environ.get("CREDCHAIN_PROPERTY_STEPS", "40"))

ACTORS = ["core", "s0", "s1", "s2", "bank", "auditor", "outsider"]
actor_names = st.sampled_from(ACTORS)
# Mostly parties that may hold notes, sometimes anyone: most operations should go through.
holder_names = st.sampled_from(["s0", "s1", "s2", "bank"] * 3 + ACTORS)
mostly_true = st.sampled_from([True, True, True, True, False])
note_picks = st.integers(min_value=0, max_value=10_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, consortium: Consortium) -> None:
        super().__init__()
        self.c = consortium
        self.snapshot = consortium.chain.snapshot()
        self.actors: dict[str, LocalAccount] = {
            "core": consortium.core,
            "s0": consortium.suppliers[0],
            "s1": consortium.suppliers[1],
            "s2": consortium.suppliers[2],
            "bank": consortium.bank,
            "auditor": consortium.auditor,
            "outsider": consortium.outsider,
            "operator": consortium.operator,
        }
        roles = {
            "core": Role.CORE_ENTERPRISE,
            "s0": Role.SUPPLIER,
            "s1": Role.SUPPLIER,
            "s2": Role.SUPPLIER,
            "bank": Role.FINANCIER,
            "auditor": Role.AUDITOR,
        }
        self.model = LedgerModel(operator=consortium.operator.address)
        for name, role in roles.items():
            self.model.members[self.actors[name].address] = ModelMember(roles=role)
        consortium.ledger.set_credit_limit(consortium.bank, consortium.core.address, CREDIT_LIMIT)
        self.model.limits[consortium.core.address] = CREDIT_LIMIT
        self.documents: list[bytes] = []
        self.terminal_states: dict[int, NoteState] = {}
        self.holders: dict[int, str] = {}

    def teardown(self) -> None:
        self.c.chain.revert(self.snapshot)
        for account in self.actors.values():
            self.c.ledger.nonces.forget(account.address)

    # ------------------------------------------------------------------ helpers
    def _attempt(self, predict: Callable[[], T], act: Callable[[], TxResult]) -> tuple[T, TxResult] | None:
        """Run `act` on the ledger; it must succeed iff the model's `predict` does, and fail with
        the model's custom error otherwise. The model is rolled back when it predicts a refusal."""
        saved = copy.deepcopy(self.model)
        try:
            expected = predict()
        except Refused as refusal:
            self.model = saved
            with pytest.raises(LedgerRevert) as raised:
                act()
            assert raised.value.error_name == refusal.name, (raised.value, refusal.name)
            event(f"refused: {refusal.name}")
            return None
        result = act()
        event(f"done: {result.events[0].name if result.events else 'no event'}")
        return expected, result

    def _has(self, statuses: tuple[NoteStatus, ...]) -> bool:
        return any(n.status in statuses for n in self.model.notes.values())

    def _note(self, pick: int, fitting: bool = True, statuses: tuple[NoteStatus, ...] = LIVE) -> int:
        """A known note, newest first: when `fitting`, one whose status is in `statuses` (if any),
        so that operations mostly go through; otherwise any note."""
        ids = sorted(self.model.notes, reverse=True)
        fit = [i for i in ids if self.model.notes[i].status in statuses]
        pool = fit if fitting and fit else ids
        return pool[pick % len(pool)]

    def _sender(self, note_id: int, by_holder: bool, other: str) -> LocalAccount:
        if by_holder:
            holder = self.model.notes[note_id].holder
            for account in self.actors.values():
                if account.address == holder:
                    return account
        return self.actors[other]

    # ------------------------------------------------------------------ rules
    @initialize(amounts=st.lists(st.integers(2, 5_000), min_size=2, max_size=2))
    def two_accepted_notes(self, amounts: list[int]) -> None:
        """Start every run with two active notes, so that splits and transfers have material."""
        for name, amount in zip(("s0", "s1"), amounts, strict=True):
            self.issue(to=name, amount=amount, days=120, reuse=False, by="core")
            self.accept(pick=0, live=True, by_holder=True, other=name)

    @rule(
        to=st.sampled_from(["s0", "s1", "s2"] * 4 + ACTORS),
        amount=st.integers(0, 6_000),
        days=st.integers(20, 210),
        reuse=st.sampled_from([False, False, False, False, True]),
        by=st.sampled_from(["core"] * 8 + ["s0", "bank"]),
    )
    def issue(self, to: str, amount: int, days: int, reuse: bool, by: str) -> None:
        document = (
            self.documents[amount % len(self.documents)]
            if reuse and self.documents
            else self.c.next_document()
        )
        now = self.c.chain.now()
        maturity = now + (days if days <= 200 else 400) * DAY + DAY // 2
        sender, holder = self.actors[by], self.actors[to]
        outcome = self._attempt(
            lambda: self.model.issue(sender.address, holder.address, amount, maturity, document, now),
            lambda: self.c.ledger.issue(sender, holder.address, amount, "USD", maturity, document),
        )
        if outcome is not None:
            expected_id, result = outcome
            assert result.created_note_ids() == [expected_id]
            self.documents.append(document)

    @precondition(lambda self: self._has(PENDING))
    @rule(pick=note_picks, live=mostly_true, by_holder=mostly_true, other=actor_names)
    def accept(self, pick: int, live: bool, by_holder: bool, other: str) -> None:
        note_id = self._note(pick, live, PENDING)
        sender = self._sender(note_id, by_holder, other)
        now = self.c.chain.now()
        self._attempt(
            lambda: self.model.accept(sender.address, note_id, now),
            lambda: self.c.ledger.accept(sender, note_id),
        )

    @precondition(lambda self: self._has(PENDING))
    @rule(pick=note_picks, live=mostly_true, by_holder=st.booleans(), other=actor_names)
    def reject(self, pick: int, live: bool, by_holder: bool, other: str) -> None:
        note_id = self._note(pick, live, PENDING)
        sender = self._sender(note_id, by_holder, other)
        self._attempt(
            lambda: self.model.reject(sender.address, note_id),
            lambda: self.c.ledger.reject(sender, note_id),
        )

    @precondition(lambda self: self._has(PENDING))
    @rule(pick=note_picks, live=mostly_true, by=st.sampled_from(["core", "core", "s0", "operator"]))
    def revoke(self, pick: int, live: bool, by: str) -> None:
        note_id = self._note(pick, live, PENDING)
        sender = self.actors[by]
        self._attempt(
            lambda: self.model.revoke(sender.address, note_id),
            lambda: self.c.ledger.revoke(sender, note_id),
        )

    @precondition(lambda self: self._has(ACTIVE))
    @rule(
        pick=note_picks,
        active=mostly_true,
        by_holder=mostly_true,
        other=actor_names,
        recipients=st.lists(holder_names, min_size=2, max_size=4),
        one_part=st.sampled_from([False] * 9 + [True]),
        cuts=st.lists(st.integers(1, 99), min_size=3, max_size=3),
        error=st.sampled_from([0, 0, 0, 0, 1, -1]),
    )
    def split(
        self,
        pick: int,
        active: bool,
        by_holder: bool,
        other: str,
        recipients: list[str],
        cuts: list[int],
        error: int,
        one_part: bool,
    ) -> None:
        note_id = self._note(pick, active, ACTIVE)
        if one_part:
            recipients = recipients[:1]
        sender = self._sender(note_id, by_holder, other)
        total = self.model.notes[note_id].amount
        n = len(recipients)
        weights = [*cuts[: n - 1], 50]
        amounts = [max(total * w // sum(weights), 1) for w in weights[:-1]]
        amounts.append(max(total - sum(amounts) + error, 0))
        parts = [(self.actors[r].address, a) for r, a in zip(recipients, amounts, strict=True)]
        now = self.c.chain.now()
        outcome = self._attempt(
            lambda: self.model.split(sender.address, note_id, parts, now),
            lambda: self.c.ledger.split(sender, note_id, [SplitPart(to, a) for to, a in parts]),
        )
        if outcome is not None:
            children, result = outcome
            assert result.created_note_ids() == children

    @precondition(lambda self: self._has(ACTIVE))
    @rule(pick=note_picks, active=mostly_true, by_holder=mostly_true, other=actor_names, to=holder_names)
    def transfer(self, pick: int, active: bool, by_holder: bool, other: str, to: str) -> None:
        note_id = self._note(pick, active, ACTIVE)
        sender = self._sender(note_id, by_holder, other)
        recipient = self.actors[to]
        now = self.c.chain.now()
        self._attempt(
            lambda: self.model.transfer(sender.address, note_id, recipient.address, now),
            lambda: self.c.ledger.transfer(sender, note_id, recipient.address),
        )

    @precondition(lambda self: self.model.notes)
    @rule(
        pick=note_picks,
        live=mostly_true,
        by=st.sampled_from(["operator", "operator", "operator", "s0"]),
        skip=st.integers(0, 2),
    )
    def freeze(self, pick: int, live: bool, by: str, skip: int) -> None:
        """Freeze a note, one time in three (a frozen note blocks most other rules)."""
        if skip:
            return
        note_id = self._note(pick, live)
        sender = self.actors[by]
        self._attempt(
            lambda: self.model.freeze(sender.address, note_id),
            lambda: self.c.ledger.freeze(sender, note_id, b"court order"),
        )

    @precondition(lambda self: any(n.frozen for n in self.model.notes.values()))
    @rule(pick=note_picks, by=st.sampled_from(["operator", "operator", "operator", "s0"]))
    def unfreeze(self, pick: int, by: str) -> None:
        frozen = sorted(i for i, n in self.model.notes.items() if n.frozen)
        note_id = frozen[pick % len(frozen)]
        sender = self.actors[by]
        self._attempt(
            lambda: self.model.unfreeze(sender.address, note_id),
            lambda: self.c.ledger.unfreeze(sender, note_id),
        )

    @rule(
        who=actor_names,
        wrong_way=st.sampled_from([False] * 4 + [True]),
        by=st.sampled_from(["operator"] * 4 + ["s1"]),
        skip=st.integers(0, 2),
    )
    def change_membership(self, who: str, wrong_way: bool, by: str, skip: int) -> None:
        """Suspend an active member or reinstate a suspended one (sometimes the wrong way round).
        One rule for both, acting one time in three, so that membership churn does not crowd out
        the note operations."""
        if skip:
            return
        sender, account = self.actors[by], self.actors[who]
        member = self.model.members.get(account.address)
        active = member is None or member.status == MemberStatus.ACTIVE
        if active != wrong_way:
            self._attempt(
                lambda: self.model.suspend(sender.address, account.address),
                lambda: self.c.ledger.suspend_member(sender, account.address),
            )
        else:
            self._attempt(
                lambda: self.model.reinstate(sender.address, account.address),
                lambda: self.c.ledger.reinstate_member(sender, account.address),
            )

    @rule(days=st.integers(1, 60), skip=st.integers(0, 2))
    def advance_time(self, days: int, skip: int) -> None:
        """Move the clock (one time in three, so that notes do not all mature early)."""
        if not skip:
            self.c.chain.advance_time(days * DAY)

    # ------------------------------------------------------------------ invariants, read from the chain
    def _chain_notes(self) -> dict[int, NoteState]:
        return {note_id: self.c.ledger.get_note(note_id) for note_id in self.model.notes}

    @invariant()
    def chain_agrees_with_the_model_and_the_invariants_hold(self) -> None:
        chain_notes = self._chain_notes()
        # The model and the chain agree on every note and member.
        for note_id, expected in self.model.notes.items():
            actual = chain_notes[note_id]
            seen = (actual.holder, actual.amount, actual.status, actual.frozen, actual.root_id)
            assert seen == (
                expected.holder,
                expected.amount,
                expected.status,
                expected.frozen,
                expected.root_id,
            )
        assert self.c.ledger.root_count() == self.model.root_count
        for address, member in self.model.members.items():
            assert self.c.ledger.get_member(address).status == member.status
        self._check_sums(chain_notes)
        self._check_new_holders(chain_notes)
        self._check_terminal_notes_never_change(chain_notes)
        self._check_credit()

    def _check_sums(self, chain_notes: dict[int, NoteState]) -> None:
        """Invariant 1: live amounts + released amount = root face, per root."""
        live: dict[int, int] = {}
        for note in chain_notes.values():
            if note.status.is_live:
                live[note.root_id] = live.get(note.root_id, 0) + note.amount
        for root_id, root in self.model.roots.items():
            root_note = chain_notes[root_id]
            released = (
                root_note.amount if root_note.status in (NoteStatus.REJECTED, NoteStatus.REVOKED) else 0
            )
            assert live.get(root_id, 0) + released == root.face == root_note.amount

    def _check_new_holders(self, chain_notes: dict[int, NoteState]) -> None:
        """Invariant 2: a note that reached a holder in this step reached an active member that may
        hold notes (issuance to a non-supplier is refused: the model checks that)."""
        for note_id, note in chain_notes.items():
            if self.holders.get(note_id) == note.holder:
                continue
            member = self.c.ledger.get_member(note.holder)
            assert member.status == MemberStatus.ACTIVE
            assert member.roles & HOLDER_ROLES
            self.holders[note_id] = note.holder

    def _check_terminal_notes_never_change(self, chain_notes: dict[int, NoteState]) -> None:
        """Invariant 3."""
        for note_id, note in chain_notes.items():
            frozen_state = self.terminal_states.get(note_id)
            if frozen_state is not None:
                assert note == frozen_state
            elif note.status in TERMINAL:
                self.terminal_states[note_id] = note

    def _check_credit(self) -> None:
        """Invariant 4: outstanding = live roots' face, never above the limit."""
        limit, outstanding = self.c.ledger.credit_of(self.c.core.address)
        assert outstanding == self.model.outstanding.get(self.c.core.address, 0)
        assert outstanding <= limit == CREDIT_LIMIT


def test_random_operation_sequences_keep_the_ledger_invariants(_deployed: Consortium) -> None:
    def factory() -> Any:
        return LedgerMachine(_deployed)

    run_state_machine_as_test(
        factory,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
