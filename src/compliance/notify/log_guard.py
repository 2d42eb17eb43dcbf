"""Webhook URLs are credentials: they never reach a log line.

The HTTP client logs every request's URL at INFO; the notifier holds its loggers at WARNING.
Whatever still names a URL (an error's message quoting it) is rewritten by a filter on every
handler: the URL becomes the name of the variable it came from.
"""

from __future__ import annotations

import logging

from compliance.notify.routes import Routes

HTTP_CLIENT_LOGGERS = ("aiohttp", "httpx2", "httpcore2", "httpx", "httpcore")


class WebhookUrlFilter(logging.Filter):
    def __init__(self, secrets: dict[str, str]) -> None:
        super().__init__()
        self.secrets = secrets  # URL -> the variable's name

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(url in message for url in self.secrets):
            for url, variable in self.secrets.items():
                message = message.replace(url, f"${variable}")
            record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if any(url in text for url in self.secrets):
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.msg} (error text withheld: it names a webhook URL)"
        return True


def guard_webhook_urls(routes: Routes) -> WebhookUrlFilter:
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    guard = WebhookUrlFilter(
        {r.url.get_secret_value(): r.config.webhook_url_env for r in routes.routes}
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(guard)
    return guard
