"""The client answers a check-in through the signed link in `FollowUpDue` (contract v2)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from nats.js import JetStreamContext

from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CallbackRequested,
    FollowUpCompleted,
    FollowUpDue,
    FollowUpScheduled,
    MeasureRecorded,
    NegativeContactRecorded,
    RiskFlagged,
)
from counseling_shared.http.private_pages import CONTENT_SECURITY_POLICY
from counseling_shared.links import LinkSigner
from followup.adapters.response_links import PURPOSE
from followup.application.erasure import erase_client
from tests.followup.integration.support import (
    complete_session,
    eventually,
    followup_events,
    publish_as_booking,
    register_client,
    register_site,
)

pytestmark = pytest.mark.integration
PHQ9_ITEM9_AT_TWO = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # total 10: moderate


async def due_link(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    counselor_id: UUID | None = None,
    **policy_fields: Any,
) -> tuple[UUID, FollowUpDue]:
    """A French-speaking client whose check-in (asking PHQ-9) falls due a second after a session;
    `policy_fields` are added to (or replace) the site's policy."""
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)  # locale fr
    policy = {
        "first_checkin_after": "PT1S",
        "measures": {"checkin": ["phq9"]},
        "emergency_line": "+33 3114",
        **policy_fields,
    }
    answer = await api.put(f"/sites/{site_id}/followup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    assert answer.json()["measures"] == {"checkin": ["phq9"]}
    await complete_session(
        js, site_id, client_id, appointment_id=appointment_id, counselor_id=counselor_id
    )

    async def fell_due() -> list[FollowUpDue]:
        found = await followup_events(js, site_id, "FollowUpDue")
        return [e for _, e in found if isinstance(e, FollowUpDue)]

    [due] = (await eventually(fell_due))[:1]
    return site_id, due


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def form_fields(
    phq9: list[int], *, contact: str = "yes", token: str, wellbeing: int = 2
) -> dict[str, str]:
    fields = {f"phq9_{n}": str(v) for n, v in enumerate(phq9, start=1)}
    return {
        **fields,
        "wellbeing": str(wellbeing),
        "contact": contact,
        "comment": "Rough week",
        "token": token,
    }


async def test_an_answer_with_item9_at_two_completes_the_checkin_and_flags_a_high_risk(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    counselor_id = uuid4()
    site_id, due = await due_link(api, js, counselor_id)
    assert due.response_url is not None
    assert str(due.client_id) not in due.response_url  # the token names nobody in clear
    public = httpx.AsyncClient(base_url=str(api.base_url), timeout=10.0)  # no API key
    async with public:
        form = await public.get(path_of(due.response_url))
        assert form.status_code == 200, form.text
        assert '<html lang="fr">' in form.text
        assert "Penser qu'il vaudrait mieux mourir" in html.unescape(form.text)
        assert form.text.count('type="radio" name="phq9_') == 36
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None

        action = f"/followups/{due.followup_id}/response"
        sent = await public.post(action, data=form_fields(PHQ9_ITEM9_AT_TWO, token=token[1]))
        assert sent.status_code == 200, sent.text
        assert "+33 3114" in sent.text  # the emergency line, at once
        again = await public.post(action, data=form_fields([0] * 9, token=token[1]))
        assert again.status_code == 409
        assert "Déjà reçu" in html.unescape(again.text)

    async def published() -> list[Any]:
        found = [e for _, e in await followup_events(js, site_id)]
        wanted = (FollowUpCompleted, MeasureRecorded, RiskFlagged, CallbackRequested)
        kept = [e for e in found if isinstance(e, wanted)]
        # Wait for every kind: the next check-in's FollowUpScheduled can arrive before them.
        return kept if {type(e) for e in kept} == set(wanted) else []

    events = {type(e).__name__: e for e in await eventually(published)}
    assert set(events) == {
        "FollowUpCompleted",
        "MeasureRecorded",
        "RiskFlagged",
        "CallbackRequested",
    }
    assert events["FollowUpCompleted"].outcome == "responded"
    measure = events["MeasureRecorded"]
    assert (measure.instrument, measure.score, measure.band) == ("phq9", 10, "moderate")
    assert measure.counselor_id == counselor_id  # who notify tells of an elevated score
    flag = events["RiskFlagged"]
    assert (flag.level, flag.source, flag.client_id) == ("high", "followup", due.client_id)
    assert events["CallbackRequested"].counselor_id == counselor_id  # the session's counselor
    stored = await db.fetchrow(
        "SELECT comment, answers FROM checkin_responses WHERE followup_id = $1", due.followup_id
    )
    assert stored is not None
    assert stored["comment"] == "Rough week"
    assert stored["answers"] == {"phq9": PHQ9_ITEM9_AT_TWO}
    on_bus = [env.encode() for env, _ in await followup_events(js, site_id)]
    assert not any(b"Rough week" in raw for raw in on_bus)  # the comment never leaves followup
    measures = await api.get(f"/clients/{due.client_id}/measures")
    assert measures.status_code == 200, measures.text
    [score] = measures.json()
    assert (score["instrument"], score["score"], score["max_score"], score["band"]) == (
        "phq9",
        10,
        27,
        "moderate",
    )
    fhir = await api.get("/fhir/Observation", params={"patient": f"Patient/{due.client_id}"})
    assert fhir.status_code == 200, fhir.text
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    get_fhir_model_class("Bundle").model_validate(fhir.json())
    [entry] = fhir.json()["entry"]
    observation = entry["resource"]
    get_fhir_model_class("Observation").model_validate(observation)
    assert observation["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "44261-6",
        "display": "Patient Health Questionnaire 9 item (PHQ-9) total score",
    }
    assert (observation["valueInteger"], observation["subject"]["reference"]) == (
        10,
        f"Patient/{due.client_id}",
    )
    assert observation["interpretation"][0]["coding"][0]["code"] == "moderate"
    assert observation["identifier"][0]["value"] == str(due.followup_id)
    assert "Rough week" not in fhir.text  # the comment stays in followup
    gad7 = await api.get(
        "/fhir/Observation",
        params={"patient": str(due.client_id), "code": "http://loinc.org|70274-6"},
    )
    assert gad7.json()["total"] == 0
    assert (await api.get("/fhir/Observation", params={"patient": "Patient/7"})).status_code == 422
    unknown_code = await api.get(
        "/fhir/Observation", params={"patient": str(due.client_id), "code": "http://x|1"}
    )
    assert unknown_code.status_code == 422
    progress = await api.get(f"/clients/{due.client_id}/progress")
    assert progress.status_code == 200
    assert progress.text.count("<svg") == 1
    assert progress.text.count('stroke-dasharray="4 4"') == 4  # PHQ-9's four band limits
    assert "10 (moderate)" in progress.text
    assert "responded" in progress.text
    # Times in the site's zone (the harness's site is in Paris), named by its city, written as
    # the reader's language writes them (Babel): "Dec 5, 2026, 9:30 AM".
    assert "Times are Paris time." in progress.text
    recorded = datetime.fromisoformat(score["recorded_at"]).astimezone(ZoneInfo("Europe/Paris"))
    hour = recorded.hour % 12 or 12
    english = f"{recorded:%b} {recorded.day}, {recorded.year}, {hour}:{recorded:%M}"
    assert f"<td>{english}\u202f{recorded:%p}</td>" in progress.text
    assert "style=" not in progress.text  # the stylesheet has it (a CSP may forbid attributes)
    # In the browser's language: the page's words and every code's name.
    korean = await api.get(
        f"/clients/{due.client_id}/progress", headers={"Accept-Language": "ko-KR,ko;q=0.9"}
    )
    assert korean.status_code == 200
    assert '<html lang="ko">' in korean.text
    assert f"내담자 {due.client_id}의 경과" in korean.text
    assert "10 (중등도)" in korean.text
    assert "시각은 파리 기준입니다." in korean.text
    assert f"<td>{recorded.year}. {recorded.month}. {recorded.day}. " in korean.text
    assert "응답함" in korean.text
    assert "안부 확인" in korean.text
    assert "responded" not in korean.text
    assert "Follow-ups" not in korean.text
    unknown = await api.get(f"/clients/{uuid4()}/measures")
    assert unknown.status_code == 404
    reads = await db.fetch(
        "SELECT action, client_id FROM audit WHERE resource = 'clients' AND resource_id = $1",
        str(due.client_id),
    )
    assert {(r["action"], r["client_id"]) for r in reads} == {
        ("list_measures", due.client_id),
        ("show_progress", due.client_id),
    }
    fhir_reads = await db.fetch(
        "SELECT status, client_id FROM audit WHERE action = 'search_observations'"
    )
    assert {(r["status"], r["client_id"]) for r in fhir_reads} >= {(200, due.client_id)}
    audit = await db.fetch(
        "SELECT actor_kind, status FROM audit WHERE resource_id = $1 ORDER BY at",
        str(due.followup_id),
    )
    assert [(a["actor_kind"], a["status"]) for a in audit][-3:] == [
        ("link", 200),
        ("link", 200),
        ("link", 409),
    ]

    async with db.acquire() as conn:  # erasure on request takes the answers and scores too
        erased = await erase_client(conn, due.client_id)
    assert (erased["checkin_responses"], erased["measures"]) == (1, 1)


async def test_a_client_answering_very_bad_is_a_negative_contact_that_starts_the_cooloff(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id, due = await due_link(api, js)
    assert due.response_url is not None
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10.0) as public:
        form = await public.get(path_of(due.response_url))
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None
        sent = await public.post(
            f"/followups/{due.followup_id}/response",
            data=form_fields([0] * 9, contact="no", token=token[1], wellbeing=1),
        )
        assert sent.status_code == 200, sent.text

    async def negative() -> list[Any]:
        found = [e for _, e in await followup_events(js, site_id)]
        return [e for e in found if isinstance(e, NegativeContactRecorded)]

    [recorded] = await eventually(negative)
    assert recorded.client_id == due.client_id
    assert recorded.cooloff_until is not None


async def test_an_incomplete_answer_shows_the_form_again_and_stores_nothing(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    _, due = await due_link(api, js)
    assert due.response_url is not None
    token = due.response_url.split("token=", 1)[1]
    fields = form_fields([0] * 8, token=token)  # item 9 left out
    answer = await api.post(f"/followups/{due.followup_id}/response", data=fields)
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    assert 'value="Rough week"' not in answer.text  # a textarea keeps it as content
    assert "Rough week" in answer.text
    stored = await db.fetchval(
        "SELECT count(*) FROM checkin_responses WHERE followup_id = $1", due.followup_id
    )
    assert stored == 0
    followup = (await api.get(f"/followups/{due.followup_id}")).json()
    assert followup["status"] == "due"


async def test_an_altered_another_followups_or_expired_link_gets_a_clear_page(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    _, due = await due_link(api, js)
    assert due.response_url is not None
    token = due.response_url.split("token=", 1)[1]
    path = f"/followups/{due.followup_id}/response"
    altered = await api.get(path, params={"token": token[:-2] + ("A" if token[-2] != "A" else "B")})
    assert altered.status_code == 403
    assert "text/html" in altered.headers["content-type"]
    other = await api.get(f"/followups/{uuid4()}/response", params={"token": token})
    assert other.status_code == 403
    signer = LinkSigner("dev-link-signing-key")
    expired = signer.sign(
        PURPOSE, str(due.followup_id), expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    gone = await api.get(path, params={"token": expired})
    assert gone.status_code == 410
    posted = await api.post(path, data=form_fields([0] * 9, token=expired))
    assert posted.status_code == 410
    # Another follow-up's expired token is not this one's: no page in this client's language.
    _, elsewhere = await due_link(api, js)
    theirs = await api.get(
        f"/followups/{elsewhere.followup_id}/response",
        params={"token": expired},
        headers={"Accept-Language": "ko"},
    )
    assert theirs.status_code == 403
    assert '<html lang="ko">' in theirs.text


PRIVATE_PAGE = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
    # No script, inline styles only, forms to the same origin, never framed.
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


def private_headers(answer: httpx.Response) -> dict[str, str | None]:
    return {name: answer.headers.get(name) for name in PRIVATE_PAGE}


async def test_every_answer_form_page_is_kept_out_of_caches_referers_and_frames(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """The GET carries the token in its URL, the 422 echoes the PHQ-9 answers given: neither
    may be cached, passed on as a Referer or framed; nor may the 403, 410 and 200 pages."""
    _, due = await due_link(api, js)
    assert due.response_url is not None
    token = due.response_url.split("token=", 1)[1]
    path = f"/followups/{due.followup_id}/response"
    public = httpx.AsyncClient(base_url=str(api.base_url), timeout=10.0)  # no API key
    async with public:
        form = await public.get(path, params={"token": token})
        incomplete = await public.post(path, data=form_fields([3] * 8, token=token))
        altered = await public.get(path, params={"token": token[:-2] + "zz"})
        signer = LinkSigner("dev-link-signing-key")
        late = signer.sign(
            PURPOSE, str(due.followup_id), expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        expired = await public.get(path, params={"token": late})
        thanks = await public.post(path, data=form_fields([0] * 9, token=token))
        progress = await api.get(f"/clients/{due.client_id}/progress")

    answers = {
        "form": form,
        "422": incomplete,
        "403": altered,
        "410": expired,
        "thanks": thanks,
        "progress": progress,
    }
    statuses = {name: a.status_code for name, a in answers.items()}
    assert statuses == {
        "form": 200,
        "422": 422,
        "403": 403,
        "410": 410,
        "thanks": 200,
        "progress": 200,
    }
    assert {name: private_headers(a) for name, a in answers.items()} == {
        name: PRIVATE_PAGE for name in answers
    }


async def test_each_completed_session_gets_one_rating_request_and_the_summary_matches(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id, client_id = uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)
    policy = {"first_checkin_after": "P7D", "satisfaction_survey_after": "PT1S"}
    assert (await api.put(f"/sites/{site_id}/followup-policy", json=policy)).status_code == 200
    kim, lee = uuid4(), uuid4()
    sessions = [
        await complete_session(js, site_id, client_id, counselor_id=counselor)
        for counselor in (kim, lee, kim)
    ]
    await publish_as_booking(js, sessions[0], uuid4())  # redelivered under another id

    async def rating_requests() -> list[FollowUpDue]:
        found = await followup_events(js, site_id, "FollowUpDue")
        due = [e for _, e in found if isinstance(e, FollowUpDue) and e.kind == "satisfaction"]
        return due if len(due) >= 3 else []

    requests = await eventually(rating_requests)
    assert len(requests) == 3  # one per session, the redelivery planned none
    for request, rating in zip(requests, (5, 2, 4), strict=True):
        assert request.response_url is not None
        form = await api.get(path_of(request.response_url))
        assert 'name="satisfaction"' in form.text
        assert 'name="phq9_1"' not in form.text
        token = request.response_url.split("token=", 1)[1]
        sent = await api.post(
            f"/followups/{request.followup_id}/response",
            data={"satisfaction": str(rating), "comment": "", "token": token},
        )
        assert sent.status_code == 200, sent.text

    summary = (await api.get(f"/sites/{site_id}/satisfaction")).json()
    assert (summary["count"], summary["mean"]) == (3, 3.67)
    assert summary["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    counselor_of = {r.followup_id: s.counselor_id for r, s in zip(requests, sessions, strict=True)}
    assert len(set(counselor_of.values())) == 2
    per = {c["counselor_id"]: (c["count"], c["mean"]) for c in summary["per_counselor"]}
    assert per == {str(kim): (2, 4.5), str(lee): (1, 2.0)}
    later = (
        await api.get(f"/sites/{site_id}/satisfaction", params={"from": "2999-01-01T00:00:00Z"})
    ).json()
    assert later["count"] == 0


async def test_a_reminder_is_moved_on_reschedule_and_withdrawn_on_cancellation(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)
    policy = {"appointment_reminders": ["PT1H"]}
    assert (await api.put(f"/sites/{site_id}/followup-policy", json=policy)).status_code == 200
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    fields = {
        "appointment_id": appointment_id,
        "site_id": site_id,
        "client_id": client_id,
        "counselor_id": uuid4(),
        "room_id": None,
        "modality": "online",
    }
    moved = start + timedelta(days=1)
    for event in (
        AppointmentBooked(**fields, start=start, end=start + timedelta(minutes=50)),
        AppointmentRescheduled(**fields, start=moved, end=moved + timedelta(minutes=50)),
        AppointmentCancelled(
            **fields,
            start=moved,
            end=moved + timedelta(minutes=50),
            cancelled_by="client",
            late=False,
        ),
    ):
        await publish_as_booking(js, event, appointment_id)

    async def reminder_events() -> list[tuple[str, datetime]]:
        found = [(env.type, e) for env, e in await followup_events(js, site_id)]
        seen = [
            (t, e.due_at)
            for t, e in found
            if isinstance(e, FollowUpScheduled) and e.kind == "reminder"
        ]
        return seen if len(seen) >= 4 else []

    assert await eventually(reminder_events) == [
        ("FollowUpScheduled", start - timedelta(hours=1)),
        ("FollowUpCancelled", start - timedelta(hours=1)),
        ("FollowUpScheduled", moved - timedelta(hours=1)),
        ("FollowUpCancelled", moved - timedelta(hours=1)),
    ]


async def invalid_link_uses(api: httpx.AsyncClient, followup_id: UUID) -> list[tuple[str, int]]:
    """The audit trail's uses of a link that is not valid (`link:invalid`) on this follow-up."""
    found = await api.get("/audit", params={"actor_id": "invalid", "limit": 200})
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    return [(e["action"], e["status"]) for e in items if e["resource_id"] == str(followup_id)]


async def test_an_altered_or_another_followups_link_is_audited_as_an_invalid_link(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """As crisis audits its page links: actor `link:invalid`, never the token itself."""
    _, due = await due_link(api, js)
    _, elsewhere = await due_link(api, js)
    assert due.response_url is not None
    assert elsewhere.response_url is not None
    token = due.response_url.split("token=", 1)[1]
    altered = token[:-2] + ("A" if token[-2] != "A" else "B")
    path = f"/followups/{due.followup_id}/response"
    assert (await api.get(path, params={"token": altered})).status_code == 403
    posted = await api.post(path, data=form_fields([0] * 9, token=altered))
    assert posted.status_code == 403
    expired = LinkSigner("dev-link-signing-key").sign(
        PURPOSE, str(elsewhere.followup_id), expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await api.get(path, params={"token": expired})).status_code == 403

    uses = await invalid_link_uses(api, due.followup_id)
    assert uses == [
        ("show_response_form", 403),
        ("submit_response_form", 403),
        ("show_response_form", 403),
    ]
    trail = (await api.get("/audit", params={"actor_id": "invalid", "limit": 200})).text
    assert altered not in trail
    assert expired not in trail
