"""SMS and messaging through HTTP providers: `POST {"to", "body", "idempotency_key"}`."""

import httpx

from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome


class WebhookProvider:
    """One provider URL. The idempotency key is the notification id, so a provider can drop a
    repeated send."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self._url = url

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        key = str(message.notification_id)
        try:
            response = await self._client.post(
                self._url,
                json={"to": message.to, "body": message.body, "idempotency_key": key},
                headers={"Idempotency-Key": key},
            )
        except httpx.TimeoutException:
            return DeliveryOutcome.transient("http_timeout")
        except httpx.HTTPError:
            return DeliveryOutcome.transient("http_unreachable")
        return outcome_of_status(response.status_code)


def outcome_of_status(status: int) -> DeliveryOutcome:
    """2xx sent; 429 and 5xx worth retrying; any other answer will not change on its own."""
    if 200 <= status < 300:
        return DeliveryOutcome.sent()
    if status == 429 or status >= 500:
        return DeliveryOutcome.transient(f"http_{status}")
    return DeliveryOutcome.permanent(f"http_{status}")
