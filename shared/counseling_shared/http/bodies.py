"""The one base of every request body: strict about field names, safe for PostgreSQL text."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, field_validator

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


Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text)]
"""An instant in a request: RFC 3339 text with an offset, never a bare number."""

CalendarDate = Annotated[date, BeforeValidator(_date_text)]
"""A date in a request: `YYYY-MM-DD` text, never a number."""


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
