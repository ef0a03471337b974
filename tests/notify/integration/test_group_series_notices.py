"""A client's seats in a recurring group through notify's real consumer: the seats' own events
ask for nothing, the client's summary for one message (taken, then given up), whatever the
redeliveries; a seat taken alone keeps its confirmation; a rebuild gives the same rows back."""

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.codes import CancelledBy, Modality, SeriesSeatCancelCause
from counseling_shared.db import connect
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    GroupSeriesSeat,
    GroupSessionSeriesSeatCancelled,
    GroupSessionSeriesSeatTaken,
)
from notify.application.rebuild import rebuild_projections
from tests.notify.integration.conftest import Notify, eventually
from tests.notify.integration.test_series_notices import redeliver
from tests.projections import snapshot

pytestmark = pytest.mark.integration


async def test_a_seat_in_a_six_week_group_is_one_confirmation_and_leaving_it_one_notice(
    notify: Notify, database_url: str
) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Europe/Paris")
    address = f"group-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="en", timezone="Europe/Paris")
    group_series_id, counselor_id = uuid4(), uuid4()
    first = notify.clock.now().replace(microsecond=0) + timedelta(days=3)
    common: dict[str, Any] = {
        "site_id": site_id,
        "client_id": client_id,
        "counselor_id": counselor_id,
        "room_id": None,
        "modality": Modality.ONLINE,
    }
    seats = [
        GroupSeriesSeat(
            appointment_id=uuid4(),
            group_session_id=uuid4(),
            start=first + timedelta(weeks=i),
            end=first + timedelta(weeks=i, minutes=90),
        )
        for i in range(6)
    ]
    for s in seats:
        await notify.publish(
            AppointmentBooked(
                appointment_id=s.appointment_id,
                start=s.start,
                end=s.end,
                group_session_id=s.group_session_id,
                group_series_id=group_series_id,
                **common,
            ),
            source="booking",
            subject=s.appointment_id,
        )
    summary = await notify.publish(
        GroupSessionSeriesSeatTaken(group_series_id=group_series_id, occurrences=seats, **common),
        source="booking",
        subject=group_series_id,
    )
    await redeliver(notify, summary)
    for s in seats:
        await notify.publish(
            AppointmentCancelled(
                appointment_id=s.appointment_id,
                start=s.start,
                end=s.end,
                group_session_id=s.group_session_id,
                group_series_id=group_series_id,
                cancelled_by=CancelledBy.CLIENT,
                late=False,
                **common,
            ),
            source="booking",
            subject=s.appointment_id,
        )
    left = await notify.publish(
        GroupSessionSeriesSeatCancelled(
            group_series_id=group_series_id,
            cancelled_from=seats[0].start.date(),
            cancelled_by=CancelledBy.CLIENT,
            cause=SeriesSeatCancelCause.LEFT,
            occurrences=seats,
            **common,
        ),
        source="booking",
        subject=group_series_id,
    )
    await redeliver(notify, left)
    # A seat taken alone last: once its confirmation is there, every event before it on the
    # consumer has been handled.
    alone = uuid4()
    await notify.publish(
        AppointmentBooked(
            appointment_id=alone,
            start=first - timedelta(days=1),
            end=first - timedelta(days=1, minutes=-90),
            group_session_id=uuid4(),
            **common,
        ),
        source="booking",
        subject=alone,
    )

    async def all_sent() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=client_id)
        return rows if len(rows) >= 3 and all(r["status"] == "sent" for r in rows) else []

    rows = await eventually(all_sent, timeout=30.0)
    assert sorted(r["template"] for r in rows) == [
        "appointment_booked",
        "group_series_seat_cancelled",
        "group_series_seat_taken",
    ]
    causes = {r["template"]: r["cause_event_id"] for r in rows}
    assert causes["group_series_seat_taken"] == str(summary.id)
    assert causes["group_series_seat_cancelled"] == str(left.id)
    emails = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert len(emails) == 3
    [confirmation] = [e for e in emails if "place in the group" in e.message["Subject"]]
    assert confirmation.body.count("\n- ") == 6  # every date, in the client's zone
    [notice] = [e for e in emails if "cancelled" in e.message["Subject"]]
    assert "As you asked" in notice.body

    live = await snapshot(database_url)
    conn = await connect(database_url)
    try:
        await rebuild_projections(conn)
    finally:
        await conn.close()
    assert await snapshot(database_url) == live
