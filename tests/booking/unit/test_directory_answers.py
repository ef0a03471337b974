"""The client directory's request parsing and its answer's fields."""

import json
from uuid import uuid4

import pytest

from booking.entrypoints.directory import asker_of, contact_of, requested_client
from tests.booking.unit.builders import a_client, a_site

CONTRACT_FIELDS = {"client_id", "email", "phone", "locale", "timezone", "preferred_channel"}


def test_a_well_formed_request_names_the_client() -> None:
    wanted = uuid4()

    assert requested_client(json.dumps({"client_id": str(wanted)}).encode()) == wanted


@pytest.mark.parametrize(
    "raw", [b"", b"null", b"[1]", b'{"id": "x"}', b'{"client_id": "x"}', b"\xff\xfe"]
)
def test_a_malformed_request_names_nobody(raw: bytes) -> None:
    assert requested_client(raw) is None


def test_the_answer_has_the_contract_fields_and_no_name() -> None:
    registered = a_client(a_site())

    answer = contact_of(registered)

    assert answer.keys() >= CONTRACT_FIELDS
    assert "name" not in answer
    assert answer["client_id"] == str(registered.id)
    json.dumps(answer)  # plain JSON values only


@pytest.mark.parametrize(
    ("reply_subject", "asker"),
    [
        ("_INBOX.notify.abc123.1", "notify"),
        ("_INBOX.crisis.xyz.7", "crisis"),
        ("_INBOX.followup.abc.1", "unknown"),  # not a service that may ask
        ("_INBOX.Xq1w2e3r4t5y6u7i8o.1", "unknown"),  # an anonymous connection's inbox
        ("notify.reply", "unknown"),
        (None, "unknown"),
    ],
)
def test_the_asker_is_the_service_whose_inbox_the_answer_goes_to(
    reply_subject: str | None, asker: str
) -> None:
    assert asker_of(reply_subject) == asker
