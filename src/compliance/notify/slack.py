"""A notice as a Slack incoming-webhook message in Block Kit: a header, the fields as a
section, the reason (when shown) as a section of its own, a context line and a button to the
review application. Values come from documents written by outsiders: ``&``, ``<`` and ``>``
are escaped, so no value can become a link or a mention."""

from __future__ import annotations

from typing import Any

from compliance.notify.notice import Notice

HEADER_MAX = 150  # Block Kit's limits, in characters
FIELD_MAX = 2000
SECTION_MAX = 3000
FIELDS_PER_SECTION = 10


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(notice: Notice) -> dict[str, Any]:
    """The JSON body to POST to the webhook (``notice`` opened)."""
    short = [f for f in notice["fields"] if f["name"] != "reason"]
    reason = next((f for f in notice["fields"] if f["name"] == "reason"), None)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(notice["title"], HEADER_MAX)},
        }
    ]
    for start in range(0, len(short), FIELDS_PER_SECTION):
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(f"*{f['label']}*\n{escape(f['value'])}", FIELD_MAX),
                    }
                    for f in short[start : start + FIELDS_PER_SECTION]
                ],
            }
        )
    if reason is not None:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut(f"*{reason['label']}*\n{escape(reason['value'])}", SECTION_MAX),
                },
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Exception {notice['exception_event_id']} · raised "
                    f"{notice['raised_at']}",
                }
            ],
        }
    )
    if notice.get("link"):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in review"},
                        "url": notice["link"],
                        "action_id": "open-review",
                    }
                ],
            }
        )
    return {"text": _cut(notice["title"], HEADER_MAX), "blocks": blocks}
