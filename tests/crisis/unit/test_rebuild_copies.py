"""A rebuild copies an alert's row (binary COPY into the emptied tables) with the columns of the
write path's upsert, in its order and with the same values: a column added to one and not the
other fails here."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from counseling_shared.batched_writes import CopyInto, RecordedWrites
from counseling_shared.codes import RiskLevel, RiskSource
from crisis.adapters import alerts
from crisis.adapters.codec import to_stored
from crisis.domain.alert import fold
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import AlertEvent, FlagReceived, Opened, PageRequested

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
POLICY = EscalationPolicy((PolicyLevel((uuid4(),), timedelta(minutes=5)),), 1, (uuid4(),))


async def test_an_alert_is_copied_with_the_columns_and_values_of_its_upsert() -> None:
    alert_id, flag_id = uuid4(), uuid4()
    events: list[AlertEvent] = [
        Opened(alert_id, uuid4(), uuid4(), RiskLevel.HIGH, POLICY, AT),
        FlagReceived(flag_id, RiskLevel.HIGH, RiskSource.INTEGRATION, AT),
        PageRequested(uuid4(), uuid4(), 0, 0, flag_id, AT),
    ]
    alert = fold(None, events)
    assert alert is not None
    writes = RecordedWrites()

    await alerts._project_alert(writes.connection, alert, len(events), AT)
    stored = [to_stored(e, written_at=AT).data for e in events]
    await alerts.project_replayed(writes.connection, alert, events, stored, AT)

    calls = writes.take()
    [upsert] = [sql for sql in calls if sql.startswith("INSERT INTO alerts")]
    copies = {target.table: target for target in calls if isinstance(target, CopyInto)}
    assert list(copies) == ["alerts", "alert_timeline", "alert_pages"]
    upserted = [c.strip() for c in upsert.split("(", 1)[1].split(")", 1)[0].split(",")]
    assert copies["alerts"].columns == tuple(upserted)
    assert calls[copies["alerts"]] == calls[upsert]
    assert [row[1] for row in calls[copies["alert_timeline"]]] == [1, 2, 3]
