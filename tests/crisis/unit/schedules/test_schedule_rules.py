"""Checking a schedule draft, and restriction windows in local time."""

from datetime import UTC, date, datetime, time
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.restrictions import Restriction, allows
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import (
    InvalidSchedule,
    LayerDraft,
    RestrictionDraft,
    build_schedule,
)

PARIS = ZoneInfo("Europe/Paris")


def test_a_valid_draft_becomes_a_schedule() -> None:
    a, b = uuid4(), uuid4()
    draft = LayerDraft(
        "custom",
        "08:30",
        date(2026, 3, 1),
        [a, b],
        every="P3D",
        restrictions=[RestrictionDraft([6, 7], "22:00", "07:00")],
    )
    schedule = build_schedule(uuid4(), uuid4(), "Weekend nights", "Europe/Paris", [draft])

    [layer] = schedule.layers
    assert layer.participants == (a, b)
    assert layer.rotation.turn_length.days == 3
    assert layer.restrictions == (Restriction(frozenset({6, 7}), time(22), time(7)),)


def test_every_bad_field_of_a_draft_is_named() -> None:
    drafts = [
        LayerDraft("hourly", "09:00", date(2026, 3, 1), [uuid4()]),
        LayerDraft("daily", "9am", date(2026, 3, 1), [], every="PT1H"),
        LayerDraft("custom", "09:00", date(2026, 3, 1), [uuid4()], every="PT30M"),
        LayerDraft("daily", "09:00", date(2026, 3, 1), [uuid4()], handoff_weekday=1),
    ]
    with pytest.raises(InvalidSchedule) as caught:
        build_schedule(uuid4(), uuid4(), " ", "Nowhere/Town", drafts)

    assert {e.field for e in caught.value.errors} == {
        "name",
        "timezone",
        "layers.0.rotation.kind",
        "layers.1.rotation.handoff",
        "layers.1.participants",
        "layers.1.rotation.every",
        "layers.2.rotation.every",
        "layers.3.rotation.handoff_weekday",
    }


def test_a_night_window_runs_past_midnight_in_local_time() -> None:
    monday_nights = (Restriction(frozenset({1}), time(22), time(7)),)

    # Monday 2026-03-02 23:00 Paris is 22:00Z; Tuesday 06:59 Paris is 05:59Z.
    assert allows(monday_nights, datetime(2026, 3, 2, 22, 0, tzinfo=UTC), PARIS)
    assert allows(monday_nights, datetime(2026, 3, 3, 5, 59, tzinfo=UTC), PARIS)
    assert not allows(monday_nights, datetime(2026, 3, 3, 6, 0, tzinfo=UTC), PARIS)
    assert not allows(monday_nights, datetime(2026, 3, 3, 22, 0, tzinfo=UTC), PARIS)  # Tuesday


def test_a_window_keeps_its_local_hours_across_a_dst_change() -> None:
    office = Layer(
        Rotation(RotationKind.DAILY, time(0), date(2026, 1, 1)),
        (uuid4(),),
        (Restriction(frozenset(range(1, 8)), time(9), time(17)),),
    )
    # Paris moves to summer time on 2026-03-29: 09:00 local is 08:00Z before, 07:00Z after.
    assert office.on_call(datetime(2026, 3, 28, 8, 0, tzinfo=UTC), PARIS) is not None
    assert office.on_call(datetime(2026, 3, 28, 7, 59, tzinfo=UTC), PARIS) is None
    assert office.on_call(datetime(2026, 3, 30, 7, 0, tzinfo=UTC), PARIS) is not None
    assert office.on_call(datetime(2026, 3, 30, 6, 59, tzinfo=UTC), PARIS) is None
