"""Recognising a staff member's phone in an SMS reply without keeping the number.

crisis keeps no contact details: for each staff member it keeps only a keyed digest
(HMAC-SHA256) of their phone number in a normal form, enough to tell whether an SMS reply
comes from a phone it paged. Without the key the digest cannot be brute-forced back to a
number.

Each digest is stored with the fingerprint of the key that made it (`key_fingerprint`): a
short HMAC of a fixed label, which tells keys apart without revealing them.
"""

from counseling_shared import phones
from counseling_shared.staff_replies import STAFF_PHONE_PURPOSE as _PURPOSE


def phone_digest(key: str, phone: str) -> str:
    return phones.keyed_digest(_PURPOSE, key, phone)


def key_fingerprint(key: str) -> str:
    """A non-secret name of `key` (12 hex digits): which key made a stored digest."""
    return phones.key_fingerprint(_PURPOSE, key)
