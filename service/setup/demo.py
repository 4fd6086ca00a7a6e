"""The embedded demo: an in-process chain, the ledger deployed, a demo consortium onboarded and
walked through issue -> accept -> split -> transfer -> discount -> settlement at maturity, printing
every step.

Run with `make demo-ledger` (or `python -m service.setup.demo`): the ledger client alone, no gateway or
SQL. `make run` (`credchain run`) serves the gateway over a seeded demo consortium instead.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.domain import Role
from service.ledger.chain import Chain, in_process_chain
from service.ledger.client import LedgerClient, SettlementTokenClient
from service.ledger.errors import LedgerRevert
from service.ledger.forwarder import deploy_with_forwarder
from service.ledger.types import SplitPart, TxResult

DAY = 86_400
FUNDING_WEI = 10**20

log = logging.getLogger("credchain.demo")


@dataclass(frozen=True)
class DemoMember:
    name: str
    roles: Role
    account: LocalAccount


def _money(minor_units: int, currency: str = "USD") -> str:
    """Minor units rendered for people, exactly (integer arithmetic, no floats)."""
    return f"{currency} {minor_units // 100:,}.{minor_units % 100:02d}"


def _step(title: str, result: TxResult) -> None:
    print(f"\n== {title}")
    print(f"   tx {result.tx_hash} (block {result.block_number}, {result.gas_used:,} gas)")
    for event in result.events:
        args = ", ".join(f"{k}={_render(v)}" for k, v in event.args.items() if k != "documentHash")
        print(f"   event {event.name}({args})")


def _render(value: object) -> str:
    if isinstance(value, bytes):
        return "none" if not any(value) else "0x" + value.hex()
    return str(value)


def _new_member(chain: Chain, name: str, roles: Role) -> DemoMember:
    account: LocalAccount = Account.create()
    chain.fund(account.address, FUNDING_WEI)
    return DemoMember(name, roles, account)


def run_demo(chain: Chain) -> int:
    """Deploy, seed the consortium and walk the main story; returns a process exit status."""
    operator = _new_member(chain, "Platform operator", Role(0))
    ledger, forwarder = deploy_with_forwarder(chain.w3, operator.account, operator.account.address)
    print(f"CreditNoteLedger deployed at {ledger.address} on the in-process chain")
    print(f"CreditChainForwarder (relay of members' signed requests) at {forwarder.address}")

    core = _new_member(chain, "Acme Motors (core enterprise)", Role.CORE_ENTERPRISE)
    bank = _new_member(chain, "First Bank (financier)", Role.FINANCIER)
    tier1 = _new_member(chain, "Gearbox Ltd (tier 1)", Role.SUPPLIER)
    tier2a = _new_member(chain, "Castings Co (tier 2)", Role.SUPPLIER)
    tier2b = _new_member(chain, "Bearings Inc (tier 2)", Role.SUPPLIER)
    auditor = _new_member(chain, "Audit Partners (auditor)", Role.AUDITOR)
    for member in (core, bank, tier1, tier2a, tier2b, auditor):
        ledger.onboard_member(operator.account, member.account.address, member.roles)
        print(f"onboarded {member.name}: {member.account.address} roles={member.roles!r}")

    _step(
        f"{core.name} approves {bank.name} as its financier",
        ledger.approve_financier(core.account, bank.account.address),
    )
    limit = 50_000_000_00
    _step(
        f"{bank.name} grants {core.name} a limit of {_money(limit)}",
        ledger.set_credit_limit(bank.account, core.account.address, limit),
    )

    face = 1_000_000_00
    invoice = hashlib.sha256(b"invoice INV-2026-0042, purchase order PO-7781").digest()
    issued = ledger.issue(core.account, tier1.account.address, face, "USD", chain.now() + 120 * DAY, invoice)
    _step(f"{core.name} issues a {_money(face)} note to {tier1.name}, due in 120 days", issued)
    root = issued.created_note_ids()[0]

    try:
        ledger.issue(core.account, tier1.account.address, face, "USD", chain.now() + 120 * DAY, invoice)
    except LedgerRevert as refused:
        print(f"\n== the same invoice cannot back a second note: refused with {refused.error_name}")

    _step(f"{tier1.name} accepts note {root}", ledger.accept(tier1.account, root))

    split = ledger.split(
        tier1.account,
        root,
        [SplitPart(tier1.account.address, 600_000_00), SplitPart(tier2a.account.address, 400_000_00)],
    )
    _step(f"{tier1.name} keeps {_money(600_000_00)} and pays {tier2a.name} {_money(400_000_00)}", split)
    kept, passed_on = split.created_note_ids()

    second = ledger.split(
        tier2a.account,
        passed_on,
        [SplitPart(tier2a.account.address, 250_000_00), SplitPart(tier2b.account.address, 150_000_00)],
    )
    _step(f"{tier2a.name} splits its piece again, paying {tier2b.name} {_money(150_000_00)}", second)

    _step(
        f"{tier1.name} passes its remaining piece whole to {tier2b.name}",
        ledger.transfer(tier1.account, kept, tier2b.account.address),
    )

    names: dict[str, str] = {m.account.address: m.name for m in (core, bank, tier1, tier2a, tier2b, auditor)}
    total_live = _print_tree(ledger, root, names, "as the ledger holds it (an auditor's view)")
    print(f"   live notes sum to {_money(total_live)} = the root's face {_money(face)}")
    limit_now, outstanding = ledger.credit_of(core.account.address)
    print(f"   {core.name}: outstanding {_money(outstanding)} of a {_money(limit_now)} limit")
    if total_live != face:
        return 1

    token = SettlementTokenClient.deploy(ledger, operator.account, "USD")
    ledger.set_settlement_token(operator.account, "USD", token.address)
    print(f"\n== USD settlement token (tokenized deposits) at {token.address}, registered with the ledger")
    for number, (member, deposit) in enumerate(((bank, 10_000_000_00), (core, 2_000_000_00)), 1):
        # each settlement-bank reference moves money once
        token.mint(operator.account, member.account.address, deposit, f"demo deposit {number}".encode())
        token.approve(member.account, ledger.address, deposit)
        print(f"   {member.name} deposits {_money(deposit)} and lets the ledger draw on it")

    tier2b_piece = second.created_note_ids()[1]
    price = 147_750_00  # 150,000.00 less 4.5% a year, ACT/360, for the 120 days to maturity
    offer = ledger.offer_discount(bank.account, tier2b_piece, price, chain.now() + 2 * DAY)
    _step(f"{bank.name} offers {_money(price)} for {tier2b.name}'s {_money(150_000_00)} note", offer)
    _step(
        f"{tier2b.name} accepts: note and money change hands in one transaction",
        ledger.accept_discount_offer(tier2b.account, offer.offer_id()),
    )

    print("\n== 120 days pass: the notes mature")
    chain.advance_time(121 * DAY)
    settled = ledger.settle_root(core.account, root, 0, ledger.tree_size(root))
    _step(f"{core.name} settles every live note of the tree in one call", settled)
    paid = sum(int(e.args["amount"]) for e in settled.events if e.name == "NotePaid")
    _print_tree(ledger, root, names, "after settlement")
    for member in (tier1, tier2a, tier2b, bank):
        print(
            f"   {member.name} holds {_money(token.balance_of(member.account.address))} in settlement tokens"
        )
    limit_now, outstanding = ledger.credit_of(core.account.address)
    print(f"   paid {_money(paid)} = the root's face; {core.name}'s outstanding is {_money(outstanding)}")
    return 0 if paid == face and outstanding == 0 else 1


def _print_tree(ledger: LedgerClient, root: int, names: dict[str, str], title: str) -> int:
    """Print every note of the tree; return the sum of the live notes' amounts."""
    print(f"\n== the tree of note {root}, {title}")
    total_live = 0
    for index in range(ledger.tree_size(root)):
        note = ledger.get_note(root | index)
        if note.status.is_live:
            total_live += note.amount
        status, amount = note.status.name, _money(note.amount)
        print(f"   note {note.note_id}: {status:<8} {amount:>16} held by {names[note.holder]}")
    return total_live


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    return run_demo(in_process_chain())


if __name__ == "__main__":
    sys.exit(main())
