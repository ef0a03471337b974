"""SMS through Twilio's Messages API (`SMS_PROVIDER=twilio`).

`POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded (`To`, `Body`,
`From` or `MessagingServiceSid`, `StatusCallback`), HTTP Basic auth (the account SID and auth
token, or an API key). The status callback URL carries the idempotency key (the notification
id, `<id>:<n>` for a page sent again after a failed receipt) and which provider sent it, so
Twilio's receipts map back to the notification.

Twilio takes no idempotency key, so a retry after an answer that never came could text the
recipient twice. A send is written down before it is posted (`unknown_outcomes`, in notify's
database) and crossed out when Twilio answers; a send whose outcome stays unknown (a timeout
after the request went out, a dropped connection, a 5xx, the page lane's time cap, notify
stopped mid-send) is still on record at the next attempt of that key, in this process or after
a restart, and that attempt first asks Twilio for the recent messages to the number (from our
number, when we send from one) and sends nothing when one with the same body was created
since. When the look-up fails it sends (a double text being the better failure for a page),
counted in `notify_twilio_lookups_total`. A connection refused or a connect timeout is not
remembered (nothing reached Twilio).
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from notify.adapters.twilio_lookup import created_since, listed
from notify.adapters.unknown_outcomes import UnknownOutcomes, Unsure
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.domain.twilio_errors import CREDENTIAL_REFUSALS, outcome_of_send
from notify.metrics import PROVIDER_AUTH_REJECTIONS, TWILIO_LOOKUPS

log = get_logger(__name__)

STATUS_PATH = "/inbound/sms/twilio/status"


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
        outcomes: UnknownOutcomes | None = None,
    ) -> None:
        self._client = client
        self._messages = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(*auth)
        self._sender = sender  # {"From": …} or {"MessagingServiceSid": …}
        self._callback = callback_base.rstrip("/") + STATUS_PATH
        self._channel = channel
        self._role = role
        self._outcomes = outcomes or UnknownOutcomes.in_process()

    def callback_url(self, key: str) -> str:
        return f"{self._callback}?{urlencode({'key': key, 'provider': self._role})}"

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        key = message.idempotency_key
        to = normalise_phone(message.to)  # Twilio wants E.164: `+33612345678`
        unsure = await self._outcomes.begin(
            key,
            message.notification_id,
            channel="sms",
            phone=to,
            look_for=message.body,
            now=datetime.now(UTC),
        )
        if unsure is not None and await self._already_taken(message, to, unsure):
            await self._outcomes.forget(key)
            log.warning("twilio_resend_avoided", notification_id=key, provider=self._role)
            return DeliveryOutcome.sent()
        form = {
            "To": to,
            "Body": message.body,
            "StatusCallback": self.callback_url(key),
            **self._sender,
        }
        try:
            response = await self._client.post(self._messages, data=form, auth=self._auth)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if unsure is None:
                await self._outcomes.forget(key)  # never reached Twilio
            return DeliveryOutcome.transient("http_unreachable")
        except httpx.TimeoutException:
            return DeliveryOutcome.transient("http_timeout")
        except httpx.HTTPError:
            return DeliveryOutcome.transient("http_unreachable")
        # (asyncio.CancelledError, the page lane's time cap, leaves the record in place.)
        if response.status_code < 500:
            await self._outcomes.forget(key)  # Twilio answered: it took it or refused it
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

    async def _already_taken(self, message: OutgoingMessage, to: str, unsure: Unsure) -> bool:
        """Whether Twilio holds a message to this number with the body sent then, created
        since the send whose answer never came. False when it cannot tell (then it goes)."""
        params = {"To": to, "PageSize": "50"}
        if "From" in self._sender:  # a Messaging Service picks the sender from its pool
            params["From"] = self._sender["From"]
        found = await listed(self._client, self._messages, params, self._auth, "messages")
        if found is None:
            TWILIO_LOOKUPS.labels("sms", "failed").inc()
            log.warning("twilio_lookup_failed", notification_id=message.idempotency_key)
            return False
        taken = any(
            isinstance(m, dict) and unsure.matches(m.get("body")) and created_since(m, unsure)
            for m in found
        )
        TWILIO_LOOKUPS.labels("sms", "found" if taken else "not_found").inc()
        return taken


def _code_of(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
