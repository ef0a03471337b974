"""The one base of every request body: strict about field names, safe for PostgreSQL text."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    field_validator,
)

# pydantic also takes a number as a Unix time; the contract says RFC 3339 text, so only that.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2030-03-10T15:00:00+09:00")


def _date_text(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


# Requests name instants and dates in this window of years. Outside it, a service's arithmetic
# (a day either side, a zone's offset, a policy's duration) would leave datetime's range: a 5xx
# for the caller, or an event its consumers could never handle. A 422 says so instead.
EARLIEST_YEAR, LATEST_YEAR = 1900, 9000
_EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
_LATEST = datetime(LATEST_YEAR, 1, 1, tzinfo=UTC)
_OUT_OF_RANGE = f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}"


def _plausible_instant(value: datetime) -> datetime:
    if not _EARLIEST <= value < _LATEST:
        raise ValueError(_OUT_OF_RANGE)
    return value


def _plausible_date(value: date) -> date:
    if not EARLIEST_YEAR <= value.year < LATEST_YEAR:
        raise ValueError(_OUT_OF_RANGE)
    return value


Instant = Annotated[
    AwareDatetime, BeforeValidator(_instant_text), AfterValidator(_plausible_instant)
]
"""An instant in a request: RFC 3339 text with an offset, never a bare number, between the
years 1900 and 9000."""

CalendarDate = Annotated[date, BeforeValidator(_date_text), AfterValidator(_plausible_date)]
"""A date in a request: `YYYY-MM-DD` text, never a number, between the years 1900 and 9000."""


class RequestBody(BaseModel):
    """A request body. A field the model does not name is a 422 naming it (a misspelt optional
    field must not be dropped silently). PostgreSQL text cannot hold NUL, so no string may."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain NUL characters")
        return value
