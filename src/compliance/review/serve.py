"""``compliance run review-ui``: the review application served by uvicorn on
``review_host:review_port`` until the stop event is set (SIGTERM, SIGINT)."""

from __future__ import annotations

import logging
import threading

import uvicorn

from compliance.config import Settings
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
    log.info("review application on http://%s:%d/", settings.review_host, settings.review_port)
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise SystemExit("the review application's server stopped (see the log above)")
    web.should_exit = True
    thread.join(STOP_TIMEOUT_S)
