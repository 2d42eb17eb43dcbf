"""A managed Kafka: SASL over TLS reaches every client config kafka_io builds and the
transaction screener's Quix connection; an incomplete SASL setting stops start-up; a local
broker gets no security settings at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quixstreams.kafka.configuration import ConnectionConfig

from compliance import kafka_io
from compliance.config import Settings, load_settings
from compliance.errors import ConfigurationError

MANAGED = {
    "COMPLIANCE_KAFKA_BOOTSTRAP": "broker-1.example.net:9093",
    "COMPLIANCE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "COMPLIANCE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "COMPLIANCE_KAFKA_SASL_USERNAME": "compliance-checker",
    "COMPLIANCE_KAFKA_SASL_PASSWORD": "s3cret-from-a-secret-store",
    "COMPLIANCE_KAFKA_SSL_CA_LOCATION": "/etc/kafka-ca/ca.pem",
}


def managed(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in MANAGED.items():
        monkeypatch.setenv(key, value)
    return load_settings()


class Captured:
    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []

    def client(self, config: dict[str, Any]) -> object:
        self.configs.append(config)
        return self


def test_every_client_config_carries_sasl_and_tls(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = managed(clean_env)
    captured = Captured()
    clean_env.setattr(kafka_io, "Consumer", captured.client)
    clean_env.setattr(kafka_io, "Producer", captured.client)
    clean_env.setattr(kafka_io, "AdminClient", captured.client)
    kafka_io.consumer(settings, "compliance.checker")
    kafka_io.idempotent_producer(settings)
    kafka_io.admin(settings)
    assert len(captured.configs) == 3
    for config in captured.configs:
        assert config["bootstrap.servers"] == "broker-1.example.net:9093"
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.username"] == "compliance-checker"
        assert config["sasl.password"] == "s3cret-from-a-secret-store"
        assert config["ssl.ca.location"] == "/etc/kafka-ca/ca.pem"


def test_the_screener_connection_carries_sasl_and_tls(clean_env: pytest.MonkeyPatch) -> None:
    settings = managed(clean_env)
    connection = ConnectionConfig.from_librdkafka_dict(
        {"bootstrap.servers": settings.kafka_bootstrap, **kafka_io.security_config(settings)}
    )
    config = connection.as_librdkafka_dict()
    assert config["security.protocol"] == "sasl_ssl"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cret-from-a-secret-store"
    assert config["ssl.ca.location"] == "/etc/kafka-ca/ca.pem"


def test_the_sasl_password_is_masked_when_settings_are_printed(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = managed(clean_env)
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.kafka_sasl_password)


def test_sasl_without_its_credentials_stops_start_up(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("COMPLIANCE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("COMPLIANCE_KAFKA_SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "COMPLIANCE_KAFKA_SASL_USERNAME" in str(raised.value)
    assert "COMPLIANCE_KAFKA_SASL_PASSWORD" in str(raised.value)
    assert str(raised.value).startswith("invalid configuration: SASL_SSL needs")


def test_tls_alone_names_the_ca_and_a_local_broker_gets_no_security_settings(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert kafka_io.security_config(Settings()) == {}
    tls = Settings(kafka_security_protocol="SSL", kafka_ssl_ca_location=Path("/ca.pem"))
    assert kafka_io.security_config(tls) == {
        "security.protocol": "SSL",
        "ssl.ca.location": "/ca.pem",
    }
