"""Listing Twilio's recent messages or calls to a number, before sending again a text or a
call whose outcome is unknown (`unknown_outcomes`)."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from notify.adapters.unknown_outcomes import Unsure

CLOCK_SKEW = timedelta(minutes=2)  # Twilio's date_created against our clock


async def listed(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, str],
    auth: httpx.BasicAuth,
    field: str,
) -> list[Any] | None:
    """The first page of Twilio's list at `url` (`messages`, `calls`); None when Twilio
    did not answer with one."""
    try:
        response = await client.get(url, params=params, auth=auth)
        page = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        page = None
    found = page.get(field) if isinstance(page, dict) else None
    return found if isinstance(found, list) else None


def created_since(resource: dict[str, Any], unsure: Unsure) -> bool:
    """Whether Twilio created `resource` after the send of unknown outcome began (less the
    clocks' skew). False when its date cannot be read."""
    try:
        created = parsedate_to_datetime(str(resource.get("date_created")))
        return created >= unsure.since - CLOCK_SKEW
    except (TypeError, ValueError):  # unreadable, or without a zone
        return False
