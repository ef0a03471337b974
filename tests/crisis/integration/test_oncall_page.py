"""The on-call page opened from a page's signed link: acknowledge (200, then 409 saying who and
when), resolve, expired (410) and altered (403) links, the staff member's language, and client
contact details behind a PIN with wrong tries limited. Every use is audited."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from counseling_shared import audit_batch
from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffRegistered
from counseling_shared.http.body_limit import MAX_BODY_BYTES
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from counseling_shared.links import LinkSigner
from crisis.adapters import alert_views
from crisis.application.publishing import PAGE_LINK_PURPOSE
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import (
    INBOUND_SMS_SECRET,
    alert,
    flag,
    put_policy,
    register_staff,
    staff_registered,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    """crisis with SMS replies configured."""
    async with start_crisis(INBOUND_SMS_SECRET=INBOUND_SMS_SECRET) as running:
        yield running


async def _page_link(bus: Bus, site_id: UUID, alert_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        paged = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return paged[0] if paged else None

    return await eventually(found, timeout=10)


def _path_and_token(ack_url: str) -> tuple[str, str]:
    parts = urlsplit(ack_url)
    return parts.path, parse_qs(parts.query)["token"][0]


async def _paged_alert(
    crisis: RunningCrisis, bus: Bus, staff: list[UUID] | None = None, site_id: UUID | None = None
) -> tuple[UUID, list[UUID], str, dict[str, Any]]:
    site_id = site_id or uuid4()
    staff = staff or await register_staff(bus, site_id, 2)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S"), ([staff[1]], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]
    page = await _page_link(bus, site_id, alert_id)
    return site_id, staff, alert_id, page


async def test_the_link_opens_the_page_and_acknowledges_once_as_the_paged_staff_member(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id, staff, alert_id, page = await _paged_alert(crisis, bus)
    assert page["staff_id"] == str(staff[0])
    path, token = _path_and_token(page["ack_url"])
    assert path == f"/pages/{page['page_id']}"

    opened = await crisis.http.get(path, params={"token": token}, headers={"Authorization": ""})
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html")
    assert opened.headers["cache-control"] == "no-store"
    assert opened.headers["referrer-policy"] == "no-referrer"
    # The header set of every page with personal data (the answer form's, the offer page's).
    assert {k: opened.headers.get(k) for k in PRIVATE_PAGE_HEADERS} == dict(PRIVATE_PAGE_HEADERS)
    html = opened.text
    assert ">Acknowledge</button>" in html
    assert ">Resolve</button>" in html
    assert "safety_plan" in html  # the outcome choices
    # Never reloads itself (it would wipe a PIN being typed): says when, and offers a reload.
    assert 'http-equiv="refresh"' not in html
    assert "Updated at " in html
    assert f'href="{path}?token=' in html
    assert '<option value="" disabled selected>' in html  # no outcome chosen for the person
    assert "frame-ancestors 'none'" in opened.headers["content-security-policy"]
    assert opened.headers["x-content-type-options"] == "nosniff"
    # Names from StaffRegistered, not ids.
    assert "On-call counselor (you)" in html
    assert str(staff[0])[:8] not in html
    assert alert_id[:8] in html

    acked = await crisis.http.post(
        f"{path}/ack", data={"token": token}, headers={"Authorization": ""}
    )
    assert acked.status_code == 200, acked.text
    assert "escalation has stopped" in acked.text
    view = await alert(crisis, alert_id)
    assert view["status"] == "acknowledged"
    assert view["acknowledged_by"] == str(staff[0])
    assert view["escalation_due_at"] is None

    again = await crisis.http.post(
        f"{path}/ack", data={"token": token}, headers={"Authorization": ""}
    )
    assert again.status_code == 409
    assert "You acknowledged this at" in again.text  # one's own: not an error
    assert 'class="notice good"' in again.text
    assert "Already acknowledged by" not in again.text

    trail = (await crisis.http.get("/audit", params={"actor_id": str(staff[0])})).json()["items"]
    link_uses = [e for e in trail if e["actor"]["kind"] == "link"]
    assert [e["status"] for e in link_uses if e["action"] == "acknowledge_by_link"] == [200, 409]
    assert any(e["action"] == "oncall_page" and e["status"] == 200 for e in link_uses)
    assert all(e["site_id"] == str(site_id) for e in link_uses)


async def test_a_third_party_pages_form_post_cannot_act_for_the_staff_member(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """Cross-site request forgery: the page keeps no cookie or session that a browser would
    send along by itself; each form's credential is the token in its body, which another
    site cannot read (no Referer, no framing, no cache). So a hidden form on another site,
    posted by the staff member's own browser, carries no token and does nothing."""
    _, _, alert_id, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])
    opened = await crisis.http.get(path, params={"token": token}, headers={"Authorization": ""})
    assert "set-cookie" not in opened.headers  # nothing ambient for a forged post to ride on

    cross_site = {
        "Authorization": "",
        "Origin": "https://evil.example",
        "Sec-Fetch-Site": "cross-site",
    }
    for action, fields in (
        ("ack", {}),
        ("escalate", {"level": "1", "cycle": "0"}),
        ("resolve", {"outcome": "no_risk_found"}),
        ("contact", {"pin": "0000"}),
    ):
        forged = await crisis.http.post(f"{path}/{action}", data=fields, headers=cross_site)
        assert forged.status_code == 403, (action, forged.text)
        assert forged.headers["content-type"].startswith("text/html")
    view = await alert(crisis, alert_id)
    assert (view["status"], view["current_level"]) == ("open", 1)


async def test_a_buttons_address_opened_as_a_link_is_a_page_in_the_readers_language(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """After a press the address bar shows the form's action (`…/ack`); copied or reopened, it
    is a GET: a page saying what to do, not English JSON. A program still gets problem+json."""
    _, _, _, page = await _paged_alert(crisis, bus)
    path, _ = _path_and_token(page["ack_url"])
    french = {"Authorization": "", "Accept-Language": "fr-FR,fr;q=0.9"}
    for action in ("ack", "escalate", "resolve", "contact"):
        opened = await crisis.http.get(f"{path}/{action}", headers=french)
        assert opened.status_code == 405, action
        assert opened.headers["content-type"].startswith("text/html")
        assert '<html lang="fr">' in opened.text
        assert opened.headers["allow"] == "POST"
        assert {k: opened.headers.get(k) for k in PRIVATE_PAGE_HEADERS} == dict(
            PRIVATE_PAGE_HEADERS
        )
    program = await crisis.http.put(f"{path}/ack", headers={"Authorization": ""})
    assert program.status_code == 405
    assert program.headers["content-type"] == "application/problem+json"


async def test_resolving_through_the_link_records_the_outcome_and_a_second_try_is_a_409(
    crisis: RunningCrisis, bus: Bus
) -> None:
    _, staff, alert_id, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])

    wrong = await crisis.http.post(f"{path}/resolve", data={"token": token, "outcome": "nope"})
    assert wrong.status_code == 422
    resolved = await crisis.http.post(
        f"{path}/resolve", data={"token": token, "outcome": "safety_plan"}
    )
    assert resolved.status_code == 200, resolved.text
    view = await alert(crisis, alert_id)
    assert (view["status"], view["outcome"], view["resolved_by"]) == (
        "resolved",
        "safety_plan",
        str(staff[0]),
    )
    again = await crisis.http.post(f"{path}/resolve", data={"token": token, "outcome": "police"})
    assert again.status_code == 409


async def test_an_altered_link_is_a_403_another_pages_token_too_and_an_expired_one_a_410(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id, staff, alert_id, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (altered, token + "x", "garbage"):
        answer = await crisis.http.get(path, params={"token": bad})
        assert answer.status_code == 403, bad
        assert "not valid" in answer.text
        post = await crisis.http.post(f"{path}/ack", data={"token": bad})
        assert post.status_code == 403

    key = crisis.runtime.settings.link_signing_key.get_secret_value()
    signer = LinkSigner(key)
    # Genuinely signed, but for another page id (or another person) than the one it opens.
    other_page = signer.sign(
        PAGE_LINK_PURPOSE, str(uuid4()), person=str(staff[0]), expires_at=_later()
    )
    assert (await crisis.http.get(path, params={"token": other_page})).status_code == 403
    other_person = signer.sign(
        PAGE_LINK_PURPOSE, page["page_id"], person=str(staff[1]), expires_at=_later()
    )
    assert (await crisis.http.get(path, params={"token": other_person})).status_code == 403
    # Signed for the calendar purpose: never opens a page.
    calendar = signer.sign("crisis-schedule-calendar", page["page_id"], expires_at=_later())
    assert (await crisis.http.get(path, params={"token": calendar})).status_code == 403

    expired = signer.sign(
        PAGE_LINK_PURPOSE,
        page["page_id"],
        person=str(staff[0]),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    gone = await crisis.http.get(path, params={"token": expired})
    assert gone.status_code == 410
    assert "expired" in gone.text
    refused = await crisis.http.post(f"{path}/ack", data={"token": expired})
    assert refused.status_code == 410
    assert (await alert(crisis, alert_id))["status"] == "open"

    refused_uses = (await crisis.http.get("/audit", params={"actor_id": "invalid"})).json()
    assert [
        (e["action"], e["status"])
        for e in refused_uses["items"]
        if e["resource_id"] == page["page_id"]
    ][:2] == [("oncall_page", 403), ("acknowledge_by_link", 403)]
    expired_uses = (await crisis.http.get("/audit", params={"site_id": str(site_id)})).json()
    assert [(e["action"], e["status"]) for e in expired_uses["items"] if e["status"] == 410] == [
        ("oncall_page", 410),
        ("acknowledge_by_link", 410),
    ]


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


async def test_the_fallback_staffs_page_says_it_is_the_fallback_not_level_2(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """A one-level policy's fallback page is numbered 2 on the bus (its published meaning);
    the event says `fallback`, and the on-call page never shows a "level 2"."""
    site_id = uuid4()
    first, backup = await register_staff(bus, site_id, 2)
    await put_policy(crisis, site_id, [([first], "PT1S")], repeat=0, fallback=[backup])
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def fallback_paged() -> dict[str, Any] | None:
        paged = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return next((p for p in paged if p["staff_id"] == str(backup)), None)

    page = await eventually(fallback_paged, timeout=10)
    [level_page] = [
        p
        for p in pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        if p["staff_id"] == str(first)
    ]
    path, token = _path_and_token(page["ack_url"])
    opened = await crisis.http.get(path, params={"token": token}, headers={"Authorization": ""})

    assert opened.status_code == 200, opened.text
    html = opened.text
    assert "level 2" not in html
    assert "fallback (every level was paged)" in html  # in the list of who was paged
    assert "(fallback)" in html  # in the timeline
    assert "level 1" in html  # the first page keeps its level
    assert (page["level"], page.get("fallback")) == (2, True)
    assert (level_page["level"], level_page.get("fallback")) == (1, False)


async def test_the_page_speaks_the_staff_members_language(crisis: RunningCrisis, bus: Bus) -> None:
    site_id = uuid4()
    french, korean = uuid4(), uuid4()
    for staff_id, locale in ((french, "fr-FR"), (korean, "ko")):
        await bus.publish(
            StaffRegistered(
                staff_id=staff_id,
                site_id=site_id,
                name="On call",
                role=StaffRole.CRISIS_LINE,
                email="oncall@center.example",
                phone="+15550000001",
                locale=locale,
            ),
            source="booking",
        )
    _, _, _, page = await _paged_alert(crisis, bus, [french, korean], site_id)
    path, token = _path_and_token(page["ack_url"])
    html = (await crisis.http.get(path, params={"token": token})).text
    assert '<html lang="fr">' in html
    assert ">Prendre en charge</button>" in html
    assert ">Clore</button>" in html


@pytest.fixture
async def directory(bus: Bus) -> AsyncIterator[dict[UUID, dict[str, Any]]]:
    """booking's directory on the real NATS: answers for the clients the test puts in."""
    known: dict[UUID, dict[str, Any]] = {}

    async def answer(msg: Any) -> None:
        client_id = UUID(json.loads(msg.data)["client_id"])
        reply = known.get(client_id, {"error": "not_found"})
        await msg.respond(json.dumps(reply).encode())

    sub = await bus.nc.subscribe("booking.directory.contact", cb=answer)
    try:
        yield known
    finally:
        await sub.unsubscribe()


async def test_contact_details_show_only_after_the_pin_and_wrong_tries_lock_it(
    crisis: RunningCrisis, bus: Bus, directory: dict[UUID, dict[str, Any]]
) -> None:
    site_id = uuid4()
    staff = await register_staff(bus, site_id, 2)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S")], repeat=0)
    client_id = uuid4()
    directory[client_id] = {
        "client_id": str(client_id),
        "site_id": str(site_id),
        "phone": "+15557654321",
        "email": "client@example.org",
        "preferred_channel": "sms",
    }
    alert_id = (await flag(crisis, site_id, client_id))["alert_id"]
    page = await _page_link(bus, site_id, alert_id)
    path, token = _path_and_token(page["ack_url"])

    opened = (await crisis.http.get(path, params={"token": token})).text
    assert "+15557654321" not in opened
    assert "client@example.org" not in opened
    unset = await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "1234"})
    assert unset.status_code == 403
    assert "No PIN is set" in unset.text

    assert (
        await crisis.http.put(f"/staff/{staff[0]}/pin", json={"pin": "12ab"})
    ).status_code == 422
    set_pin = await crisis.http.put(f"/staff/{staff[0]}/pin", json={"pin": "482913"})
    assert set_pin.status_code == 204, set_pin.text
    stored = await crisis.runtime.db().fetchval(
        "SELECT pin_hash FROM staff_pins WHERE staff_id = $1", staff[0]
    )
    assert stored.startswith("scrypt$")
    assert "482913" not in stored

    wrong = await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "000000"})
    assert wrong.status_code == 403
    assert "Wrong PIN" in wrong.text
    assert "+15557654321" not in wrong.text
    shown = await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "482913"})
    assert shown.status_code == 200, shown.text
    assert "+15557654321" in shown.text
    assert "client@example.org" in shown.text

    for _ in range(crisis.runtime.settings.pin_max_attempts):  # type: ignore[attr-defined]
        await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "111111"})
    locked = await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "482913"})
    assert locked.status_code == 429
    assert "+15557654321" not in locked.text

    trail = (await crisis.http.get("/audit", params={"client_id": str(client_id)})).json()
    views = [e for e in trail["items"] if e["action"] == "contact_by_link"]
    assert [e["status"] for e in views][:3] == [403, 403, 200]
    assert all(e["on_behalf_of"] == str(staff[0]) for e in views)


async def test_a_confirmed_pin_whose_entry_cannot_be_written_shows_and_records_nothing(
    crisis: RunningCrisis, bus: Bus, directory: dict[UUID, dict[str, Any]]
) -> None:
    """The right PIN's use (its wrong-try count reset) commits with its audit entry and the
    status answered, before the details are sent: no entry, no use, no details."""
    site_id = uuid4()
    staff = await register_staff(bus, site_id, 2)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S")], repeat=0)
    client_id = uuid4()
    directory[client_id] = {
        "client_id": str(client_id),
        "site_id": str(site_id),
        "phone": "+15550001111",
        "email": None,
        "preferred_channel": "sms",
    }
    alert_id = (await flag(crisis, site_id, client_id))["alert_id"]
    path, token = _path_and_token((await _page_link(bus, site_id, alert_id))["ack_url"])
    assert (await crisis.http.put(f"/staff/{staff[0]}/pin", json={"pin": "482913"})).is_success
    for _ in range(2):
        await crisis.http.post(f"{path}/contact", data={"token": token, "pin": "000000"})
    db = crisis.runtime.db()

    async def failed_tries() -> int:
        found: int = await db.fetchval(
            "SELECT failed_attempts FROM staff_pins WHERE staff_id = $1", staff[0]
        )
        return found

    async def entries(request_id: str) -> list[tuple[str, int]]:
        rows = await db.fetch("SELECT action, status FROM audit WHERE request_id = $1", request_id)
        return [(r["action"], r["status"]) for r in rows]

    assert await failed_tries() == 2
    await db.execute(
        """CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
           CREATE TRIGGER refuse_audit BEFORE INSERT ON audit
           FOR EACH ROW EXECUTE FUNCTION refuse_audit()"""
    )
    try:
        refused = await crisis.http.post(
            f"{path}/contact",
            data={"token": token, "pin": "482913"},
            headers={"X-Request-ID": "pin-unrecorded", "Accept-Language": "fr"},
        )
    finally:
        await db.execute("DROP TRIGGER refuse_audit ON audit; DROP FUNCTION refuse_audit()")
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in refused.text
    assert "+15550001111" not in refused.text
    assert await failed_tries() == 2  # the PIN's use was not recorded either
    assert await entries("pin-unrecorded") == []

    shown = await crisis.http.post(
        f"{path}/contact",
        data={"token": token, "pin": "482913"},
        headers={"X-Request-ID": "pin-recorded"},
    )
    assert shown.status_code == 200
    assert "+15550001111" in shown.text
    assert await failed_tries() == 0
    assert await entries("pin-recorded") == [("contact_by_link", 200)]

    # booking unable to answer: the 503 is what the entry, committed with the PIN's use, says.
    del directory[client_id]
    unanswered = await crisis.http.post(
        f"{path}/contact",
        data={"token": token, "pin": "482913"},
        headers={"X-Request-ID": "pin-no-directory"},
    )
    assert unanswered.status_code == 503
    assert "could not be fetched" in unanswered.text
    assert await entries("pin-no-directory") == [("contact_by_link", 503)]


async def _reply(
    crisis: RunningCrisis, sender: str, text: str, secret: str = INBOUND_SMS_SECRET
) -> Any:
    return await crisis.http.post(
        "/inbound/sms",
        json={"from": sender, "text": text},
        headers={"X-Webhook-Secret": secret, "Authorization": ""},
    )


@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_without_the_secret_a_malformed_sms_reply_is_a_401_not_a_422(
    crisis: RunningCrisis, secret: str | None
) -> None:
    """The secret is checked before the body: a caller without it learns nothing of its shape."""
    headers = {"Authorization": ""} | ({"X-Webhook-Secret": secret} if secret else {})
    for body in ({"content": b"{not json"}, {"json": {"text": 7}}):
        answer = await crisis.http.post("/inbound/sms", headers=headers, **body)
        assert answer.status_code == 401, answer.text
    with_secret = await crisis.http.post(
        "/inbound/sms",
        json={"text": 7},
        headers={"X-Webhook-Secret": INBOUND_SMS_SECRET, "Authorization": ""},
    )
    assert with_secret.status_code == 422


async def test_an_sms_reply_ack_with_the_code_acknowledges_as_the_staff_member_whose_phone_sent_it(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id = uuid4()
    first, second = await register_staff(bus, site_id, 2, ["+33 6 12 34 56 78", "+33611111111"])
    _, _, alert_id, page = await _paged_alert(crisis, bus, [first, second], site_id)
    code = page["reply_code"]
    assert code == UUID(page["page_id"]).hex[:6].upper()

    assert (await _reply(crisis, "+33612345678", f"ACK {code}", "wrong")).status_code == 401
    # A secret with a byte that is not ASCII is a wrong secret (401), never a 500.
    odd = await crisis.http.post(
        "/inbound/sms",
        json={"from": "+33612345678", "text": f"ACK {code}"},
        headers={b"x-webhook-secret": f"{INBOUND_SMS_SECRET}\xe9".encode(), b"authorization": b""},
    )
    assert odd.status_code == 401
    help_text = await _reply(crisis, "+33612345678", "hello")
    assert help_text.status_code == 200
    assert "ACK" in help_text.json()["reply"]
    # The right code from another staff member's phone acknowledges nothing.
    other = await _reply(crisis, "+33611111111", f"ACK {code}")
    assert "No open page" in other.json()["reply"]
    assert (await alert(crisis, alert_id))["status"] == "open"

    acked = await _reply(crisis, "0033 6 12 34 56 78", f"ack {code.lower()}")
    assert acked.status_code == 200, acked.text
    assert "acknowledged" in acked.json()["reply"]
    view = await alert(crisis, alert_id)
    assert (view["status"], view["acknowledged_by"]) == ("acknowledged", str(first))

    again = await _reply(crisis, "+33612345678", f"ACK {code}")
    assert "already acknowledged by On-call counselor at" in again.json()["reply"]
    trail = (await crisis.http.get("/audit", params={"actor_id": str(first)})).json()["items"]
    assert [e["action"] for e in trail if e["actor"]["kind"] == "staff"] == [
        "inbound_sms",
        "inbound_sms",
    ]


async def test_another_members_ack_is_named_and_errors_are_pages_in_the_readers_language(
    crisis: RunningCrisis, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_id, alex, bea = uuid4(), uuid4(), uuid4()
    for staff_id, name in ((alex, "Alex Martin"), (bea, "Bea Kim")):
        registered = staff_registered(staff_id, site_id, locale="fr-FR")
        await bus.publish(registered.model_copy(update={"name": name}), source="booking")
    await put_policy(crisis, site_id, [([alex, bea], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def both() -> list[dict[str, Any]] | None:
        paged = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return paged if len(paged) == 2 else None

    links = {UUID(p["staff_id"]): _path_and_token(p["ack_url"]) for p in await eventually(both)}
    alex_path, alex_token = links[alex]
    assert (await crisis.http.post(f"{alex_path}/ack", data={"token": alex_token})).is_success
    bea_path, bea_token = links[bea]
    late = await crisis.http.post(f"{bea_path}/ack", data={"token": bea_token})
    assert late.status_code == 409
    assert "Déjà prise en charge par Alex Martin le " in late.text
    assert 'class="notice bad"' in late.text
    assert "Bea Kim (vous)" in late.text

    # A link cut before its token: the 403 page, in the browser's language, not problem+json.
    cut = await crisis.http.get(bea_path, headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert cut.status_code == 403
    assert cut.headers["content-type"].startswith("text/html")
    assert '<html lang="ko">' in cut.text
    assert "frame-ancestors 'none'" in cut.headers["content-security-policy"]
    untokened_post = await crisis.http.post(f"{bea_path}/ack", data={})
    assert (untokened_post.status_code, untokened_post.headers["content-type"][:9]) == (
        403,
        "text/html",
    )
    # The JSON API still answers problem+json.
    assert (
        (await crisis.http.get("/alerts/nope"))
        .headers["content-type"]
        .startswith("application/problem+json")
    )

    # The database gone under a tap on Acknowledge: a page saying what to do.
    async def unreachable(*_: object) -> None:
        raise asyncpg.PostgresConnectionError("connection refused")

    monkeypatch.setattr(alert_views, "alert_view", unreachable)
    outage = await crisis.http.post(
        f"{bea_path}/ack", data={"token": bea_token}, headers={"Accept-Language": "ru"}
    )
    assert outage.status_code == 503
    assert '<html lang="ru">' in outage.text
    assert "позвоните коллеге" in outage.text  # call a colleague

    async def bug(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(alert_views, "alert_view", bug)
    app = crisis.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://crisis") as browser:
        failed = await browser.get(bea_path, params={"token": bea_token})
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("text/html")
    assert "call a colleague" in failed.text


async def test_a_view_the_audit_trail_cannot_record_is_refused_with_a_page(
    crisis: RunningCrisis, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])

    async def trail_down(*_: object) -> None:
        raise asyncpg.PostgresConnectionError("connection refused")

    monkeypatch.setattr(audit_batch, "record", trail_down)
    refused = await crisis.http.get(
        path, params={"token": token}, headers={"Accept-Language": "fr-CA,fr;q=0.9"}
    )
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in refused.text
    assert "Prendre en charge" not in refused.text  # not the page itself
    # The JSON API still answers problem+json.
    api = await crisis.http.get(f"/alerts/{page['alert_id']}")
    assert (api.status_code, api.headers["content-type"]) == (503, "application/problem+json")


async def test_a_member_known_before_names_were_kept_is_named_from_their_next_announcement(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id, staff, _, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])
    db = crisis.runtime.db()
    await db.execute("UPDATE staff SET name = NULL WHERE staff_id = $1", staff[0])  # pre-0008
    unnamed = (await crisis.http.get(path, params={"token": token})).text
    assert f"{str(staff[0])[:8]} (you)" in unnamed  # a short id stands in

    # `counselctl staff reannounce`: booking announces every active member again.
    renamed = staff_registered(staff[0], site_id).model_copy(update={"name": "Sam Lee"})
    await bus.publish(renamed, source="booking")

    async def named() -> str | None:
        html = (await crisis.http.get(path, params={"token": token})).text
        return html if "Sam Lee (you)" in html else None

    assert str(staff[0])[:8] not in await eventually(named, timeout=10)


async def _chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
async def test_a_form_post_over_the_body_limit_is_a_413_page_in_the_readers_language(
    crisis: RunningCrisis, bus: Bus, chunked: bool
) -> None:
    _, _, _, page = await _paged_alert(crisis, bus)
    path, token = _path_and_token(page["ack_url"])
    body = urlencode({"token": token, "padding": "x" * MAX_BODY_BYTES}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept-Language": "ko-KR,ko;q=0.9",
    }

    answer = await crisis.http.post(
        f"{path}/ack", content=_chunks(body) if chunked else body, headers=headers
    )

    assert ("content-length" in answer.request.headers) is not chunked
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="ko">' in answer.text
    assert "전송한 내용이 너무 큽니다" in answer.text
    for name, value in PRIVATE_PAGE_HEADERS.items():
        assert answer.headers[name] == value
    # Nothing was acknowledged: the same link still does it.
    assert (await crisis.http.post(f"{path}/ack", data={"token": token})).status_code == 200
    # The JSON API keeps its problem+json.
    api = await crisis.http.post(
        "/alerts",
        content=b"{" + b" " * MAX_BODY_BYTES + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"


async def test_a_staff_stop_is_recorded_told_to_notify_and_shown_in_the_policy(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id = uuid4()
    first, second = await register_staff(bus, site_id, 2, ["+33 6 22 33 44 55", "+33622000000"])
    await put_policy(crisis, site_id, [([first], "PT60S")], fallback=[second])

    stopped = await _reply(crisis, "0033622334455", " Stop ")
    assert stopped.status_code == 200
    assert "START" in stopped.json()["reply"]
    assert "email" in stopped.json()["reply"]
    assert "START" in (await _reply(crisis, "+33622334455", "help")).json()["reply"]
    stranger = await _reply(crisis, "+33699999999", "STOP")
    assert "not one of theirs" in stranger.json()["reply"]

    async def told() -> list[dict[str, Any]]:
        found = await bus.crisis_events(site_id, "StaffSmsOptOutChanged")
        return [e.data for e in found]

    assert await eventually(told) == [
        {"staff_id": str(first), "site_id": str(site_id), "opted_out": True}
    ]
    policy = (await crisis.http.get(f"/sites/{site_id}/escalation-policy")).json()
    assert policy["sms_stopped_staff_ids"] == [str(first)]
    assert f"level 1: {first} texted STOP to the paging number" in " ".join(policy["warnings"])
    # Paging goes on: the level still pages them (notify sends the email only).
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def paged() -> list[dict[str, Any]]:
        return pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)

    assert [p["staff_id"] for p in await eventually(paged)] == [str(first)]

    # A second STOP says nothing new; START lifts it and says so.
    await _reply(crisis, "+33622334455", "STOP")
    assert "back on" in (await _reply(crisis, "+33622334455", "START")).json()["reply"]

    async def both() -> list[dict[str, Any]] | None:
        found = await told()
        return found if len(found) == 2 else None

    assert [e["opted_out"] for e in await eventually(both)] == [True, False]
    policy = (await crisis.http.get(f"/sites/{site_id}/escalation-policy")).json()
    assert policy["sms_stopped_staff_ids"] == []
    assert not any("STOP" in w for w in policy["warnings"])
