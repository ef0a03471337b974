"""Registering sites, staff and clients: values, defaults from the site, channel addresses."""

from datetime import timedelta
from uuid import uuid4

import pytest

from booking.domain import client, site, staff
from booking.domain.errors import InvalidCommand
from booking.domain.values import is_email, is_known_timezone, is_locale, parse_duration
from counseling_shared.codes import Channel, StaffRole
from tests.booking.unit.builders import NOW, a_site


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT24H", timedelta(hours=24)),
        ("P2D", timedelta(days=2)),
        ("PT30S", timedelta(seconds=30)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
    ],
)
def test_iso_durations_of_fixed_length_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P", "PT", "P1DT", "24h", "1 day", "", "-PT1H"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "known"),
    [("Asia/Seoul", True), ("UTC", True), ("Mars/Base", False), ("../etc", False), ("", False)],
)
def test_time_zones_must_be_iana_names(name: str, known: bool) -> None:
    assert is_known_timezone(name) is known


def test_locales_and_emails_have_their_usual_shapes() -> None:
    assert all(is_locale(t) for t in ("en", "ko", "fr-CA", "zh-Hant-TW"))
    assert not any(is_locale(t) for t in ("", "english language", "k", "fr_CA"))
    assert is_email("a.b+c@mail.example")
    assert not any(is_email(a) for a in ("a@b", "@b.example", "a b@c.example", "a@b."))


def test_a_site_refuses_every_bad_value_at_once() -> None:
    command = site.RegisterSite(" ", "Nowhere", "not a tag", "P1M")

    with pytest.raises(InvalidCommand) as refused:
        site.register(command, uuid4(), NOW)

    assert sorted(refused.value.errors) == [
        "late_cancellation_window",
        "locale",
        "name",
        "timezone",
    ]


def test_a_site_keeps_its_late_window() -> None:
    s = a_site(late_cancellation_window="PT2H")

    assert s.late_window == timedelta(hours=2)


def test_staff_and_clients_take_the_site_locale_and_timezone_by_default() -> None:
    at = a_site(locale="fr", timezone="Europe/Paris")
    member_command = staff.RegisterStaffMember(at.id, "Dr. Roy", StaffRole.SUPERVISOR, "r@c.fr")
    client_command = client.RegisterClient(at.id, "Léa", Channel.SMS, phone="+33 6 12 34 56 78")

    [member] = staff.register(member_command, at, uuid4(), NOW)
    [registered] = client.register(client_command, at, uuid4(), NOW)

    assert member.locale == "fr"
    assert isinstance(registered, client.ClientRegistered)
    assert (registered.locale, registered.timezone) == ("fr", "Europe/Paris")


def test_registering_at_an_unknown_site_names_site_id() -> None:
    command = staff.RegisterStaffMember(uuid4(), "Dr. Roy", StaffRole.COUNSELOR, "r@c.fr")

    with pytest.raises(InvalidCommand) as refused:
        staff.register(command, None, uuid4(), NOW)

    assert list(refused.value.errors) == ["site_id"]


@pytest.mark.parametrize(
    ("channel", "email", "phone", "missing"),
    [
        (Channel.EMAIL, None, "+1 555 0100 200", "email"),
        (Channel.SMS, "a@b.example", None, "phone"),
        (Channel.PHONE, "a@b.example", None, "phone"),
        (Channel.MESSAGING, "a@b.example", None, "phone"),
    ],
)
def test_a_preferred_channel_needs_its_address(
    channel: Channel, email: str | None, phone: str | None, missing: str
) -> None:
    at = a_site()
    command = client.RegisterClient(at.id, "Kim", channel, email=email, phone=phone)

    with pytest.raises(InvalidCommand) as refused:
        client.register(command, at, uuid4(), NOW)

    assert list(refused.value.errors) == [missing]
