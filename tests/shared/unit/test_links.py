from datetime import UTC, datetime, timedelta

import pytest

from counseling_shared.links import (
    InvalidLinkKey,
    LinkExpired,
    LinkSigner,
    LinkTampered,
    check_link_key_allowed,
)

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
