"""What Twilio's answers mean for a message: sent, worth retrying, or refused for good.

Twilio answers a refused send with an HTTP status and its own error code
(`{"code": 21211, "status": 400, ...}`); a status callback names a carrier's error code.
Error codes are stored as `twilio_<code>` (a code, never Twilio's text).
"""

from notify.domain.notification import DeliveryOutcome
from notify.domain.phones import OPTED_OUT

OPTED_OUT_CODES = frozenset({21610})
"""The recipient texted STOP to Twilio (Advanced Opt-Out): Twilio refuses every send to the
number until they text START, so it is notify's `sms_opted_out` (the next channel, at once)."""

RETRY_CODES = frozenset({20429, 21611, 30001})
"""Refusals that pass: too many requests, the sender's queue full, a queue overflow."""

CREDENTIAL_REFUSALS = frozenset({401, 403})
"""HTTP statuses saying notify's credential was refused (Twilio's 20003), not the message."""


def error_code(code: object) -> str | None:
    """`twilio_<code>` for a numeric Twilio code, else None."""
    text = str(code).strip() if code is not None else ""
    return f"twilio_{text}" if text.isdigit() and len(text) <= 10 else None


def outcome_of_send(status: int, code: object = None) -> DeliveryOutcome:
    """A Messages API answer. 2xx sent; 401/403 the credential, retried (as the webhook
    providers' are: messages go out once it is fixed, and the fallback takes them meanwhile);
    429, 5xx and the passing codes retried; 21610 opted out; any other 4xx for good."""
    named = error_code(code)
    if 200 <= status < 300:
        return DeliveryOutcome.sent()
    if status in CREDENTIAL_REFUSALS or status == 429 or status >= 500:
        return DeliveryOutcome.transient(f"http_{status}")
    if named is not None and int(str(code)) in OPTED_OUT_CODES:
        return DeliveryOutcome.permanent(OPTED_OUT)
    if named is not None and int(str(code)) in RETRY_CODES:
        return DeliveryOutcome.transient(named)
    return DeliveryOutcome.permanent(named or f"http_{status}")
