"""``compliance run review-ui``: the review application served by uvicorn on
``review_host:review_port`` until the stop event is set (SIGTERM, SIGINT)."""

from __future__ import annotations

import logging
import threading

import uvicorn

from compliance import health
from compliance.config import Settings
from compliance.errors import ConfigurationError
from compliance.review.app import create_app

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 15.0


def server(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.review_host,
        port=settings.review_port,
        log_level="warning",
        access_log=False,  # request lines carry case and customer ids
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def main(settings: Settings, stop: threading.Event) -> None:
    web = server(settings)
    thread = threading.Thread(target=web.run, name="review-ui", daemon=True)
    thread.start()
    announced = False
    # Not a Kafka consumer: /readyz asks that the server listens and its loop goes round.
    health.state.without_kafka_consumer()
    while not stop.wait(0.2):
        if not thread.is_alive():
            raise ConfigurationError(
                f"the review application stopped: could it listen on {settings.review_host}:"
                f"{settings.review_port}? (COMPLIANCE_REVIEW_HOST, COMPLIANCE_REVIEW_PORT)"
            )
        if web.started and not announced:
            log.info(
                "review application on http://%s:%d/", settings.review_host, settings.review_port
            )
            announced = True
        if web.started:
            health.state.tick()
    health.state.set_stopping()
    web.should_exit = True
    thread.join(STOP_TIMEOUT_S)
