"""The `messaging` channel as WhatsApp through Twilio's Messages API
(`MESSAGING_PROVIDER=twilio`).

The same endpoint, credentials, status callbacks and unknown-outcome records as SMS by Twilio
(`twilio`), with `To=whatsapp:<E.164>` and `From=whatsapp:<TWILIO_WHATSAPP_FROM>` (or a
Messaging Service). Our messages open a conversation (a confirmation, a reminder), which
WhatsApp allows only with a template it approved: each goes as `ContentSid` and
`ContentVariables` (`TWILIO_WHATSAPP_CONTENT`, `domain/whatsapp_content`), never as `Body`.

A message whose template and language have no mapping, or whose every mapped entry misses a
value (a check-in without its link, mapped only with it), is refused for good without calling
Twilio (`whatsapp_template_unmapped`, `whatsapp_variable_missing`): the courier sends a
client's message by their next channel at once, and `notify_whatsapp_unsendable_total` counts
it.

Twilio's list of messages does not show a template's variables, so a send of unknown outcome
is looked for by its recipient (`to`), as a page's call is by its caller: any message to the
number created since, that no other send answered for.
"""

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from notify.adapters.templates import JinjaRenderer
from notify.adapters.twilio import STATUS_PATH
from notify.adapters.twilio_lookup import counted, listed, post_recorded, went
from notify.adapters.unknown_outcomes import UnknownOutcomes, Unsure
from notify.application.ports import OutgoingMessage, TemplateMissing
from notify.domain.notification import DeliveryOutcome
from notify.domain.whatsapp_content import ContentTemplate, WhatsAppContent, variable_value
from notify.metrics import WHATSAPP_UNSENDABLE

log = get_logger(__name__)

PREFIX = "whatsapp:"
UNMAPPED = "whatsapp_template_unmapped"
VARIABLE_MISSING = "whatsapp_variable_missing"
CHANNEL = "messaging"


class TwilioWhatsAppProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str,
        account_sid: str,
        auth: tuple[str, str],
        sender: dict[str, str],
        callback_base: str,
        content: WhatsAppContent,
        renderer: JinjaRenderer | None = None,
        role: str = "primary",
        outcomes: UnknownOutcomes | None = None,
    ) -> None:
        self._client = client
        self._messages = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(*auth)
        self._sender = sender  # {"From": "whatsapp:+…"} or {"MessagingServiceSid": …}
        self._callback = callback_base.rstrip("/") + STATUS_PATH
        self._content = content
        self._renderer = renderer or JinjaRenderer()
        self._role = role
        self._outcomes = outcomes or UnknownOutcomes.in_process()

    def callback_url(self, key: str) -> str:
        return f"{self._callback}?{urlencode({'key': key, 'provider': self._role})}"

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        chosen = self._content_of(message)
        if isinstance(chosen, DeliveryOutcome):
            return chosen
        sid, variables = chosen
        key = message.idempotency_key
        to = PREFIX + normalise_phone(message.to)
        unsure = await self._outcomes.begin(
            key,
            message.notification_id,
            channel=CHANNEL,
            phone=normalise_phone(message.to),
            look_for=to,
            now=datetime.now(UTC),
        )
        if unsure is not None and await self._already_taken(key, to, unsure):
            log.warning("twilio_resend_avoided", notification_id=key, channel=CHANNEL)
            return DeliveryOutcome.sent()
        form = {
            "To": to,
            "ContentSid": sid,
            "ContentVariables": json.dumps(variables, ensure_ascii=False),
            "StatusCallback": self.callback_url(key),
            **self._sender,
        }
        return await post_recorded(
            self._client,
            self._messages,
            form,
            self._auth,
            outcomes=self._outcomes,
            key=key,
            unsure=unsure,
            channel=CHANNEL,
            role=self._role,
        )

    def _content_of(self, message: OutgoingMessage) -> tuple[str, dict[str, str]] | DeliveryOutcome:
        """The Content SID and variables to send, or why the message cannot go by WhatsApp."""
        source = message.source
        template = source.template if source else "unknown"
        candidates = self._content.candidates(template, message.language) if source else ()
        if source is None or not candidates:
            return _unsendable(message, template, UNMAPPED)
        for candidate in candidates:
            filled = self._filled(candidate, message)
            if filled is not None:
                return candidate.content_sid, filled
        return _unsendable(message, template, VARIABLE_MISSING)

    def _filled(
        self, candidate: ContentTemplate, message: OutgoingMessage
    ) -> dict[str, str] | None:
        """The candidate's variables, each with its value; None when one has none."""
        source = message.source
        assert source is not None
        expressions = [e for _, e in candidate.variables]
        try:
            computed = self._renderer.evaluate(
                expressions, source.params, source.locale, source.zone
            )
        except TemplateMissing:
            return None
        values = [variable_value(v) for v in computed]
        if any(v is None for v in values):
            return None
        return {k: v for (k, _), v in zip(candidate.variables, values, strict=True) if v}

    async def _already_taken(self, key: str, to: str, unsure: Unsure) -> bool:
        """Whether Twilio holds a message to this WhatsApp number created since the send whose
        answer never came, that no other send answered for. False when it cannot tell."""
        params = {"To": to, "PageSize": "50"}
        if "From" in self._sender:
            params["From"] = self._sender["From"]
        found = await listed(self._client, self._messages, params, self._auth, "messages")
        return counted(CHANNEL, key, await went(self._outcomes, key, unsure, found, "to"))


def _unsendable(message: OutgoingMessage, template: str, reason: str) -> DeliveryOutcome:
    WHATSAPP_UNSENDABLE.labels(template, message.language, reason).inc()
    log.warning(
        "whatsapp_unsendable",
        notification_id=str(message.notification_id),
        template=template,
        language=message.language,
        reason=reason,
    )
    return DeliveryOutcome.permanent(reason)


def without_prefix(address: str) -> str:
    """`whatsapp:+33612345678` → `+33612345678` (Twilio's inbound `From` of a WhatsApp
    message); any other address as it is."""
    text = address.strip()
    return text[len(PREFIX) :] if text.lower().startswith(PREFIX) else text
