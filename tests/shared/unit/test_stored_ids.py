"""`parse_uuid` gives what `UUID(text)` gives, value or error, for every form of the text."""

from uuid import UUID

import pytest

from counseling_shared.stored_ids import parse_uuid

ID = UUID("858d00f3-5885-404e-808d-0e30e306a29b")
FORMS = [
    str(ID),
    str(ID).upper(),
    "c232ab00-9414-11ec-b3c8-9f6bdeced846",  # a version 1 id
    "00000000-0000-0000-0000-000000000000",
    ID.hex,
    "{" + str(ID) + "}",
    "urn:uuid:" + str(ID),
    str(ID).replace("-", "")[:8] + "-" + str(ID).replace("-", "")[8:],  # hyphens elsewhere
    " " + str(ID)[1:],  # int() skips the space: UUID takes it
]
INVALID = [
    "",
    str(ID)[:-1],
    str(ID)[:-1] + "g",
    str(ID)[:8] + "_" + str(ID)[9:],  # int() would take an underscore
    str(ID)[:8] + "+" + str(ID)[9:],
    "x" * 36,
]


@pytest.mark.parametrize("text", FORMS)
def test_every_form_parses_to_what_uuid_gives(text: str) -> None:
    parsed = parse_uuid(text)
    assert type(parsed) is UUID
    assert parsed == UUID(text)
    assert hash(parsed) == hash(UUID(text))
    assert str(parsed) == str(UUID(text))


@pytest.mark.parametrize("text", INVALID)
def test_what_uuid_refuses_is_refused_alike(text: str) -> None:
    with pytest.raises(ValueError, match=r"badly formed|invalid literal") as theirs:
        UUID(text)
    with pytest.raises(ValueError, match=r"badly formed|invalid literal") as ours:
        parse_uuid(text)
    assert str(ours.value) == str(theirs.value)
