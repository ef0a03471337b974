"""Reading booking's batched directory answer (`booking.directory.contacts`): one entry per
client asked, in order; an entry about another client is never used."""

import json
from uuid import uuid4

import pytest

from notify.adapters.booking_directory import parse_contacts
from notify.application.ports import ClientContact, ClientNotFound, DirectoryUnavailable


def _contact(client_id: str, email: str) -> dict[str, str | None]:
    return {
        "client_id": client_id,
        "email": email,
        "phone": None,
        "locale": "fr",
        "timezone": "Europe/Paris",
        "preferred_channel": "email",
        "site_id": str(uuid4()),
    }


def test_each_entry_answers_the_client_asked_in_its_place() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    raw = json.dumps(
        {
            "contacts": [
                _contact(str(a), "a@mail.example"),
                {"client_id": str(b), "error": "not_found"},
                _contact(str(a), "stray@mail.example"),  # not c: a stray or forged entry
            ]
        }
    ).encode()

    first, second, third = parse_contacts([a, b, c], raw)

    assert isinstance(first, ClientContact)
    assert (first.client_id, first.email, first.timezone) == (a, "a@mail.example", "Europe/Paris")
    assert isinstance(second, ClientNotFound)
    assert isinstance(third, DirectoryUnavailable)


def test_a_not_found_about_another_client_is_unavailable_not_a_permanent_failure() -> None:
    a = uuid4()
    raw = json.dumps({"contacts": [{"client_id": str(uuid4()), "error": "not_found"}]}).encode()

    [answer] = parse_contacts([a], raw)

    assert isinstance(answer, DirectoryUnavailable)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"error": "unavailable"}',
        b'{"contacts": "x"}',
        b'{"contacts": []}',  # fewer entries than clients asked
    ],
)
def test_an_answer_that_is_not_one_entry_per_client_is_unavailable(raw: bytes) -> None:
    with pytest.raises(DirectoryUnavailable):
        parse_contacts([uuid4()], raw)
