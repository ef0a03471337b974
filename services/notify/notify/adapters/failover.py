"""A channel with a second provider (`SMS_FALLBACK_WEBHOOK_URL`,
`MESSAGING_FALLBACK_WEBHOOK_URL`).

When the first provider fails in a way worth retrying (unreachable, a timeout, a 429 or 5xx),
the same message goes to the second at once, in the same attempt: a page does not wait for the
first provider's back-off. Both get the same idempotency key, but they are different
companies: when the first took the message after all (it timed out answering), the recipient
may get it twice, which for a page is the better failure. A refusal for good (a 4xx) is not
handed on: it is about the message, not the provider.
"""

from counseling_shared.logs import get_logger
from notify.application.ports import ChannelProvider, OutgoingMessage
from notify.domain.codes import AttemptOutcome
from notify.domain.notification import DeliveryOutcome
from notify.metrics import PROVIDER_FAILOVERS

log = get_logger(__name__)


class FailoverProvider:
    def __init__(self, channel: str, first: ChannelProvider, fallback: ChannelProvider) -> None:
        self._channel = channel
        self._first = first
        self._fallback = fallback

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        if message.avoid_provider == "primary":
            # The primary took it before and its carrier did not deliver: the other one first.
            again = await self._fallback.send(message)
            if again.kind is not AttemptOutcome.TRANSIENT_FAILURE:
                return again
            log.warning(
                "receipt_resend_fallback_failed",
                channel=self._channel,
                notification_id=str(message.notification_id),
                fallback_error=again.error_code,
            )
            return await self._first.send(message)
        first = await self._first.send(message)
        if first.kind is not AttemptOutcome.TRANSIENT_FAILURE:
            return first
        second = await self._fallback.send(message)
        PROVIDER_FAILOVERS.labels(self._channel, second.kind.value).inc()
        log.warning(
            "provider_failover",
            channel=self._channel,
            notification_id=str(message.notification_id),
            first_error=first.error_code,
            fallback_outcome=second.kind.value,
            fallback_error=second.error_code,
        )
        if second.kind is AttemptOutcome.SENT:
            return second
        # Still worth retrying while the first provider's failure was: it may come back.
        return DeliveryOutcome.transient(f"{first.error_code}+fallback_{second.error_code}")
