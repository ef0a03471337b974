"""Listing Twilio's recent messages or calls to a number, before sending again a text or a
call whose outcome is unknown (`unknown_outcomes`)."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from notify.adapters.unknown_outcomes import UnknownOutcomes, Unsure

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


async def went(
    outcomes: UnknownOutcomes,
    key: str,
    unsure: Unsure,
    found: list[Any] | None,
    field: str,
) -> bool | None:
    """Whether Twilio's list (`found`; None: no list) holds the send of `key` whose outcome is
    unknown: one of its messages or calls that no other send answered for, whose `field` (a
    text's `body`, a call's `from`) is what was sent, created since. True: the record goes and
    those ids are this send's. False: send it. None: the list (or our ids) could not be read.

    When another key's send to the number, of the same body or caller, is of unknown outcome
    too (`unsure.others`: two pages to one staff member while Twilio is slow), which send a
    match is cannot be told: this one goes and the matches are set aside (neither send takes
    them), a second text or call being the better failure for a page than none."""
    if found is not None:
        found = await outcomes.unanswered(found)
    if found is None:
        return None
    matching = [r for r in found if unsure.matches(r.get(field)) and created_since(r, unsure)]
    ids = [sid for r in matching if isinstance(sid := r.get("sid"), str) and sid]
    if matching and unsure.others:
        await outcomes.set_aside(ids)
        return False
    if matching:
        await outcomes.forget(key, *ids)
    return bool(matching)
