"""Stateful property test: random sequences of ledger and settlement-token operations, by the right
and the wrong parties, checked step by step against a pure-Python model and the invariants of
DESIGN.md:

1. for every root: face = live notes' unpaid remainders + paid (settled or in part) + written off
   (+ the whole face when a pending root was rejected or revoked), read from the ledger's views and
   events as well as from the model;
2. no note reaches a non-member or a suspended member;
3. a consumed (split), rejected, revoked, settled or written-off note never changes again;
4. an obligor's outstanding amount is the sum of its live notes' unpaid remainders and never exceeds
   its credit limit at issuance; its limit is the sum of the grants of the financiers it approved
   (a withdrawal removes the grant at once), and only an approved financier grants;
5. only the holder moves or sells a note, only the obligor revokes, pays or settles it, only the
   operator freezes or writes it off, only a financier discounts it (every operation is also
   attempted by other parties and must be refused with the model's error);
6. settlement tokens are conserved: total supply = minted - burned = the sum of the members'
   balances, and every balance and allowance is the model's;
7. a note is paid at most once in total: its NotePaid amounts sum to what the model paid, never more
   than its face, and to its face once settled;
8. evidence-backed receivables: records, attestations and receivables are the model's; a supplier's
   receivables count against its own limit, and no evidence operation (registering, attesting,
   revoking, originating) ever changes a buyer's credit: only a conversion moves a receivable onto
   the buyer's outstanding.

Supplier s0 registers trade records against the core enterprise (and sometimes the wrong party
does, or against the wrong buyer), a data provider attests and revokes, s0 originates receivables on
attested invoices (then split, sold, paid and settled by s0 like any note), and the core converts
some.

Discount offers are made, cancelled, paid off-chain and accepted (delivery versus payment), and
tried again once void (the note moved or was frozen), expired, cancelled or accepted: such attempts
must be refused with the model's error and change nothing. Time moves (past maturities, past
maturity + grace), so that notes are paid in part or in full, in tokens or off-chain (claim, then
confirmation), settled by root in batches, marked overdue and written off. A EUR token is deployed
but registered only by a rule, so that operations in EUR are refused until then.

Scale with CREDCHAIN_PROPERTY_EXAMPLES / _STEPS; CREDCHAIN_PROPERTY_STATS=1 (with pytest -s) prints
how often each rule went through or was refused, and why.
"""

from __future__ import annotations

import copy
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import hypothesis
import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from service.domain import MAX_SETTLE_BATCH, MemberStatus, NoteStatus, Role
from service.ledger.client import SettlementTokenClient
from service.ledger.errors import LedgerRevert
from service.ledger.types import SplitPart, TxResult, reference_bytes
from tests.consortium import DAY, Consortium, new_account
from tests.properties.ledger_model import (
    HOLDER_ROLES,
    MAX_UINT256,
    PAYABLE,
    LedgerModel,
    ModelEvidence,
    ModelMember,
    ModelNote,
    ModelToken,
    Refused,
)
from tests.properties.views import LatestViews

T = TypeVar("T")
CREDIT_LIMIT = 20_000
TERMINAL = (
    NoteStatus.SPLIT,
    NoteStatus.REJECTED,
    NoteStatus.REVOKED,
    NoteStatus.SETTLED,
    NoteStatus.WRITTEN_OFF,
)
RELEASED = (NoteStatus.REJECTED, NoteStatus.REVOKED)
LIVE = (NoteStatus.PENDING, NoteStatus.ACTIVE, NoteStatus.OVERDUE)
PENDING = (NoteStatus.PENDING,)
ACTIVE = (NoteStatus.ACTIVE,)
EXAMPLES = int(os.environ.get("CREDCHAIN_PROPERTY_EXAMPLES", "10"))
STEPS = int(os.environ.get("CREDCHAIN_PROPERTY_STEPS", "40"))
STATS = os.environ.get("CREDCHAIN_PROPERTY_STATS") == "1"
outcomes: Counter[str] = Counter()
# Settlement tokens every run starts with (minted and approved to the ledger once, before the runs).
OPENING_TOKENS = {"core": 20_000, "bank": 10_000, "s0": 10_000}
SUPPLIER_LIMIT = 12_000
"""The bank's grant to supplier s0, the obligor of its own evidence-backed receivables."""
ZERO_REFERENCE = b"\0" * 32

ACTORS = ["core", "s0", "s1", "s2", "bank", "auditor", "dp", "outsider"]
actor_names = st.sampled_from(ACTORS)
# Mostly parties that may hold notes, sometimes anyone: most operations should go through.
holder_names = st.sampled_from(["s0", "s1", "s2", "bank"] * 3 + ACTORS)
mostly_true = st.sampled_from([True, True, True, True, False])
rarely_true = st.sampled_from([False, False, False, False, True])
picks = st.integers(min_value=0, max_value=10_000)
note_picks = picks
currencies = st.sampled_from(["USD", "USD", "USD", "EUR"])


@dataclass
class Setup:
    """What every run starts from: the consortium with a EUR token deployed (not registered), the core's
    credit limit, and the opening settlement-token balances."""

    c: Consortium
    data_provider: LocalAccount
    tokens: dict[str, SettlementTokenClient]
    balances: dict[str, dict[str, int]]
    allowances: dict[str, dict[str, int]]


def prepare(c: Consortium) -> Setup:
    eur = SettlementTokenClient.deploy(c.ledger, c.operator, "EUR")
    c.ledger.set_credit_limit(c.bank, c.core.address, CREDIT_LIMIT)
    supplier = c.suppliers[0]
    c.ledger.approve_financier(supplier, c.bank.address)
    c.ledger.set_credit_limit(c.bank, supplier.address, SUPPLIER_LIMIT)
    data_provider = new_account(c.chain)
    c.ledger.onboard_member(c.operator, data_provider.address, Role.DATA_PROVIDER)
    payers = {"core": c.core, "bank": c.bank, "s0": supplier}
    for name, amount in OPENING_TOKENS.items():
        c.fund_tokens(payers[name], amount)
    tokens = {"USD": c.token, "EUR": eur}
    accounts = [c.operator, c.core, *c.suppliers, c.bank, c.auditor, data_provider, c.outsider]
    balances = {cur: {a.address: t.balance_of(a.address) for a in accounts} for cur, t in tokens.items()}
    allowances = {
        cur: {a.address: t.allowance(a.address, c.ledger.address) for a in payers.values()}
        for cur, t in tokens.items()
    }
    return Setup(c, data_provider, tokens, balances, allowances)


def event(label: str) -> None:
    """Count an outcome for Hypothesis' statistics and for CREDCHAIN_PROPERTY_STATS."""
    hypothesis.event(label)
    if STATS:
        outcomes[label] += 1


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, setup: Setup) -> None:
        super().__init__()
        consortium = setup.c
        self.c = consortium
        self.token_clients = setup.tokens
        self.snapshot = consortium.chain.snapshot()
        self.views = LatestViews(consortium.chain)
        self.actors: dict[str, LocalAccount] = {
            "core": consortium.core,
            "s0": consortium.suppliers[0],
            "s1": consortium.suppliers[1],
            "s2": consortium.suppliers[2],
            "bank": consortium.bank,
            "auditor": consortium.auditor,
            "dp": setup.data_provider,
            "outsider": consortium.outsider,
            "operator": consortium.operator,
        }
        self.by_address = {account.address: account for account in self.actors.values()}
        roles = {
            "core": Role.CORE_ENTERPRISE,
            "s0": Role.SUPPLIER,
            "s1": Role.SUPPLIER,
            "s2": Role.SUPPLIER,
            "bank": Role.FINANCIER,
            "auditor": Role.AUDITOR,
            "dp": Role.DATA_PROVIDER,
        }
        self.model = LedgerModel(operator=consortium.operator.address)
        for name, role in roles.items():
            self.model.members[self.actors[name].address] = ModelMember(roles=role)
        self.model.limits[consortium.core.address] = CREDIT_LIMIT
        self.model.grants[(consortium.bank.address, consortium.core.address)] = CREDIT_LIMIT
        self.model.approved.add((consortium.bank.address, consortium.core.address))
        s0 = consortium.suppliers[0].address
        self.model.limits[s0] = SUPPLIER_LIMIT
        self.model.grants[(consortium.bank.address, s0)] = SUPPLIER_LIMIT
        self.model.approved.add((consortium.bank.address, s0))
        for currency, token in setup.tokens.items():
            balances = dict(setup.balances[currency])
            self.model.tokens[currency] = ModelToken(
                address=token.address,
                currency=currency,
                registered=currency == "USD",
                balances=balances,
                allowances=dict(setup.allowances[currency]),
                minted=sum(balances.values()),
            )
        self.documents: list[bytes] = []
        self.terminal_states: dict[int, tuple[Any, ...]] = {}
        self.holders: dict[int, str] = {}
        # What the ledger's events say was paid and written off, per note.
        self.paid_events: dict[int, int] = {}
        self.written_off_events: dict[int, int] = {}
        self.now = consortium.chain.now()
        # Whether a block was mined since the invariants were last read from the chain.
        self.changed = True

    def teardown(self) -> None:
        """A last full read (unless a step already failed: that failure is the one to report), then
        back to the snapshot."""
        try:
            if sys.exc_info()[0] is None:
                self.changed = True
                self.chain_agrees_with_the_model_and_the_invariants_hold()
        finally:
            self.c.chain.revert(self.snapshot)
            for account in self.actors.values():
                self.c.ledger.nonces.forget(account.address)

    # ------------------------------------------------------------------ helpers
    def _attempt(self, predict: Callable[[], T], act: Callable[[], TxResult]) -> tuple[T, TxResult] | None:
        """Run `act` on the chain; it must succeed iff the model's `predict` does, and fail with
        the model's custom error otherwise. The model is rolled back when it predicts a refusal."""
        saved = copy.deepcopy(self.model)
        try:
            expected = predict()
        except Refused as refusal:
            self.model = saved
            with pytest.raises(LedgerRevert) as raised:
                act()
            assert raised.value.error_name == refusal.name, (raised.value, refusal.name)
            event(f"{sys._getframe(1).f_code.co_name} refused: {refusal.name}")
            return None
        try:
            result = act()
        except LedgerRevert as refusal:
            raise AssertionError(f"the model expected success, the ledger refused: {refusal}") from refusal
        self.changed = True
        event(f"{sys._getframe(1).f_code.co_name} done: {result.events[0].name if result.events else '-'}")
        self._record_payments(result)
        return expected, result

    def _record_payments(self, result: TxResult) -> None:
        """Add up the NotePaid and NoteWrittenOff events; each must agree with the model's note."""
        for ev in result.events:
            if ev.name not in ("NotePaid", "NoteWrittenOff"):
                continue
            note_id = int(ev.args["noteId"])
            note = self.model.notes[note_id]
            assert to_checksum_address(ev.args["holder"]) == note.holder
            assert to_checksum_address(ev.args["obligor"]) == self.model.roots[note.root_id].obligor
            if ev.name == "NotePaid":
                self.paid_events[note_id] = self.paid_events.get(note_id, 0) + int(ev.args["amount"])
                assert int(ev.args["remaining"]) == note.remaining
            else:
                assert note_id not in self.written_off_events
                self.written_off_events[note_id] = int(ev.args["amount"])

    def _pick(self, pick: int, fitting: bool, fits: Callable[[int, ModelNote], bool]) -> int:
        """A known note, newest first: when `fitting`, one that `fits` (if any), so that operations
        mostly go through; otherwise any note."""
        ids = sorted(self.model.notes, reverse=True)
        fit = [i for i in ids if fits(i, self.model.notes[i])]
        pool = fit if fitting and fit else ids
        return pool[pick % len(pool)]

    def _obligor_or(self, root_id: int, by: str) -> LocalAccount:
        """The root's obligor when `by` is "core" (the usual payer), else the party `by`."""
        root = self.model.roots.get(root_id)
        if by == "core" and root is not None:
            return self.by_address[root.obligor]
        return self.actors[by]

    def _has(self, statuses: tuple[NoteStatus, ...]) -> bool:
        return any(n.status in statuses for n in self.model.notes.values())

    def _note(self, pick: int, fitting: bool = True, statuses: tuple[NoteStatus, ...] = LIVE) -> int:
        return self._pick(pick, fitting, lambda _, n: n.status in statuses)

    def _sender(self, note_id: int, by_holder: bool, other: str) -> LocalAccount:
        if by_holder:
            return self.by_address[self.model.notes[note_id].holder]
        return self.actors[other]

    def _maturity(self, note: ModelNote) -> int:
        return self.model.roots[note.root_id].maturity

    def _payable_now(self, note: ModelNote) -> bool:
        return note.status in PAYABLE and not note.frozen and self.now >= self._maturity(note)

    def _overdue_now(self, note: ModelNote) -> bool:
        return note.status in PAYABLE and self.now >= self._maturity(note) + self.model.grace_period

    def _token_registered(self, note: ModelNote) -> bool:
        token = self.model.tokens.get(self.model.roots[note.root_id].currency)
        return token is not None and token.registered

    def _bring_due(self, fitting: bool, overdue: bool = False) -> None:
        """When `fitting` and no note is due (payable now, or overdue if `overdue`), move the clock
        half a day past the next maturity (plus the grace period if `overdue`) of a note that could
        be: the settlement rules wait for maturity themselves rather than wait for the clock rule,
        so that payments happen in short runs too, one tree at a time."""
        due = self._overdue_now if overdue else self._payable_now
        if not fitting or any(due(n) for n in self.model.notes.values()):
            return
        wait = self.model.grace_period if overdue else 0
        coming = [
            self._maturity(n)
            for n in self.model.notes.values()
            if n.status in PAYABLE and (overdue or not n.frozen) and self._maturity(n) + wait > self.now
        ]
        if coming:
            self._advance(min(coming) + wait + DAY // 2 - self.c.chain.now())

    def _offer_is_acceptable(self, offer_id: int) -> bool:
        offer = self.model.offers[offer_id]
        note = self.model.notes[offer.note_id]
        return (
            offer.open
            and self.now <= offer.deadline - DAY // 4
            and note.status == NoteStatus.ACTIVE
            and not note.frozen
            and note.holder == offer.holder
            and offer.epoch == self.model.offer_epochs[offer.note_id]
            and (offer.reference is not None or not offer.off_chain)
        )

    def _offer_is_void(self, offer_id: int) -> bool:
        """Open and unexpired, but its note has moved (even back) or was frozen since."""
        offer = self.model.offers[offer_id]
        return (
            offer.open
            and self.now <= offer.deadline - DAY // 4
            and offer.epoch != self.model.offer_epochs[offer.note_id]
        )

    def _advance(self, seconds: int) -> None:
        if seconds > 0:
            self.c.chain.advance_time(seconds)
            self.changed = True
        self.now = self.c.chain.now()

    # ------------------------------------------------------------------ rules: notes
    @initialize(
        amounts=st.lists(st.integers(2, 5_000), min_size=2, max_size=2),
        days=st.integers(10, 90),
        deadlines=st.lists(st.integers(30, 100), min_size=2, max_size=2),
        allowances=st.lists(st.sampled_from([None, None, None, 0, 500, 2_000]), min_size=2, max_size=2),
    )
    def two_accepted_notes_with_offers(
        self, amounts: list[int], days: int, deadlines: list[int], allowances: list[int | None]
    ) -> None:
        """Start every run with two active notes, so that splits and transfers have material: one in
        USD with the bank's offer to buy it in tokens, one in EUR (whose token is not registered
        yet) with its offer to buy it off-chain, so that discounts happen in short runs too.
        Sometimes the core's or the bank's allowance to the ledger is short, so that payments and
        DvPs run out of it."""
        for name, amount, currency in zip(("s0", "s1"), amounts, ("USD", "EUR"), strict=True):
            self.issue(to=name, amount=amount, days=days, reuse=False, by="core", currency=currency)
            self.accept(pick=0, live=True, by_holder=True, other=name)
        # Notes are picked newest first: the EUR note is pick 0.
        for pick, (off_chain, deadline) in enumerate(zip((True, False), deadlines, strict=True)):
            self.offer_discount(pick, True, "bank", 97, deadline, None, off_chain)
        for who, allowance in zip(("core", "bank"), allowances, strict=True):
            if allowance is not None:
                self.tokens("approve", "USD", who, who, allowance, 0, True, False, False)

    @rule(
        to=st.sampled_from(["s0", "s1", "s2"] * 4 + ACTORS),
        amount=st.integers(0, 6_000),
        days=st.integers(10, 150),
        reuse=rarely_true,
        by=st.sampled_from(["core"] * 8 + ["s0", "bank"]),
        currency=currencies,
    )
    def issue(self, to: str, amount: int, days: int, reuse: bool, by: str, currency: str) -> None:
        document = (
            self.documents[amount % len(self.documents)]
            if reuse and self.documents
            else self.c.next_document()
        )
        now = self.c.chain.now()
        maturity = now + (days if days <= 145 else 400) * DAY + DAY // 2
        sender, holder = self.actors[by], self.actors[to]
        outcome = self._attempt(
            lambda: self.model.issue(
                sender.address, holder.address, amount, maturity, document, now, currency
            ),
            lambda: self.c.ledger.issue(sender, holder.address, amount, currency, maturity, document),
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
    @rule(
        pick=note_picks,
        live=mostly_true,
        by_holder=st.booleans(),
        other=st.sampled_from(["core", "core", "s0", "operator"]),
        revoke=st.booleans(),
    )
    def reject_or_revoke(self, pick: int, live: bool, by_holder: bool, other: str, revoke: bool) -> None:
        """The holder rejects or the obligor revokes a pending note (or someone else tries)."""
        note_id = self._note(pick, live, PENDING)
        if revoke:
            sender = self.actors["core"] if by_holder else self.actors[other]
            self._attempt(
                lambda: self.model.revoke(sender.address, note_id),
                lambda: self.c.ledger.revoke(sender, note_id),
            )
        else:
            sender = self._sender(note_id, by_holder, other)
            self._attempt(
                lambda: self.model.reject(sender.address, note_id),
                lambda: self.c.ledger.reject(sender, note_id),
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
        unfreeze=st.booleans(),
        skip=st.integers(0, 2),
    )
    def freeze_or_unfreeze(self, pick: int, live: bool, by: str, unfreeze: bool, skip: int) -> None:
        """Freeze a note, or lift a freeze, one time in three (a frozen note blocks most other rules).
        Notes under an open offer first: a freeze voids the offer, and lifting it must not revive it."""
        if skip:
            return
        sender = self.actors[by]
        frozen = sorted(i for i, n in self.model.notes.items() if n.frozen)
        if unfreeze and frozen:
            note_id = frozen[pick % len(frozen)]
            self._attempt(
                lambda: self.model.unfreeze(sender.address, note_id),
                lambda: self.c.ledger.unfreeze(sender, note_id),
            )
            return
        offered = {o.note_id for o in self.model.offers.values() if o.open}
        note_id = self._pick(pick, live, lambda i, n: n.status.is_live and not n.frozen and i in offered)
        self._attempt(
            lambda: self.model.freeze(sender.address, note_id),
            lambda: self.c.ledger.freeze(sender, note_id, b"court order"),
        )

    @rule(
        who=actor_names,
        wrong_way=rarely_true,
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

    # ------------------------------------------------------------------ rules: time and configuration
    @rule(
        # "stay" first: Hypothesis' first, simplest runs repeat the simplest step, make them cheap.
        kind=st.sampled_from(["stay", "days", "days", "before", "after", "after", "overdue", "overdue"]),
        days=st.integers(1, 30),
        pick=picks,
    )
    def advance_time(self, kind: str, days: int, pick: int) -> None:
        """Move the clock by some days, or to half a day before or after one of the next two
        maturities, or past it plus the grace period (one time in eight not at all). Trees mature one by
        one, so that offers do not all expire and notes do not all mature at once."""
        event(f"advance_time {kind}")
        coming = sorted(r.maturity for r in self.model.roots.values() if self.now < r.maturity)
        if kind == "days" or (kind != "stay" and not coming):
            self._advance(days * DAY)
        elif kind != "stay":
            maturity = coming[pick % min(len(coming), 2)]  # one of the next two: trees mature one by one
            offset = {"before": -DAY // 2, "after": DAY // 2, "overdue": self.model.grace_period + DAY // 2}
            self._advance(maturity + offset[kind] - self.c.chain.now())

    @rule(
        register=st.booleans(),
        days=st.sampled_from([0, 1, 3, 5, 10, 30, 91]),
        currency=st.sampled_from(["EUR", "EUR", "USD", "GBP"]),
        token=st.sampled_from(["EUR", "EUR", "USD"]),
        by=st.sampled_from(["operator"] * 4 + ["core"]),
        skip=st.booleans(),
    )
    def configure(self, register: bool, days: int, currency: str, token: str, by: str, skip: bool) -> None:
        """The operator changes the grace period, or registers the EUR token (USD is registered from
        the start; a currency's token is registered once, and only a token of that currency). Acts
        one time in two."""
        if skip:
            return
        sender = self.actors[by]
        if not register:
            self._attempt(
                lambda: self.model.set_grace_period(sender.address, days * DAY),
                lambda: self.c.ledger.set_grace_period(sender, days * DAY),
            )
            return
        address = self.token_clients[token].address
        self._attempt(
            lambda: self.model.register_token(sender.address, currency, address),
            lambda: self.c.ledger.set_settlement_token(sender, currency, address),
        )

    @rule(
        currency=st.sampled_from(["USD", "USD", "EUR"]),
        amount=st.sampled_from([0, 0, 0, 50, 200, 500, 1_000, 2**80]),
        by=st.sampled_from(["operator"] * 4 + ["core"]),
    )
    def set_min_part_amount(self, currency: str, amount: int, by: str) -> None:
        """The operator sets a currency's minimum part amount (0 lifts it, most often); issue and
        split then refuse smaller notes and parts."""
        sender = self.actors[by]
        self._attempt(
            lambda: self.model.set_min_part_amount(sender.address, currency, amount),
            lambda: self.c.ledger.set_min_part_amount(sender, currency, amount),
        )

    # ------------------------------------------------------------------ rules: settlement tokens
    @rule(
        kind=st.sampled_from(["mint", "mint", "approve", "approve", "approve_all", "burn", "pay", "pay"]),
        currency=currencies,
        who=st.sampled_from(["core", "bank"] * 4 + [*ACTORS, "operator"]),
        to=st.sampled_from(["core", "bank", "s0", "s1", "s2", "auditor", "outsider"]),
        amount=st.integers(0, 12_000),
        share=st.integers(0, 110),
        by_operator=mostly_true,
        zero_reference=st.sampled_from([False] * 9 + [True]),
        reused_reference=st.sampled_from([False, False, True]),
    )
    def tokens(
        self,
        kind: str,
        currency: str,
        who: str,
        to: str,
        amount: int,
        share: int,
        by_operator: bool,
        zero_reference: bool,
        reused_reference: bool,
    ) -> None:
        """The settlement bank mints tokens against a deposit or pays a member's tokens out (burn); a
        member sets its allowance to the ledger (to an amount, or to the maximum), or pays another
        member directly. Burns and payments move `share` percent of the balance (over 100: more than
        it holds)."""
        token, account = self.token_clients[currency], self.actors[who]
        if kind in ("approve", "approve_all"):
            allowance = MAX_UINT256 if kind == "approve_all" else amount
            self._attempt(
                lambda: self.model.approve(account.address, currency, allowance),
                lambda: token.approve(account, self.c.ledger.address, allowance),
            )
            return
        if kind != "mint":
            balance = self.model.tokens[currency].balances.get(account.address, 0)
            amount = max(balance * share // 100, 1 if share > 100 else 0)
        if kind == "pay":
            recipient = self.actors[to]
            self._attempt(
                lambda: self.model.token_transfer(account.address, currency, recipient.address, amount),
                lambda: token.transfer(account, recipient.address, amount),
            )
            return
        sender = self.c.operator if by_operator else account
        # a reference is single-use per token, across mints and burns: sometimes reuse one
        text = "bank ref 1" if reused_reference else f"{kind} {amount}"
        reference = ZERO_REFERENCE if zero_reference else reference_bytes(text)
        if kind == "mint":
            self._attempt(
                lambda: self.model.mint(sender.address, currency, account.address, amount, reference),
                lambda: token.mint(sender, account.address, amount, reference),
            )
        else:
            self._attempt(
                lambda: self.model.burn(sender.address, currency, account.address, amount, reference),
                lambda: token.burn(sender, account.address, amount, reference),
            )

    # ------------------------------------------------------------------ rules: discount
    @precondition(lambda self: self._has(ACTIVE))
    @rule(
        pick=note_picks,
        fitting=mostly_true,
        by=st.sampled_from(["bank"] * 6 + ["s0", "outsider"]),
        price_percent=st.sampled_from([0, 90, 92, 95, 96, 97, 98, 99, 100, 120]),
        deadline_percent=st.integers(0, 100),
        bad_deadline=st.sampled_from([None] * 8 + ["past", "after_maturity"]),
        off_chain=st.sampled_from([False, False, True]),
    )
    def offer_discount(
        self,
        pick: int,
        fitting: bool,
        by: str,
        price_percent: int,
        deadline_percent: int,
        bad_deadline: str | None,
        off_chain: bool,
    ) -> None:
        """A financier offers to buy an active note before maturity, paid in tokens or off-chain."""
        note_id = self._pick(
            pick,
            fitting,
            lambda _, n: (
                n.status == NoteStatus.ACTIVE
                and not n.frozen
                and n.holder != self.c.bank.address
                and self.now < self._maturity(n)
            ),
        )
        note = self.model.notes[note_id]
        sender = self.actors[by]
        maturity = self._maturity(note)
        now = self.c.chain.now()
        days_left = max((maturity - now) // DAY - 1, 0)
        deadline = {
            None: now + DAY // 3 + days_left * deadline_percent // 100 * DAY,
            "past": now - DAY // 3,
            "after_maturity": maturity + DAY // 3,
        }[bad_deadline]
        price = note.amount * price_percent // 100
        outcome = self._attempt(
            lambda: self.model.offer_discount(sender.address, note_id, price, deadline, off_chain, now),
            lambda: self.c.ledger.offer_discount(sender, note_id, price, deadline, off_chain=off_chain),
        )
        if outcome is not None:
            offer_id, result = outcome
            assert result.offer_id() == offer_id

    def _offer(self, pick: int, fitting: bool, fits: Callable[[int], bool]) -> int:
        """A known offer id (when `fitting`, one that `fits`, if any), or sometimes one never made."""
        ids = sorted(self.model.offers)
        fit = [i for i in ids if fits(i)]
        pool = fit if fitting and fit else [*ids, self.model.offer_count + 1]
        return pool[pick % len(pool)]

    @precondition(lambda self: self.model.offers)
    @rule(
        pick=picks,
        fitting=st.sampled_from([True, True, True, False, False]),
        by_holder=mostly_true,
        other=actor_names,
    )
    def accept_offer(self, pick: int, fitting: bool, by_holder: bool, other: str) -> None:
        """The holder sells its note: delivery versus payment in tokens, or against the recorded
        off-chain payment. Otherwise tried on an open offer that is void (its note moved, even back,
        or was frozen, even if unfrozen since), or on any other, or on one never made."""
        if fitting:
            offer_id = self._offer(pick, True, self._offer_is_acceptable)
        else:
            offer_id = self._offer(pick, pick % 3 > 0, self._offer_is_void)
        offer = self.model.offers.get(offer_id)
        if offer is not None and by_holder:
            sender = self.by_address[self.model.notes[offer.note_id].holder]
        else:
            sender = self.actors[other]
        now = self.c.chain.now()
        outcome = self._attempt(
            lambda: self.model.accept_offer(sender.address, offer_id, now),
            lambda: self.c.ledger.accept_discount_offer(sender, offer_id),
        )
        if outcome is not None:
            accepted, result = outcome
            (discounted,) = [e for e in result.events if e.name == "NoteDiscounted"]
            assert int(discounted.args["price"]) == accepted.price
            expected_reference = accepted.reference if accepted.off_chain else ZERO_REFERENCE
            assert bytes(discounted.args["paymentReference"]) == expected_reference

    @precondition(lambda self: self.model.offers)
    @rule(
        pick=picks,
        fitting=mostly_true,
        by=st.sampled_from(["bank"] * 4 + ["s0"]),
        cancel=st.sampled_from([True, False, False]),
        zero_reference=st.sampled_from([False] * 9 + [True]),
    )
    def cancel_or_record_payment(
        self, pick: int, fitting: bool, by: str, cancel: bool, zero_reference: bool
    ) -> None:
        """The financier withdraws an offer, or records the off-chain payment of its price."""
        sender = self.actors[by]
        if cancel:
            offer_id = self._offer(pick, fitting, lambda i: self.model.offers[i].open)
            self._attempt(
                lambda: self.model.cancel_offer(sender.address, offer_id),
                lambda: self.c.ledger.cancel_discount_offer(sender, offer_id),
            )
            return
        offer_id = self._offer(
            pick,
            fitting,
            lambda i: (
                self.model.offers[i].off_chain
                and self.model.offers[i].open
                and self.model.offers[i].reference is None
                and self.now <= self.model.offers[i].deadline - DAY // 4
            ),
        )
        reference = ZERO_REFERENCE if zero_reference else reference_bytes(f"wire {offer_id}")
        now = self.c.chain.now()
        self._attempt(
            lambda: self.model.record_discount_payment(sender.address, offer_id, reference, now),
            lambda: self.c.ledger.record_discount_payment(sender, offer_id, reference),
        )

    # ------------------------------------------------------------------ rules: settlement
    def _amount(self, note: ModelNote, kind: str, share: int) -> int:
        remaining = note.remaining
        return {
            "full": remaining,
            "part": max(remaining * share // 100, 1),
            "zero": 0,
            "too_much": remaining + 1,
        }[kind]

    @precondition(lambda self: self._has(PAYABLE))
    @rule(
        pick=note_picks,
        fitting=mostly_true,
        by=st.sampled_from(["core"] * 8 + ["s0", "operator"]),
        kind=st.sampled_from(["part", "full", "part", "full", "part", "full", "zero", "too_much"]),
        share=st.integers(1, 99),
        off_chain=st.sampled_from([False, False, False, True]),
        zero_reference=st.sampled_from([False] * 9 + [True]),
    )
    def pay(
        self, pick: int, fitting: bool, by: str, kind: str, share: int, off_chain: bool, zero_reference: bool
    ) -> None:
        """The obligor pays a matured note in full or in part, in tokens, or claims an off-chain
        payment that the holder confirms later."""
        self._bring_due(fitting)
        note_id = self._pick(
            pick, fitting, lambda _, n: self._payable_now(n) and (off_chain or self._token_registered(n))
        )
        note = self.model.notes[note_id]
        sender = self._obligor_or(note.root_id, by)
        amount = self._amount(note, kind, share)
        now = self.c.chain.now()
        if not off_chain:
            self._attempt(
                lambda: self.model.pay(sender.address, note_id, amount, now),
                lambda: self.c.ledger.pay(sender, note_id, amount),
            )
            return
        reference = ZERO_REFERENCE if zero_reference else reference_bytes(f"transfer {note_id} {amount}")
        self._attempt(
            lambda: self.model.claim_payment(sender.address, note_id, amount, reference, now),
            lambda: self.c.ledger.claim_payment(sender, note_id, amount, reference),
        )

    @precondition(lambda self: self.model.claims)
    @rule(pick=picks, by_obligor=mostly_true, other=actor_names)
    def withdraw_payment_claim(self, pick: int, by_obligor: bool, other: str) -> None:
        """The obligor withdraws a pending claim (or someone else tries to)."""
        claimed = sorted(self.model.claims)
        note_id = claimed[pick % len(claimed)]
        obligor = self.model.roots[self.model.notes[note_id].root_id].obligor
        sender = self.c.core if by_obligor and obligor == self.c.core.address else self.actors[other]
        self._attempt(
            lambda: self.model.withdraw_payment_claim(sender.address, note_id),
            lambda: self.c.ledger.withdraw_payment_claim(sender, note_id),
        )

    @precondition(lambda self: self.model.claims)
    @rule(
        pick=picks,
        by_holder=mostly_true,
        other=actor_names,
        mismatch=st.sampled_from([None] * 8 + ["amount", "reference"]),
    )
    def confirm_payment(self, pick: int, by_holder: bool, other: str, mismatch: str | None) -> None:
        """The holder confirms the obligor's claim of an off-chain payment."""
        claimed = sorted(self.model.claims)
        note_id = claimed[pick % len(claimed)]
        amount, reference = self.model.claims[note_id]
        if mismatch == "amount":
            amount += 1
        elif mismatch == "reference":
            reference = reference_bytes("another transfer")
        sender = self._sender(note_id, by_holder, other)
        outcome = self._attempt(
            lambda: self.model.confirm_payment(sender.address, note_id, amount, reference),
            lambda: self.c.ledger.confirm_payment(sender, note_id, amount, reference),
        )
        if outcome is not None:
            (paid,) = [e for e in outcome[1].events if e.name == "NotePaid"]
            assert bytes(paid.args["paymentReference"]) == reference

    @precondition(lambda self: self._has(PAYABLE))
    @rule(
        pick=picks,
        fitting=mostly_true,
        by=st.sampled_from(["core"] * 6 + ["s0"]),
        batch=st.sampled_from(["all", "all", "all", "some", "some", "empty", "too_many", "past_end"]),
        first=st.integers(0, 20),
        count=st.integers(1, 4),
    )
    def settle_root(self, pick: int, fitting: bool, by: str, batch: str, first: int, count: int) -> None:
        """The obligor settles a tree's live notes in one batch, or in several smaller ones."""
        self._bring_due(fitting)
        matured = sorted(
            {
                n.root_id
                for n in self.model.notes.values()
                if self._payable_now(n) and self._token_registered(n)
            }
            or {i for i, r in self.model.roots.items() if self.now >= r.maturity}
        )
        roots = matured if fitting and matured else [*self.model.roots, (self.model.root_count + 1) << 32]
        root_id = roots[pick % len(roots)]
        last_index = self.model.roots[root_id].last_index if root_id in self.model.roots else 0
        first_index, count = {
            "all": (0, MAX_SETTLE_BATCH),
            "some": (first % (last_index + 1), count),
            "empty": (0, 0),
            "too_many": (0, MAX_SETTLE_BATCH + 1),
            "past_end": (last_index + 1, 1),
        }[batch]
        sender = self._obligor_or(root_id, by)
        now = self.c.chain.now()
        outcome = self._attempt(
            lambda: self.model.settle_root(sender.address, root_id, first_index, count, now),
            lambda: self.c.ledger.settle_root(sender, root_id, first_index, count),
        )
        if outcome is not None:
            paid, result = outcome
            seen = [
                (int(e.args["noteId"]), int(e.args["amount"])) for e in result.events if e.name == "NotePaid"
            ]
            assert seen == paid
            event(f"settleRoot paid {len(paid) if len(paid) < 3 else '3 or more'} notes")

    @precondition(lambda self: self._has(PAYABLE))
    @rule(
        pick=note_picks,
        fitting=mostly_true,
        by=st.sampled_from(["s0", "bank", "outsider", "core"]),
        write_off=st.booleans(),
        by_operator=mostly_true,
        zero_reference=st.sampled_from([False] * 9 + [True]),
    )
    def mark_overdue_or_write_off(
        self, pick: int, fitting: bool, by: str, write_off: bool, by_operator: bool, zero_reference: bool
    ) -> None:
        """Anyone marks an unpaid note overdue past maturity plus the grace period; the operator
        writes one off, citing its decision."""
        self._bring_due(fitting, overdue=True)
        if write_off:
            note_id = self._pick(pick, fitting, lambda _, n: self._overdue_now(n))
            sender = self.c.operator if by_operator else self.actors[by]
            reference = ZERO_REFERENCE if zero_reference else reference_bytes("board decision")
            now = self.c.chain.now()
            outcome = self._attempt(
                lambda: self.model.write_off(sender.address, note_id, reference, now),
                lambda: self.c.ledger.write_off(sender, note_id, reference),
            )
            if outcome is not None:
                event("written off after a part payment" if self.model.notes[note_id].paid else "written off")
            return
        note_id = self._pick(
            pick, fitting, lambda _, n: n.status == NoteStatus.ACTIVE and self._overdue_now(n)
        )
        sender = self.actors[by]
        now = self.c.chain.now()
        self._attempt(
            lambda: self.model.mark_overdue(note_id, now),
            lambda: self.c.ledger.mark_overdue(sender, note_id),
        )

    @rule(
        action=st.sampled_from(["grant", "grant", "withdraw", "approve"]),
        right=mostly_true,
        other=actor_names,
        amount=st.sampled_from([0, CREDIT_LIMIT // 4, CREDIT_LIMIT, 2 * CREDIT_LIMIT])
        | st.integers(0, 30_000),
    )
    def credit_relationship(self, action: str, right: bool, other: str, amount: int) -> None:
        """The core approves the bank or withdraws it (the grant leaves the limit at once, so
        issuance may be refused while notes stay live); the bank grants the core credit, refused
        unless the core approved it; other parties try both."""
        core = self.actors["core"]
        if action == "grant":
            sender = self.actors["bank" if right else other]
            self._attempt(
                lambda: self.model.set_credit_limit(sender.address, core.address, amount),
                lambda: self.c.ledger.set_credit_limit(sender, core.address, amount),
            )
            return
        obligor = core if right else self.actors[other]
        bank = self.actors["bank"]
        approve = action == "approve"
        self._attempt(
            lambda: self.model.mark_financier_approved(obligor.address, bank.address, approve),
            lambda: (
                self.c.ledger.approve_financier(obligor, bank.address)
                if approve
                else self.c.ledger.withdraw_financier(obligor, bank.address)
            ),
        )

    # ------------------------------------------------------------------ rules: evidence-backed receivables
    def _buyer_credit_untouched(self, act: Callable[[], TxResult]) -> Callable[[], TxResult]:
        """`act`, checking that the core enterprise's (the buyer's) limit and outstanding did not
        change (invariant 8)."""

        def checked() -> TxResult:
            before = self.c.ledger.credit_of(self.c.core.address)
            result = act()
            assert self.c.ledger.credit_of(self.c.core.address) == before
            return result

        return checked

    def _record_pick(self, pick: int, fitting: bool, fits: Callable[[bytes, ModelEvidence], bool]) -> bytes:
        documents = list(self.model.evidence)
        fit = [d for d in documents if fits(d, self.model.evidence[d])]
        pool = fit if fitting and fit else documents
        return pool[pick % len(pool)]

    @rule(
        by=st.sampled_from(["s0"] * 6 + ["s1", "core", "dp"]),
        kind=st.sampled_from([3, 3, 3, 0, 1, 2, 4, 5, 6]),
        amount=st.integers(0, 8_000),
        reuse=rarely_true,
        buyer=st.sampled_from(["core"] * 6 + ["s1", "s0"]),
    )
    def register_evidence(self, by: str, kind: int, amount: int, reuse: bool, buyer: str) -> None:
        """A supplier registers a trade record against a buyer (sometimes a note's document again)."""
        known = self.documents + list(self.model.evidence)
        document = known[amount % len(known)] if reuse and known else self.c.next_document()
        sender, buyer_account = self.actors[by], self.actors[buyer]
        self._attempt(
            lambda: self.model.register_evidence(
                sender.address, document, kind, buyer_account.address, "USD", amount
            ),
            self._buyer_credit_untouched(
                lambda: self.c.ledger.register_evidence(
                    sender, document, kind, buyer_account.address, "USD", amount
                )
            ),
        )

    @precondition(lambda self: self.model.evidence)
    @rule(pick=picks, fitting=mostly_true, by=st.sampled_from(["dp"] * 6 + ACTORS), revoke=rarely_true)
    def attest_or_revoke(self, pick: int, fitting: bool, by: str, revoke: bool) -> None:
        """The data provider attests a record (mostly one it has not attested), or revokes."""
        sender = self.actors[by]
        state = 1 if revoke else None
        document = self._record_pick(pick, fitting, lambda _, e: e.attestations.get(sender.address) == state)
        if revoke:
            self._attempt(
                lambda: self.model.revoke_attestation(sender.address, document),
                self._buyer_credit_untouched(lambda: self.c.ledger.revoke_attestation(sender, document)),
            )
        else:
            self._attempt(
                lambda: self.model.attest(sender.address, document),
                self._buyer_credit_untouched(lambda: self.c.ledger.attest_evidence(sender, document)),
            )

    @precondition(lambda self: self.model.evidence)
    @rule(
        pick=picks,
        fitting=mostly_true,
        by=st.sampled_from(["s0"] * 8 + ["s1", "dp"]),
        supporting=st.lists(picks, max_size=3),
        share=st.integers(1, 100),
        days=st.integers(10, 150),
    )
    def originate(
        self, pick: int, fitting: bool, by: str, supporting: list[int], share: int, days: int
    ) -> None:
        """A supplier originates a receivable on an attested invoice, with supporting records."""
        model = self.model
        invoice = self._record_pick(
            pick,
            fitting,
            lambda d, e: e.kind == 3 and e.attesters > 0 and model.document_root.get(d) == MAX_UINT256,
        )
        record = model.evidence[invoice]
        related = [
            d
            for d, e in model.evidence.items()
            if d != invoice and e.supplier == record.supplier and e.buyer == record.buyer
        ]
        pool = related if fitting and related else list(model.evidence)
        chosen = list(dict.fromkeys(pool[p % len(pool)] for p in supporting)) if pool else []
        amount = max(1, record.amount * share // 100) if fitting else record.amount * share // 50
        now = self.c.chain.now()
        maturity = now + (days if days <= 145 else 400) * DAY + DAY // 2
        sender = self.actors[by]
        outcome = self._attempt(
            lambda: model.originate(sender.address, invoice, chosen, amount, maturity, now),
            self._buyer_credit_untouched(
                lambda: self.c.ledger.originate_receivable(sender, invoice, chosen, amount, maturity)
            ),
        )
        if outcome is not None:
            expected_id, result = outcome
            assert result.created_note_ids() == [expected_id]

    @rule(
        amount=st.integers(1, 6_000),
        supporting=st.integers(0, 3),
        share=st.integers(50, 100),
        days=st.integers(10, 140),
    )
    def receivable_on_fresh_evidence(self, amount: int, supporting: int, share: int, days: int) -> None:
        """The whole path in one step, so that receivables are common: s0 registers supporting
        records and an invoice against the core, the data provider attests the invoice, s0
        originates (each step checked against the model like any other)."""
        s0, core, dp = self.actors["s0"], self.actors["core"], self.actors["dp"]
        records = []
        for kind in (0, 1, 2)[:supporting]:
            document = self.c.next_document()
            if self._attempt(
                lambda d=document, k=kind: self.model.register_evidence(  # type: ignore[misc]
                    s0.address, d, k, core.address, "USD", 0
                ),
                lambda d=document, k=kind: self.c.ledger.register_evidence(  # type: ignore[misc]
                    s0, d, k, core.address, "USD", 0
                ),
            ):
                records.append(document)
        invoice = self.c.next_document()
        if not self._attempt(
            lambda: self.model.register_evidence(s0.address, invoice, 3, core.address, "USD", amount),
            lambda: self.c.ledger.register_evidence(s0, invoice, 3, core.address, "USD", amount),
        ):
            return
        self._attempt(
            lambda: self.model.attest(dp.address, invoice),
            lambda: self.c.ledger.attest_evidence(dp, invoice),
        )
        now = self.c.chain.now()
        maturity = now + days * DAY + DAY // 2
        value = max(1, amount * share // 100)
        outcome = self._attempt(
            lambda: self.model.originate(s0.address, invoice, records, value, maturity, now),
            self._buyer_credit_untouched(
                lambda: self.c.ledger.originate_receivable(s0, invoice, records, value, maturity)
            ),
        )
        if outcome is not None:
            assert outcome[1].created_note_ids() == [outcome[0]]

    @precondition(lambda self: self.model.receivables)
    @rule(pick=picks, by=st.sampled_from(["core"] * 6 + ["s0", "bank"]))
    def convert(self, pick: int, by: str) -> None:
        """The buyer makes itself the obligor of a receivable (refused once split, frozen, matured or
        converted, or without room in its limit; other parties are refused)."""
        roots = sorted(self.model.receivables)
        root_id = roots[pick % len(roots)]
        sender = self.actors[by]
        now = self.c.chain.now()
        self._attempt(
            lambda: self.model.convert(sender.address, root_id, now),
            lambda: self.c.ledger.convert_receivable(sender, root_id),
        )

    # ------------------------------------------------------------------ invariants, read from the chain
    def _ledger(self, name: str, *args: Any) -> tuple[Any, ...]:
        return self.views.call(self.c.ledger.contract, name, *args)

    @invariant()
    def chain_agrees_with_the_model_and_the_invariants_hold(self) -> None:
        """Read everything back from the chain after every step that mined a block. A refused
        attempt mines nothing (the client estimates first and sends nothing on a revert), so the
        chain is as the last check left it, and the model was rolled back: the next read (at the
        latest in teardown) checks that the refusal changed nothing."""
        if not self.changed:
            return
        self.changed = False
        self.views.refresh()
        self.now = self.c.chain.now()
        notes = {note_id: self._ledger("getNote", note_id) for note_id in self.model.notes}
        paid_view = {
            note_id: self._ledger("paidAmount", note_id)[0]
            for note_id, note in self.model.notes.items()
            if note.status in (*LIVE, NoteStatus.SETTLED, NoteStatus.WRITTEN_OFF)
        }
        # The model and the chain agree on every note, member, offer and claim.
        for note_id, expected in self.model.notes.items():
            holder, _, amount, _, _, status, frozen, root_id, _ = notes[note_id]
            seen = (holder, amount, NoteStatus(status), frozen, root_id)
            assert seen == (
                expected.holder,
                expected.amount,
                expected.status,
                expected.frozen,
                expected.root_id,
            )
            if expected.status.is_live:
                assert self._ledger("isOverdue", note_id)[0] == self.model.is_overdue(note_id, self.now)
            if expected.status == NoteStatus.SETTLED:
                assert paid_view[note_id] == 0  # cleared once settled in full
            elif note_id in paid_view:
                assert paid_view[note_id] == expected.paid  # live or written off: paid so far
        assert self._ledger("rootCount")[0] == self.model.root_count
        assert self._ledger("gracePeriod")[0] == self.model.grace_period
        for address, member in self.model.members.items():
            assert MemberStatus(self._ledger("getMember", address)[1]) == member.status
        self._check_offers_and_claims()
        self._check_sums(notes, paid_view)
        self._check_payments()
        self._check_new_holders(notes)
        self._check_terminal_notes_never_change(notes)
        self._check_credit(notes, paid_view)
        self._check_tokens()
        self._check_evidence(notes)

    def _check_offers_and_claims(self) -> None:
        assert self._ledger("offerCount")[0] == self.model.offer_count
        for offer_id, offer in self.model.offers.items():
            seen = self._ledger("getOffer", offer_id)
            if offer.open:
                reference = offer.reference or ZERO_REFERENCE
                expected = (
                    offer.note_id,
                    offer.financier,
                    offer.holder,
                    offer.price,
                    offer.deadline,
                    offer.off_chain,
                    reference,
                )
                assert seen == expected
            else:
                assert seen[0] == 0 and seen[1] == to_checksum_address("0x" + "00" * 20)
        for note_id in self.model.notes:
            pending = self.model.claims.get(note_id)
            claim = (
                ZERO_REFERENCE if pending is None else keccak(encode(["uint256", "bytes32"], list(pending)))
            )
            assert self._ledger("paymentClaim", note_id)[0] == claim
        for currency in ("USD", "EUR"):
            minimum = self._ledger("minPartAmount", currency.encode())[0]
            assert minimum == self.model.min_part.get(currency, 0)

    def _check_sums(self, notes: dict[int, tuple[Any, ...]], paid_view: dict[int, int]) -> None:
        """Invariant 1, per root: face = live remainders + paid + written off (+ released), from the
        ledger's views and events, and from the model."""
        chain_total: dict[int, int] = {}
        model_total: dict[int, int] = {}
        for note_id, note in self.model.notes.items():
            amount, status = notes[note_id][2], NoteStatus(notes[note_id][5])
            on_chain = self.paid_events.get(note_id, 0) + self.written_off_events.get(note_id, 0)
            in_model = note.paid + note.written_off
            if status.is_live:
                on_chain += amount - paid_view[note_id]
                in_model += note.remaining
            elif status in RELEASED:
                on_chain += amount
                in_model += note.amount
            chain_total[note.root_id] = chain_total.get(note.root_id, 0) + on_chain
            model_total[note.root_id] = model_total.get(note.root_id, 0) + in_model
        for root_id, root in self.model.roots.items():
            assert chain_total[root_id] == model_total[root_id] == root.face == notes[root_id][2]

    def _check_payments(self) -> None:
        """Invariant 7: what the events paid on a note is what the model paid, at most its face (all
        of it once settled); a written-off note was written off once, for what was left."""
        for note_id, note in self.model.notes.items():
            paid = self.paid_events.get(note_id, 0)
            assert paid == note.paid <= note.amount
            if note.status == NoteStatus.SETTLED:
                assert paid == note.amount
            assert self.written_off_events.get(note_id, 0) == note.written_off
            if note.status == NoteStatus.WRITTEN_OFF:
                assert note.paid + note.written_off == note.amount

    def _check_new_holders(self, notes: dict[int, tuple[Any, ...]]) -> None:
        """Invariant 2: a note that reached a holder in this step reached an active member that may
        hold notes (issuance to a non-supplier is refused: the model checks that)."""
        for note_id, note in notes.items():
            holder = note[0]
            if self.holders.get(note_id) == holder:
                continue
            roles, status, _ = self._ledger("getMember", holder)
            assert MemberStatus(status) == MemberStatus.ACTIVE
            assert Role(roles) & HOLDER_ROLES
            self.holders[note_id] = holder

    def _check_terminal_notes_never_change(self, notes: dict[int, tuple[Any, ...]]) -> None:
        """Invariant 3: a settled, written-off, split, rejected or revoked note never changes again
        (its frozen flag included: a note written off while frozen cannot be unfrozen)."""
        for note_id, note in notes.items():
            status = NoteStatus(note[5])
            state = note
            frozen_state = self.terminal_states.get(note_id)
            if frozen_state is not None:
                assert state == frozen_state
            elif status in TERMINAL:
                self.terminal_states[note_id] = state

    def _check_credit(self, notes: dict[int, tuple[Any, ...]], paid_view: dict[int, int]) -> None:
        """Invariant 4: outstanding = the live notes' unpaid remainders, never above the limit."""
        core = self.c.core.address
        limit, outstanding = self._ledger("creditOf", core)
        live_remainder = sum(
            notes[i][2] - paid_view[i]
            for i, n in self.model.notes.items()
            if n.status.is_live and notes[n.root_id][1] == core  # the chain's obligor of the tree
        )
        assert outstanding == self.model.outstanding.get(core, 0)
        assert outstanding == self.model.live_remainder(core) == live_remainder
        assert limit == self.model.limits.get(core, 0)
        bank = self.c.bank.address
        grant, approved = self._ledger("creditGrant", bank, core)
        expected = (self.model.grants.get((bank, core), 0), (bank, core) in self.model.approved)
        assert (grant, approved) == expected

    def _check_evidence(self, notes: dict[int, tuple[Any, ...]]) -> None:
        """Invariant 8: records, attestations and receivables are the model's; an unconverted
        receivable's obligor is its supplier, whose outstanding (not the buyer's) carries it."""
        registry = self.c.ledger.evidence.contract
        for document, record in self.model.evidence.items():
            seen = self.views.call(registry, "getEvidence", document)
            assert seen == (
                record.supplier,
                record.buyer,
                record.kind,
                record.currency.encode(),
                record.amount,
                record.attesters,
            )
            for attester, state in record.attestations.items():
                assert self.views.call(registry, "attestation", document, attester)[0] == state
            assert self._ledger("documentRoot", document)[0] == self.model.document_root[document]
        for root_id, invoice in self.model.receivables.items():
            assert self.views.call(registry, "receivableInvoice", root_id)[0] == invoice
            assert notes[root_id][1] == self.model.roots[root_id].obligor
        s0 = self.c.suppliers[0].address
        limit, outstanding = self._ledger("creditOf", s0)
        assert (limit, outstanding) == (self.model.limits.get(s0, 0), self.model.outstanding.get(s0, 0))
        assert outstanding == self.model.live_remainder(s0)

    def _check_tokens(self) -> None:
        """Invariant 6: supply = minted - burned = the sum of the balances; balances, allowances and
        registrations are the model's."""
        ledger = self.c.ledger.address
        for currency, token in self.model.tokens.items():
            contract = self.token_clients[currency].contract
            registered = self._ledger("settlementToken", currency.encode())[0]
            assert registered == (
                token.address if token.registered else to_checksum_address("0x" + "00" * 20)
            )
            supply = self.views.call(contract, "totalSupply")[0]
            assert supply == token.minted - token.burned
            balances = {a: self.views.call(contract, "balanceOf", a)[0] for a in self.by_address}
            assert self.views.call(contract, "balanceOf", ledger)[0] == 0
            assert sum(balances.values()) == supply
            assert balances == {a: token.balances.get(a, 0) for a in self.by_address}
            for owner, allowance in token.allowances.items():
                assert self.views.call(contract, "allowance", owner, ledger)[0] == allowance


def test_random_operation_sequences_keep_the_ledger_invariants(consortium: Consortium) -> None:
    setup = prepare(consortium)

    def factory() -> Any:
        return LedgerMachine(setup)

    run_state_machine_as_test(
        factory,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    if STATS:
        for label, count in sorted(outcomes.items()):
            print(f"{count:6d}  {label}")
