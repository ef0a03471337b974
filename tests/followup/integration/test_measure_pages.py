"""`GET /clients/{id}/measures` is a list like the others: `limit` (50 by default, 200 at most)
and a cursor when more follow (contract v2, Identity, roles, audit); its FHIR twin
`GET /fhir/Observation` pages the same way, the cursor in the Bundle's `next` link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from nats.js import JetStreamContext

from tests.followup.integration.support import eventually, register_client, register_site

pytestmark = pytest.mark.integration


async def client_with_scores(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any], count: int
) -> tuple[UUID, list[tuple[str, str]]]:
    """A client followup knows, with `count` scores recorded (two share an instant, as a
    follow-up asking PHQ-9 and GAD-7 records them); their (recorded_at, instrument) in order."""
    site_id, client_id = uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)

    async def known() -> bool:
        return (await api.get(f"/clients/{client_id}/measures")).status_code == 200

    await eventually(known)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    rows = []
    for n in range(count):
        followup_id = uuid4()
        at = start + timedelta(days=n // 2)
        instrument = ("gad7", "phq9")[n % 2]
        rows.append((followup_id, instrument, client_id, site_id, n, "minimal", at))
    await db.executemany(
        """INSERT INTO measures (followup_id, instrument, client_id, site_id, score, band,
               recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        rows,
    )
    return client_id, [(r[6].isoformat().replace("+00:00", "Z"), r[1]) for r in rows]


async def test_the_measures_come_a_page_at_a_time_oldest_first(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    client_id, expected = await client_with_scores(api, js, db, 5)

    seen: list[tuple[str, str]] = []
    path = f"/clients/{client_id}/measures?limit=2"
    for _ in range(5):
        answer = await api.get(path)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page) <= 2
        seen += [(m["recorded_at"], m["instrument"]) for m in page]
        if "Next-Cursor" not in answer.headers:
            break
        assert answer.headers["Link"].endswith('; rel="next"')
        path = f"/clients/{client_id}/measures?limit=2&cursor={answer.headers['Next-Cursor']}"

    assert seen == expected
    everything = await api.get(f"/clients/{client_id}/measures")
    assert len(everything.json()) == 5
    assert "Next-Cursor" not in everything.headers


async def test_the_measures_take_at_most_200_and_refuse_a_bad_cursor_by_name(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    client_id, _ = await client_with_scores(api, js, db, 52)

    default = await api.get(f"/clients/{client_id}/measures")
    too_many = await api.get(f"/clients/{client_id}/measures", params={"limit": 201})
    bad = await api.get(f"/clients/{client_id}/measures", params={"cursor": "nope"})

    assert (len(default.json()), "Next-Cursor" in default.headers) == (50, True)
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["query.limit"]
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["cursor"]


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    assert len(links) <= 1
    return links[0] if links else None


async def test_the_fhir_observations_come_a_page_at_a_time_through_the_next_link(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    client_id, expected = await client_with_scores(api, js, db, 5)

    seen: list[tuple[str, str]] = []
    url: str | None = f"/fhir/Observation?patient=Patient/{client_id}&limit=2"
    pages = 0
    while url is not None and pages < 5:
        answer = await api.get(url)
        assert answer.status_code == 200, answer.text
        bundle = answer.json()
        get_fhir_model_class("Bundle").model_validate(bundle)
        assert len(bundle["entry"]) <= 2
        seen += [
            (e["resource"]["effectiveDateTime"], e["resource"]["code"]["coding"][0]["code"])
            for e in bundle["entry"]
        ]
        url = _next_link(bundle)
        assert ("Next-Cursor" in answer.headers) == (url is not None)  # as on every list
        assert "total" not in bundle  # unknown once the matches run over a page
        pages += 1

    loinc = {"phq9": "44261-6", "gad7": "70274-6"}
    assert pages == 3
    assert seen == [(datetime.fromisoformat(at).isoformat(), loinc[i]) for at, i in expected]
    everything = (await api.get("/fhir/Observation", params={"patient": str(client_id)})).json()
    assert (len(everything["entry"]), everything["total"], _next_link(everything)) == (5, 5, None)


async def test_the_fhir_observations_take_50_by_default_200_at_most_and_filter_before_paging(
    api: httpx.AsyncClient, js: JetStreamContext, db: asyncpg.Pool[Any]
) -> None:
    client_id, _ = await client_with_scores(api, js, db, 52)
    patient = f"Patient/{client_id}"

    default = await api.get("/fhir/Observation", params={"patient": patient})
    too_many = await api.get("/fhir/Observation", params={"patient": patient, "limit": 201})
    bad = await api.get("/fhir/Observation", params={"patient": patient, "cursor": "nope"})
    phq9 = {"patient": patient, "code": "http://loinc.org|44261-6", "limit": "20"}
    first = (await api.get("/fhir/Observation", params=phq9)).json()
    next_url = _next_link(first)
    assert next_url is not None
    rest = (await api.get(next_url)).json()

    assert (len(default.json()["entry"]), _next_link(default.json()) is not None) == (50, True)
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["query.limit"]
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["cursor"]
    # 26 PHQ-9 scores among the 52: a full page of them, then the 6 left, GAD-7 never served.
    codes = {e["resource"]["code"]["coding"][0]["code"] for e in first["entry"] + rest["entry"]}
    assert (len(first["entry"]), len(rest["entry"]), codes) == (20, 6, {"44261-6"})
    assert _next_link(rest) is None
