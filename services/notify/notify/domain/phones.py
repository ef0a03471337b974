"""An opted-out phone number, recognised without being kept.

notify keeps no contact details: an opt-out is stored as a keyed digest (HMAC-SHA256 with
LINK_SIGNING_KEY) of the number in a normal form, the same number written `+33 6 12-34-56-78`
or `0033612345678` giving the same digest. Labelled apart from crisis's staff-phone digests,
so one table's digests say nothing about the other's.
"""

from counseling_shared import phones

_PURPOSE = "sms-opt-out"

OPTED_OUT = "sms_opted_out"
"""The error code of an SMS or messaging attempt not made: the number texted STOP."""


def opt_out_digest(key: str, phone: str) -> str:
    return phones.keyed_digest(_PURPOSE, key, phone)


def key_fingerprint(key: str) -> str:
    """A non-secret name of `key` (12 hex digits): which key made a stored digest."""
    return phones.key_fingerprint(_PURPOSE, key)
