"""FHIR search parameters: references (`Patient/{id}` or a bare id) and date prefixes."""

import re
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from booking.adapters.fhir_queries import StartRange
from counseling_shared.http.bodies import EARLIEST_YEAR, LATEST_YEAR
from counseling_shared.http.problems import Unprocessable

_EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
_LATEST = datetime(LATEST_YEAR, 1, 1, tzinfo=UTC)
_DATE_PARAM = re.compile(
    r"^(eq|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?)$"
)


def reference_ids(values: list[str] | None, resource: str, field: str) -> list[UUID] | None:
    """The ids named by `Resource/{id}` or bare-id values (a comma means "or"); None: any."""
    if not values:
        return None
    ids: list[UUID] = []
    for value in values:
        for part in value.split(","):
            text = part.removeprefix(f"{resource}/")
            try:
                ids.append(UUID(text))
            except ValueError:
                message = f"expected {resource}/{{id}} with a UUID id, got {part[:80]!r}"
                raise Unprocessable(message, [{"field": field, "message": message}]) from None
    return ids


def start_range(values: list[str] | None, field: str) -> StartRange:
    """The instants a list of FHIR date parameters (`ge2030-03-01`, `lt2030-03-08T00:00:00Z`)
    allow together. A date without a time is a whole UTC day; `eq` (or no prefix) is the
    range of its precision."""
    start_from: datetime | None = None
    start_before: datetime | None = None
    for value in values or []:
        match = _DATE_PARAM.match(value)
        if match is None:
            raise _bad_date(value, field)
        prefix, text = match.group(1) or "eq", match.group(2)
        try:
            low, high = _precision_range(text)
        except ValueError:
            raise _bad_date(value, field) from None
        lows = {"eq": low, "ge": low, "gt": high}
        highs = {"eq": high, "le": high, "lt": low}
        if prefix in lows:
            start_from = max(filter(None, (start_from, lows[prefix])))
        if prefix in highs:
            start_before = min(filter(None, (start_before, highs[prefix])))
    return StartRange(start_from, start_before)


def _precision_range(text: str) -> tuple[datetime, datetime]:
    """`[low, high)` covered by a date (one UTC day) or an instant (one second)."""
    if "T" not in text:
        day = date.fromisoformat(text)
        low, precision = datetime(day.year, day.month, day.day, tzinfo=UTC), timedelta(days=1)
    else:
        low, precision = datetime.fromisoformat(text.replace("Z", "+00:00")), timedelta(seconds=1)
        if low.tzinfo is None:
            raise ValueError("needs an offset")
    # The same window of years as every other instant in a request: the edges of datetime's
    # range overflowed the search's arithmetic (a 500).
    if not _EARLIEST <= low < _LATEST:
        raise ValueError("out of range")
    return low, low + precision


def _bad_date(value: str, field: str) -> Unprocessable:
    message = (
        f"{value[:80]!r} is not a FHIR date search value: an optional prefix (eq, ge, gt, le, "
        "lt) and a date YYYY-MM-DD or an instant with an offset"
    )
    return Unprocessable(message, [{"field": field, "message": message}])
