"""A phone number in one normal form, so that a number written `+33 6 12-34-56-78` or
`0033612345678` gives the same keyed digest in every service that recognises a phone without
keeping it (crisis's staff phones, notify's opt-outs)."""

import hashlib
import hmac
import re

_NOT_DIGITS = re.compile(r"[^0-9]")


def normalise_phone(phone: str) -> str:
    """`+33 6 12-34-56-78` → `+33612345678`; `0033…` → `+33…`."""
    text = phone.strip()
    digits = _NOT_DIGITS.sub("", text)
    if text.startswith("00"):
        return "+" + digits[2:]
    return ("+" if text.startswith("+") else "") + digits


def keyed_digest(purpose: str, key: str, phone: str) -> str:
    """HMAC-SHA256 of the number's normal form, keyed with `key` and labelled with `purpose`,
    so one service's digests say nothing about another's."""
    label = f"{purpose}:{key}".encode()
    return hmac.new(label, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


def key_fingerprint(purpose: str, key: str) -> str:
    """A non-secret name of `key` (12 hex digits): which key made a stored `purpose` digest."""
    label = f"{purpose}-key-fingerprint".encode()
    return hmac.new(key.encode(), label, hashlib.sha256).hexdigest()[:12]
