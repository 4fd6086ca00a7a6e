"""A deployed ledger with a small consortium of funded members, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.domain import Role
from service.ledger.chain import Chain
from service.ledger.client import LedgerClient, SettlementTokenClient
from service.ledger.forwarder import ForwarderClient, deploy_with_forwarder
from service.ledger.types import TxResult

FUNDING_WEI = 10**21
DEFAULT_LIMIT = 10**15
DAY = 86_400


@dataclass
class Consortium:
    """Operator, one core enterprise with a bank's credit limit, suppliers, a financier, an auditor,
    and one outsider who is not a member; the ledger trusts `forwarder` (ERC-2771 relay)."""

    chain: Chain
    ledger: LedgerClient
    operator: LocalAccount
    core: LocalAccount
    suppliers: list[LocalAccount]
    bank: LocalAccount
    auditor: LocalAccount
    outsider: LocalAccount
    token: SettlementTokenClient
    forwarder: ForwarderClient
    _doc_counter: list[int] = field(default_factory=lambda: [0])

    def next_document(self) -> bytes:
        """A fresh, never-used document hash."""
        self._doc_counter[0] += 1
        return self._doc_counter[0].to_bytes(32, "big")

    def maturity(self, days: int = 90) -> int:
        return self.chain.now() + days * DAY

    def issue(self, amount: int = 1_000_000, to: LocalAccount | None = None, days: int = 90) -> int:
        """Issue a pending root note from the core enterprise; returns its id."""
        holder = to or self.suppliers[0]
        result: TxResult = self.ledger.issue(
            self.core, holder.address, amount, "USD", self.maturity(days), self.next_document()
        )
        return result.created_note_ids()[0]

    def active_note(self, amount: int = 1_000_000, to: LocalAccount | None = None, days: int = 90) -> int:
        """Issue and accept a root note; returns its id."""
        holder = to or self.suppliers[0]
        note_id = self.issue(amount, holder, days)
        self.ledger.accept(holder, note_id)
        return note_id

    def fund_tokens(self, account: LocalAccount, amount: int, approve: int | None = None) -> None:
        """Mint `amount` settlement tokens (USD) to `account` and approve the ledger for `approve`
        (default: the same amount)."""
        self._doc_counter[0] += 1  # settlement-bank references are single-use
        self.token.mint(self.operator, account.address, amount, f"deposit {self._doc_counter[0]}".encode())
        self.token.approve(account, self.ledger.address, amount if approve is None else approve)


def new_account(chain: Chain) -> LocalAccount:
    account: LocalAccount = Account.create()
    chain.fund(account.address, FUNDING_WEI)
    return account


def deploy_consortium(chain: Chain, n_suppliers: int = 3, limit: int = DEFAULT_LIMIT) -> Consortium:
    """Deploy a ledger and onboard: core enterprise, `n_suppliers` suppliers, a bank that the core
    approves and that grants the core `limit`, an auditor; plus a funded outsider who is not
    onboarded. The ledger's trusted forwarder is deployed first. A USD settlement token (2 decimals)
    is deployed and registered; nobody holds any yet."""
    operator = new_account(chain)
    ledger, forwarder = deploy_with_forwarder(chain.w3, operator, operator.address)
    core = new_account(chain)
    suppliers = [new_account(chain) for _ in range(n_suppliers)]
    bank = new_account(chain)
    auditor = new_account(chain)
    outsider = new_account(chain)
    ledger.onboard_member(operator, core.address, Role.CORE_ENTERPRISE)
    for supplier in suppliers:
        ledger.onboard_member(operator, supplier.address, Role.SUPPLIER)
    ledger.onboard_member(operator, bank.address, Role.FINANCIER)
    ledger.onboard_member(operator, auditor.address, Role.AUDITOR)
    ledger.approve_financier(core, bank.address)
    ledger.set_credit_limit(bank, core.address, limit)
    token = SettlementTokenClient.deploy(ledger, operator, "USD")
    ledger.set_settlement_token(operator, "USD", token.address)
    return Consortium(chain, ledger, operator, core, suppliers, bank, auditor, outsider, token, forwarder)
