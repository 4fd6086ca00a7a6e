"""The embedded gateway of `credchain run`: a fresh in-process chain, the ledger deployed, the
operator registered and, optionally, the demo consortium seeded."""

from __future__ import annotations

from pathlib import Path

from service.api.context import AppContext, build_context
from service.db.migrate import downgrade
from service.ledger.chain import in_process_chain
from service.settings import Settings
from service.setup.bootstrap import bootstrap_gateway, ensure_sqlite_dir
from service.setup.seed import DEFAULT_CREDENTIALS, Credential, seed_demo, write_credentials


def embedded_gateway(
    settings: Settings, *, seed: bool, credentials_path: Path = DEFAULT_CREDENTIALS
) -> tuple[AppContext, str, dict[str, Credential] | None]:
    """A fresh in-process chain with the ledger deployed, the database reset (its old contents
    described another chain), the operator registered and, with `seed`, the demo consortium
    onboarded through the gateway's own code and its credentials written to `credentials_path`.
    Returns the context, the operator's API key and the demo credentials."""
    chain = in_process_chain()
    ensure_sqlite_dir(settings.database_url)
    downgrade(settings.database_url, settings.database_schema)
    settings = settings.model_copy(update={"contract_address": None})
    settings, api_key = bootstrap_gateway(settings, chain, None)
    context = build_context(settings, chain=chain)
    context.relayer()  # the embedded relayer's key: created and funded now, not on the first relay
    credentials = None
    if seed:
        try:
            credentials = seed_demo(context, api_key)
            write_credentials(credentials_path, credentials)
        except BaseException:
            context.close()
            raise
    return context, api_key, credentials
