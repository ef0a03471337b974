"""Posting a text or a call to Twilio with its outcome on record (`unknown_outcomes`), and
listing Twilio's recent messages or calls to a number before sending again one whose outcome
is unknown. Shared by `twilio` (texts) and `twilio_calls` (page calls)."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from counseling_shared.logs import get_logger
from notify.adapters.unknown_outcomes import UnknownOutcomes, Unsure
from notify.domain.notification import DeliveryOutcome
from notify.domain.twilio_errors import CREDENTIAL_REFUSALS, outcome_of_send
from notify.metrics import PROVIDER_AUTH_REJECTIONS, TWILIO_LOOKUPS

log = get_logger(__name__)

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


async def post_recorded(
    client: httpx.AsyncClient,
    url: str,
    form: dict[str, str],
    auth: httpx.BasicAuth,
    *,
    outcomes: UnknownOutcomes,
    key: str,
    unsure: Unsure | None,
    channel: str,
    role: str,
) -> DeliveryOutcome:
    """Post `form` (a text or a call) whose send of `key` is on record in `outcomes`, and cross
    the record out once Twilio answered (whatever it answered). A connection that never
    reached Twilio crosses out a first attempt's record too; a timeout, a dropped connection, a
    5xx or a cancellation (the page lane's time cap) leaves it for the next attempt's look-up."""
    try:
        response = await client.post(url, data=form, auth=auth)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        if unsure is None:
            await outcomes.forget(key)  # never reached Twilio
        return DeliveryOutcome.transient("http_unreachable")
    except httpx.TimeoutException:
        return DeliveryOutcome.transient("http_timeout")
    except httpx.HTTPError:
        return DeliveryOutcome.transient("http_unreachable")
    if response.status_code < 500:
        # Twilio answered: it took it (its id no other look-up may take) or refused it.
        await outcomes.forget(key, field_of(response, "sid"))
    code = field_of(response, "code")
    if response.status_code in CREDENTIAL_REFUSALS:
        PROVIDER_AUTH_REJECTIONS.labels(channel, role).inc()
        log.error(
            "provider_auth_rejected",
            channel=channel,
            provider=role,
            status=response.status_code,
            twilio_code=code,
            notification_id=key,
        )
    return outcome_of_send(response.status_code, code)


def counted(channel: str, key: str, went_already: bool | None) -> bool:
    """A look-up's answer as a decision, counted: None (no list) sends again."""
    if went_already is None:
        TWILIO_LOOKUPS.labels(channel, "failed").inc()
        log.warning("twilio_lookup_failed", notification_id=key, channel=channel)
        return False
    TWILIO_LOOKUPS.labels(channel, "found" if went_already else "not_found").inc()
    return went_already


def field_of(response: httpx.Response, name: str) -> object:
    """A field of Twilio's JSON answer (`sid` of a resource, `code` of a refusal)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None
