"""SMS and messaging through HTTP providers: `POST {"to", "body", "idempotency_key"}`."""

import httpx

from counseling_shared.logs import get_logger
from notify.adapters.provider_auth import ProviderAuth
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.metrics import PROVIDER_AUTH_REJECTIONS

log = get_logger(__name__)

AUTH_REFUSALS = frozenset({401, 403})
"""The provider refused notify's credential, not the message: a configuration error."""


class WebhookProvider:
    """One provider URL. The idempotency key is the notification id (`<id>:<n>` for a page
    sent again after a failed receipt), so a provider can drop a repeated send. `channel` and
    `role` (`primary`, `fallback`) name it in logs and metrics."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        auth: ProviderAuth | None = None,
        *,
        channel: str = "sms",
        role: str = "primary",
    ) -> None:
        self._client = client
        self._url = url
        self._auth = auth
        self._channel = channel
        self._role = role

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        key = message.idempotency_key
        headers = {"Idempotency-Key": key}
        if self._auth is not None:
            headers[self._auth.header] = self._auth.value
        try:
            response = await self._client.post(
                self._url,
                json={"to": message.to, "body": message.body, "idempotency_key": key},
                headers=headers,
            )
        except httpx.TimeoutException:
            return DeliveryOutcome.transient("http_timeout")
        except httpx.HTTPError:
            return DeliveryOutcome.transient("http_unreachable")
        if response.status_code in AUTH_REFUSALS:
            # Loud, since nothing on this provider gets through until someone fixes it; never
            # the credential itself, nor the URL (it may hold a token too).
            PROVIDER_AUTH_REJECTIONS.labels(self._channel, self._role).inc()
            log.error(
                "provider_auth_rejected",
                channel=self._channel,
                provider=self._role,
                status=response.status_code,
                header_sent=self._auth is not None,
                notification_id=key,
            )
        return outcome_of_status(response.status_code)


def outcome_of_status(status: int) -> DeliveryOutcome:
    """2xx sent; 429 and 5xx worth retrying; any other answer will not change on its own,
    except 401/403: notify's credential was refused, which says nothing about the message.
    Retried (and handed to a fallback provider at once) so that messages go out once an
    operator fixes the credential, instead of failing by the thousand meanwhile."""
    if 200 <= status < 300:
        return DeliveryOutcome.sent()
    if status == 429 or status >= 500 or status in AUTH_REFUSALS:
        return DeliveryOutcome.transient(f"http_{status}")
    return DeliveryOutcome.permanent(f"http_{status}")
