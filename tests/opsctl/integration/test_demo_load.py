"""`counselctl demo load` builds a demo center through booking's, followup's and crisis's HTTP
APIs (each service really running, on its own database), and a re-run duplicates nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.service import create_app
from crisis.bootstrap import definition as crisis_definition
from crisis.settings import CrisisSettings
from devstack.handles import PostgresHandle
from devstack.postgres import drop_database, ensure_database
from followup.bootstrap import definition as followup_definition
from followup.settings import FollowupSettings
from tests.booking.integration.support import ADMIN_KEY, running_booking
from tests.opsctl.integration.support import counselctl
from tests.shared.integration.support import served

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class Center:
    booking: str
    followup: str
    crisis: str

    def options(self) -> list[str]:
        return [
            "--booking-url", self.booking,
            "--followup-url", self.followup,
            "--crisis-url", self.crisis,
            "--api-key", ADMIN_KEY,
        ]  # fmt: skip


@contextlib.asynccontextmanager
async def _database(postgres_server: PostgresHandle, name: str) -> AsyncIterator[str]:
    await ensure_database(postgres_server.url(), name)
    try:
        yield postgres_server.url(name)
    finally:
        await drop_database(postgres_server.url(), name)


@pytest.fixture(scope="module")
async def center(
    database_url: str, nats_url: str, postgres_server: PostgresHandle
) -> AsyncIterator[Center]:
    suffix = database_url.rsplit("/", 1)[1]
    clock = ControllableClock(datetime.now(UTC))
    common = {"NATS_URL": nats_url, "API_KEYS": ADMIN_KEY, "LOG_LEVEL": "WARNING"}
    async with (
        _database(postgres_server, f"{suffix}_followup") as followup_db,
        _database(postgres_server, f"{suffix}_crisis") as crisis_db,
        running_booking(database_url, nats_url, clock) as booking,
        served(
            create_app(
                followup_definition(
                    FollowupSettings.model_validate(common | {"DATABASE_URL": followup_db})
                )
            )
        ) as followup,
        served(
            create_app(
                crisis_definition(
                    CrisisSettings.model_validate(common | {"DATABASE_URL": crisis_db})
                )
            )
        ) as crisis,
    ):
        yield Center(str(booking.http.base_url).rstrip("/"), followup, crisis)


async def _get(base_url: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as http:
        response = await http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def test_a_demo_center_is_loaded_once_however_often_it_is_run(center: Center) -> None:
    # A week well ahead, yet inside the sites' 18-month booking horizon.
    week_of = (datetime.now(UTC) + timedelta(days=120)).date().isoformat()
    args = ["demo", "load", *center.options(), "--seed", "5", "--week-of", week_of]
    args += ["--clients-per-site", "6"]

    first = await counselctl(*args, "--json")

    loaded = first.json()
    sites = loaded["sites"]
    assert set(sites) == {"paris", "seoul"}
    assert loaded["created"]["site"] == 2
    assert loaded["created"]["client"] == 12
    assert loaded["week_of"] == week_of
    assert "loading the demo center" in first.stderr
    zones = {s["id"]: s["timezone"] for s in await _get(center.booking, "/sites")}
    assert zones == {sites["paris"]: "Europe/Paris", sites["seoul"]: "Asia/Seoul"}
    booked = {
        key: await _get(center.booking, "/appointments", site_id=site_id)
        for key, site_id in sites.items()
    }
    assert sum(len(found) for found in booked.values()) == loaded["created"]["appointment"]
    assert {a["status"] for found in booked.values() for a in found} == {"booked"}
    seoul_policy = await _get(center.followup, f"/sites/{sites['seoul']}/followup-policy")
    assert (seoul_policy["first_checkin_after"], seoul_policy["is_default"]) == ("P5D", False)
    on_call = await _get(center.booking, "/staff", site_id=sites["paris"], role="crisis_line")
    escalation = await _get(center.crisis, f"/sites/{sites['paris']}/escalation-policy")
    paged = {s for level in escalation["levels"] for s in level["staff_ids"]}
    assert {s["id"] for s in on_call} <= paged
    # The counselors have working hours: the week shows open time, never over a session.
    monday = datetime.fromisoformat(week_of).replace(tzinfo=UTC)
    monday -= timedelta(days=monday.weekday())
    window = {"from": monday.isoformat(), "to": (monday + timedelta(days=7)).isoformat()}
    open_time = await _get(
        center.booking, "/availability", site_id=sites["paris"], limit="200", **window
    )
    assert open_time
    sessions = [
        (a["counselor_id"], datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"]))
        for a in booked["paris"]
    ]
    for slot in open_time:
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert not any(
            c == slot["counselor_id"] and s < end and start < e for c, s, e in sessions
        ), slot

    again = await counselctl(*args, "--json")

    replayed = again.json()
    assert replayed["sites"] == sites
    assert replayed["created"] == {}
    assert replayed["replayed"] == loaded["created"]
    for key, site_id in sites.items():
        assert len(await _get(center.booking, "/appointments", site_id=site_id)) == len(booked[key])
