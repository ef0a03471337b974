"""The client's own preferences page (the signed link in an email's footer): who may open it,
what it offers, and that saving it is the PUT's effect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest

from counseling_shared.codes import Channel, FollowUpKind
from counseling_shared.events import CallbackRequested, ClientRegistered, FollowUpDue
from notify.bootstrap import preference_links
from tests.notify.integration.conftest import Notify, eventually
from tests.notify.integration.test_delivery import settled

pytestmark = pytest.mark.integration

WORDS = {  # a phrase of the footer (email) and of the page, per locale
    "en": ("Choose how we contact you", "How we contact you"),
    "fr": ("Choisissez comment nous vous contactons", "Comment nous vous contactons"),
    "ko": ("연락 방법(이메일 또는 문자)", "연락 방법"),
    "ru": ("Выберите, как нам с вами связываться", "Как мы с вами связываемся"),  # noqa: RUF001
}


@pytest.fixture
async def browser_client(notify: Notify) -> AsyncIterator[httpx.AsyncClient]:
    """No API key: only the link's token."""
    async with httpx.AsyncClient(
        transport=notify.http._transport, base_url=notify.http.base_url
    ) as client:
        yield client


async def client_of(
    notify: Notify,
    *,
    email: str | None = "someone@mail.example",
    phone: str | None = None,
    locale: str = "en",
    site_id: UUID | None = None,
) -> UUID:
    """A client notify knows (booking's event) and booking's directory answers for."""
    site_id = site_id or await notify.new_site()
    client_id = uuid4()
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale=locale,
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        ),
        source="booking",
        subject=client_id,
    )
    await eventually(
        lambda: notify.pool.fetchval("SELECT 1 FROM clients WHERE client_id = $1", client_id)
    )
    notify.directory.add(
        client_id, email=email, phone=phone, locale=locale, timezone="Europe/Paris"
    )
    return client_id


def page_url(notify: Notify, client_id: UUID, *, at: datetime | None = None) -> str:
    """The path and query of the link an email would carry (minted at `at`)."""
    url = preference_links(notify.settings).url_for(client_id, at or datetime.now(UTC))
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


async def stored(notify: Notify, client_id: UUID) -> dict[str, Any]:
    answer = await notify.http.get(f"/recipients/{client_id}/preferences")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_a_valid_link_shows_the_page_an_expired_one_410_an_altered_one_403(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    client_id = await client_of(notify, phone="+33612345678", locale="fr")
    url = page_url(notify, client_id)

    shown = await browser_client.get(url)
    old = await browser_client.get(
        page_url(notify, client_id, at=datetime.now(UTC) - timedelta(days=401))
    )
    altered = await browser_client.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))

    assert (shown.status_code, old.status_code, altered.status_code) == (200, 410, 403)
    assert WORDS["fr"][1] in shown.text
    assert 'value="email"' in shown.text
    assert 'value="sms"' in shown.text
    assert "+33612345678" not in shown.text
    assert "someone@mail.example" not in shown.text
    assert "Ce lien a expiré" in old.text  # the client's language, from notify's own copy
    for answer in (shown, old, altered):
        assert answer.headers["content-type"].startswith("text/html")
        assert "script-src" not in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("locale", "city"), [("en", "Paris"), ("fr", "Paris"), ("ko", "파리"), ("ru", "Париж")]
)
async def test_the_quiet_hours_name_the_clients_zone_by_its_city_in_their_language(
    notify: Notify, browser_client: httpx.AsyncClient, locale: str, city: str
) -> None:
    shown = await browser_client.get(page_url(notify, await client_of(notify, locale=locale)))

    assert shown.status_code == 200
    hint = shown.text.split('id="quiet-hint">', 1)[1].split("</p>", 1)[0]
    assert hint.rstrip(".").endswith(city), hint
    assert "Europe/Paris" not in shown.text


async def test_saving_the_page_stores_what_the_put_stores(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    by_page = await client_of(notify, phone="+33612345678")
    by_put = await client_of(notify, phone="+33612345679")
    url = page_url(notify, by_page)
    form = {"token": token_of(url), "channel": "sms", "quiet_start": "21:30", "quiet_end": "08:00"}

    saved = await browser_client.post(url.split("?")[0], data=form)
    put = await notify.set_preferences(
        by_put, {"channel": "sms", "quiet_hours": {"start": "21:30", "end": "08:00"}}
    )

    assert saved.status_code == 200, saved.text
    assert put.status_code == 200, put.text
    page_side, put_side = await stored(notify, by_page), await stored(notify, by_put)
    for side in (page_side, put_side):
        side.pop("recipient_id"), side.pop("updated_at")
    assert (
        page_side
        == put_side
        == {
            "channel": "sms",
            "quiet_hours": {"start": "21:30", "end": "08:00"},
        }
    )
    # The same event as the PUT's, one each, with the same values.
    events = [await _events(notify, c) for c in (by_page, by_put)]
    assert events[0] == events[1]
    assert len(events[0]) == 1

    # Audited as the link (its own id, not a key), with the client, as the PUT is as its key.
    entries = await notify.pool.fetch(
        "SELECT actor_kind, actor_id, action, status FROM audit"
        " WHERE client_id = $1 AND actor_kind <> 'key' ORDER BY id",
        by_page,
    )
    assert [(e["actor_kind"], e["action"], e["status"]) for e in entries] == [
        ("link", "save_own_preferences", 200)
    ]
    assert entries[0]["actor_id"] != token_of(url)  # the link's id, never its token
    put_entries = await notify.pool.fetch(
        "SELECT actor_kind, status FROM audit WHERE client_id = $1 AND action = 'put_preferences'",
        by_put,
    )
    assert [(e["actor_kind"], e["status"]) for e in put_entries] == [("key", 200)]

    # Clearing both times and choosing the center's choice clears them, as a PUT of {} does.
    cleared = await browser_client.post(
        url.split("?")[0],
        data={"token": token_of(url), "channel": "", "quiet_start": "", "quiet_end": ""},
    )
    assert cleared.status_code == 200
    assert await stored(notify, by_page) | {"recipient_id": None, "updated_at": None} == {
        "recipient_id": None,
        "updated_at": None,
        "channel": None,
        "quiet_hours": None,
    }


async def test_the_page_refuses_quiet_hours_the_put_refuses(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    client_id = await client_of(notify)
    url = page_url(notify, client_id)
    for start, end in (("21:00", "21:00"), ("21:00", ""), ("25:00", "08:00")):
        answer = await browser_client.post(
            url.split("?")[0],
            data={"token": token_of(url), "channel": "", "quiet_start": start, "quiet_end": end},
        )
        assert answer.status_code == 422, (start, end)
        assert 'role="alert"' in answer.text
    assert (await stored(notify, client_id))["quiet_hours"] is None


async def test_another_recipients_token_cannot_change_this_one(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    victim = await client_of(notify)
    other = await client_of(notify)
    others_token = token_of(page_url(notify, other))

    shown = await browser_client.get(f"/recipients/{victim}/preferences/page?token={others_token}")
    posted = await browser_client.post(
        f"/recipients/{victim}/preferences/page",
        data={"token": others_token, "channel": "", "quiet_start": "20:00", "quiet_end": "09:00"},
    )

    assert (shown.status_code, posted.status_code) == (403, 403)
    assert (await stored(notify, victim))["quiet_hours"] is None


async def test_an_altered_or_another_recipients_link_is_audited_as_an_invalid_link(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    """As crisis audits its page links: actor `link:invalid`, never the token itself."""
    victim = await client_of(notify)
    url = page_url(notify, victim)
    altered = token_of(url)[:-2] + ("AA" if not url.endswith("AA") else "BB")
    page = f"/recipients/{victim}/preferences/page"
    old_elsewhere = token_of(
        page_url(notify, await client_of(notify), at=datetime.now(UTC) - timedelta(days=401))
    )

    assert (await browser_client.get(page, params={"token": altered})).status_code == 403
    posted = await browser_client.post(page, data={"token": altered, "channel": ""})
    assert posted.status_code == 403
    assert (await browser_client.get(page, params={"token": old_elsewhere})).status_code == 403

    trail = await notify.http.get("/audit", params={"actor_id": "invalid", "limit": 200})
    assert trail.status_code == 200, trail.text
    uses = [
        (e["action"], e["status"]) for e in trail.json()["items"] if e["resource_id"] == str(victim)
    ]
    assert uses == [
        ("show_own_preferences", 403),
        ("save_own_preferences", 403),
        ("show_own_preferences", 403),
    ]
    assert altered not in trail.text
    assert old_elsewhere not in trail.text


async def test_a_channel_without_an_address_is_not_offered_and_cannot_be_forged(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    client_id = await client_of(notify, phone=None)
    url = page_url(notify, client_id)

    shown = await browser_client.get(url)
    assert shown.status_code == 200
    assert 'value="email"' in shown.text
    assert 'value="sms"' not in shown.text
    for forged in ("sms", "phone", "messaging", "pigeon"):
        answer = await browser_client.post(
            url.split("?")[0],
            data={"token": token_of(url), "channel": forged, "quiet_start": "", "quiet_end": ""},
        )
        assert answer.status_code == 422, forged
    assert (await stored(notify, client_id))["channel"] is None


@pytest.mark.parametrize("locale", ["en", "fr", "ko", "ru"])
async def test_each_client_email_ends_with_a_working_link_to_the_page(
    notify: Notify, browser_client: httpx.AsyncClient, locale: str
) -> None:
    client_id = uuid4()
    address = f"footer-{client_id.hex[:8]}@mail.example"
    site_id = await notify.new_site()
    await notify.publish(
        ClientRegistered(
            client_id=client_id,
            site_id=site_id,
            locale=locale,
            timezone="Europe/Paris",
            preferred_channel=Channel.EMAIL,
        ),
        source="booking",
        subject=client_id,
    )
    notify.directory.add(client_id, email=address, locale=locale, timezone="Europe/Paris")
    due = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.POST_CLOSURE,
        due_at=datetime.now(UTC),
    )
    await notify.publish(due, source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    assert row["status"] == "sent"
    [email] = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    footer, page_words = WORDS[locale]
    assert footer in email.body
    link = email.body.strip().splitlines()[-1]  # the footer is the email's last line
    prefix = f"{notify.settings.notify_base_url}/recipients/{client_id}/preferences/page?token="
    assert link.startswith(prefix)
    opened = await browser_client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert opened.status_code == 200
    assert page_words in opened.text


async def _events(notify: Notify, recipient_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    rows = await notify.pool.fetch(
        "SELECT type, data FROM events WHERE stream_id = $1 ORDER BY version",
        f"recipient-{recipient_id}",
    )
    found = []
    for row in rows:
        data = json.loads(row["data"]) if isinstance(row["data"], str) else dict(row["data"])
        found.append((row["type"], {k: v for k, v in data.items() if k not in _OWN}))
    return found


_OWN = ("recipient_id", "at")


async def test_a_text_to_a_client_and_an_email_to_staff_carry_no_preferences_link(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = await client_of(notify, email=None, phone="+33698765432", site_id=site_id)
    notify.directory.add(
        client_id, phone="+33698765432", timezone="Europe/Paris", preferred_channel=Channel.SMS
    )
    due = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.POST_CLOSURE,
        due_at=datetime.now(UTC),
    )
    await notify.publish(due, source="followup", subject=client_id)
    counselor_id = await notify.new_staff(site_id)
    callback = CallbackRequested(
        client_id=client_id, site_id=site_id, counselor_id=counselor_id, followup_id=uuid4()
    )
    await notify.publish(callback, source="followup", subject=client_id)

    [text] = await settled(notify, client_id)
    [staff_email] = await settled(notify, counselor_id)
    assert (text["channel"], staff_email["channel"]) == ("sms", "email")
    [sms] = [r for r in notify.sinks.http.requests() if r.to == "+33698765432"]
    [email] = [m for m in notify.sinks.smtp.messages if str(client_id) in m.body]
    assert "preferences/page" not in sms.body
    assert "preferences/page" not in email.body
    assert WORDS["en"][0] not in email.body


async def test_a_form_over_the_body_limit_gets_the_pages_own_413_in_the_browsers_language(
    browser_client: httpx.AsyncClient,
) -> None:
    answer = await browser_client.post(
        f"/recipients/{uuid4()}/preferences/page",
        data={"token": "x" * 70_000},
        headers={"Accept-Language": "ko-KR,ko;q=0.9"},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "데이터가 너무 많습니다" in answer.text


async def test_a_channel_staff_arranged_is_kept_as_an_option_and_offered_to_nobody_else(
    notify: Notify, browser_client: httpx.AsyncClient
) -> None:
    arranged = await client_of(notify, phone="+33611112222")
    assert (await notify.set_preferences(arranged, {"channel": "phone"})).status_code == 200
    url = page_url(notify, arranged)

    shown = await browser_client.get(url)
    kept = await browser_client.post(
        url.split("?")[0],
        data={"token": token_of(url), "channel": "phone", "quiet_start": "22:00", "quiet_end": ""},
    )
    assert 'value="phone" checked' in shown.text
    assert 'value="messaging"' not in shown.text
    assert kept.status_code == 422  # the quiet hours, not the kept channel
    assert "Give both times" in kept.text
    assert "Choose one of the ways shown" not in kept.text
    saved = await browser_client.post(
        url.split("?")[0],
        data={
            "token": token_of(url),
            "channel": "phone",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
    )
    assert saved.status_code == 200
    assert (await stored(notify, arranged))["channel"] == "phone"
