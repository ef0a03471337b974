"""`counselctl followups backfill-appointments` on real PostgreSQL and NATS: appointments booked
before followup kept them (their rows and streams deleted here, as before migration 0007) are
recorded again from booking's stream, exactly as followup-care had recorded them, so a paused
client who resumes is reminded of them again; a cancelled one stays out, and a second run
records nothing."""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext
from typer.testing import CliRunner

from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.db import connect
from counseling_shared.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from followup.application.appointment_backfill import backfill_appointments
from followup.domain import appointments
from opsctl.cli import app
from tests.followup.integration.support import (
    eventually,
    publish_as_booking,
    register_client,
    register_site,
)

pytestmark = pytest.mark.integration

COLUMNS = "appointment_id, client_id, site_id, counselor_id, start, start_offset, moved_by, "
COLUMNS += "manage_url, status"


def _booked(site_id: UUID, client_id: UUID, start: datetime) -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=client_id,
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(minutes=50),
        modality=Modality.ONLINE,
        manage_url=f"https://booking.example/appointments/{uuid4()}/manage?token=t",
    )


async def _reminders(api: httpx.AsyncClient, client_id: UUID) -> list[tuple[str, str, str]]:
    """The client's reminders as (status, appointment id, due at), in order."""
    answer = await api.get("/followups", params={"client_id": str(client_id)})
    assert answer.status_code == 200, answer.text
    return sorted(
        (f["status"], f["session_id"], f["due_at"])
        for f in answer.json()
        if f["kind"] == "reminder"
    )


def _scheduled(found: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(appointment, due) for status, appointment, due in found if status == "scheduled"]


async def _prefer(api: httpx.AsyncClient, client_id: UUID, intensity: str) -> None:
    answer = await api.put(
        f"/clients/{client_id}/followup-preferences", json={"intensity": intensity}
    )
    assert answer.status_code == 200, answer.text


async def _rows(db: asyncpg.Pool[Any], ids: list[UUID]) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM appointments WHERE appointment_id = ANY($1::uuid[])"
        " ORDER BY appointment_id",
        ids,
    )
    return [tuple(r) for r in rows]


async def test_appointments_booked_before_followup_kept_them_are_reminded_after_a_resume(
    js: JetStreamContext,
    api: httpx.AsyncClient,
    db: asyncpg.Pool[Any],
    database_url: str,
    nats_url: str,
) -> None:
    site_id, client_id = uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    kept, moved, cancelled = (
        _booked(site_id, client_id, soon + timedelta(days=n)) for n in range(3)
    )
    for event in (kept, moved, cancelled):
        await publish_as_booking(js, event, event.appointment_id)
    rescheduled = AppointmentRescheduled(
        **(moved.model_dump() | {"start": soon + timedelta(days=5), "previous_start": moved.start}),
    )
    await publish_as_booking(js, rescheduled, moved.appointment_id)
    await publish_as_booking(
        js,
        AppointmentCancelled(**cancelled.model_dump(), cancelled_by=CancelledBy.CLIENT, late=False),
        cancelled.appointment_id,
    )
    ids = [kept.appointment_id, moved.appointment_id, cancelled.appointment_id]

    async def recorded() -> list[tuple[Any, ...]]:
        rows = await _rows(db, ids)
        settled = len(rows) == 3 and len(_scheduled(await _reminders(api, client_id))) == 4
        return rows if settled else []

    # The cancelled one's row says so: the backfill leaves ended appointments out.
    before = [row for row in await eventually(recorded) if row[-1] == "booked"]
    reminded = _scheduled(await _reminders(api, client_id))
    # As if booked before migration 0007: followup holds neither their rows nor their streams.
    await db.execute("DELETE FROM appointments WHERE appointment_id = ANY($1::uuid[])", ids)
    await db.execute(
        "DELETE FROM events WHERE stream_id = ANY($1::text[])",
        [appointments.stream_id(i) for i in ids],
    )
    await _prefer(api, client_id, "paused")
    assert _scheduled(await _reminders(api, client_id)) == []

    conn = await connect(database_url)
    try:
        counts = await backfill_appointments(conn, js)
    finally:
        await conn.close()

    assert counts["recorded"] == 2
    assert counts["undecodable"] == 0
    assert await _rows(db, ids) == before  # as followup-care had recorded them
    await _prefer(api, client_id, "standard")
    assert _scheduled(await _reminders(api, client_id)) == reminded

    # Again, through counselctl: nothing new; the audit trail names the operator.
    answer = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "followups",
            "backfill-appointments",
            "--nats-url",
            nats_url,
            "--database-url",
            database_url,
            "--json",
        ],
    )
    assert answer.exit_code == 0, answer.output
    again = json.loads(answer.stdout)
    assert again["recorded"] == 0
    assert again["held_already"] >= 2
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit WHERE action = 'backfill_appointments' AND actor_id = $1",
            getpass.getuser(),
        )
        == 1
    )
    assert _scheduled(await _reminders(api, client_id)) == reminded
