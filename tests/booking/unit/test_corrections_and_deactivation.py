"""Correcting a client's contact details and deactivating a staff member who left."""

from dataclasses import replace

import pytest

from booking.application import publishing
from booking.domain import client, staff
from booking.domain.client import CorrectContact
from booking.domain.errors import InvalidCommand, NotAllowedNow
from counseling_shared import events as public
from counseling_shared.codes import Channel
from tests.booking.unit.builders import NOW, a_client, a_site, a_staff_member


def _correct(state: client.Client, **fields: object) -> list[client.ClientEvent]:
    return client.correct_contact(state, CorrectContact(given=frozenset(fields), **fields), NOW)  # type: ignore[arg-type]


def test_a_correction_changes_only_the_fields_sent() -> None:
    registered = a_client(a_site())

    [event] = _correct(registered, email="new@mail.example", timezone="Europe/Paris")
    corrected = client.evolve(registered, event)

    assert corrected.email == "new@mail.example"
    assert corrected.timezone == "Europe/Paris"
    assert corrected.name == registered.name
    assert corrected.phone == registered.phone
    assert corrected.version == registered.version + 1


def test_a_correction_that_changes_nothing_records_nothing() -> None:
    registered = a_client(a_site())

    assert _correct(registered, name=registered.name, locale=registered.locale) == []


def test_clearing_the_address_the_preferred_channel_needs_is_refused() -> None:
    registered = a_client(a_site())  # prefers email

    with pytest.raises(InvalidCommand) as refused:
        _correct(registered, email=None)

    assert "email" in refused.value.errors


def test_switching_to_sms_with_a_phone_in_the_same_correction_is_accepted() -> None:
    registered = a_client(a_site())

    [event] = _correct(registered, preferred_channel=Channel.SMS, phone="+33 6 12 34 56 78")

    assert client.evolve(registered, event).preferred_channel is Channel.SMS


def test_locale_and_timezone_cannot_be_cleared() -> None:
    registered = a_client(a_site())

    with pytest.raises(InvalidCommand) as refused:
        _correct(registered, locale=None, timezone="Mars/Olympus")

    assert set(refused.value.errors) == {"locale", "timezone"}


def test_the_published_change_carries_no_contact_detail() -> None:
    registered = a_client(a_site())
    [event] = _correct(registered, name="Corrected Name", email="fixed@mail.example")
    corrected = client.evolve(registered, event)

    [announced] = publishing.client_events(corrected, event)

    assert isinstance(announced, public.ClientContactChanged)
    dumped = announced.model_dump_json()
    assert "Corrected Name" not in dumped
    assert "fixed@mail.example" not in dumped
    assert announced.timezone == corrected.timezone


def test_deactivating_a_member_marks_them_inactive_and_announces_it() -> None:
    member = a_staff_member(a_site())

    [event] = staff.deactivate(member, NOW)
    inactive = staff.evolve(member, event)

    assert not inactive.active
    assert inactive.deactivated_at == NOW
    assert publishing.staff_events(inactive, event) == [
        public.StaffDeactivated(staff_id=member.id, site_id=member.site_id)
    ]


def test_deactivating_twice_changes_nothing() -> None:
    member = a_staff_member(a_site())
    inactive = staff.evolve(member, staff.deactivate(member, NOW)[0])

    assert staff.deactivate(inactive, NOW) == []


def _change(**fields: object) -> staff.ChangeStaffContact:
    return staff.ChangeStaffContact(given=frozenset(fields), **fields)  # type: ignore[arg-type]


def test_a_staff_change_keeps_what_was_not_sent_and_bumps_the_version() -> None:
    member = a_staff_member(a_site())

    [changed] = staff.change_contact(member, _change(phone="+82 10 1234 5678"), NOW)
    after = staff.evolve(member, changed)

    assert (after.phone, after.email, after.name, after.locale) == (
        "+82 10 1234 5678",
        member.email,
        member.name,
        member.locale,
    )
    assert after.version == member.version + 1


def test_a_staff_change_that_changes_nothing_records_nothing() -> None:
    member = a_staff_member(a_site())

    assert staff.change_contact(member, _change(name=f"  {member.name} "), NOW) == []


def test_a_staff_change_is_checked_as_a_registration_and_only_the_phone_may_be_removed() -> None:
    member = a_staff_member(a_site())

    with pytest.raises(InvalidCommand) as refused:
        staff.change_contact(member, _change(email=None, phone="x", locale="?", name=""), NOW)

    assert set(refused.value.errors) == {"email", "phone", "locale", "name"}
    assert staff.change_contact(member, _change(phone=None), NOW) == []  # it had none


def test_a_deactivated_member_is_neither_changed_nor_announced_again() -> None:
    member = a_staff_member(a_site())
    left = staff.evolve(member, staff.deactivate(member, NOW)[0])

    with pytest.raises(NotAllowedNow):
        staff.change_contact(left, _change(phone="+82 10 1234 5678"), NOW)
    assert staff.announce_again(left, NOW) == []


def test_a_change_and_an_announcement_publish_the_whole_snapshot_as_staff_registered() -> None:
    member = a_staff_member(a_site())
    [changed] = staff.change_contact(member, _change(locale="fr", phone="+33 6 12 34 56 78"), NOW)
    after = staff.evolve(member, changed)
    [again] = staff.announce_again(after, NOW)
    announced = staff.evolve(after, again)

    published = publishing.staff_events(after, changed) + publishing.staff_events(announced, again)

    assert announced == replace(after, version=after.version + 1)
    expected = public.StaffRegistered(
        staff_id=member.id,
        site_id=member.site_id,
        name=member.name,
        role=member.role,
        email=member.email,
        phone="+33 6 12 34 56 78",
        locale="fr",
    )
    assert published == [expected, expected]
