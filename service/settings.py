"""Settings of the gateway, from `CREDCHAIN_*` environment variables (pydantic-settings).

No module-level instance: callers build `Settings()` (or pass values) and hand it to
`service.api.context.build_context`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED = "embedded"
DEFAULT_DATABASE_URL = "sqlite:///var/credchain.sqlite"
DEMO_MASTER_SECRET = "change-me"
"""The master secret of the embedded demo; refused anywhere else (`require_master_secret`)."""
MIN_MASTER_SECRET_LENGTH = 32


class InsecureMasterSecret(ValueError):
    """Outside embedded mode the master secret is the demo default or too short."""


class Settings(BaseSettings):
    """Everything the gateway needs to run; every field is `CREDCHAIN_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CREDCHAIN_", extra="ignore")

    rpc_url: str = Field(default=EMBEDDED, description='"embedded" (in-process chain) or a JSON-RPC URL')
    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = None
    contract_address: str | None = None
    from_block: int = Field(default=0, ge=0)
    confirmations: int = Field(default=0, ge=0)
    poll_interval: float = Field(default=1.0, gt=0)
    master_secret: SecretStr = SecretStr(DEMO_MASTER_SECRET)
    key_kdf_iterations: int = Field(default=100_000, ge=1, description="PBKDF2 rounds of custodial keys")
    write_wait_seconds: float = Field(default=10.0, ge=0)
    funder_key: SecretStr | None = None
    funding_wei: int = Field(default=10**20, ge=0, description="ether given to each new custodial key")
    max_indexer_lag: int = Field(default=50, ge=0, description="readiness fails beyond this many blocks")
    provenance_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="rendered provenance answers kept per gateway process (bytes; 0 keeps none)",
    )
    settlement_job_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="how often a gateway process looks for unfinished settlement jobs to run or resume",
    )
    workers: int = Field(
        default=1, ge=1, description="uvicorn worker processes of `credchain run` (not in embedded mode)"
    )

    @property
    def embedded(self) -> bool:
        return self.rpc_url == EMBEDDED


def require_master_secret(settings: Settings) -> None:
    """Refuse (InsecureMasterSecret) to hold custodial keys against a real node with the demo master
    secret or one shorter than 32 characters; the embedded demo may keep its default."""
    if settings.embedded:
        return
    secret = settings.master_secret.get_secret_value()
    if secret == DEMO_MASTER_SECRET:
        raise InsecureMasterSecret(
            "CREDCHAIN_MASTER_SECRET is the demo default: it encrypts the members' custodial keys, so "
            f"set a secret of your own, at least {MIN_MASTER_SECRET_LENGTH} characters "
            "(e.g. `openssl rand -base64 48`)"
        )
    if len(secret) < MIN_MASTER_SECRET_LENGTH:
        raise InsecureMasterSecret(
            f"CREDCHAIN_MASTER_SECRET has {len(secret)} characters: it encrypts the members' custodial "
            f"keys, so it must have at least {MIN_MASTER_SECRET_LENGTH} (e.g. `openssl rand -base64 48`)"
        )
