"""Shared fixtures: one in-process chain and consortium per session, reverted after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.ledger.chain import Chain, in_process_chain
from tests.anvil import anvil  # noqa: F401  (registers the session fixture)
from tests.consortium import Consortium, deploy_consortium
from tests.databases import empty_db, pg_schema

__all__ = ["empty_db", "pg_schema"]


@pytest.fixture(scope="session")
def chain() -> Chain:
    return in_process_chain()


@pytest.fixture(scope="session")
def _deployed(chain: Chain) -> Consortium:
    return deploy_consortium(chain)


@pytest.fixture
def consortium(chain: Chain, _deployed: Consortium) -> Iterator[Consortium]:
    """The deployed consortium; every chain change a test makes is reverted after it."""
    snapshot = chain.snapshot()
    yield _deployed
    chain.revert(snapshot)
    for account in (
        _deployed.operator,
        _deployed.core,
        _deployed.bank,
        _deployed.auditor,
        _deployed.outsider,
        *_deployed.suppliers,
    ):
        _deployed.ledger.nonces.forget(account.address)
