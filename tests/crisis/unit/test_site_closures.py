"""Recording a site's closures: a new list is recorded, the same or an older one is not, and a
list that cannot be right is refused with its reason."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from crisis.domain.site_closures import (
    BadClosures,
    Closure,
    SiteClosuresRecorded,
    decide_record,
)

SITE = uuid4()
AT = datetime(2030, 3, 4, 9, tzinfo=UTC)
HOLIDAY = Closure(date(2030, 3, 6), date(2030, 3, 6), "public_holiday")
KEPT = SiteClosuresRecorded(SITE, (HOLIDAY,), AT)


def test_a_first_or_changed_list_is_recorded() -> None:
    assert decide_record(None, SITE, [HOLIDAY], AT) == [KEPT]
    later = AT + timedelta(hours=1)
    assert decide_record(KEPT, SITE, [], later) == [SiteClosuresRecorded(SITE, (), later)]


def test_the_same_list_or_an_older_one_records_nothing() -> None:
    assert decide_record(KEPT, SITE, [HOLIDAY], AT) == []
    assert decide_record(KEPT, SITE, [], AT - timedelta(seconds=1)) == []


def test_the_same_list_at_a_later_time_moves_the_time_a_late_list_is_compared_with() -> None:
    """Closed, reopened (arriving last), closed again: the reopening is older than the list
    kept, so the day stays closed."""
    later = AT + timedelta(hours=2)
    [again] = decide_record(KEPT, SITE, [HOLIDAY], later)
    assert again == SiteClosuresRecorded(SITE, (HOLIDAY,), later)
    assert decide_record(again, SITE, [], AT + timedelta(hours=1)) == []


def test_a_span_ending_before_it_starts_is_refused() -> None:
    backwards = Closure(date(2030, 5, 2), date(2030, 5, 1), "closure")
    with pytest.raises(BadClosures, match=r"closures\.1: `to` 2030-05-01 is before `from`"):
        decide_record(None, SITE, [HOLIDAY, backwards], AT)
