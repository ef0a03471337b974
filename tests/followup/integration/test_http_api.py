"""followup's HTTP contract: policy, follow-ups, preferences, errors as problem+json."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.codes import GoalHorizon
from opsctl.config import Service
from tests.followup.integration.support import (
    complete_session,
    eventually,
    register_client,
    register_site,
)
from tests.keyed_posts import keyed_posts

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def fields(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    return {e["field"] for e in answer.json()["errors"]}


async def a_followup(api: httpx.AsyncClient, js: JetStreamContext) -> dict[str, Any]:
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    await complete_session(
        js, site_id, client_id, appointment_id=appointment_id, goal_horizon=GoalHorizon.LONG_TERM
    )

    async def planned() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await api.get("/followups", params={"client_id": str(client_id)})
        ).json()
        return found

    [followup] = await eventually(planned)
    return followup


async def test_a_site_without_a_policy_gets_the_contract_defaults(api: httpx.AsyncClient) -> None:
    answer = await api.get(f"/sites/{uuid4()}/followup-policy")
    assert answer.status_code == 200
    body = answer.json()
    assert body["is_default"] is True
    assert {k: body[k] for k in ("first_checkin_after", "short_term_every", "long_term_every")} == {
        "first_checkin_after": "P7D",
        "short_term_every": "P7D",
        "long_term_every": "P1M",
    }
    assert body["no_show_outreach_after"] == "PT24H"
    assert body["post_closure_checkins"] == ["P14D", "P1M", "P3M"]


async def test_a_policy_put_is_kept_and_read_back(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    site_id = uuid4()
    await register_site(js, site_id)  # the PUT waits for followup to hear of it
    answer = await api.put(
        f"/sites/{site_id}/followup-policy",
        json={"short_term_every": "P2W", "post_closure_checkins": ["PT30S", "P1Y"]},
    )
    assert answer.status_code == 200, answer.text
    body = (await api.get(f"/sites/{site_id}/followup-policy")).json()
    assert body["is_default"] is False
    assert body["short_term_every"] == "P14D"
    assert body["first_checkin_after"] == "P7D"
    assert body["post_closure_checkins"] == ["PT30S", "P1Y"]


async def test_a_policy_with_bad_durations_is_422_naming_each_field(api: httpx.AsyncClient) -> None:
    answer = await api.put(
        f"/sites/{uuid4()}/followup-policy",
        json={
            "short_term_every": "weekly",
            "no_show_outreach_after": "PT0S",
            "post_closure_checkins": ["P1D", "P1.5M"],
        },
    )
    assert fields(answer) == {
        "short_term_every",
        "no_show_outreach_after",
        "post_closure_checkins.1",
    }


async def test_a_policy_duration_past_ten_years_is_422_so_no_plan_overflows_the_calendar(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """`P9000Y` was accepted; every plan made from it then fell past year 9999 and failed the
    event handler (a 200 that broke the consumer). Ten years is the ceiling, and is accepted."""
    site_id = uuid4()
    await register_site(js, site_id)
    far = {
        "first_checkin_after": "P9000Y",
        "short_term_every": "P11Y",
        "long_term_every": "P999999999D",
        "no_show_outreach_after": "PT99999999H",
        "post_closure_checkins": ["P14D", "P9000Y"],
        "max_contact_gap": "P200M",
        "negative_contact_cooloff": "P9000Y",
        "satisfaction_survey_after": "P9000Y",
        "appointment_reminders": ["P9000Y"],
    }
    answer = await api.put(f"/sites/{site_id}/followup-policy", json=far)
    assert fields(answer) == {
        "first_checkin_after",
        "short_term_every",
        "long_term_every",
        "no_show_outreach_after",
        "post_closure_checkins.1",
        "max_contact_gap",
        "negative_contact_cooloff",
        "satisfaction_survey_after",
        "appointment_reminders.0",
    }
    longest = await api.put(
        f"/sites/{site_id}/followup-policy",
        json={"post_closure_checkins": ["P10Y", "P120M", "P3650D"]},
    )
    assert longest.status_code == 200, longest.text


async def test_requests_without_an_api_key_are_401(service: Any) -> None:
    async with httpx.AsyncClient(base_url=service.url) as anonymous:
        answer = await anonymous.get("/followups")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith(PROBLEM)


async def test_an_unknown_follow_up_is_404(api: httpx.AsyncClient) -> None:
    missing = uuid4()
    assert (await api.get(f"/followups/{missing}")).status_code == 404
    answer = await api.post(f"/followups/{missing}/complete", json={"outcome": "reached"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith(PROBLEM)


async def test_an_outcome_with_bad_values_is_422(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    followup = await a_followup(api, js)
    answer = await api.post(
        f"/followups/{followup['id']}/complete",
        json={"outcome": "maybe", "satisfaction": 9, "risk_level": "extreme"},
    )
    assert fields(answer) == {"outcome", "satisfaction", "risk_level"}


async def test_a_follow_up_is_listed_read_and_completed_once_with_an_idempotency_key(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    followup = await a_followup(api, js)
    assert set(followup) >= {"id", "client_id", "kind", "due_at", "status"}
    assert (followup["kind"], followup["status"]) == ("checkin", "scheduled")
    read = (await api.get(f"/followups/{followup['id']}")).json()
    assert read["goal_horizon"] == "long_term"

    body = {"outcome": "not_reached"}
    headers = {"Idempotency-Key": f"complete-{followup['id']}"}
    first = await api.post(f"/followups/{followup['id']}/complete", json=body, headers=headers)
    again = await api.post(f"/followups/{followup['id']}/complete", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await api.post(f"/followups/{followup['id']}/complete", json=body)
    assert other.status_code == 409

    listed = (
        await api.get(
            "/followups", params={"client_id": followup["client_id"], "status": "completed"}
        )
    ).json()
    assert [f["id"] for f in listed] == [followup["id"]]
    # Completing a check-in early keeps the rolling plan going.
    scheduled = (
        await api.get(
            "/followups", params={"client_id": followup["client_id"], "status": "scheduled"}
        )
    ).json()
    assert len(scheduled) == 1


def test_its_route_is_followups_only_keyed_post() -> None:
    """The test above replays every keyed POST of followup's document (contract: Retries)."""
    assert keyed_posts(Service.FOLLOWUP) == {"/followups/{followup_id}/complete"}


async def test_a_bad_status_filter_is_422(api: httpx.AsyncClient) -> None:
    assert (await api.get("/followups", params={"status": "lost"})).status_code == 422


@pytest.mark.parametrize("to", ["0.5", "1700000000", "2030-03-10T15:00:00"], ids=str)
async def test_a_satisfaction_window_bound_is_an_instant_with_an_offset_never_a_number(
    api: httpx.AsyncClient, to: str
) -> None:
    answer = await api.get(f"/sites/{uuid4()}/satisfaction", params={"to": to})

    assert fields(answer) == {"query.to"}


@pytest.mark.parametrize(
    "far", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"], ids=["year1", "year9999"]
)
async def test_a_satisfaction_window_at_the_edge_of_the_calendar_is_a_422_not_a_500(
    api: httpx.AsyncClient, js: JetStreamContext, far: str
) -> None:
    """Contract: "A 5xx is always a bug"; these once overflowed the window's arithmetic."""
    site_id = uuid4()
    await register_site(js, site_id)
    answer = await api.get(f"/sites/{site_id}/satisfaction", params={"from": far, "to": far})

    assert fields(answer) == {"query.from", "query.to"}


async def test_preferences_are_kept_and_read_back(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    client_id = uuid4()
    await register_client(js, client_id, uuid4())
    default = (await api.get(f"/clients/{client_id}/followup-preferences")).json()
    assert (default["intensity"], default["channel"]) == ("standard", None)
    answer = await api.put(
        f"/clients/{client_id}/followup-preferences",
        json={"intensity": "light", "channel": "messaging"},
    )
    assert answer.status_code == 200, answer.text
    read = (await api.get(f"/clients/{client_id}/followup-preferences")).json()
    assert (read["intensity"], read["channel"]) == ("light", "messaging")


@pytest.mark.usefixtures("impatient")
async def test_a_policy_for_a_site_booking_never_registered_is_422(
    api: httpx.AsyncClient,
) -> None:
    site_id = uuid4()

    answer = await api.put(f"/sites/{site_id}/followup-policy", json={})

    assert fields(answer) == {"site_id"}
    assert (await api.get(f"/sites/{site_id}/followup-policy")).json()["is_default"] is True


@pytest.mark.usefixtures("impatient")
async def test_preferences_for_a_client_booking_never_registered_are_422(
    api: httpx.AsyncClient,
) -> None:
    client_id = uuid4()

    answer = await api.put(
        f"/clients/{client_id}/followup-preferences", json={"intensity": "light"}
    )

    assert fields(answer) == {"client_id"}
    kept = (await api.get(f"/clients/{client_id}/followup-preferences")).json()
    assert kept["intensity"] == "standard"


async def test_an_unknown_field_in_a_policy_is_422_naming_it(api: httpx.AsyncClient) -> None:
    answer = await api.put(f"/sites/{uuid4()}/followup-policy", json={"first_checkin": "P7D"})

    assert fields(answer) == {"first_checkin"}


async def test_a_second_method_on_a_path_is_named_in_allow(api: httpx.AsyncClient) -> None:
    answer = await api.delete(f"/sites/{uuid4()}/followup-policy")

    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PUT"


async def test_preferences_with_bad_values_are_422(api: httpx.AsyncClient) -> None:
    answer = await api.put(
        f"/clients/{uuid4()}/followup-preferences",
        json={"intensity": "sometimes", "channel": "pigeon"},
    )
    assert fields(answer) == {"intensity", "channel"}


async def test_ready_and_documented(api: httpx.AsyncClient) -> None:
    assert (await api.get("/readyz")).status_code == 200
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {
        "/sites/{site_id}/followup-policy",
        "/followups",
        "/followups/{followup_id}",
        "/followups/{followup_id}/complete",
        "/clients/{client_id}/followup-preferences",
    } <= set(paths)
