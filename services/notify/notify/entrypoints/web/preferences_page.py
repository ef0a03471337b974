"""The client's own preferences page, opened from the signed link in the footer of each email
(extension of the contract): the channel and the quiet hours of `PUT /recipients/{id}/
preferences`, in the client's language and zone, without JavaScript.

`GET …/preferences/page?token=…` shows the current choice; `POST` (form fields `token`,
`channel`, `quiet_start`, `quiet_end`) stores it with the PUT's validation and the PUT's
application call (same `PreferencesSet` event), audited with the link as actor. Only email and
text are offered, each only when booking has an address for it (asked at once, as at send
time), and a `phone` or `messaging` channel staff set is kept as an option (never offered
otherwise); the addresses themselves are never shown: a forwarded email shows no phone number.
An altered link (or another recipient's) is a 403 page, an expired one a 410 page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from counseling_shared import audit
from counseling_shared.codes import Channel
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.languages import browser_language
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.zone_names import zone_city
from notify.adapters import directory_store, preference_store
from notify.adapters.booking_directory import NatsClientDirectory
from notify.adapters.preference_links import PATH, PreferenceLinks
from notify.application.ports import ClientNotFound, DirectoryUnavailable
from notify.application.preferences import set_recipient_preferences
from notify.domain.channels import SELF_SERVICE_CHANNELS, Addresses, offered_channels
from notify.domain.preferences import RecipientPreferences
from notify.domain.quiet_hours import QuietHours
from notify.entrypoints.http import CLOCK_TIME, QuietHoursBody
from notify.entrypoints.web.texts import TEXTS, locale_of
from notify.settings import NotifySettings

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_MAX_TOKEN = 1000


@dataclass(frozen=True)
class _Client:
    recipient_id: UUID
    locale: str
    zone: str
    offered: tuple[Channel, ...]
    current: RecipientPreferences | None


class _Refused(Exception):
    """Answer with a message page instead of the form."""

    def __init__(self, status: int, key: str, locale: str) -> None:
        super().__init__(key)
        self.status, self.key, self.locale = status, key, locale


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: _page("An altered link, or another recipient's: a page saying so."),
    404: _page("No such client: a page saying so."),
    410: _page("The link expired: a page saying so, in the client's language."),
    503: _page("booking's directory did not answer: a page asking to try again later."),
}
_HTML: dict[str, Any] = {
    "response_class": HTMLResponse,
    "tags": ["notify"],
    "openapi_extra": {"security": []},  # the signed token is the credential
}


def _settings(runtime: Runtime) -> NotifySettings:
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    return settings


def _links(runtime: Runtime) -> PreferenceLinks:
    s = _settings(runtime)
    return PreferenceLinks(s.link_signer(), s.notify_base_url, s.preferences_link_ttl)


@router.get(
    PATH,
    summary="The client's own page: how we contact them (HTML)",
    responses={200: {"description": "The channel and quiet hours, with Save."}, **_REFUSALS},
    **_HTML,
)
async def show_own_preferences(
    recipient_id: UUID, request: Request, token: str = ""
) -> HTMLResponse:
    """Extension: the page the footer link of a client's email opens."""
    runtime = runtime_of(request)
    try:
        client = await _open(request, runtime, recipient_id, token)
    except _Refused as refused:
        return _message(request, refused)
    prefs = client.current
    quiet = prefs.quiet_hours if prefs else None
    given = {
        "channel": prefs.channel.value if prefs and prefs.channel else "",
        "quiet_start": quiet.start.strftime("%H:%M") if quiet else "",
        "quiet_end": quiet.end.strftime("%H:%M") if quiet else "",
    }
    return _render(request, client, token, given, frozenset(), 200)


@router.post(
    PATH,
    summary="The client changes how we contact them (HTML form post)",
    responses={
        200: {"description": "Saved: a page saying so."},
        422: _page("A channel not offered or unusable quiet hours: the form, naming them."),
        **_REFUSALS,
    },
    **_HTML,
)
async def save_own_preferences(recipient_id: UUID, request: Request) -> HTMLResponse:
    """Extension: the PUT's validation and effect (a `PreferencesSet` event), as the link."""
    runtime = runtime_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    token = form.get("token", "")
    try:
        client = await _open(request, runtime, recipient_id, token)
    except _Refused as refused:
        return _message(request, refused)
    channel, channel_ok = _channel(form.get("channel", ""), client.offered)
    start, end = form.get("quiet_start", ""), form.get("quiet_end", "")
    quiet, quiet_ok = _quiet(start, end)
    invalid = ({"channel"} if not channel_ok else set()) | (
        set() if quiet_ok else set(_quiet_fields_to_fix(start, end))
    )
    if invalid:
        return _render(request, client, token, form, frozenset(invalid), 422)
    try:
        await set_recipient_preferences(runtime.db(), runtime.clock, recipient_id, quiet, channel)
    except ConcurrencyConflict:
        return _message(request, _Refused(409, "unavailable", client.locale))
    again = f"{PATH.format(recipient_id=recipient_id)}?token={token}"
    return _message(request, _Refused(200, "saved", client.locale), again=again)


def _channel(sent: str, offered: tuple[Channel, ...]) -> tuple[Channel | None, bool]:
    """The chosen channel; refused unless offered (a forged post for a channel without an
    address, or for `phone`, changes nothing)."""
    if sent == "":
        return None, True
    chosen = next((c for c in offered if c.value == sent), None)
    return chosen, chosen is not None


def _quiet(start: str, end: str) -> tuple[QuietHours | None, bool]:
    """Both empty: none. Otherwise the PUT's own rules (`QuietHoursBody`: HH:MM, different)."""
    if not start and not end:
        return None, True
    try:
        return QuietHoursBody(start=start, end=end).window(), True
    except ValidationError:
        return None, False


async def _open(request: Request, runtime: Runtime, recipient_id: UUID, token: str) -> _Client:
    """Check the link, then ask booking which addresses the client has now."""
    if len(token) > _MAX_TOKEN:
        audit.note_invalid_link()
        raise _Refused(403, "invalid", _browser_locale(request))
    try:
        link = _links(runtime).verify(recipient_id, token, runtime.clock.now())
    except LinkExpired as exc:
        if exc.link.subject != str(recipient_id):
            audit.note_invalid_link()
            raise _Refused(403, "invalid", _browser_locale(request)) from None
        # Genuine but old: the page still speaks the client's language.
        audit.note_actor(audit.Actor("link", str(exc.link.link_id)), sees_free_text=False)
        async with runtime.db().acquire() as conn:
            known = await directory_store.client_locale_zone(conn, recipient_id)
        locale = locale_of(known[0]) if known else _browser_locale(request)
        raise _Refused(410, "expired", locale) from None
    except LinkTampered:
        audit.note_invalid_link()  # audited as crisis audits its page links' (no token kept)
        raise _Refused(403, "invalid", _browser_locale(request)) from None
    audit.note_actor(audit.Actor("link", str(link.link_id)), sees_free_text=False)
    async with runtime.db().acquire() as conn:
        known = await directory_store.client_locale_zone(conn, recipient_id)
        current = await preference_store.load(conn, recipient_id)
    if known is None:  # links are minted for clients only; forgotten (erased) since
        raise _Refused(404, "invalid", _browser_locale(request))
    audit.note_client(recipient_id)  # a client's preferences are client data
    locale = locale_of(known[0])
    directory = NatsClientDirectory(runtime.nats(), _settings(runtime).directory_timeout)
    try:
        contact = await directory.contact(recipient_id)
    except ClientNotFound:
        raise _Refused(404, "invalid", locale) from None
    except DirectoryUnavailable:
        raise _Refused(503, "unavailable", locale) from None
    offered = offered_channels(Addresses(email=contact.email, phone=contact.phone))
    staff_set = current.channel if current else None
    if staff_set is not None and staff_set not in SELF_SERVICE_CHANNELS:
        # `phone` or `messaging`, arranged with staff: kept as an option, never offered anew.
        offered = (*offered, staff_set)
    return _Client(
        recipient_id,
        locale_of(contact.locale or known[0]),
        contact.timezone or known[1],
        offered,
        current,
    )


def _quiet_fields_to_fix(start: str, end: str) -> tuple[str, ...]:
    """Of refused quiet hours, the fields to mark: the one missing or malformed, else both
    (the same time twice)."""
    wrong = tuple(
        name
        for name, value in (("quiet_start", start), ("quiet_end", end))
        if not re.fullmatch(CLOCK_TIME, value)
    )
    return wrong or ("quiet_start", "quiet_end")


@dataclass(frozen=True)
class _Problem:
    """A line of the summary at the top: its words and the control it takes the reader to."""

    anchor: str
    text: str


def _problems(invalid: frozenset[str], t: dict[str, str]) -> list[_Problem]:
    problems = [_Problem("channel-group", t["bad_channel"])] if "channel" in invalid else []
    first_time = next((n for n in ("quiet_start", "quiet_end") if n in invalid), None)
    if first_time is not None:
        problems.append(_Problem(first_time.replace("_", "-"), t["bad_quiet"]))
    return problems


def _render(
    request: Request,
    client: _Client,
    token: str,
    given: dict[str, str],
    invalid: frozenset[str],
    status: int,
) -> HTMLResponse:
    t = TEXTS[client.locale]
    context = {
        "locale": client.locale,
        "t": t,
        "title": t["title"],
        # Each refused field is marked where it is (aria-invalid, described by its message)
        # and named in the summary; what was typed is shown again.
        "invalid": invalid,
        "problems": _problems(invalid, t),
        "offered": [c.value for c in client.offered],
        "channel": given.get("channel", ""),
        "quiet_start": given.get("quiet_start", ""),
        "quiet_end": given.get("quiet_end", ""),
        "zone": _zone_name(client.zone, client.locale, runtime_of(request).clock.now()),
        "token": token,
        "action": PATH.format(recipient_id=client.recipient_id),
    }
    return templates.TemplateResponse(
        request, "preferences.html", context, status_code=status, headers=PRIVATE_PAGE_HEADERS
    )


def _zone_name(zone: str, locale: str, now: datetime) -> str:
    """The zone as the client reads it: its city in their language ("파리"), as the booking
    pages name it, not its IANA id ("Europe/Paris"), which reads as English and as jargon."""
    try:
        return zone_city(ZoneInfo(zone), locale, now)
    except (ZoneInfoNotFoundError, ValueError):
        return zone


def _message(request: Request, refused: _Refused, *, again: str | None = None) -> HTMLResponse:
    t = TEXTS[refused.locale]
    context = {
        "locale": refused.locale,
        "t": t,
        "title": t[f"{refused.key}_title"],
        "line": t[refused.key],
        "again": again,
    }
    return templates.TemplateResponse(
        request, "message.html", context, status_code=refused.status, headers=PRIVATE_PAGE_HEADERS
    )


def _browser_locale(request: Request) -> str:
    """Before the link is trusted: the browser's first language the page speaks."""
    return browser_language(request.headers.get("accept-language", ""), TEXTS)
