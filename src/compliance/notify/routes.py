"""Notification routes from configuration (``config/notifier.yaml``).

A route names a webhook by the environment variable that holds its URL (a webhook URL is a
credential: it is never written in a file, nor logged), the severities and categories it
takes, and what it shows. Showing is opt-in and masking is opt-out: a route shows only the
fields it lists, and document ids, the reason text and rule inputs (``details.<name>``) are
masked (all but their last characters) unless the route lists them under ``unmasked``.
A route whose variable is unset or not an https URL stops start-up with one sentence: a
webhook URL is a credential and the message may carry personal data, so plain http is taken
only on a developer's machine (``COMPLIANCE_DEVELOPMENT_MODE``, local stand-ins for Slack).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from compliance.config import DEVELOPMENT_MODE_VARIABLE
from compliance.errors import ConfigurationError
from compliance.exception_routing import CATEGORIES, SEVERITIES, Category, Severity

Kind = Literal["slack", "teams"]
# Fields of an exception a route may show (``details.<name>``: one of the rule's inputs).
FIELDS = (
    "category",
    "severity",
    "kind",
    "rule_id",
    "customer_id",
    "document_id",
    "raised_at",
    "sla_due_at",
    "reason",
)
# Personal, sealed on Kafka: opened only when a route shows them.
PERSONAL_FIELDS = frozenset({"reason"})
DETAILS_PREFIX = "details."
MASKED_BY_DEFAULT = frozenset({"document_id", "reason"})


def is_personal(field: str) -> bool:
    return field in PERSONAL_FIELDS or field.startswith(DETAILS_PREFIX)


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    kind: Kind
    webhook_url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    severities: tuple[Severity, ...] = SEVERITIES
    categories: tuple[Category, ...] = CATEGORIES
    show: tuple[str, ...] = ("category", "severity", "kind", "rule_id", "sla_due_at")
    unmasked: tuple[str, ...] = ()
    mask_keep_last: int = Field(3, ge=0, le=8)

    @model_validator(mode="after")
    def _known_fields(self) -> RouteConfig:
        unknown = [f for f in self.show if f not in FIELDS and not _is_detail(f)]
        if unknown:
            raise ValueError(f"route {self.name}: unknown fields to show: {', '.join(unknown)}")
        stray = [f for f in self.unmasked if f not in self.show]
        if stray:
            raise ValueError(f"route {self.name}: unmasked but not shown: {', '.join(stray)}")
        return self

    def masks(self, field: str) -> bool:
        """Whether ``field`` is shown masked on this route."""
        masked_by_default = field in MASKED_BY_DEFAULT or field.startswith(DETAILS_PREFIX)
        return masked_by_default and field not in self.unmasked

    def takes(self, severity: str, category: str) -> bool:
        return severity in self.severities and category in self.categories


def _is_detail(field: str) -> bool:
    return field.startswith(DETAILS_PREFIX) and len(field) > len(DETAILS_PREFIX)


class DeliveryConfig(BaseModel):
    """How hard each notification is tried (the same for every route)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt_timeout_s: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(8, ge=1, le=100)
    max_age_s: float = Field(6 * 3600.0, gt=0)
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    # A Retry-After beyond this is capped to it (a broken header must not park a route for days).
    retry_after_max_s: float = Field(900.0, gt=0)
    in_flight_per_route: int = Field(64, ge=1, le=2048)
    # How long a claimed row is another instance's; must outlast an attempt by far.
    claim_lease_s: float = Field(120.0, gt=0)
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    # Delivered rows are kept this long (they are what stops an exception read again from
    # being posted again), then pruned; exceptions raised longer ago are not notified.
    delivered_retention_days: float = Field(30.0, gt=0)
    prune_interval_s: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> DeliveryConfig:
        if self.claim_lease_s < 2 * self.attempt_timeout_s:
            raise ValueError("claim_lease_s must be at least twice attempt_timeout_s")
        if self.delivered_retention_days * 86400 < self.max_age_s:
            raise ValueError("delivered_retention_days must outlast max_age_s")
        return self


class NotifierFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery: DeliveryConfig = DeliveryConfig()
    routes: tuple[RouteConfig, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> NotifierFile:
        names = [r.name for r in self.routes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"route names used twice: {', '.join(twice)}")
        return self


@dataclass(frozen=True)
class Route:
    """A route with its webhook URL read from the environment (a secret)."""

    config: RouteConfig
    url: SecretStr

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Routes:
    delivery: DeliveryConfig
    routes: tuple[Route, ...]

    def matching(self, severity: str, category: str) -> list[Route]:
        return [r for r in self.routes if r.config.takes(severity, category)]

    def named(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


def parse_routes(
    text: str, where: str, environ: Mapping[str, str], *, allow_http: bool = False
) -> Routes:
    """The routes of ``text``; http:// webhook URLs only with ``allow_http`` (development)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where}: not YAML: {exc}") from None
    try:
        parsed = NotifierFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(
            f"{where}: not a valid notifier configuration: {problems}"
        ) from None
    return Routes(
        parsed.delivery,
        tuple(_with_url(r, environ, where, allow_http) for r in parsed.routes),
    )


def load_routes(
    path: Path, environ: Mapping[str, str] | None = None, *, allow_http: bool = False
) -> Routes:
    """The routes of ``path``, their URLs from ``environ`` (the process's environment)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the notifier routes file {path}: {exc}") from None
    return parse_routes(
        text, str(path), os.environ if environ is None else environ, allow_http=allow_http
    )


def _with_url(
    route: RouteConfig, environ: Mapping[str, str], where: str, allow_http: bool
) -> Route:
    value = environ.get(route.webhook_url_env, "").strip()
    if not value:
        raise ConfigurationError(
            f"route {route.name} ({where}): environment variable {route.webhook_url_env} is "
            "not set; it must hold the webhook URL of the route"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        # The value is a secret: say what is wrong, never what it is.
        raise ConfigurationError(
            f"route {route.name}: environment variable {route.webhook_url_env} does not hold "
            "an http(s) URL"
        )
    if parts.scheme == "http" and not allow_http:
        raise ConfigurationError(
            f"route {route.name}: environment variable {route.webhook_url_env} holds an http:// "
            "URL; webhooks are posted over https only (the URL is a credential and the "
            f"message may carry personal data); plain http is for local stand-ins, with "
            f"{DEVELOPMENT_MODE_VARIABLE}=true on a developer's machine"
        )
    return Route(route, SecretStr(value))
