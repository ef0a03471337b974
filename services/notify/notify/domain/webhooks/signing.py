"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed
with the subscription's `whsec_…` secret (the `standardwebhooks` reference library signs)."""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(
    current: str, previous: str | None, previous_expires_at: datetime | None, at: datetime
) -> tuple[str, ...]:
    """The secrets an attempt at `at` is signed with: the current one, and the one a rotation
    replaced while their overlap lasts (so a receiver may switch at its own pace)."""
    if previous is not None and previous_expires_at is not None and at < previous_expires_at:
        return (current, previous)
    return (current,)


def signed_headers(
    secret: str, webhook_id: str, at: datetime, body: bytes, *, also_with: Sequence[str] = ()
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt sent at `at`. Each secret of
    `also_with` (a rotated-out one) adds its own signature, space-separated after the first:
    the format's way to let a receiver holding either secret verify the message."""
    signatures = [Webhook(s).sign(webhook_id, at, body) for s in (secret, *also_with)]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
