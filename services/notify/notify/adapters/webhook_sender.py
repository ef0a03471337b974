"""Posting one signed webhook attempt to a receiver."""

import httpx

from notify.adapters.webhook_addresses import RefusedAddress, check_public
from notify.domain.webhooks.delivery import AttemptResult


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, *, reach_private: bool = False) -> None:
        self._client = client
        self._reach_private = reach_private

    async def post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
        if not self._reach_private:
            # Checked again at each attempt: the name may point elsewhere since it was
            # subscribed. (httpx resolves it once more to connect; see docs/security.md.)
            try:
                await check_public(url)
            except RefusedAddress:
                return AttemptResult(None, "private_address")
        try:
            response = await self._client.post(
                url,
                content=body.encode(),
                headers={**headers, "content-type": "application/json"},
            )
        except httpx.TimeoutException:
            return AttemptResult(None, "http_timeout")
        except httpx.HTTPError:
            return AttemptResult(None, "http_unreachable")
        return AttemptResult(response.status_code)
