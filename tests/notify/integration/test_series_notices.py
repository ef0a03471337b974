"""A recurring series through notify's real consumer: its occurrences' events ask for nothing,
its summary for one message, whatever the redeliveries; a rebuild gives the same rows back."""

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.db import connect
from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentSeriesBooked,
    AppointmentSeriesCancelled,
    SeriesOccurrence,
)
from notify.application.rebuild import rebuild_projections
from tests.notify.integration.conftest import Notify, eventually
from tests.projections import snapshot

pytestmark = pytest.mark.integration


async def redeliver(notify: Notify, envelope: Envelope) -> None:
    """The same event again, past JetStream's duplicate window (a relay's retry after it):
    only the inbox stands between it and a second message."""
    await notify.js.publish(
        envelope.nats_subject,
        envelope.encode(),
        stream="BOOKING",
        headers={"Nats-Msg-Id": f"again-{envelope.id}"},
    )


async def test_a_ten_week_series_is_one_confirmation_and_its_cancellation_one_notice(
    notify: Notify, database_url: str
) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Europe/Paris")
    address = f"series-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="fr", timezone="Europe/Paris")
    series_id, counselor_id = uuid4(), uuid4()
    first = notify.clock.now().replace(microsecond=0) + timedelta(days=3)
    common: dict[str, Any] = {
        "site_id": site_id,
        "client_id": client_id,
        "counselor_id": counselor_id,
        "room_id": None,
        "modality": Modality.ONLINE,
    }
    occurrences = [
        SeriesOccurrence(
            appointment_id=uuid4(),
            start=first + timedelta(weeks=i),
            end=first + timedelta(weeks=i, minutes=50),
        )
        for i in range(10)
    ]
    for o in occurrences:
        await notify.publish(
            AppointmentBooked(
                appointment_id=o.appointment_id,
                start=o.start,
                end=o.end,
                series_id=series_id,
                **common,
            ),
            source="booking",
            subject=o.appointment_id,
        )
    summary = await notify.publish(
        AppointmentSeriesBooked(series_id=series_id, occurrences=occurrences, **common),
        source="booking",
        subject=series_id,
    )
    await redeliver(notify, summary)
    for o in occurrences[4:]:
        await notify.publish(
            AppointmentCancelled(
                appointment_id=o.appointment_id,
                start=o.start,
                end=o.end,
                series_id=series_id,
                cancelled_by=CancelledBy.CLIENT,
                late=False,
                **common,
            ),
            source="booking",
            subject=o.appointment_id,
        )
    ended = await notify.publish(
        AppointmentSeriesCancelled(
            series_id=series_id,
            cancelled_from=occurrences[4].start.date(),
            cancelled_by=CancelledBy.CLIENT,
            occurrences=occurrences[4:],
            **common,
        ),
        source="booking",
        subject=series_id,
    )
    await redeliver(notify, ended)
    # A single appointment last: once its confirmation is there, every event before it on
    # the consumer has been handled.
    single = uuid4()
    await notify.publish(
        AppointmentBooked(
            appointment_id=single,
            start=first - timedelta(days=1),
            end=first - timedelta(days=1, minutes=-50),
            **common,
        ),
        source="booking",
        subject=single,
    )

    async def all_sent() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=client_id)
        return rows if len(rows) >= 3 and all(r["status"] == "sent" for r in rows) else []

    rows = await eventually(all_sent, timeout=30.0)
    assert sorted(r["template"] for r in rows) == [
        "appointment_booked",
        "appointment_series_booked",
        "appointment_series_cancelled",
    ]
    causes = {r["template"]: r["cause_event_id"] for r in rows}
    assert causes["appointment_series_booked"] == str(summary.id)
    assert causes["appointment_series_cancelled"] == str(ended.id)
    emails = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert len(emails) == 3
    [confirmation] = [e for e in emails if "10 rendez-vous" in e.message["Subject"]]
    assert "et 5 autres" in confirmation.body
    [notice] = [e for e in emails if "annulés" in e.message["Subject"]]
    assert "6 rendez-vous" in notice.body

    # The series' rows (their listed dates among the params) come back alike from notify's
    # own events.
    live = await snapshot(database_url)
    conn = await connect(database_url)
    try:
        await rebuild_projections(conn)
    finally:
        await conn.close()
    assert await snapshot(database_url) == live
