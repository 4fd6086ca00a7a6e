"""Settings of the gateway, from `CREDCHAIN_*` environment variables (pydantic-settings).

No module-level instance: callers build `Settings()` (or pass values) and hand it to
`service.api.context.build_context`.
"""

from __future__ import annotations

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, field_validator
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
    follower_contend_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often a gateway process that does not follow the chain head tries to take "
        "the follower role (so another takes over this soon after the follower's process dies)",
    )
    follower_max_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        description="longest wait of the head follower after failures (node or database away)",
    )
    shutdown_grace_seconds: float = Field(
        default=5.0,
        gt=0,
        description="a worker process stopping (or orphaned by its supervisor) lets requests in flight "
        "finish this long; it exits at most 2 s later in any case",
    )
    master_secret: SecretStr = SecretStr(DEMO_MASTER_SECRET)
    key_kdf_iterations: int = Field(default=100_000, ge=1, description="PBKDF2 rounds of custodial keys")
    write_wait_seconds: float = Field(default=10.0, ge=0)
    event_streams: int = Field(default=256, ge=1, description="open event streams a process serves at most")
    event_streams_per_member: int = Field(default=4, ge=1, description="open event streams per member")
    event_stream_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="seconds between the keep-alive comments of an idle event stream"
    )
    write_concurrency: int = Field(
        default=512,
        ge=1,
        description="writes run at once per gateway process, on threads of their own (waiting for their "
        "block does not hold a request thread)",
    )
    write_active: int = Field(
        default=2,
        ge=1,
        description="of the writes running, how many work at once (the others wait for their block "
        "or the index): few, so that reads are not left waiting for the interpreter",
    )
    write_queue: int = Field(
        default=64,
        ge=0,
        description="writes admitted beyond write_concurrency, queued; more: 503 gateway-busy",
    )
    node_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a request to the node not answered within this is given up (503 ledger-unavailable); "
        "requests are not retried by the HTTP client",
    )
    readiness_timeout_seconds: float = Field(
        default=2.0, gt=0, description="/readyz gives up on the node or the database after this (503)"
    )
    keep_alive_seconds: int = Field(
        default=30,
        ge=5,
        description="uvicorn keeps an idle client connection open this long; always well above the "
        "Retry-After the gateway sends (service.api.problems.RETRY_AFTER_SECONDS)",
    )
    funder_key: SecretStr | None = None
    funding_wei: int = Field(default=10**20, ge=0, description="ether given to each new custodial key")
    max_indexer_lag: int = Field(default=50, ge=0, description="readiness fails beyond this many blocks")
    provenance_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="rendered provenance answers kept per gateway process (bytes; 0 keeps none)",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        description="an Idempotency-Key's record (and replayable answer) is kept this long; a retry "
        "after that is a new request",
    )
    idempotency_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a write in flight holds its key this long, refreshed while it works; a retry after "
        "a lease expired (the process died) resolves the write from the chain",
    )
    idempotency_sweep_seconds: float = Field(
        default=300.0, ge=0, description="expired idempotency records are deleted this often (0: never)"
    )
    idempotency_sweep_batch: int = Field(
        default=1_000, ge=1, description="expired idempotency records deleted per statement"
    )
    settlement_job_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="how often a gateway process looks for unfinished settlement jobs to run or resume",
    )
    console_session_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        description="a web console session ends this long after sign-in, whatever its use",
    )
    console_sessions_per_member: int = Field(
        default=5,
        ge=1,
        description="open web console sessions per member; a new sign-in ends the oldest beyond this",
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="mark the web console's cookies Secure (set it when the gateway is served over HTTPS)",
    )
    alert_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how often the early-warning rules are evaluated as time passes (maturities approach "
        "without new blocks); 0: only as the index advances",
    )
    workers: int = Field(
        default=1, ge=1, description="uvicorn worker processes of `credchain run` (not in embedded mode)"
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="largest request body accepted (bytes, declared or streamed); larger: 413",
    )
    max_json_depth: int = Field(
        default=32, ge=4, le=256, description="deepest nesting of arrays and objects in a request body; 400"
    )
    rate_limit_writes: str = Field(
        default="600/minute",
        description='per API key, writes (POST, PUT, DELETE): limits syntax, e.g. "600/minute;10000/day"; '
        '"" or "0" turns it off',
    )
    rate_limit_reads: str = Field(
        default="0",
        description="per API key, single-resource reads (GET a note, an offer, ...); off by default: "
        "the hot read path, one SQL statement each, stays free of the limiter's cost",
    )
    rate_limit_expensive: str = Field(
        default="600/minute",
        description="per API key, expensive reads: provenance, risk views, lists, relay preparation",
    )
    rate_limit_unauthenticated: str = Field(
        default="60/minute",
        description="per client address, requests without a known API key answered 401 (no or unknown "
        "key: stops key guessing), 400 or 413 (bodies refused before authentication)",
    )

    @field_validator(
        "rate_limit_writes", "rate_limit_reads", "rate_limit_expensive", "rate_limit_unauthenticated"
    )
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        rate_limits(value)  # refuse a malformed limit when the settings are read, not at a request
        return value

    relayer_key: SecretStr | None = Field(
        default=None,
        description="private key that sends relayed requests and pays their gas (holds only gas; never "
        "the operator's). `credchain init` and the embedded gateway create and fund one",
    )
    relay_gas_per_day: int = Field(
        default=10_000_000,
        gt=0,
        description="gas the relayer may spend for one member in any 24 hours (counted in SQL from "
        "the relayed transactions' receipts, across gateway processes)",
    )
    relay_max_deadline_seconds: int = Field(
        default=3600,
        ge=60,
        description="latest deadline a relayed request may carry, in seconds from the chain's time",
    )

    webhook_allow_loopback: bool = Field(
        default=False,
        description="accept webhook URLs on loopback (http too) outside embedded mode (development); "
        "always allowed in embedded mode",
    )
    webhook_max_subscriptions: int = Field(default=20, ge=1, description="webhook subscriptions per member")
    webhook_max_failures: int = Field(
        default=12,
        ge=1,
        description="consecutive failed attempts after which a subscription is paused (and its owner "
        "alerted); its events wait, never skipped",
    )
    webhook_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="first wait after a failed delivery; doubles per failure (jittered)"
    )
    webhook_retry_max_seconds: float = Field(default=600.0, gt=0, description="longest wait between attempts")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="a receiver answers within this")
    webhook_concurrency: int = Field(
        default=16, ge=1, description="subscriptions one dispatcher serves at once"
    )
    webhook_batch: int = Field(default=200, ge=1, description="events read per subscription per round")
    webhook_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        description="how often the dispatcher looks for new events without a notification (SQLite); on "
        "PostgreSQL it wakes on NOTIFY and polls every 20 times this as a safety net",
    )
    webhook_delivery_retention_hours: float = Field(
        default=72.0, gt=0, description="the delivery log keeps attempts this long"
    )
    webhook_dispatcher: bool = Field(
        default=True, description="the gateway runs a webhook dispatcher (`credchain deliver` runs one too)"
    )

    @property
    def embedded(self) -> bool:
        return self.rpc_url == EMBEDDED


def rate_limits(value: str) -> list[RateLimitItem]:
    """The limits a `rate_limit_*` setting names ("" or "0": none; ValueError if malformed)."""
    text = value.strip()
    if text in ("", "0"):
        return []
    items = list(parse_many(text))
    if any(item.amount < 1 for item in items):
        raise ValueError(f'a rate limit must allow at least one request: {value!r} ("0" turns it off)')
    return items


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
