"""One validated settings object, read from ``COMPLIANCE_*`` environment variables.

Every field has a description and a local default that matches ``make services``; secrets are
``SecretStr`` so they are masked when settings are printed or logged. The defaults of the
secrets (the audit signing key, the database passwords) are development ones: outside
``COMPLIANCE_DEVELOPMENT_MODE`` reading one of them stops start-up with one sentence.
"""

from __future__ import annotations

import logging
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from compliance.errors import ConfigurationError
from compliance.topics import TopicSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEV_AUDIT_SIGNING_KEY = "dev-only-audit-signing-key-change-me"
# The roles of the local cluster (infra/postgres.sh): the owner runs the migrations, the
# processors and the audit sink connect as roles that own nothing.
DEV_DATABASE_URL = "postgresql+psycopg2://compliance_app:compliance_app@127.0.0.1:5432/compliance"
DEV_AUDIT_DATABASE_URL = (
    "postgresql+psycopg2://compliance_sink:compliance_sink@127.0.0.1:5432/compliance"
)
DEV_ADMIN_DATABASE_URL = "postgresql+psycopg2://compliance:compliance@127.0.0.1:5432/compliance"
DEV_DATABASE_PASSWORDS = frozenset(
    str(make_url(url).password)
    for url in (DEV_DATABASE_URL, DEV_AUDIT_DATABASE_URL, DEV_ADMIN_DATABASE_URL)
)
DEVELOPMENT_MODE_VARIABLE = "COMPLIANCE_DEVELOPMENT_MODE"
log = logging.getLogger(__name__)
# librdkafka's max.poll.interval.ms (not overridden in kafka_io): a consumer that does not poll
# for this long leaves its group, and the transaction of the batch it was working on fails.
KAFKA_MAX_POLL_INTERVAL_S = 300.0
# Largest local-classifier batch: at about one OCR'd scan a second on a single core, a batch
# this size takes half of max.poll.interval.ms, leaving the rest for slower scans.
LOCAL_BATCH_MAX = 150


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLIANCE_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How the Kafka clients connect: PLAINTEXT (local), SSL, SASL_PLAINTEXT or "
        "SASL_SSL (a managed Kafka: TLS and a SASL login).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism with SASL_SSL or SASL_PLAINTEXT."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    kafka_ssl_ca_location: Path | None = Field(
        None,
        description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL); "
        "unset: the system's CA store.",
    )
    development_mode: bool = Field(
        False,
        description="A developer's machine: the built-in development secrets (audit signing "
        "key, database passwords) are accepted; otherwise start-up refuses them. `make run`, "
        "`make test` and `make bench` set it.",
    )
    database_url: SecretStr = Field(
        SecretStr(DEV_DATABASE_URL),
        description="SQLAlchemy URL the classifier, the checker and the CLI connect with, as a "
        "role that owns nothing (see `compliance db grant-writer --processors`; secret: it "
        "carries the password).",
    )
    admin_database_url: SecretStr = Field(
        SecretStr(DEV_ADMIN_DATABASE_URL),
        description="SQLAlchemy URL of the role that owns the tables: used only by `compliance "
        "db init`, `compliance db grant-writer` and `compliance gdpr erase` (secret).",
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic and consumer group (isolates tests, tenants)."
    )
    rules_dir: Path = Field(
        PROJECT_ROOT / "rules", description="Folder of YAML rule files and their watchlists."
    )
    rules_reload_interval_s: float = Field(
        5.0,
        ge=0,
        description="How often the checker looks for changed rule files (0: only on SIGHUP).",
    )
    sanctions_dir: Path = Field(
        PROJECT_ROOT / "rules" / "watchlists",
        description="Folder of bundled sanctions/PEP list files, used until a list version is "
        "loaded into the database with `compliance sanctions load`.",
    )
    sanctions_poll_s: float = Field(
        30.0, gt=0, description="How often running screeners look for a new list version."
    )
    routing_file: Path = Field(
        PROJECT_ROOT / "config" / "exception_routing.yaml",
        description="Exception routing: category per rule and kind, SLA hours per category and "
        "severity (read by every processor that raises exceptions).",
    )
    sar_config_file: Path = Field(
        PROJECT_ROOT / "config" / "sar.yaml",
        description="The parties of a FinCEN SAR (`compliance report sar`): transmitter, "
        "filing institution, contact office (YAML, as config/sar.yaml).",
    )
    notifier_routes_file: Path = Field(
        PROJECT_ROOT / "config" / "notifier.yaml",
        description="The notifier's routes (YAML): which Slack or Teams webhook (by the name "
        "of the environment variable holding its URL) gets which severities and categories, "
        "what each shows, and how deliveries are retried.",
    )
    notifier_review_base_url: str | None = Field(
        None,
        description="Base URL of the review application, for the notifier's links "
        "(<base>/?q=<customer id>, the queue searched); unset: messages carry no link.",
    )
    scheduler_file: Path = Field(
        PROJECT_ROOT / "config" / "scheduler.yaml",
        description="Scheduled jobs (`compliance run scheduler`, `compliance jobs run`): their "
        "cron schedules, options and the misfire grace time (YAML, as config/scheduler.yaml).",
    )
    transactions_rules_dir: Path = Field(
        PROJECT_ROOT / "rules" / "transactions",
        description="Folder of the transaction monitoring rules (monitoring.yaml), the FATF "
        "jurisdiction lists and the rate table.",
    )
    transactions_rates_file: Path | None = Field(
        None,
        description="Exchange rates to the reporting currency (YAML, as rules/transactions/"
        "rates.yaml); unset: the table the rules name.",
    )
    transactions_state_dir: Path = Field(
        PROJECT_ROOT / ".state" / "transaction-screener",
        description="Where the transaction screener keeps its per-account windows (RocksDB; "
        "rebuilt from its changelog topic when lost).",
    )
    transactions_commit_interval_s: float = Field(
        0.01,
        gt=0,
        le=5,
        description="How often the transaction screener commits its Kafka transaction while "
        "it keeps up: its results become visible then (latency) and each commit costs a "
        "round trip (speed); while it catches up on a backlog it commits every 0.25 s.",
    )
    document_roots: list[Path] = Field(
        default_factory=lambda: [PROJECT_ROOT],
        description="Folders that file:// document references may point into (JSON list).",
    )
    max_document_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Documents larger than this become exceptions."
    )
    inline_max_bytes: int = Field(
        64 * 1024, gt=0, description="Documents up to this size may travel inline in the event."
    )
    s3_buckets: list[str] = Field(
        default_factory=list,
        description="Buckets that s3:// document references may point into (JSON list; empty: "
        "none). Needs the `s3` extra; credentials come from boto3's usual chain "
        "(AWS_ACCESS_KEY_ID, AWS_PROFILE, instance role, ...).",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible store (MinIO, Ceph, ...); unset: AWS S3.",
    )
    s3_region: str | None = Field(
        None, description="Region of the S3 store; unset: boto3's usual configuration."
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Names this process among copies of a processor (transactional id).",
    )
    batch_size: int = Field(500, gt=0, le=100_000, description="Records per consume batch.")
    poll_timeout_s: float = Field(0.5, gt=0, description="How long one poll waits for records.")
    transaction_timeout_ms: int = Field(
        15_000,
        ge=1_000,
        description="Kafka transaction timeout; bounds how long a crashed processor's open "
        "transaction can hold back read_committed consumers.",
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz for `compliance run`; 0: none.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the metrics and probes listen on (0.0.0.0 in a container).",
    )
    metrics_enabled: bool = Field(
        True,
        description="Record metrics on the hot path (false: every metric update is a no-op).",
    )
    metrics_stats_interval_ms: int = Field(
        5000,
        ge=0,
        description="How often the Kafka clients report statistics (consumer lag, partitions "
        "assigned, brokers up) to the metrics and /readyz; 0: never.",
    )
    liveness_timeout_s: float = Field(
        330.0,
        gt=0,
        description="/healthz fails when the main loop has not polled Kafka for this long "
        "(longer than Kafka's max.poll.interval.ms, the longest a batch may take).",
    )
    transaction_call_timeout_s: float = Field(
        30.0,
        gt=0,
        le=120,
        description="Timeout passed to each Kafka transaction call (begin, send offsets, "
        "commit, abort, init). A call still blocked after twice this plus 10 s means the "
        "client is stuck: the processor logs it and exits with status 3 for its supervisor.",
    )
    dead_letter_limit: int = Field(
        100,
        ge=0,
        description="More dead letters than this within COMPLIANCE_DEAD_LETTER_WINDOW_S stop "
        "the processor without committing (a bad deploy, not bad records); 0: no limit.",
    )
    dead_letter_window_s: float = Field(
        60.0, gt=0, description="The window COMPLIANCE_DEAD_LETTER_LIMIT counts over."
    )
    dead_letter_batch_limit: int = Field(
        20,
        ge=0,
        description="A batch of more than this many records that all become dead letters "
        "stops the processor without committing; 0: no limit.",
    )
    anthropic_api_key: SecretStr | None = Field(
        None, description="Claude API key; without it the local classifier is used."
    )
    anthropic_base_url: str | None = Field(
        None, description="Messages API base URL (a proxy or gateway); unset: Anthropic's own."
    )
    anthropic_model: str = Field(
        "claude-sonnet-4-6", description="Claude model that classifies and extracts."
    )
    llm_concurrency: int = Field(
        16, ge=1, le=1024, description="Documents classified at once per classifier process."
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="Timeout of one Messages API call.")
    llm_batch_multiple: int = Field(
        4,
        ge=1,
        le=64,
        description="With Claude, the classifier consumes at most this many times "
        "COMPLIANCE_LLM_CONCURRENCY records per batch (and at most COMPLIANCE_BATCH_SIZE), "
        "so one batch finishes well within Kafka's max.poll.interval.ms; times "
        "COMPLIANCE_LLM_TIMEOUT_S it must stay under 300 s.",
    )
    local_batch_size: int = Field(
        32,
        ge=1,
        le=LOCAL_BATCH_MAX,
        description="Without Claude, the classifier consumes at most this many records per "
        "batch (and at most COMPLIANCE_BATCH_SIZE): local OCR takes about a second a scan per "
        "core, so a batch ends well within Kafka's max.poll.interval.ms (300 s); at most 150 "
        "(half of it at one scan a second on one core).",
    )
    llm_max_retries: int = Field(
        3, ge=0, le=10, description="SDK retries on 429, 5xx and timeouts (honours retry-after)."
    )
    llm_circuit_failures: int = Field(
        5, ge=1, description="Consecutive failed calls that open the circuit (API down)."
    )
    llm_circuit_reset_s: float = Field(
        30.0, gt=0, description="How long an open circuit waits before one trial call."
    )
    llm_redact_pii: bool = Field(
        False,
        description="Replace e-mails, IBANs, card, phone and tax numbers and MRZ lines "
        "with placeholders before text leaves the bank; restored locally in the reply.",
    )
    llm_max_text_chars: int = Field(
        60_000, gt=0, description="Longer document text is cut to this before it is sent."
    )
    llm_input_usd_per_mtok: float = Field(
        3.0, ge=0, description="Price of a million input tokens, for the cost metric."
    )
    llm_output_usd_per_mtok: float = Field(
        15.0, ge=0, description="Price of a million output tokens, for the cost metric."
    )
    llm_cache: bool = Field(
        True, description="Cache Claude's results in PostgreSQL by content hash, model, prompt."
    )
    min_document_confidence: float = Field(
        0.5, ge=0, le=1, description="A document type read with less confidence goes to review."
    )
    min_field_confidence: float = Field(
        0.5, ge=0, le=1, description="A field read with less confidence goes to human review."
    )
    field_confidence_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-field review thresholds overriding min_field_confidence (JSON object).",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    audit_batch_size: int = Field(
        5000,
        gt=0,
        le=100_000,
        description="Records the audit sink writes per database transaction; with the "
        "client's bounded fetch queue it bounds the sink's memory under a burst.",
    )
    audit_database_url: SecretStr = Field(
        SecretStr(DEV_AUDIT_DATABASE_URL),
        description="SQLAlchemy URL the audit sink connects with, as a role that may only "
        "append (see `compliance db grant-writer`; secret).",
    )
    audit_prepare_processes: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes that decode, seal and serialize batches for the audit sink; "
        "0: a thread of the sink itself (best on 2 cores shared with Kafka and PostgreSQL; "
        "1 or more moves that work off the writer's interpreter lock where cores are spare).",
    )
    audit_write_connections: int = Field(
        2,
        ge=1,
        le=32,
        description="Database connections the audit sink writes a batch through in parallel, "
        "each a transaction over whole chains.",
    )
    audit_signing_key: SecretStr = Field(
        SecretStr(DEV_AUDIT_SIGNING_KEY),
        description="HMAC key signing the audit trail's chain checkpoints (secret; the "
        "default is for development only and is reported as such).",
    )
    audit_checkpoint_interval_s: float = Field(
        30.0, gt=0, description="How often the audit sink signs a checkpoint of its chain heads."
    )
    cases_sweep_interval_s: float = Field(
        30.0,
        ge=0,
        description="How often the cases processor marks open cases past their SLA due time "
        "(0: never; the scheduler's sla-sweep job can do it instead).",
    )
    cases_startup_retry_s: float = Field(
        60.0,
        ge=0,
        description="For how long the cases processor, starting, asks the broker again when it "
        "answers not leader / unknown topic or partition (as it does just after the topics are "
        "created) before giving up.",
    )
    review_login_max_failures: int = Field(
        5,
        ge=1,
        description="Failed logins with one user name (review application and officers on the "
        "command line) that lock further attempts with that name for review_login_lockout_s.",
    )
    review_login_max_failures_per_client: int = Field(
        20,
        ge=1,
        description="Failed logins from one client address (any names) that lock further "
        "attempts from that address for review_login_lockout_s; higher than the per-name "
        "limit, as officers behind one proxy share an address.",
    )
    review_login_lockout_s: float = Field(
        900.0,
        gt=0,
        description="The window failures are counted over, and so how long a lock lasts.",
    )
    review_host: str = Field(
        "127.0.0.1",
        description="Address the review application (`compliance run review-ui`) listens on.",
    )
    review_port: int = Field(
        8080, ge=0, le=65535, description="Port of the review application (0: any free port)."
    )
    review_session_lifetime_s: float = Field(
        8 * 3600.0,
        gt=0,
        le=7 * 86400,
        description="How long an officer's login lasts in the review application (a working "
        "day by default); after it they log in again.",
    )
    review_cookie_secure: bool = Field(
        True,
        description="Send the review application's cookies only over HTTPS (Secure). Turn off "
        "only to use it over plain HTTP on another host than localhost; browsers accept Secure "
        "cookies from http://localhost and http://127.0.0.1.",
    )

    @model_validator(mode="after")
    def _sasl_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_"):
            missing = [
                f"COMPLIANCE_KAFKA_SASL_{name.upper()}"
                for name in ("mechanism", "username", "password")
                if getattr(self, f"kafka_sasl_{name}") is None
            ]
            if missing:
                raise ValueError(
                    f"{self.kafka_security_protocol} needs {', '.join(missing)} as well"
                )
        return self

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {server!r}")
        return value

    @field_validator("database_url", "audit_database_url", "admin_database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("postgresql"):
            raise ValueError("must be a postgresql:// or postgresql+psycopg2:// URL")
        try:
            make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("is not a URL (postgresql+psycopg2://user:password@host/db)") from None
        return value

    @field_validator("llm_batch_multiple")
    @classmethod
    def _llm_batch_fits_the_poll_interval(cls, value: int, info: ValidationInfo) -> int:
        """A batch is ``value`` rounds of calls in flight; if each round took one call's whole
        timeout, the batch must still end before the consumer is dropped from its group."""
        timeout_s = info.data.get("llm_timeout_s")
        if timeout_s is not None and value * timeout_s >= KAFKA_MAX_POLL_INTERVAL_S:
            raise ValueError(
                f"{value} rounds of {timeout_s:g} s calls could outlast Kafka's "
                f"max.poll.interval.ms ({KAFKA_MAX_POLL_INTERVAL_S:g} s); lower it or "
                "COMPLIANCE_LLM_TIMEOUT_S"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def database_dsn(self) -> str:
        """What the classifier, the checker and the CLI connect with."""
        return self._database_secret("database_url")

    @property
    def audit_database_dsn(self) -> str:
        """What the audit sink connects with: its own append-only role."""
        return self._database_secret("audit_database_url")

    @property
    def admin_database_dsn(self) -> str:
        """What migrations and grants run as: the owner of the tables."""
        return self._database_secret("admin_database_url")

    @property
    def audit_signing_secret(self) -> bytes:
        """The key that signs audit checkpoints; the development key only in development."""
        key = self.audit_signing_key.get_secret_value()
        if key == DEV_AUDIT_SIGNING_KEY:
            self._refuse_outside_development("COMPLIANCE_AUDIT_SIGNING_KEY is the built-in key")
            log.warning(
                "audit checkpoints are signed with the development key; "
                "set COMPLIANCE_AUDIT_SIGNING_KEY in production"
            )
        return key.encode()

    def _database_secret(self, field: str) -> str:
        url: str = getattr(self, field).get_secret_value()
        if make_url(url).password in DEV_DATABASE_PASSWORDS:
            self._refuse_outside_development(
                f"COMPLIANCE_{field.upper()} carries a development password"
            )
        return url

    def _refuse_outside_development(self, what: str) -> None:
        if not self.development_mode:
            raise ConfigurationError(
                f"{what}, which only a development machine may use: set a secret of your own, "
                f"or {DEVELOPMENT_MODE_VARIABLE}=true on a developer's machine"
            )

    def topic(self, spec: TopicSpec | str) -> str:
        name = spec if isinstance(spec, str) else spec.name
        return self.topic_prefix + name

    def group(self, processor: str) -> str:
        return f"{self.topic_prefix}compliance.{processor}"

    @property
    def llm_batch_size(self) -> int:
        """Records per classifier batch with Claude: a few rounds of calls in flight, so a
        batch of slow calls cannot outlast max.poll.interval.ms (500 records at 16 in
        flight would be 32 rounds of calls of up to ``llm_timeout_s`` each)."""
        return min(self.batch_size, self.llm_batch_multiple * self.llm_concurrency)


def load_settings() -> Settings:
    """Read and validate settings; a bad value stops start-up with one clear sentence."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(_problem(err["loc"], err["msg"]) for err in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None


def _problem(location: tuple[int | str, ...], message: str) -> str:
    """One invalid setting, named by its variable; a rule across settings (no location)
    says itself which variables it needs."""
    if not location:
        return message.removeprefix("Value error, ")
    return f"COMPLIANCE_{'_'.join(str(p) for p in location).upper()}: {message}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
