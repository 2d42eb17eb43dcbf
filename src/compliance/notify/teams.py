"""A notice as a Microsoft Teams message: an Adaptive Card (1.4) attachment, as incoming
webhooks and Workflows ("When a Teams webhook request is received") take it. The fields are a
FactSet, the reason a wrapped TextBlock, and an OpenUrl action leads to the review
application. TextBlocks and facts render a subset of Markdown: its characters are escaped in
values, so a document's text cannot become a link or change the card's look."""

from __future__ import annotations

import re
from typing import Any

from compliance.notify.notice import Notice

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# What makes emphasis, code or a link: ``[text](url)`` needs its brackets.
_MARKDOWN = re.compile(r"([\\`*_\[\]~<>])")
TEXT_MAX = 3000


def escape(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def teams_message(notice: Notice) -> dict[str, Any]:
    """The JSON body to POST to the webhook (``notice`` opened)."""
    short = [f for f in notice["fields"] if f["name"] != "reason"]
    reason = next((f for f in notice["fields"] if f["name"] == "reason"), None)
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(notice["title"]),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
    ]
    if short:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": f["label"], "value": escape(f["value"])} for f in short],
            }
        )
    if reason is not None:
        body.append(
            {
                "type": "TextBlock",
                "text": escape(reason["value"][:TEXT_MAX]),
                "wrap": True,
            }
        )
    body.append(
        {
            "type": "TextBlock",
            "text": escape(
                f"Exception {notice['exception_event_id']} · raised {notice['raised_at']}"
            ),
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if notice.get("link"):
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in review", "url": notice["link"]}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }
