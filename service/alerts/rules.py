"""The early-warning rules: each reads the index and returns the conditions that hold now
(`Finding`s); `service.alerts.evaluator` turns findings into raised, updated and resolved alerts.

Every ratio is integer arithmetic in basis points (`amount * 10_000 // total`, rounded down); amounts
go into the figures as strings of minor units. A rule evaluated for a `Scope` looks only at the
obligors (and members) in it, so that the index's batch hook evaluates what a batch touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Table, and_, select, true

from service.alerts.policy import Policy
from service.db.evidence_models import EvidenceAttestation, Receivable
from service.db.models import CreditGrant, Event, LedgerConfig, Member, Note, ObligorCredit
from service.domain import DEFAULT_GRACE_PERIOD, LIVE, PAYABLE, MemberStatus, Role

NOTES: Table = Note.__table__  # type: ignore[assignment]
CREDIT: Table = ObligorCredit.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
GRANTS: Table = CreditGrant.__table__  # type: ignore[assignment]
CONFIG: Table = LedgerConfig.__table__  # type: ignore[assignment]
RECEIVABLES: Table = Receivable.__table__  # type: ignore[assignment]
ATTESTATIONS: Table = EvidenceAttestation.__table__  # type: ignore[assignment]

DAY: Final = 86_400
BPS: Final = 10_000

UTILISATION: Final = "utilisation"
FUNDING_SHORTFALL: Final = "funding_shortfall"
OVERDUE: Final = "overdue"
HOLDER_CONCENTRATION: Final = "holder_concentration"
OBLIGOR_CONCENTRATION: Final = "obligor_concentration"
TENOR: Final = "tenor"
DUPLICATE_DOCUMENT: Final = "duplicate_document"
SUSPENDED_HOLDER: Final = "suspended_holder"
VELOCITY: Final = "velocity"
ATTESTATION_REVOKED: Final = "financed_attestation_revoked"
BUYER_INDIRECT_EXPOSURE: Final = "buyer_indirect_exposure"
RULES: Final = (
    UTILISATION,
    FUNDING_SHORTFALL,
    OVERDUE,
    HOLDER_CONCENTRATION,
    OBLIGOR_CONCENTRATION,
    TENOR,
    DUPLICATE_DOCUMENT,
    SUSPENDED_HOLDER,
    VELOCITY,
    ATTESTATION_REVOKED,
    BUYER_INDIRECT_EXPOSURE,
)
CLOSED_LOOP_RULES: Final = (FUNDING_SHORTFALL, OVERDUE)
"""The rules whose live alerts on an obligor stop a financier's offers when its policy says so."""
SEVERITIES: Final = ("info", "warning", "critical")

Funds = Callable[[str, str], tuple[int, int] | None]
"""(address, currency) -> (settlement-token balance, allowance given to the ledger); None: no token
is registered for the currency."""


@dataclass(frozen=True)
class Finding:
    """A condition that holds now: the alert it raises (or keeps open)."""

    rule: str
    severity: str
    subject_kind: str
    subject: str
    figures: dict[str, Any]
    obligor: str | None = None
    detail: str = ""
    """Distinguishes several alerts of one rule on one subject (the holder of a concentration)."""

    def key(self, owner: str | None) -> str:
        parts = [owner or "platform", self.rule, self.subject]
        if self.detail:
            parts.append(self.detail)
        return "|".join(parts)


@dataclass(frozen=True)
class Scope:
    """What to evaluate: the obligors and members a batch touched (None: everything)."""

    obligors: frozenset[str] | None = None
    members: frozenset[str] | None = None

    def obligor_filter(self, column: Any) -> ColumnElement[bool]:
        return true() if self.obligors is None else column.in_(self.obligors)

    def member_filter(self, column: Any) -> ColumnElement[bool]:
        return true() if self.members is None else column.in_(self.members)


EVERYTHING: Final = Scope()


@dataclass(frozen=True)
class RuleInput:
    conn: Connection
    policy: Policy
    now: int
    """The ledger's clock (the latest block's time, or the scheduler's reading of it)."""
    scope: Scope = EVERYTHING
    funds: Funds | None = None
    obligors: frozenset[str] | None = None
    """For a financier's own alerts: the obligors it finances or holds notes of (None: all)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def obligor_filter(self, column: Any) -> ColumnElement[bool]:
        condition = self.scope.obligor_filter(column)
        if self.obligors is not None:
            condition = and_(condition, column.in_(self.obligors))
        return condition


def bps(part: int, whole: int) -> int:
    return part * BPS // whole


def unpaid(row: Any) -> int:
    return int(row.amount) - int(row.paid_amount) - int(row.written_off_amount)


def _live_notes(inp: RuleInput, *statuses: int) -> list[Any]:
    wanted = statuses or tuple(int(s) for s in LIVE)
    stmt = select(NOTES).where(NOTES.c.status.in_(wanted), inp.obligor_filter(NOTES.c.obligor))
    return list(inp.conn.execute(stmt.order_by(NOTES.c.id)))


def utilisation(inp: RuleInput) -> list[Finding]:
    """(1) An obligor's outstanding amount at or above the warning / critical share of its limit."""
    found = []
    stmt = select(CREDIT).where(inp.obligor_filter(CREDIT.c.obligor), CREDIT.c.credit_limit > 0)
    for row in inp.conn.execute(stmt):
        limit, outstanding = int(row.credit_limit), int(row.outstanding)
        used = bps(outstanding, limit)
        if used >= inp.policy.utilisation_critical_bps:
            severity, threshold = "critical", inp.policy.utilisation_critical_bps
        elif used >= inp.policy.utilisation_warning_bps:
            severity, threshold = "warning", inp.policy.utilisation_warning_bps
        else:
            continue
        figures = {
            "credit_limit": str(limit),
            "outstanding": str(outstanding),
            "utilisation_bps": used,
            "threshold_bps": threshold,
        }
        found.append(Finding(UTILISATION, severity, "obligor", row.obligor, figures, obligor=row.obligor))
    return found


def funding_shortfall(inp: RuleInput) -> list[Finding]:
    """(2) The unpaid amount of an obligor's payable notes maturing within `shortfall_days` (or past
    maturity) above what the ledger can take from it: min(token balance, allowance to the ledger)."""
    if inp.funds is None:
        return []
    horizon = inp.now + inp.policy.shortfall_days * DAY
    due: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in _live_notes(inp, *(int(s) for s in PAYABLE)):
        if row.maturity <= horizon and unpaid(row) > 0:
            entry = due[(row.obligor, row.currency)]
            entry[0] += unpaid(row)
            entry[1] += 1
    found = []
    for (obligor, currency), (amount, count) in sorted(due.items()):
        account = inp.funds(obligor, currency)
        balance, allowance = account if account is not None else (0, 0)
        available = min(balance, allowance)
        if amount <= available:
            continue
        figures = {
            "currency": currency,
            "window_days": inp.policy.shortfall_days,
            "notes": count,
            "due": str(amount),
            "balance": str(balance),
            "allowance": str(allowance),
            "available": str(available),
            "shortfall": str(amount - available),
        }
        found.append(
            Finding(
                FUNDING_SHORTFALL, "critical", "obligor", obligor, figures, obligor=obligor, detail=currency
            )
        )
    return found


def grace_period(conn: Connection) -> int:
    grace = conn.scalar(select(CONFIG.c.grace_period).limit(1))
    return DEFAULT_GRACE_PERIOD if grace is None else int(grace)


def overdue(inp: RuleInput) -> list[Finding]:
    """(3) A live note unpaid after its maturity plus the ledger's grace period."""
    grace = grace_period(inp.conn)
    found = []
    for row in _live_notes(inp):
        left = unpaid(row)
        if left > 0 and row.maturity + grace < inp.now:
            figures = {
                "unpaid": str(left),
                "currency": row.currency,
                "maturity": int(row.maturity),
                "grace_seconds": grace,
                "days_past_due": (inp.now - int(row.maturity)) // DAY,
                "holder": row.holder,
            }
            found.append(Finding(OVERDUE, "critical", "note", str(row.id), figures, obligor=row.obligor))
    return found


def holder_concentration(inp: RuleInput) -> list[Finding]:
    """(4a) One holder over `holder_concentration_bps` of an obligor's live unpaid amount (only among
    two holders or more: a single holder is no concentration of a spread)."""
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in _live_notes(inp):
        totals[(row.obligor, row.currency)][row.holder] += unpaid(row)
    found = []
    for (obligor, currency), holders in sorted(totals.items()):
        whole = sum(holders.values())
        if len(holders) < 2 or whole <= 0:
            continue
        for holder, amount in sorted(holders.items()):
            share = bps(amount, whole)
            if share > inp.policy.holder_concentration_bps:
                figures = {
                    "holder": holder,
                    "currency": currency,
                    "held": str(amount),
                    "obligor_live": str(whole),
                    "share_bps": share,
                    "threshold_bps": inp.policy.holder_concentration_bps,
                }
                found.append(
                    Finding(
                        HOLDER_CONCENTRATION,
                        "warning",
                        "obligor",
                        obligor,
                        figures,
                        obligor=obligor,
                        detail=f"{holder}:{currency}",
                    )
                )
    return found


def obligor_concentration(inp: RuleInput, financier: str) -> list[Finding]:
    """(4b) One obligor over `obligor_concentration_bps` of a financier's live holdings (among two
    obligors or more)."""
    stmt = select(NOTES).where(NOTES.c.holder == financier, NOTES.c.status.in_([int(s) for s in LIVE]))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in inp.conn.execute(stmt):
        totals[row.currency][row.obligor] += unpaid(row)
    found = []
    for currency, obligors in sorted(totals.items()):
        whole = sum(obligors.values())
        if len(obligors) < 2 or whole <= 0:
            continue
        for obligor, amount in sorted(obligors.items()):
            share = bps(amount, whole)
            if share > inp.policy.obligor_concentration_bps:
                figures = {
                    "financier": financier,
                    "currency": currency,
                    "held": str(amount),
                    "holdings": str(whole),
                    "share_bps": share,
                    "threshold_bps": inp.policy.obligor_concentration_bps,
                }
                found.append(
                    Finding(
                        OBLIGOR_CONCENTRATION,
                        "warning",
                        "obligor",
                        obligor,
                        figures,
                        obligor=obligor,
                        detail=currency,
                    )
                )
    return found


def tenor(inp: RuleInput) -> list[Finding]:
    """(5) A live root note whose maturity is more than `max_tenor_days` after its issuance block."""
    issued = (
        select(NOTES.c.id, NOTES.c.obligor, NOTES.c.maturity, EVENTS.c.block_time)
        .join(EVENTS, and_(EVENTS.c.note_id == NOTES.c.id, EVENTS.c.name == "NoteIssued"))
        .where(
            NOTES.c.parent_id.is_(None),
            NOTES.c.status.in_([int(s) for s in LIVE]),
            inp.obligor_filter(NOTES.c.obligor),
        )
    )
    found = []
    for row in inp.conn.execute(issued):
        days = (int(row.maturity) - int(row.block_time)) // DAY
        if int(row.maturity) - int(row.block_time) > inp.policy.max_tenor_days * DAY:
            figures = {"issued_at": int(row.block_time), "maturity": int(row.maturity), "tenor_days": days}
            figures["max_tenor_days"] = inp.policy.max_tenor_days
            found.append(Finding(TENOR, "warning", "note", str(row.id), figures, obligor=row.obligor))
    return found


def suspended_holder(inp: RuleInput) -> list[Finding]:
    """(7) A suspended member that still holds live notes."""
    stmt = select(MEMBERS.c.address).where(
        MEMBERS.c.status == int(MemberStatus.SUSPENDED), inp.scope.member_filter(MEMBERS.c.address)
    )
    found = []
    for address in inp.conn.scalars(stmt):
        notes = list(
            inp.conn.execute(
                select(NOTES).where(NOTES.c.holder == address, NOTES.c.status.in_([int(s) for s in LIVE]))
            )
        )
        if notes:
            figures = {"live_notes": len(notes), "live_amount": str(sum(unpaid(n) for n in notes))}
            found.append(Finding(SUSPENDED_HOLDER, "critical", "member", address, figures))
    return found


RECEIVED: Final = {"NoteIssued": "holder", "NoteSplit": "holder", "NoteTransferred": "to"}


def velocity(inp: RuleInput) -> list[Finding]:
    """(8) A note tree that reached more than `velocity_holders` distinct holders within the last
    `velocity_hours` (issuance, split parts and transfers received)."""
    since = inp.now - inp.policy.velocity_hours * 3_600
    roots = select(NOTES.c.id).where(NOTES.c.parent_id.is_(None), inp.obligor_filter(NOTES.c.obligor))
    stmt = select(EVENTS.c.root_id, EVENTS.c.name, EVENTS.c.args).where(
        EVENTS.c.name.in_(list(RECEIVED)), EVENTS.c.block_time >= since, EVENTS.c.root_id.in_(roots)
    )
    holders: dict[int, set[str]] = defaultdict(set)
    for row in inp.conn.execute(stmt):
        holders[int(row.root_id)].add(str(row.args[RECEIVED[row.name]]))
    found = []
    for root_id, seen in sorted(holders.items()):
        if len(seen) > inp.policy.velocity_holders:
            obligor = inp.conn.scalar(select(NOTES.c.obligor).where(NOTES.c.id == root_id))
            figures = {
                "holders": len(seen),
                "window_hours": inp.policy.velocity_hours,
                "max_holders": inp.policy.velocity_holders,
            }
            found.append(Finding(VELOCITY, "warning", "note", str(root_id), figures, obligor=obligor))
    return found


def _receivable_trees(inp: RuleInput) -> dict[int, Any]:
    """The live evidence-backed receivables (root id -> receivable row) of the suppliers in scope,
    still owed by their supplier (not converted)."""
    stmt = select(RECEIVABLES).where(
        RECEIVABLES.c.converted_block.is_(None), inp.obligor_filter(RECEIVABLES.c.supplier)
    )
    return {int(row.note_id): row for row in inp.conn.execute(stmt)}


def _live_tree_notes(inp: RuleInput, roots: list[int]) -> list[Any]:
    if not roots:
        return []
    stmt = select(NOTES).where(NOTES.c.root_id.in_(roots), NOTES.c.status.in_([int(s) for s in LIVE]))
    return list(inp.conn.execute(stmt))


def attestation_revoked(inp: RuleInput) -> list[Finding]:
    """(9) An attestation revoked on a record behind a receivable that is financed: a live note of
    its tree is held by someone other than the supplier."""
    trees = _receivable_trees(inp)
    held: dict[int, set[str]] = defaultdict(set)
    for note in _live_tree_notes(inp, list(trees)):
        if note.holder != trees[int(note.root_id)].supplier:
            held[int(note.root_id)].add(str(note.holder))
    found = []
    for root_id, holders in sorted(held.items()):
        row = trees[root_id]
        hashes = [row.invoice_hash, *(row.supporting or [])]
        revoked = inp.conn.execute(
            select(ATTESTATIONS.c.doc_hash, ATTESTATIONS.c.attester)
            .where(ATTESTATIONS.c.doc_hash.in_(hashes), ATTESTATIONS.c.revoked_block.is_not(None))
            .order_by(ATTESTATIONS.c.doc_hash, ATTESTATIONS.c.attester)
        ).all()
        if revoked:
            figures = {
                "invoice_hash": row.invoice_hash,
                "revoked": [{"doc_hash": r.doc_hash, "attester": r.attester} for r in revoked],
                "holders": sorted(holders),
            }
            found.append(
                Finding(ATTESTATION_REVOKED, "critical", "note", str(root_id), figures, obligor=row.supplier)
            )
    return found


def buyer_indirect_exposure(inp: RuleInput) -> list[Finding]:
    """(10) A buyer owed through its suppliers' live evidence-backed receivables (unpaid, not
    converted) above the policy's `buyer_indirect_exposure` (0: off). Its credit line is untouched:
    this is the exposure the credit line does not show."""
    if inp.policy.buyer_indirect_exposure <= 0:
        return []
    trees = _receivable_trees(inp)
    by_buyer: dict[str, dict[str, Any]] = defaultdict(lambda: {"amount": 0, "suppliers": set()})
    for note in _live_tree_notes(inp, list(trees)):
        row = trees[int(note.root_id)]
        if note.obligor != row.supplier:
            continue
        entry = by_buyer[row.buyer]
        entry["amount"] += unpaid(note)
        entry["suppliers"].add(row.supplier)
    found = []
    for buyer, entry in sorted(by_buyer.items()):
        if inp.scope.members is not None and buyer not in inp.scope.members:
            continue
        if entry["amount"] > inp.policy.buyer_indirect_exposure:
            figures = {
                "indirect_exposure": str(entry["amount"]),
                "threshold": str(inp.policy.buyer_indirect_exposure),
                "suppliers": len(entry["suppliers"]),
            }
            found.append(Finding(BUYER_INDIRECT_EXPOSURE, "warning", "member", buyer, figures))
    return found


PLATFORM_RULES: Final[dict[str, Callable[[RuleInput], list[Finding]]]] = {
    UTILISATION: utilisation,
    FUNDING_SHORTFALL: funding_shortfall,
    OVERDUE: overdue,
    HOLDER_CONCENTRATION: holder_concentration,
    TENOR: tenor,
    SUSPENDED_HOLDER: suspended_holder,
    VELOCITY: velocity,
    ATTESTATION_REVOKED: attestation_revoked,
    BUYER_INDIRECT_EXPOSURE: buyer_indirect_exposure,
}
"""The rules of the platform's alerts (owner NULL), with the platform policy."""
FINANCIER_RULES: Final[dict[str, Callable[[RuleInput], list[Finding]]]] = {
    UTILISATION: utilisation,
    FUNDING_SHORTFALL: funding_shortfall,
    OVERDUE: overdue,
    HOLDER_CONCENTRATION: holder_concentration,
    ATTESTATION_REVOKED: attestation_revoked,
    BUYER_INDIRECT_EXPOSURE: buyer_indirect_exposure,
}
"""The rules a financier with a policy of its own gets its own alerts of (on its obligors)."""
FUNDED_RULES: Final = frozenset({FUNDING_SHORTFALL})
"""Rules that need the token balances (not evaluated without `funds`)."""


def financier_obligors(conn: Connection, financier: str) -> frozenset[str]:
    """The obligors a financier grants credit to or holds live notes of."""
    granted = conn.scalars(
        select(GRANTS.c.obligor).where(GRANTS.c.financier == financier, GRANTS.c.amount > 0)
    )
    held = conn.scalars(
        select(NOTES.c.obligor).where(NOTES.c.holder == financier, NOTES.c.status.in_([int(s) for s in LIVE]))
    )
    return frozenset(granted) | frozenset(held)


def financiers(conn: Connection) -> list[str]:
    """Members with the financier role bit."""
    rows = conn.execute(select(MEMBERS.c.address, MEMBERS.c.roles))
    return sorted(address for address, roles in rows if int(roles) & int(Role.FINANCIER))
