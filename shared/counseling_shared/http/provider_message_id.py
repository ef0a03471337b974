"""The provider's message id on a shared secret's `POST /inbound/sms` (notify's and crisis's).

A provider retries a post it got no answer to, and a captured post can be posted again (the
secret never changes): with its id, each text acts once (`counseling_shared.twilio_replays`).
Providers name it differently; the first of `message_id`, `messageId` is read. A bare `id` is
not: some providers' `id` names the conversation or the account, and taking it for the text's
would answer every later text (a STOP, an `ACK`) as a replay, for 30 days. An id
that is not 1-100 letters, digits or `.`, `_`, `:`, `-` is taken as absent rather than
refused: a STOP must never be lost to a provider's id format.
"""

import re
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field

_USABLE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _usable(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _USABLE.match(value) else None


MessageId = Annotated[
    str | None,
    BeforeValidator(_usable),
    Field(
        validation_alias=AliasChoices("message_id", "messageId"),
        description="Extension: the provider's id of this text (read from `message_id`, else"
        " `messageId`, never a bare `id`; 1-100 letters, digits, `.`, `_`, `:`, `-`, else"
        " ignored)."
        " With it a text acts once: the same id posted again (a provider's retry, a replay)"
        " is answered `replayed` and does nothing, for 30 days. Without it the text acts"
        " every time it is posted: providers should send it.",
    ),
]
"""A body field (`message_id: MessageId = None`): the provider's message id, or None
(absent, or not a usable id)."""
