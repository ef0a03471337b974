"""A site's policy `notify_counselor_from_band` decides, in followup, whether a check-in score
asks the counselor's review (`MeasureRecorded.counselor_review`, which notify emails)."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.events import MeasureRecorded
from tests.followup.integration.support import eventually, followup_events, register_site
from tests.followup.integration.test_response_form import due_link, form_fields, path_of

pytestmark = pytest.mark.integration

MODERATE_10 = [2, 2, 2, 1, 1, 1, 1, 0, 0]  # PHQ-9 total 10; item 9 at 0: no risk flag
SEVERE_24 = [3] * 8 + [0]


async def recorded_measure(
    api: httpx.AsyncClient, js: JetStreamContext, answers: list[int], **policy: Any
) -> MeasureRecorded:
    """The `MeasureRecorded` of one check-in answered with `answers` under `policy`."""
    site_id, due = await due_link(api, js, uuid4(), **policy)
    assert due.response_url is not None
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10.0) as public:
        form = await public.get(path_of(due.response_url))
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None
        sent = await public.post(
            f"/followups/{due.followup_id}/response",
            data=form_fields(answers, contact="no", token=token[1]),
        )
        assert sent.status_code == 200, sent.text

    async def measured() -> list[MeasureRecorded]:
        found = await followup_events(js, site_id, "MeasureRecorded")
        return [e for _, e in found if isinstance(e, MeasureRecorded)]

    [measure] = await eventually(measured)
    return measure


@pytest.mark.parametrize(
    ("policy", "answers", "band", "review"),
    [
        ({}, MODERATE_10, "moderate", True),  # the default: as every site had before
        ({"notify_counselor_from_band": "severe"}, MODERATE_10, "moderate", False),
        ({"notify_counselor_from_band": "severe"}, SEVERE_24, "severe", True),
        ({"notify_counselor_from_band": None}, SEVERE_24, "severe", False),  # never
    ],
)
async def test_the_sites_band_decides_whether_a_score_asks_the_counselors_review(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    policy: dict[str, Any],
    answers: list[int],
    band: str,
    review: bool,
) -> None:
    measure = await recorded_measure(api, js, answers, **policy)

    assert (measure.band, measure.counselor_review) == (band, review)
    assert measure.counselor_id is not None  # still named: other consumers may use it


async def test_the_policy_shows_its_band_and_refuses_one_below_moderate(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id = uuid4()
    await register_site(js, site_id)
    path = f"/sites/{site_id}/followup-policy"

    assert (await api.get(path)).json()["notify_counselor_from_band"] == "moderate"
    for value in ("moderately_severe", None):
        answer = await api.put(path, json={"notify_counselor_from_band": value})
        assert answer.status_code == 200, answer.text
        assert (await api.get(path)).json()["notify_counselor_from_band"] == value
    omitted = await api.put(path, json={})
    assert omitted.json()["notify_counselor_from_band"] == "moderate"  # omitted: the default
    mild = await api.put(path, json={"notify_counselor_from_band": "mild"})
    assert mild.status_code == 422
    assert "notify_counselor_from_band" in mild.text
