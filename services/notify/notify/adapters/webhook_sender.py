"""Posting one signed webhook attempt to a receiver."""

import httpx

from notify.domain.webhooks.delivery import AttemptResult


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
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
