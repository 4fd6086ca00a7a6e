"""The in-process chain serialises its own requests (eth-tester is not thread-safe): threads that
send transactions and read the chain at once, with no lock of their own, all succeed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.ledger.chain import SerialisedTesterProvider, in_process_chain


def test_every_request_to_the_in_process_chain_holds_its_lock() -> None:
    chain = in_process_chain()
    assert isinstance(chain.w3.provider, SerialisedTesterProvider)
    assert chain.w3.provider.lock is chain.lock
    with chain.serialised():  # re-entrant: a sequence may make calls while holding it
        assert chain.w3.eth.block_number >= 0


def test_concurrent_funding_and_reads_on_the_in_process_chain_all_succeed() -> None:
    chain = in_process_chain()
    accounts: list[LocalAccount] = [Account.create() for _ in range(16)]

    def fund(account: LocalAccount) -> int:
        chain.fund(account.address, 10**15)
        return int(chain.w3.eth.get_balance(account.address))

    with ThreadPoolExecutor(max_workers=8) as pool:
        balances = list(pool.map(fund, accounts))
        heads = list(pool.map(lambda _: chain.w3.eth.block_number, range(32)))
    assert balances == [10**15] * len(accounts)
    assert max(heads) <= chain.w3.eth.block_number


def test_the_chain_of_a_node_has_no_lock_of_its_own() -> None:
    from service.ledger.chain import Chain

    chain = Chain(w3=in_process_chain().w3, kind="http", funder=None)
    with chain.serialised() as held:
        assert held is None
