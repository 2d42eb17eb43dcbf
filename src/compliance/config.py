"""One validated settings object, read from ``COMPLIANCE_*`` environment variables.

Every field has a description and a local default that matches ``make services``; secrets are
``SecretStr`` so they are masked when settings are printed or logged.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from compliance.errors import ConfigurationError
from compliance.topics import TopicSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLIANCE_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]."
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql+psycopg2://compliance:compliance@127.0.0.1:5432/compliance"),
        description="SQLAlchemy URL of the PostgreSQL database holding the audit trail "
        "(secret: it carries the password).",
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic and consumer group (isolates tests, tenants)."
    )
    rules_dir: Path = Field(
        PROJECT_ROOT / "rules", description="Folder of YAML rule files and their watchlists."
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
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus port; 0 disables.")
    anthropic_api_key: SecretStr | None = Field(
        None, description="Claude API key; without it the local classifier is used."
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {server!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("postgresql"):
            raise ValueError("must be a postgresql:// or postgresql+psycopg2:// URL")
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
        return self.database_url.get_secret_value()

    def topic(self, spec: TopicSpec | str) -> str:
        name = spec if isinstance(spec, str) else spec.name
        return self.topic_prefix + name

    def group(self, processor: str) -> str:
        return f"{self.topic_prefix}compliance.{processor}"


def load_settings() -> Settings:
    """Read and validate settings; a bad value stops start-up with one clear sentence."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"COMPLIANCE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
