"""The embedded gateway of `credchain run`: an in-process chain with the ledger deployed, the
operator registered and, optionally, the demo consortium seeded. With a SQLite database in a file
the chain is kept in a file beside it (`chain_file`), and a restart resumes both where they were:
the same ledger, members, API keys and notes. `reset` (or a chain file and database that do not
describe each other) starts over: a fresh chain, the database emptied, new keys."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from service.api.auth import hash_key
from service.api.context import AppContext, build_context
from service.db.gateway_models import ApiMember
from service.db.migrate import downgrade, upgrade
from service.db.session import make_engine, make_session_factory
from service.domain import OPERATOR_ID
from service.indexer.indexer import Outcome
from service.ledger.chain import Chain, in_process_chain
from service.ledger.chain_store import ChainStore, remove_chain_file
from service.settings import Settings
from service.setup.bootstrap import bootstrap_gateway, ensure_sqlite_dir
from service.setup.seed import DEFAULT_CREDENTIALS, Credential, seed_demo, write_credentials

logger = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"


def chain_file(database_url: str) -> Path | None:
    """Where the embedded chain of a SQLite database file is kept (`var/credchain.sqlite` ->
    `var/credchain.chain.sqlite`); None for another database (the chain then lives in memory and
    every start is a fresh one)."""
    if not database_url.startswith(SQLITE_PREFIX) or ":memory:" in database_url:
        return None
    database = Path(database_url[len(SQLITE_PREFIX) :].split("?", 1)[0])
    return database.with_name(f"{database.stem}.chain.sqlite")


@dataclass(frozen=True)
class Resumed:
    settings: Settings
    api_key: str | None
    credentials: dict[str, Credential] | None


def embedded_gateway(
    settings: Settings,
    *,
    seed: bool,
    credentials_path: Path = DEFAULT_CREDENTIALS,
    reset: bool = False,
) -> tuple[AppContext, str | None, dict[str, Credential] | None]:
    """The embedded gateway's context, the operator's API key and the demo credentials (with
    `seed`, written to `credentials_path`). Resumed from a kept chain and database unless `reset`:
    the operator's key is then the one in the credentials file (None without a seeded demo: it was
    shown on the first start). Started over otherwise: a fresh chain with the ledger deployed, the
    database reset (its old contents described another chain), the operator registered and, with
    `seed`, the demo consortium onboarded through the gateway's own code."""
    ensure_sqlite_dir(settings.database_url)
    path = chain_file(settings.database_url)
    store: ChainStore | None = None
    if path is not None:
        if reset:
            remove_chain_file(path)
        store = ChainStore(path)
        chain = in_process_chain(store)
        resumed = None if reset else _resume(settings, chain, store, seed, credentials_path)
        if resumed is not None:
            logger.info("embedded chain resumed", extra={"chain_file": str(path)})
            context = build_context(resumed.settings, chain=chain)
            context.relayer()
            _catch_up(context)
            return context, resumed.api_key, resumed.credentials
        if not store.empty():
            logger.info("embedded demo started over", extra={"chain_file": str(path)})
            store.close()
            remove_chain_file(path)
            store = ChainStore(path)
            chain = in_process_chain(store)
    else:
        chain = in_process_chain()
    downgrade(settings.database_url, settings.database_schema)
    settings = settings.model_copy(update={"contract_address": None})
    settings, api_key = bootstrap_gateway(settings, chain, None)
    context = build_context(settings, chain=chain)
    context.relayer()  # the embedded relayer's key: created and funded now, not on the first relay
    credentials = None
    try:
        if seed:
            credentials = seed_demo(context, api_key)
            write_credentials(credentials_path, credentials)
        if store is not None:  # recorded last: a start interrupted before this starts over
            assert settings.contract_address is not None
            store.put(
                {
                    "contract_address": settings.contract_address,
                    "from_block": str(settings.from_block),
                    "seeded": "1" if seed else "0",
                }
            )
        _catch_up(context)
    except BaseException:
        context.close()
        raise
    return context, api_key, credentials


def _catch_up(context: AppContext) -> None:
    """Index up to the chain head now (the deployment, the relayer's funding): in embedded mode
    each write indexes its own block and nothing follows the head, so a start without writes
    would leave them out of the index until the first write."""
    while context.index_batch() not in (Outcome.IDLE, None):
        pass


def _resume(
    settings: Settings, chain: Chain, store: ChainStore, seed: bool, credentials_path: Path
) -> Resumed | None:
    """The kept demo, if the chain file records a deployment the database describes (the
    operator's address, the contract's code on the chain) and the same demo is asked for (seeded
    or not; seeded: the credentials file's keys still the members'); None to start over."""
    contract = store.get("contract_address")
    if contract is None or store.get("seeded") != ("1" if seed else "0"):
        return None
    if not chain.w3.eth.get_code(chain.w3.to_checksum_address(contract)):
        return None
    upgrade(settings.database_url, settings.database_schema)
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        with make_session_factory(engine)() as session:
            hashes = {m.id: (m.api_key_hash, m.address) for m in session.scalars(select(ApiMember))}
    finally:
        engine.dispose()
    if OPERATOR_ID not in hashes:
        return None
    resumed = settings.model_copy(
        update={"contract_address": contract, "from_block": int(store.get("from_block") or 0)}
    )
    if not seed:
        return Resumed(resumed, None, None)
    credentials = _read_credentials(credentials_path)
    if credentials is None or any(
        hashes.get(c.id) != (hash_key(c.api_key), c.address) for c in credentials.values()
    ):
        return None
    return Resumed(resumed, credentials["operator"].api_key, credentials)


def _read_credentials(path: Path) -> dict[str, Credential] | None:
    try:
        written = json.loads(path.read_text())
        credentials = {short: Credential(**entry) for short, entry in written.items()}
    except (OSError, ValueError, TypeError):
        return None
    return credentials if "operator" in credentials else None
