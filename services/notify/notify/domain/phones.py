"""An opted-out phone number, recognised without being kept.

notify keeps no contact details: an opt-out is stored as a keyed digest (HMAC-SHA256 with
LINK_SIGNING_KEY) of the number in a normal form, the same number written `+33 6 12-34-56-78`
or `0033612345678` giving the same digest. Labelled apart from crisis's staff-phone digests,
so one table's digests say nothing about the other's.
"""

import hashlib
import hmac

from counseling_shared.phones import normalise_phone

OPTED_OUT = "sms_opted_out"
"""The error code of an SMS or messaging attempt not made: the number texted STOP."""


def opt_out_digest(key: str, phone: str) -> str:
    label = f"sms-opt-out:{key}".encode()
    return hmac.new(label, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


def key_fingerprint(key: str) -> str:
    """A non-secret name of `key` (12 hex digits): which key made a stored digest."""
    return hmac.new(key.encode(), b"sms-opt-out-key-fingerprint", hashlib.sha256).hexdigest()[:12]
