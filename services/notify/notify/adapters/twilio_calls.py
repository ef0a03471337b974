"""A page's phone call through Twilio's Calls API (`PAGE_CALLS`).

`POST {TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Calls.json`, form-encoded `To`, `From`
(`TWILIO_FROM`), `Url` (what Twilio asks when the call is answered: crisis's
`<PAGE_CALL_URL>/inbound/voice/twilio?code=<reply code>`, which says the prompt and takes the
key), `StatusCallback` (crisis's `…/status?code=`, the call's final status for the page's
timeline), `MachineDetection=Enable` (an answering machine is told nothing and acknowledges
nothing). notify holds the phone number; crisis knows the page, the language and who may
acknowledge, so the call is placed here and spoken there.

Twilio's 201 means the call was placed, which is the notification's `sent`: whether anyone
answered is crisis's to record (the status callback), and only a key press acknowledges.
Answers are read as the Messages API's (`twilio_errors.outcome_of_send`). As for texts, a
call is written down before it is placed (`unknown_outcomes`, in notify's database) and
crossed out when Twilio answers; the next attempt of a call whose answer never came (a
timeout, a 5xx, the page lane's cap, notify stopped mid-call), in this process or after a
restart, first lists Twilio's calls to the number from our number that started since that day
(`GET …/Calls.json?To=&From=&StartTime>=`) and rings nothing when one was created since the
attempt. A failed look-up calls again (`notify_twilio_lookups_total`): a second call is the
better failure for a page than none.
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from notify.adapters.twilio_lookup import CLOCK_SKEW, created_since, listed
from notify.adapters.unknown_outcomes import UnknownOutcomes, Unsure
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.domain.twilio_errors import CREDENTIAL_REFUSALS, outcome_of_send
from notify.metrics import PROVIDER_AUTH_REJECTIONS, TWILIO_LOOKUPS

log = get_logger(__name__)

CALL_PATH = "/inbound/voice/twilio"
RING_SECONDS = 30  # Twilio's `Timeout`: how long it rings before `no-answer`


class TwilioCallProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str,
        account_sid: str,
        auth: tuple[str, str],
        caller: str,
        crisis_url: str,
        outcomes: UnknownOutcomes | None = None,
    ) -> None:
        self._client = client
        self._calls = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls.json"
        self._auth = httpx.BasicAuth(*auth)
        self._caller = caller
        self._crisis = crisis_url.rstrip("/") + CALL_PATH
        self._outcomes = outcomes or UnknownOutcomes.in_process()

    def urls(self, code: str) -> tuple[str, str]:
        """The call's `Url` and `StatusCallback` at crisis, the page's code in both."""
        query = urlencode({"code": code})
        return f"{self._crisis}?{query}", f"{self._crisis}/status?{query}"

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        if not message.page_code:
            # A call without a code could never be acknowledged: crisis would not know it.
            return DeliveryOutcome.permanent("no_reply_code")
        key = message.idempotency_key
        to = normalise_phone(message.to)
        unsure = await self._outcomes.begin(
            key,
            message.notification_id,
            channel="voice",
            phone=to,
            look_for=self._caller,
            now=datetime.now(UTC),
        )
        if unsure is not None and await self._already_placed(key, to, unsure):
            await self._outcomes.forget(key)
            log.warning("twilio_recall_avoided", notification_id=key)
            return DeliveryOutcome.sent()
        answer_url, status_url = self.urls(message.page_code)
        form = {
            "To": to,
            "From": self._caller,
            "Url": answer_url,
            "Method": "POST",
            "StatusCallback": status_url,
            "StatusCallbackMethod": "POST",
            "MachineDetection": "Enable",
            "Timeout": str(RING_SECONDS),
        }
        try:
            response = await self._client.post(self._calls, data=form, auth=self._auth)
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
            await self._outcomes.forget(key)  # Twilio answered: it placed it or refused it
        code = _code_of(response)
        if response.status_code in CREDENTIAL_REFUSALS:
            PROVIDER_AUTH_REJECTIONS.labels("voice", "primary").inc()
            log.error(
                "provider_auth_rejected",
                channel="voice",
                provider="primary",
                status=response.status_code,
                twilio_code=code,
                notification_id=message.idempotency_key,
            )
        return outcome_of_send(response.status_code, code)

    async def _already_placed(self, key: str, to: str, unsure: Unsure) -> bool:
        """Whether Twilio holds a call to this number from our number, created since the
        call whose answer never came. False when it cannot tell (then it rings again)."""
        day = (unsure.since - CLOCK_SKEW).astimezone(UTC).date().isoformat()
        # `StartTime>=` is a day (UTC): the exact instant is checked on `date_created` below.
        params = {"To": to, "From": self._caller, "StartTime>": day, "PageSize": "50"}
        found = await listed(self._client, self._calls, params, self._auth, "calls")
        if found is None:
            TWILIO_LOOKUPS.labels("voice", "failed").inc()
            log.warning("twilio_lookup_failed", notification_id=key, channel="voice")
            return False
        placed = any(
            isinstance(c, dict) and unsure.matches(c.get("from")) and created_since(c, unsure)
            for c in found
        )
        TWILIO_LOOKUPS.labels("voice", "found" if placed else "not_found").inc()
        return placed


def _code_of(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
