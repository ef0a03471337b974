"""A replayed event (`read_streams`' rows, built without the dataclass's `__init__`) is the
`RecordedEvent` the constructor gives: every field, equal, still frozen."""

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import pytest

from counseling_shared.eventstore import RecordedEvent, _replayed

ID = UUID("858d00f3-5885-404e-808d-0e30e306a29b")
AT = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
ROW: dict[str, Any] = {
    "position": 7,
    "id": ID,
    "stream_id": "appointment-1",
    "version": 2,
    "type": "Booked",
    "data": '{"n": 1, "nested": {"a": [1.5, null, true, "x"]}}',
    "metadata": '{"by": "test"}',
    "recorded_at": AT,
    "txid": 1234,
}


def _built(row: dict[str, Any]) -> RecordedEvent:
    return _replayed(cast(Any, row))


def test_a_replayed_event_equals_the_constructed_one() -> None:
    replayed = _built(ROW)
    constructed = RecordedEvent(
        position=7,
        id=ID,
        stream_id="appointment-1",
        version=2,
        type="Booked",
        data={"n": 1, "nested": {"a": [1.5, None, True, "x"]}},
        metadata={"by": "test"},
        recorded_at=AT,
        txid=1234,
    )
    assert replayed == constructed
    assert repr(replayed) == repr(constructed)
    # Every field of the dataclass, and nothing else (a field added later must be set here).
    assert set(vars(replayed)) == {f.name for f in dataclasses.fields(RecordedEvent)}


def test_a_replayed_event_without_metadata_has_an_empty_one_and_stays_frozen() -> None:
    replayed = _built({**ROW, "metadata": None})
    assert replayed.metadata == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        replayed.version = 3  # type: ignore[misc]
