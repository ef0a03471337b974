"""Settings from the environment. Each service subclasses `ServiceSettings` with its own port."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from counseling_shared.db import DbTimeouts
from counseling_shared.http.rate_limit import parse_rate_limit
from counseling_shared.jetstream import DAY, EVENT_STREAM_MAX_AGE
from counseling_shared.links import DEV_LINK_SIGNING_KEY, LinkSigner

DEFAULT_GC_THRESHOLDS = "700,10,10"
"""CPython's own. Higher ones were measured and not kept (docs/performance.md, the paced run):
they halved the collector's CPU but made its longest pauses longer, which is what the tail
sees."""


def parse_gc_thresholds(value: str) -> tuple[int, int, int]:
    """`gen0,gen1,gen2` as three integers; raises ValueError otherwise. gen0 must be positive
    (0 would turn the collector off, which `gc.disable` says more plainly)."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"GC_THRESHOLDS must be three integers `gen0,gen1,gen2`, not {value!r}")
    gen0, gen1, gen2 = (int(p) for p in parts)
    if gen0 < 1:
        raise ValueError("GC_THRESHOLDS: gen0 must be at least 1 (0 turns collection off)")
    return gen0, gen1, gen2


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

DEV_INBOUND_SMS_SECRET = "dev-inbound-sms-secret"  # noqa: S105 - `make run`'s, in the README
"""The development stack's `INBOUND_SMS_SECRET` (notify's and crisis's). Printed in the README,
so a service refuses it outside DEVELOPMENT_MODE, as it refuses `dev-admin-key`: with it anyone
could post a STOP, an `ACK` or a client's C or X."""


def check_inbound_sms_secret(secret: SecretStr, *, development_mode: bool) -> None:
    """Raises ValueError when `secret` is the development stack's outside DEVELOPMENT_MODE."""
    if secret.get_secret_value() == DEV_INBOUND_SMS_SECRET and not development_mode:
        raise ValueError(
            "INBOUND_SMS_SECRET is the development stack's (published in the README); set a"
            " long random value (or DEVELOPMENT_MODE=true for a development stack)"
        )


def with_sslmode(url: str, sslmode: str) -> str:
    """`url` with `sslmode` in its query, unless the URL already names one."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "sslmode" for name, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("sslmode", sslmode)])))


def unreadable_files(settings: BaseSettings) -> list[str]:
    """One line for each `*_FILE` setting whose file cannot be read, naming the variable and
    the path (a path, never what the file holds)."""
    problems = []
    for name, field in type(settings).model_fields.items():
        path = getattr(settings, name)
        if not (field.alias or "").endswith("_FILE") or not isinstance(path, Path):
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            problems.append(f"{field.alias}: cannot read {path} ({exc.strerror or exc})")
    return problems


class ServiceSettings(BaseSettings):
    """What every service reads from its environment (documented in the README)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "service"
    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", alias="DATABASE_URL"
    )
    migration_database_url: str | None = Field(
        default=None,
        alias="MIGRATION_DATABASE_URL",
        description="The role that owns the tables and runs migrations; it grants the runtime "
        "role (DATABASE_URL's) what it needs. Unset: DATABASE_URL's role does both.",
    )
    database_sslmode: SslMode | None = Field(
        default=None,
        alias="DATABASE_SSLMODE",
        description="libpq `sslmode` added to both database URLs (unless a URL names one).",
    )
    nats_nkey_seed: SecretStr | None = Field(
        default=None,
        alias="NATS_NKEY_SEED",
        description="This service's NATS user seed (`SU…`). Unset (and no seed file): no auth.",
    )
    nats_nkey_seed_file: Path | None = Field(
        default=None,
        alias="NATS_NKEY_SEED_FILE",
        description="A file holding the seed instead (a mounted Kubernetes Secret).",
    )
    nats_tls_ca_file: Path | None = Field(
        default=None,
        alias="NATS_TLS_CA_FILE",
        description="CA bundle to verify the NATS server's certificate (with a tls:// URL).",
    )
    database_schema: str | None = Field(
        default=None,
        alias="DATABASE_SCHEMA",
        description="Schema to use when several services share one database.",
    )
    host: str = Field(default="127.0.0.1", alias="HOST")
    port: int = 8000
    api_keys: str = Field(
        default="",
        alias="API_KEYS",
        description="Comma-separated keys, each `<secret>;role=<role>;sites=<id>|<id>"
        "[;staff=<staff_id>]` (or `key`: an admin of every site); the secret may be"
        " `sha256:<hex>`. See the README.",
    )
    idempotency_key_ttl: timedelta = Field(
        default=timedelta(hours=24),
        alias="IDEMPOTENCY_KEY_TTL",
        description="How long an Idempotency-Key is remembered (ISO 8601 duration, e.g. PT24H).",
    )
    development_mode: bool = Field(
        default=False,
        alias="DEVELOPMENT_MODE",
        description="A development stack: allows the `dev-admin-key`. Never set in production.",
    )
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    stream_replicas: int = Field(default=1, alias="STREAM_REPLICAS", ge=1, le=5)
    db_pool_max: int = Field(default=10, alias="DB_POOL_MAX", ge=2)
    db_statement_timeout: float = Field(
        default=15.0,
        alias="DB_STATEMENT_TIMEOUT",
        ge=0,
        description="Seconds one SQL statement may run (0: no limit).",
    )
    db_lock_timeout: float = Field(
        default=5.0,
        alias="DB_LOCK_TIMEOUT",
        ge=0,
        description="Seconds a statement may wait for a lock (0: no limit).",
    )
    db_idle_in_transaction_timeout: float = Field(
        default=60.0,
        alias="DB_IDLE_IN_TRANSACTION_TIMEOUT",
        ge=0,
        description="Seconds a transaction may stay idle before the server ends it (0: never).",
    )
    handler_timeout: float = Field(
        default=30.0,
        alias="HANDLER_TIMEOUT",
        gt=0,
        description="Seconds one event handler may take before its message counts as failed.",
    )
    outage_backoff_max: float = Field(
        default=10.0,
        alias="OUTAGE_BACKOFF_MAX",
        gt=0,
        description="Longest wait between two probes of an unreachable database or NATS.",
    )

    def db_timeouts(self) -> DbTimeouts:
        return DbTimeouts(
            statement=self.db_statement_timeout,
            lock=self.db_lock_timeout,
            idle_in_transaction=self.db_idle_in_transaction_timeout,
        )

    listening_poll: float = Field(
        default=10.0,
        alias="LISTENING_POLL",
        gt=0,
        description=(
            "Longest sleep (seconds) of a loop woken by LISTEN/NOTIFY (outbox relay, timers,"
            " notify's workers) while its LISTEN connection is up; while it is down, they look"
            " every second."
        ),
    )

    def relay_listening_poll(self) -> float:
        """The outbox relay's longest sleep while its LISTEN connection is up (a service whose
        events page people shortens it)."""
        return self.listening_poll

    prune_interval: float = Field(
        default=600.0,
        alias="PRUNE_INTERVAL",
        gt=0,
        description="Seconds between two pruning rounds.",
    )
    prune_batch: int = Field(
        default=500, alias="PRUNE_BATCH", ge=1, description="Rows deleted per statement."
    )
    prune_inbox_after: timedelta = Field(
        default=timedelta(days=100),
        alias="PRUNE_INBOX_AFTER",
        description="Age of inbox rows to delete; keep it longer than the streams' 90 days.",
    )
    prune_outbox_after: timedelta = Field(
        default=timedelta(days=7),
        alias="PRUNE_OUTBOX_AFTER",
        description="Age of published outbox rows to delete.",
    )
    prune_idempotency_after: timedelta = Field(
        default=timedelta(hours=24),
        alias="PRUNE_IDEMPOTENCY_AFTER",
        description="Age of HTTP idempotency keys to delete.",
    )
    prune_dead_letters_after: timedelta = Field(
        default=timedelta(days=30),
        alias="PRUNE_DEAD_LETTERS_AFTER",
        description="Time a redriven or reviewed dead letter is kept.",
    )
    prune_settled_timers_after: timedelta = Field(
        default=timedelta(days=30),
        alias="PRUNE_SETTLED_TIMERS_AFTER",
        description="Time a fired or cancelled timer row is kept (services with timers).",
    )
    prune_attempts_after: timedelta = Field(
        default=timedelta(days=90),
        alias="PRUNE_ATTEMPTS_AFTER",
        description="Time a delivery attempt record is kept (notify).",
    )
    known_id_wait_seconds: float = Field(
        default=3.0,
        alias="KNOWN_ID_WAIT_SECONDS",
        ge=0,
        description="How long a request naming a site, client or recipient this service has not"
        " heard of yet waits for booking's event before it is refused with a 422.",
    )
    link_signing_key: SecretStr = Field(
        default=SecretStr(DEV_LINK_SIGNING_KEY),
        alias="LINK_SIGNING_KEY",
        description="Secret that signs links used without a sign-in (calendar feeds, page"
        " links). Required outside DEVELOPMENT_MODE: empty or the development default is"
        " refused at start.",
    )
    link_signing_previous_keys: SecretStr = Field(
        default=SecretStr(""),
        alias="LINK_SIGNING_PREVIOUS_KEYS",
        description="Comma-separated keys that LINK_SIGNING_KEY replaced: links they signed"
        " (and, in crisis, staff phone digests made with them) are still accepted; nothing new"
        " is signed with them. Drop a key once what it signed may stop working.",
    )
    rate_limit: str = Field(
        default="6000/minute",
        alias="RATE_LIMIT",
        description="Requests per API key, in `limits` notation (`6000/minute`, "
        "`50/second;1000/minute`), or `off`. Health, readiness and metrics are never limited.",
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        alias="RATE_LIMIT_STORAGE_URI",
        description="Where the counts live: `memory://` (per process) or a shared store.",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        alias="FORWARDED_ALLOW_IPS",
        description="Comma-separated addresses or CIDR ranges of the proxies (the ingress)"
        " whose `X-Forwarded-For` names the client: the rate limit then counts anonymous"
        " requests per real client. Empty: the connecting address counts (behind an ingress,"
        " everyone shares the ingress's budget). `*` trusts anyone: never where clients can"
        " reach the service directly.",
    )
    gc_freeze_after_start: bool = Field(
        default=True,
        alias="GC_FREEZE_AFTER_START",
        description="Once started, move every object into the garbage collector's permanent"
        " generation (`gc.freeze`), so full collections no longer walk the app's long-lived"
        " objects and pause requests for tens of milliseconds.",
    )
    gc_thresholds: str = Field(
        default=DEFAULT_GC_THRESHOLDS,
        alias="GC_THRESHOLDS",
        description="The garbage collector's three thresholds once started (`gc.set_threshold`),"
        " as `gen0,gen1,gen2`; the default is CPython's own. A higher first one collects"
        " less often but pauses longer each time.",
    )

    @field_validator("prune_inbox_after")
    @classmethod
    def _inbox_outlives_the_streams(cls, value: timedelta) -> timedelta:
        # A younger row could be pruned while the stream can still redeliver (or a rebuild
        # replay) its message, which the inbox would then apply a second time.
        if value.total_seconds() <= EVENT_STREAM_MAX_AGE:
            days = round(EVENT_STREAM_MAX_AGE / DAY)
            raise ValueError(
                f"PRUNE_INBOX_AFTER must be longer than the streams keep messages ({days} days)"
            )
        return value

    @field_validator("gc_thresholds")
    @classmethod
    def _thresholds_parse(cls, value: str) -> str:
        parse_gc_thresholds(value)  # a ValueError says what is wrong
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_parse(cls, value: str | None) -> str | None:
        for part in (p.strip() for p in (value or "").split(",")):
            if part and part != "*":
                ipaddress.ip_network(part, strict=False)  # a ValueError names the entry
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        parse_rate_limit(value)  # a ValueError names what is wrong
        return value

    @field_validator(
        "migration_database_url",
        "database_sslmode",
        "nats_nkey_seed",
        "nats_nkey_seed_file",
        "nats_tls_ca_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable (`X=` in a compose file or a ConfigMap) means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _apply_sslmode(self) -> Self:
        if self.database_sslmode is not None:
            self.database_url = with_sslmode(self.database_url, self.database_sslmode)
            if self.migration_database_url is not None:
                self.migration_database_url = with_sslmode(
                    self.migration_database_url, self.database_sslmode
                )
        return self

    @property
    def link_keys(self) -> tuple[str, ...]:
        """The current link signing key first, then the ones it replaced."""
        previous = self.link_signing_previous_keys.get_secret_value().split(",")
        current = self.link_signing_key.get_secret_value()
        return (current, *(k.strip() for k in previous if k.strip()))

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """FORWARDED_ALLOW_IPS as a list (empty: trust no forwarded address)."""
        spec = self.forwarded_allow_ips or ""
        return tuple(p.strip() for p in spec.split(",") if p.strip())

    def link_signer(self) -> LinkSigner:
        current, *previous = self.link_keys
        return LinkSigner(current, previous)

    @property
    def migration_dsn(self) -> str:
        """Where migrations (and other maintenance, like rebuilds) connect."""
        return self.migration_database_url or self.database_url

    @property
    def nats_authenticated(self) -> bool:
        """Credentials given: the bus is administered by the operator, not by this service."""
        return self.nats_nkey_seed is not None or self.nats_nkey_seed_file is not None

    @field_validator("database_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("_", "").isalnum():
            raise ValueError("DATABASE_SCHEMA must be a plain identifier")
        return value
