"""Request fields checked by the schema with the domain's own rules, so one 422 names every bad
field at once: a body with a blank name and an unknown time zone used to be refused for the
name, and only on the next try for the zone (the domain checks ran after the schema's).
The domain checks stay where they are: commands built elsewhere are checked there too."""

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

from booking.domain.values import is_email, is_known_timezone, is_locale, is_phone


def _checked(check: Callable[[str], bool], problem: str) -> AfterValidator:
    def validate(value: str) -> str:
        if not check(value):
            raise ValueError(problem)
        return value

    return AfterValidator(validate)


TimeZoneName = Annotated[
    str, _checked(is_known_timezone, "must be an IANA time zone name such as Europe/Paris")
]
LocaleTag = Annotated[str, _checked(is_locale, "must be a BCP 47 language tag")]
EmailAddress = Annotated[str, _checked(is_email, "must be an email address")]
PhoneNumber = Annotated[str, _checked(is_phone, "must be a phone number")]
