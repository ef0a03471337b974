"""Page links are signed for one page and staff member; PINs are kept as scrypt hashes; a
production crisis refuses the development link key."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from counseling_shared.links import InvalidLinkKey, LinkSigner
from counseling_shared.service import run_service
from crisis.application.publishing import PAGE_LINK_PURPOSE, Paging
from crisis.bootstrap import definition
from crisis.domain.pins import InvalidPin, check_pin_format, hash_pin, pin_matches
from crisis.settings import CrisisSettings

AT = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)


def test_a_page_link_is_signed_for_its_page_and_staff_member_and_expires_after_the_ttl() -> None:
    signer = LinkSigner("k" * 32)
    paging = Paging("https://crisis.example.test/base/", signer, timedelta(hours=12))
    page_id, staff_id = uuid4(), uuid4()

    url = paging.ack_url(page_id, staff_id, AT)

    assert url is not None
    parts = urlsplit(url)
    assert parts.path == f"/base/pages/{page_id}"
    link = signer.verify(parse_qs(parts.query)["token"][0], PAGE_LINK_PURPOSE, now=AT)
    assert (link.subject, link.person) == (str(page_id), str(staff_id))
    assert link.expires_at == AT + timedelta(hours=12)


def test_without_a_signer_pages_carry_no_ack_url() -> None:
    assert Paging("https://crisis.example.test").ack_url(uuid4(), uuid4(), AT) is None


def test_a_pin_is_kept_as_a_salted_scrypt_hash_that_only_the_pin_matches() -> None:
    first, second = hash_pin("482913"), hash_pin("482913")
    assert first.startswith("scrypt$")
    assert "482913" not in first
    assert first != second  # each has its own salt
    assert pin_matches("482913", first)
    assert not pin_matches("482914", first)
    assert not pin_matches("482913", "not-a-hash")


@pytest.mark.parametrize("pin", ["123", "12345", "12ab", "1234567890123", ""])
def test_a_pin_is_six_to_twelve_digits(pin: str) -> None:
    with pytest.raises(InvalidPin):
        check_pin_format(pin)


def test_a_production_crisis_refuses_to_start_with_the_development_link_key() -> None:
    settings = CrisisSettings.model_validate(
        {"API_KEYS": "a-real-key-0123456789abcdef", "DEVELOPMENT_MODE": False}
    )
    with pytest.raises(InvalidLinkKey):
        run_service(definition(settings))
