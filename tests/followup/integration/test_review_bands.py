"""A site's per-instrument `review_bands` decide, check-in by check-in, whether each score
asks the counselor's review (`MeasureRecorded.counselor_review`); PHQ-9 item 9's risk flag
never depends on them. Through HTTP, on real PostgreSQL and NATS."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import Instrument, RiskLevel
from counseling_shared.events import (
    FollowUpDue,
    MeasureRecorded,
    RiskFlagged,
)
from tests.followup.integration.support import (
    complete_session,
    eventually,
    followup_events,
    register_client,
    register_site,
)
from tests.followup.integration.test_response_form import path_of

pytestmark = pytest.mark.integration

PHQ9 = {
    "minimal_0": [0] * 9,
    "moderate_12": [2, 2, 2, 2, 2, 2, 0, 0, 0],
    "moderately_severe_16": [2, 2, 2, 2, 2, 2, 2, 2, 0],
    "severe_24_item9_at_2": [3, 3, 3, 3, 3, 3, 3, 1, 2],
}
GAD7 = {
    "mild_9": [2, 2, 2, 2, 1, 0, 0],
    "moderate_11": [2, 2, 2, 2, 2, 1, 0],
    "moderate_14": [2, 2, 2, 2, 2, 2, 2],
    "severe_15": [3, 2, 2, 2, 2, 2, 2],
}


async def checkin_scores(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    phq9: list[int],
    gad7: list[int],
    **policy_fields: Any,
) -> tuple[UUID, dict[Instrument, MeasureRecorded]]:
    """One client's check-in (asking PHQ-9 and GAD-7) answered under `policy_fields`: the
    site and its `MeasureRecorded` events by instrument."""
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)
    policy = {
        "first_checkin_after": "PT1S",
        "measures": {"checkin": ["phq9", "gad7"]},
        **policy_fields,
    }
    answer = await api.put(f"/sites/{site_id}/followup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    await complete_session(js, site_id, client_id, appointment_id=appointment_id)

    async def fell_due() -> list[FollowUpDue]:
        found = await followup_events(js, site_id, "FollowUpDue")
        return [e for _, e in found if isinstance(e, FollowUpDue)]

    [due] = (await eventually(fell_due))[:1]
    assert due.response_url is not None
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10.0) as public:
        form = await public.get(path_of(due.response_url))
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None
        fields = {
            **{f"phq9_{n}": str(v) for n, v in enumerate(phq9, start=1)},
            **{f"gad7_{n}": str(v) for n, v in enumerate(gad7, start=1)},
            "wellbeing": "2",
            "contact": "no",
            "token": token[1],
        }
        sent = await public.post(f"/followups/{due.followup_id}/response", data=fields)
        assert sent.status_code == 200, sent.text

    async def measured() -> list[MeasureRecorded]:
        found = await followup_events(js, site_id, "MeasureRecorded")
        measures = [e for _, e in found if isinstance(e, MeasureRecorded)]
        return measures if len(measures) == 2 else []

    return site_id, {m.instrument: m for m in await eventually(measured)}


@pytest.mark.parametrize(
    ("policy", "phq9", "gad7", "reviewed"),
    [
        # The brief's example: PHQ-9 from moderately severe, GAD-7 from moderate.
        (
            {"review_bands": {"phq9": "moderately_severe", "gad7": "moderate"}},
            "moderate_12",
            "moderate_11",
            {"phq9": False, "gad7": True},
        ),
        (
            {"review_bands": {"phq9": "moderately_severe", "gad7": "moderate"}},
            "moderately_severe_16",
            "mild_9",
            {"phq9": True, "gad7": False},
        ),
        # An instrument the map leaves out takes the site-wide band (here severe).
        (
            {"notify_counselor_from_band": "severe", "review_bands": {"gad7": "moderate"}},
            "moderately_severe_16",
            "moderate_11",
            {"phq9": False, "gad7": True},
        ),
        # The site-wide moderately_severe (no such GAD-7 band) means GAD-7's severe, 15 and up.
        (
            {"notify_counselor_from_band": "moderately_severe"},
            "moderately_severe_16",
            "moderate_14",
            {"phq9": True, "gad7": False},
        ),
        (
            {"notify_counselor_from_band": "moderately_severe"},
            "moderate_12",
            "severe_15",
            {"phq9": False, "gad7": True},
        ),
    ],
)
async def test_each_instruments_band_decides_whether_its_score_asks_the_counselors_review(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    policy: dict[str, Any],
    phq9: str,
    gad7: str,
    reviewed: dict[str, bool],
) -> None:
    _, measures = await checkin_scores(api, js, PHQ9[phq9], GAD7[gad7], **policy)

    assert {i.value: m.counselor_review for i, m in measures.items()} == reviewed
    bands = {i.value: m.band.value for i, m in measures.items()}
    assert bands == {"phq9": phq9.rsplit("_", 1)[0], "gad7": gad7.rsplit("_", 1)[0]}
    assert all(m.counselor_id is not None for m in measures.values())  # still named


async def test_item9_raises_a_risk_flag_even_where_phq9_is_never_reviewed(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id, measures = await checkin_scores(
        api,
        js,
        PHQ9["severe_24_item9_at_2"],
        GAD7["mild_9"],
        notify_counselor_from_band=None,
        review_bands={"phq9": None},
    )

    assert measures[Instrument.PHQ9].counselor_review is False
    flags = await eventually(lambda: _risk_flags(js, site_id))
    assert [f.level for f in flags] == [RiskLevel.HIGH]


async def _risk_flags(js: JetStreamContext, site_id: UUID) -> list[RiskFlagged]:
    found = await followup_events(js, site_id, "RiskFlagged")
    return [e for _, e in found if isinstance(e, RiskFlagged)]


async def test_the_policy_round_trips_the_map_and_names_a_bad_entry(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    site_id = uuid4()
    await register_site(js, site_id)
    path = f"/sites/{site_id}/followup-policy"

    assert (await api.get(path)).json()["review_bands"] == {}
    chosen = {"phq9": None, "gad7": "severe"}
    put = await api.put(path, json={"review_bands": chosen})
    assert put.status_code == 200, put.text
    assert put.json()["review_bands"] == chosen
    shown = (await api.get(path)).json()
    assert (shown["review_bands"], shown["notify_counselor_from_band"]) == (chosen, "moderate")

    for bad, field in [
        ({"gad7": "moderately_severe"}, "review_bands.gad7"),  # not one of GAD-7's bands
        ({"phq9": "mild"}, "review_bands.phq9"),  # below moderate
        ({"bdi2": "moderate"}, "review_bands.bdi2"),  # not an instrument
    ]:
        refused = await api.put(path, json={"review_bands": bad})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert (await api.get(path)).json()["review_bands"] == chosen  # nothing changed

    # A row from before migration 0010 reads as the column's default: no map, as before.
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE followup_policies SET review_bands = DEFAULT WHERE site_id = $1", site_id
        )
    assert (await api.get(path)).json()["review_bands"] == {}
    omitted = await api.put(path, json={"notify_counselor_from_band": "severe"})
    assert omitted.json()["review_bands"] == {}
