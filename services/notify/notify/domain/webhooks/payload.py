"""The body of a webhook: the CloudEvent as it travelled on the bus.

A few events carry a signed link made for one person (a page's `ack_url`, a waitlist offer's
`accept_url`, a check-in's `response_url`, an appointment's or a reminder's
`manage_url`). Whoever holds such a link can act as that person,
so it never leaves the center through a webhook: those fields are left out. Nothing else is
changed, and events carry no client names, contact details or free text to begin with.
"""

import json
from typing import Any

PERSONAL_LINK_FIELDS = frozenset({"ack_url", "accept_url", "response_url", "manage_url"})


def webhook_body(cloud_event: dict[str, Any]) -> str:
    """The JSON text sent (and signed) for `cloud_event`, a structured-mode CloudEvent."""
    data = cloud_event.get("data")
    if isinstance(data, dict):
        kept = {k: v for k, v in data.items() if k not in PERSONAL_LINK_FIELDS}
        cloud_event = {**cloud_event, "data": kept}
    return json.dumps(cloud_event, separators=(",", ":"), ensure_ascii=False)
