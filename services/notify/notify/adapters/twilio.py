"""SMS through Twilio's Messages API (`SMS_PROVIDER=twilio`).

`POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded (`To`, `Body`,
`From` or `MessagingServiceSid`, `StatusCallback`), HTTP Basic auth (the account SID and auth
token, or an API key). The status callback URL carries the idempotency key (the notification
id, `<id>:<n>` for a page sent again after a failed receipt) and which provider sent it, so
Twilio's receipts map back to the notification.

Twilio takes no idempotency key, so a retry after an answer that never came could text the
recipient twice. A send whose outcome is unknown (a timeout after the request went out, a
dropped connection, a 5xx, the page lane's time cap) is remembered by its key; the next attempt
of that key first asks Twilio for the recent messages to the number and sends nothing when one
with the same body was created since. Remembered in this process only (a restart forgets, and
the lookup itself can fail: then it sends, a double text being the better failure for a page);
a connection refused or a connect timeout is not remembered (nothing reached Twilio).
"""

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.domain.twilio_errors import CREDENTIAL_REFUSALS, outcome_of_send
from notify.metrics import PROVIDER_AUTH_REJECTIONS

log = get_logger(__name__)

STATUS_PATH = "/inbound/sms/twilio/status"
_UNSURE_KEPT = 10_000  # keys of unknown outcome remembered at most (oldest forgotten)
_CLOCK_SKEW = timedelta(minutes=2)  # Twilio's date_created against our clock


class TwilioProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str,
        account_sid: str,
        auth: tuple[str, str],
        sender: dict[str, str],
        callback_base: str,
        channel: str = "sms",
        role: str = "primary",
    ) -> None:
        self._client = client
        self._messages = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(*auth)
        self._sender = sender  # {"From": …} or {"MessagingServiceSid": …}
        self._callback = callback_base.rstrip("/") + STATUS_PATH
        self._channel = channel
        self._role = role
        self._unsure: OrderedDict[str, datetime] = OrderedDict()

    def callback_url(self, key: str) -> str:
        return f"{self._callback}?{urlencode({'key': key, 'provider': self._role})}"

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        key = message.idempotency_key
        since = self._unsure.get(key)
        if since is not None and await self._already_taken(message, since):
            self._unsure.pop(key, None)
            log.warning("twilio_resend_avoided", notification_id=key, provider=self._role)
            return DeliveryOutcome.sent()
        self._remember(key, since or datetime.now(UTC))
        form = {
            "To": normalise_phone(message.to),  # Twilio wants E.164: `+33612345678`
            "Body": message.body,
            "StatusCallback": self.callback_url(key),
            **self._sender,
        }
        try:
            response = await self._client.post(self._messages, data=form, auth=self._auth)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if since is None:
                self._unsure.pop(key, None)  # never reached Twilio
            return DeliveryOutcome.transient("http_unreachable")
        except httpx.TimeoutException:
            return DeliveryOutcome.transient("http_timeout")
        except httpx.HTTPError:
            return DeliveryOutcome.transient("http_unreachable")
        # (asyncio.CancelledError, the page lane's time cap, leaves the key remembered.)
        if response.status_code < 500:
            self._unsure.pop(key, None)  # Twilio answered: it took it or refused it
        code = _code_of(response)
        if response.status_code in CREDENTIAL_REFUSALS:
            PROVIDER_AUTH_REJECTIONS.labels(self._channel, self._role).inc()
            log.error(
                "provider_auth_rejected",
                channel=self._channel,
                provider=self._role,
                status=response.status_code,
                twilio_code=code,
                notification_id=key,
            )
        return outcome_of_send(response.status_code, code)

    def _remember(self, key: str, since: datetime) -> None:
        self._unsure[key] = since
        self._unsure.move_to_end(key)
        while len(self._unsure) > _UNSURE_KEPT:
            self._unsure.popitem(last=False)

    async def _already_taken(self, message: OutgoingMessage, since: datetime) -> bool:
        """Whether Twilio holds a message to this number with this body, created since the
        send whose answer never came. False when it cannot tell (then the message goes)."""
        try:
            response = await self._client.get(
                self._messages,
                params={"To": normalise_phone(message.to), "PageSize": "50"},
                auth=self._auth,
            )
            page = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            page = None
        found = page.get("messages") if isinstance(page, dict) else None
        if not isinstance(found, list):
            log.warning("twilio_lookup_failed", notification_id=message.idempotency_key)
            return False
        return any(_same(m, message.body, since - _CLOCK_SKEW) for m in found)


def _same(found: Any, body: str, since: datetime) -> bool:
    if not isinstance(found, dict) or found.get("body") != body:
        return False
    try:
        created = parsedate_to_datetime(str(found.get("date_created")))
    except (TypeError, ValueError):
        return False
    return created >= since


def _code_of(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
