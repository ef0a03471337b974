from datetime import UTC, datetime, timedelta

import pytest

from counseling_shared.links import (
    InvalidLinkKey,
    LinkExpired,
    LinkSigner,
    LinkTampered,
    check_link_key_allowed,
)
from counseling_shared.settings import ServiceSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SIGNER = LinkSigner("test-key")


def _token(**extra: str) -> str:
    return SIGNER.sign("calendar", "subject-1", expires_at=NOW + timedelta(hours=1), **extra)


def test_a_signed_link_verifies_to_its_purpose_subject_person_and_expiry() -> None:
    token = _token(person="staff-7")
    link = SIGNER.verify(token, "calendar", now=NOW)

    assert (link.purpose, link.subject, link.person) == ("calendar", "subject-1", "staff-7")
    assert link.expires_at == NOW + timedelta(hours=1)


def test_two_links_for_the_same_subject_have_distinct_ids() -> None:
    first = SIGNER.verify(_token(), "calendar", now=NOW)
    second = SIGNER.verify(_token(), "calendar", now=NOW)
    assert first.link_id != second.link_id


def test_an_expired_link_is_told_apart_from_a_tampered_one() -> None:
    token = _token()
    with pytest.raises(LinkExpired):
        SIGNER.verify(token, "calendar", now=NOW + timedelta(hours=1))
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(LinkTampered):
        SIGNER.verify(altered, "calendar", now=NOW)


def test_a_link_opens_only_its_own_purpose_and_key() -> None:
    token = _token()
    with pytest.raises(LinkTampered):
        SIGNER.verify(token, "page-ack", now=NOW)
    with pytest.raises(LinkTampered):
        LinkSigner("another-key").verify(token, "calendar", now=NOW)
    with pytest.raises(LinkTampered):
        SIGNER.verify("not-a-token", "calendar", now=NOW)


@pytest.mark.parametrize("key", ["", "   ", "dev-link-signing-key"])
def test_a_service_outside_development_mode_refuses_an_empty_or_the_development_key(
    key: str,
) -> None:
    with pytest.raises(InvalidLinkKey, match="LINK_SIGNING_KEY"):
        check_link_key_allowed(key, development_mode=False)
    check_link_key_allowed(key, development_mode=True)  # a development stack may


def test_a_real_key_is_accepted_outside_development_mode() -> None:
    check_link_key_allowed("4f1c0b9e7d2a" * 4, development_mode=False)


def test_after_a_rotation_the_previous_key_verifies_and_only_the_current_one_signs() -> None:
    rotated = LinkSigner("new-key", previous_keys=["test-key"])
    before = _token()  # signed with the old key

    assert rotated.verify(before, "calendar", now=NOW).subject == "subject-1"
    after = rotated.sign("calendar", "subject-2", expires_at=NOW + timedelta(hours=1))
    assert LinkSigner("new-key").verify(after, "calendar", now=NOW).subject == "subject-2"
    with pytest.raises(LinkTampered):
        SIGNER.verify(after, "calendar", now=NOW)
    with pytest.raises(LinkTampered):  # once the old key is dropped
        LinkSigner("new-key").verify(before, "calendar", now=NOW)


def test_the_development_key_is_refused_among_the_previous_keys_too() -> None:
    strong = "4f1c0b9e7d2a" * 4
    with pytest.raises(InvalidLinkKey, match="LINK_SIGNING_PREVIOUS_KEYS"):
        check_link_key_allowed(
            strong, development_mode=False, previous_keys=["older", "dev-link-signing-key"]
        )
    check_link_key_allowed(strong, development_mode=False, previous_keys=["older"])


def test_settings_list_the_current_key_first_then_the_previous_ones() -> None:
    settings = ServiceSettings.model_validate(
        {"LINK_SIGNING_KEY": "new-key", "LINK_SIGNING_PREVIOUS_KEYS": " test-key , older ,"}
    )

    assert settings.link_keys == ("new-key", "test-key", "older")
    assert settings.link_signer().verify(_token(), "calendar", now=NOW).subject == "subject-1"
    unrotated = ServiceSettings.model_validate({"LINK_SIGNING_KEY": "new-key"})
    assert unrotated.link_keys == ("new-key",)
