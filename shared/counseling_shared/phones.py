"""A phone number in one normal form, so that a number written `+33 6 12-34-56-78` or
`0033612345678` gives the same keyed digest in every service that recognises a phone without
keeping it (crisis's staff phones, notify's opt-outs)."""

import re

_NOT_DIGITS = re.compile(r"[^0-9]")


def normalise_phone(phone: str) -> str:
    """`+33 6 12-34-56-78` → `+33612345678`; `0033…` → `+33…`."""
    text = phone.strip()
    digits = _NOT_DIGITS.sub("", text)
    if text.startswith("00"):
        return "+" + digits[2:]
    return ("+" if text.startswith("+") else "") + digits
