"""What "the same body" is for an `Idempotency-Key` (contract: Conventions)."""

import hashlib

from counseling_shared.http.idempotency import request_hashes


def test_the_same_json_spelt_otherwise_shares_its_first_hash() -> None:
    one = request_hashes("POST", "/rooms", b'{"site_id": "s", "name": "A"}')
    other = request_hashes("POST", "/rooms", b'{\n "name":"\\u0041",\n "site_id":"s"}')

    assert one[0] == other[0]
    assert request_hashes("POST", "/rooms", b'{"site_id": "s", "name": "B"}')[0] != one[0]
    assert request_hashes("POST", "/other", b'{"site_id": "s", "name": "A"}')[0] != one[0]


def test_a_record_written_before_still_matches_its_byte_identical_retry() -> None:
    """Records kept from before hold the hash of the bytes: a retry across the deploy matches."""
    body = b'{"site_id": "s", "name": "A"}'
    recorded_before = hashlib.sha256(b"POST/rooms\0" + body).hexdigest()

    assert recorded_before in request_hashes("POST", "/rooms", body)
    assert request_hashes("POST", "/rooms", body)[0] != recorded_before


def test_a_body_that_is_not_json_is_its_bytes() -> None:
    assert request_hashes("POST", "/x", b"") == (hashlib.sha256(b"POST/x\0").hexdigest(),)
    assert len(request_hashes("POST", "/x", b"\xff{")) == 1
