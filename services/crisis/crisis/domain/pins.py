"""Staff PINs that unlock a client's contact details on the on-call page.

A PIN is kept only as a scrypt hash (hashlib, memory-hard) with its own random salt; checking
compares in constant time. Wrong tries are limited by the caller (see application/pins.py).
"""

import base64
import hashlib
import hmac
import os
import re

_N, _R, _P, _LEN = 2**14, 8, 1, 32
# New PINs have at least 6 digits (a million guesses, not ten thousand); PINs set before
# with 4 or 5 digits keep working: only their hash is kept, so the check is on setting.
_PIN = re.compile(r"^[0-9]{6,12}$")


class InvalidPin(ValueError):
    """A PIN is 6 to 12 digits."""


def check_pin_format(pin: str) -> str:
    if not _PIN.match(pin):
        raise InvalidPin("a PIN is 6 to 12 digits")
    return pin


def hash_pin(pin: str) -> str:
    """`scrypt$<n>$<r>$<p>$<salt>$<hash>` (base64)."""
    salt = os.urandom(16)
    digest = _scrypt(pin, salt, _N, _R, _P)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)],
    )


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = _scrypt(pin, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
