"""notify's settings, read from the environment (documented in the README)."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from counseling_shared.codes import NotificationChannel
from counseling_shared.settings import ServiceSettings, check_inbound_sms_secret
from counseling_shared.twilio_settings import SmsProviderKind, TwilioWebhookSettings, read_secret
from notify.adapters.provider_auth import ProviderAuth
from notify.adapters.whatsapp_content import load_content
from notify.domain.retry import RetryPolicy
from notify.domain.webhooks.delivery import WebhookRetryPolicy
from notify.domain.whatsapp_content import WhatsAppContent

Provider = Literal["sms", "sms_fallback", "messaging", "messaging_fallback"]
PROVIDERS: tuple[Provider, ...] = ("sms", "sms_fallback", "messaging", "messaging_fallback")
"""The four provider URLs, each with its own credential (SMS_WEBHOOK_AUTH, ...)."""
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class NotifySettings(ServiceSettings, TwilioWebhookSettings):
    _whatsapp_content: WhatsAppContent | None = PrivateAttr(default=None)
    service_name: str = "notify"
    port: int = Field(default=8003, alias="NOTIFY_PORT")

    smtp_host: str = Field(default="127.0.0.1", alias="SMTP_HOST")
    smtp_port: int = Field(default=25, alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, alias="SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_from: str = Field(default="counseling@localhost", alias="SMTP_FROM")
    smtp_starttls: bool | None = Field(
        default=None,
        alias="SMTP_STARTTLS",
        description="true: require STARTTLS; false: never; unset: use it when offered.",
    )
    smtp_tls: bool = Field(default=False, alias="SMTP_TLS", description="Implicit TLS (port 465).")
    smtp_timeout: float = Field(default=30.0, alias="SMTP_TIMEOUT", gt=0)

    sms_webhook_url: str = Field(default="http://127.0.0.1:8025/sms", alias="SMS_WEBHOOK_URL")
    messaging_webhook_url: str = Field(
        default="http://127.0.0.1:8025/messaging", alias="MESSAGING_WEBHOOK_URL"
    )
    sms_fallback_webhook_url: str | None = Field(
        default=None,
        alias="SMS_FALLBACK_WEBHOOK_URL",
        description="A second SMS provider: a message the first could not take (unreachable,"
        " a timeout, a 429 or 5xx) goes to it at once, in the same attempt.",
    )
    messaging_fallback_webhook_url: str | None = Field(
        default=None,
        alias="MESSAGING_FALLBACK_WEBHOOK_URL",
        description="A second messaging provider, used as SMS_FALLBACK_WEBHOOK_URL is.",
    )
    sms_webhook_auth_header: str = Field(
        default="Authorization",
        alias="SMS_WEBHOOK_AUTH_HEADER",
        description="The header that carries SMS_WEBHOOK_AUTH.",
    )
    sms_webhook_auth: SecretStr | None = Field(
        default=None,
        alias="SMS_WEBHOOK_AUTH",
        description="The whole header value for the SMS provider"
        " (`Bearer <token>`, `Basic <b64>`). Unset (and no file): no header.",
    )
    sms_webhook_auth_file: Path | None = Field(
        default=None,
        alias="SMS_WEBHOOK_AUTH_FILE",
        description="A file holding SMS_WEBHOOK_AUTH instead (a mounted Secret); read at start.",
    )
    sms_fallback_webhook_auth_header: str = Field(
        default="Authorization",
        alias="SMS_FALLBACK_WEBHOOK_AUTH_HEADER",
        description="The header that carries SMS_FALLBACK_WEBHOOK_AUTH.",
    )
    sms_fallback_webhook_auth: SecretStr | None = Field(
        default=None,
        alias="SMS_FALLBACK_WEBHOOK_AUTH",
        description="The whole header value for the second SMS provider"
        " (`Bearer <token>`, `Basic <b64>`). Unset (and no file): no header.",
    )
    sms_fallback_webhook_auth_file: Path | None = Field(
        default=None,
        alias="SMS_FALLBACK_WEBHOOK_AUTH_FILE",
        description="A file holding SMS_FALLBACK_WEBHOOK_AUTH instead (a mounted Secret);"
        " read at start.",
    )
    messaging_webhook_auth_header: str = Field(
        default="Authorization",
        alias="MESSAGING_WEBHOOK_AUTH_HEADER",
        description="The header that carries MESSAGING_WEBHOOK_AUTH.",
    )
    messaging_webhook_auth: SecretStr | None = Field(
        default=None,
        alias="MESSAGING_WEBHOOK_AUTH",
        description="The whole header value for the messaging provider"
        " (`Bearer <token>`, `Basic <b64>`). Unset (and no file): no header.",
    )
    messaging_webhook_auth_file: Path | None = Field(
        default=None,
        alias="MESSAGING_WEBHOOK_AUTH_FILE",
        description="A file holding MESSAGING_WEBHOOK_AUTH instead (a mounted Secret);"
        " read at start.",
    )
    messaging_fallback_webhook_auth_header: str = Field(
        default="Authorization",
        alias="MESSAGING_FALLBACK_WEBHOOK_AUTH_HEADER",
        description="The header that carries MESSAGING_FALLBACK_WEBHOOK_AUTH.",
    )
    messaging_fallback_webhook_auth: SecretStr | None = Field(
        default=None,
        alias="MESSAGING_FALLBACK_WEBHOOK_AUTH",
        description="The whole header value for the second messaging provider"
        " (`Bearer <token>`, `Basic <b64>`). Unset (and no file): no header.",
    )
    messaging_fallback_webhook_auth_file: Path | None = Field(
        default=None,
        alias="MESSAGING_FALLBACK_WEBHOOK_AUTH_FILE",
        description="A file holding MESSAGING_FALLBACK_WEBHOOK_AUTH instead (a mounted Secret);"
        " read at start.",
    )
    sms_provider: SmsProviderKind = Field(
        default="webhook",
        alias="SMS_PROVIDER",
        description="`webhook`: SMS go to SMS_WEBHOOK_URL; `twilio`: to Twilio's Messages API"
        " (TWILIO_*), and Twilio's signed webhooks are taken on `/inbound/sms/twilio` and"
        " `/inbound/sms/twilio/status`.",
    )
    sms_fallback_provider: SmsProviderKind = Field(
        default="webhook",
        alias="SMS_FALLBACK_PROVIDER",
        description="`webhook`: the second SMS provider is SMS_FALLBACK_WEBHOOK_URL (if set);"
        " `twilio`: it is Twilio (the first one then stays a webhook).",
    )
    messaging_provider: SmsProviderKind = Field(
        default="webhook",
        alias="MESSAGING_PROVIDER",
        description="`webhook`: messaging goes to MESSAGING_WEBHOOK_URL; `twilio`: it is"
        " WhatsApp through Twilio's Messages API (TWILIO_*, TWILIO_WHATSAPP_*), each message an"
        " approved template named in TWILIO_WHATSAPP_CONTENT; replies and receipts come on"
        " Twilio's routes as a text's do.",
    )
    twilio_whatsapp_from: str | None = Field(
        default=None,
        alias="TWILIO_WHATSAPP_FROM",
        description="The center's WhatsApp sender registered with Twilio (E.164, without"
        " `whatsapp:`); or set TWILIO_WHATSAPP_MESSAGING_SERVICE_SID instead.",
    )
    twilio_whatsapp_messaging_service_sid: str | None = Field(
        default=None,
        alias="TWILIO_WHATSAPP_MESSAGING_SERVICE_SID",
        description="A Messaging Service (`MG…`) whose sender pool holds the WhatsApp sender,"
        " instead of TWILIO_WHATSAPP_FROM.",
    )
    twilio_whatsapp_content: str | None = Field(
        default=None,
        alias="TWILIO_WHATSAPP_CONTENT",
        description="Which approved Twilio Content template (`HX…`) carries each message"
        " template and language, and what fills its variables: a JSON file's path, or the JSON"
        " itself (docs/whatsapp.md). A message without one goes by the client's next channel.",
    )
    twilio_account_sid: str | None = Field(
        default=None,
        alias="TWILIO_ACCOUNT_SID",
        description="The Twilio account (`AC…`) messages are sent from.",
    )
    twilio_api_key_sid: str | None = Field(
        default=None,
        alias="TWILIO_API_KEY_SID",
        description="An API key (`SK…`) to send with instead of the auth token (revocable on"
        " its own); TWILIO_AUTH_TOKEN is still needed to check Twilio's webhooks.",
    )
    twilio_api_key_secret: SecretStr | None = Field(
        default=None, alias="TWILIO_API_KEY_SECRET", description="The API key's secret."
    )
    twilio_api_key_secret_file: Path | None = Field(
        default=None,
        alias="TWILIO_API_KEY_SECRET_FILE",
        description="A file holding TWILIO_API_KEY_SECRET instead; read at start.",
    )
    twilio_from: str | None = Field(
        default=None,
        alias="TWILIO_FROM",
        description="The sender: the center's Twilio number (E.164); or set"
        " TWILIO_MESSAGING_SERVICE_SID instead.",
    )
    twilio_messaging_service_sid: str | None = Field(
        default=None,
        alias="TWILIO_MESSAGING_SERVICE_SID",
        description="A Messaging Service (`MG…`) that picks the sender, instead of TWILIO_FROM.",
    )
    twilio_api_url: str = Field(
        default="https://api.twilio.com",
        alias="TWILIO_API_URL",
        description="Twilio's REST API (another only for tests or a regional edge).",
    )
    page_calls: bool = Field(
        default=False,
        alias="PAGE_CALLS",
        description="`true`: each page also places a phone call through Twilio's Calls API"
        " (from TWILIO_FROM), at once with its SMS and email; crisis says the prompt and takes"
        " the key pressed (1 acknowledges). Needs Twilio as an SMS provider and PAGE_CALL_URL.",
    )
    page_call_delay: timedelta = Field(
        default=timedelta(0),
        alias="PAGE_CALL_DELAY",
        ge=timedelta(0),
        le=timedelta(minutes=30),
        description="How long after crisis requested a page its call waits (ISO 8601, e.g."
        " `PT2M`; at most `PT30M`): a page acknowledged or resolved meanwhile places no call."
        " The SMS and email never wait. `PT0S`: the call goes at once with them.",
    )
    page_call_url: str | None = Field(
        default=None,
        alias="PAGE_CALL_URL",
        description="crisis's public URL as Twilio calls it (crisis's TWILIO_WEBHOOK_BASE_URL):"
        " a page's call asks `<PAGE_CALL_URL>/inbound/voice/twilio?code=…` what to say.",
    )
    webhook_timeout: float = Field(default=15.0, alias="WEBHOOK_TIMEOUT", gt=0)
    inbound_sms_secret: SecretStr = Field(
        default=SecretStr(""),
        alias="INBOUND_SMS_SECRET",
        description="Shared secret the SMS provider sends (header `X-Webhook-Secret`) with a"
        " client's text to `POST /inbound/sms` (STOP, START, HELP, C or X to a reminder) and"
        " with delivery receipts to `POST /inbound/sms/status`. Empty: both answer 503, and"
        " reminders by text ask for no C or X unless Twilio is an SMS provider.",
    )
    sms_help_text: str | None = Field(
        default=None,
        alias="SMS_HELP_TEXT",
        description="The answer to a HELP text, in every language (the center's name and"
        " contact). Unset: a generic one in the keyword's language.",
    )

    alert_base_url: str = Field(
        default="http://127.0.0.1:8004",
        alias="ALERT_BASE_URL",
        description="Base of the alert link in a page when PageRequested carries none.",
    )
    notify_base_url: str = Field(
        default="http://127.0.0.1:8003",
        alias="NOTIFY_BASE_URL",
        description="Where notify is reached from outside: the base of the preferences link"
        " in the footer of a client's email.",
    )
    preferences_link_ttl: timedelta = Field(
        default=timedelta(days=400),
        alias="PREFERENCES_LINK_TTL",
        description="How long the preferences link in an email works (a year and a bit: a"
        " yearly client's last email still opens it; rotating LINK_SIGNING_KEY ends them all).",
    )
    directory_timeout: float = Field(
        default=2.0,
        alias="NOTIFY_DIRECTORY_TIMEOUT",
        gt=0,
        description="Seconds to wait for booking's answer on booking.directory.contact.",
    )

    crisis_workers: int = Field(default=2, alias="NOTIFY_CRISIS_WORKERS", ge=1)
    bulk_workers: int = Field(default=4, alias="NOTIFY_BULK_WORKERS", ge=1)
    bulk_claim: int = Field(
        default=8,
        alias="NOTIFY_BULK_CLAIM",
        ge=1,
        le=100,
        description="Most bulk messages a worker claims at once (one directory request).",
    )
    claim_lease: timedelta = Field(
        default=timedelta(minutes=2),
        alias="NOTIFY_CLAIM_LEASE",
        description="How long a worker owns a claimed notification; longer than any send.",
    )
    idle_poll: float = Field(
        default=1.0,
        alias="NOTIFY_IDLE_POLL",
        gt=0,
        description=(
            "Longest sleep (seconds) of a lane's idle worker between looks at its lane while the"
            " lane's LISTEN connection is down (while it is up: LISTENING_POLL for the bulk lane,"
            " the shorter of the two for the page lanes)."
        ),
    )

    max_attempts: int = Field(default=6, alias="NOTIFY_MAX_ATTEMPTS", ge=1)
    retry_base: timedelta = Field(
        default=timedelta(seconds=60),
        alias="NOTIFY_RETRY_BASE",
        description="Back-off before the 2nd attempt of bulk messages; doubles each time.",
    )
    crisis_retry_base: timedelta = Field(
        default=timedelta(seconds=5),
        alias="NOTIFY_CRISIS_RETRY_BASE",
        description="Back-off before the 2nd attempt of a page; doubles each time.",
    )
    retry_max_delay: timedelta = Field(default=timedelta(hours=1), alias="NOTIFY_RETRY_MAX_DELAY")
    defer_max_age: timedelta = Field(
        default=timedelta(hours=6),
        alias="NOTIFY_DEFER_MAX_AGE",
        gt=timedelta(0),
        description=(
            "How long a client's (or a staff notice's) message waits, without counting"
            " attempts, while notify's own side cannot answer (booking's directory, its copy of"
            " the staff), from its first such wait; a reminder waits until its appointment"
            " starts and a waitlist offer until it expires instead. Then it fails."
        ),
    )
    crisis_retry_max_delay: timedelta = Field(
        default=timedelta(minutes=1), alias="NOTIFY_CRISIS_RETRY_MAX_DELAY"
    )

    webhook_retry_base: timedelta = Field(
        default=timedelta(seconds=30),
        alias="WEBHOOK_RETRY_BASE",
        description="Back-off before a webhook's 2nd attempt; doubles each time, with jitter.",
    )
    webhook_retry_max_delay: timedelta = Field(
        default=timedelta(hours=1),
        alias="WEBHOOK_RETRY_MAX_DELAY",
        description="Longest wait between two attempts of a webhook delivery.",
    )
    webhook_retry_window: timedelta = Field(
        default=timedelta(hours=24),
        alias="WEBHOOK_RETRY_WINDOW",
        description=(
            "How long a webhook delivery is retried, from its first attempt, before it is given up."
        ),
    )
    webhook_disable_after: timedelta = Field(
        default=timedelta(days=5),
        alias="WEBHOOK_DISABLE_AFTER",
        gt=timedelta(0),
        description=(
            "A webhook receiver that failed every attempt for this long is disabled"
            " (`receiver_failing`); its queued deliveries wait for it to be re-enabled."
        ),
    )
    webhook_delivery_timeout: float = Field(
        default=10.0,
        alias="WEBHOOK_DELIVERY_TIMEOUT",
        gt=0,
        description="Seconds a webhook receiver has to answer one attempt.",
    )
    webhook_rotation_overlap: timedelta = Field(
        default=timedelta(hours=24),
        alias="WEBHOOK_ROTATION_OVERLAP",
        gt=timedelta(0),
        description=(
            "After a webhook's secret is rotated, how long deliveries are also signed with the"
            " previous one (so its receiver can switch without losing a message)."
        ),
    )
    webhook_workers: int = Field(
        default=4,
        alias="WEBHOOK_WORKERS",
        ge=1,
        description="Subscriptions attempted side by side (one delivery each at a time).",
    )
    webhook_gauge_interval: float = Field(
        default=15.0,
        alias="WEBHOOK_GAUGE_INTERVAL",
        gt=0,
        description=(
            "Seconds between reads of the webhook gauges from the database (each subscription's"
            " oldest pending delivery, subscriptions by status)."
        ),
    )

    webhook_allow_private_urls: bool | None = Field(
        default=None,
        alias="WEBHOOK_ALLOW_PRIVATE_URLS",
        description=(
            "Whether webhooks may go to private, loopback or link-local addresses; unset, only"
            " in DEVELOPMENT_MODE (where receivers run on localhost)."
        ),
    )

    @field_validator(
        *(f"{p}_webhook_auth{k}" for p in PROVIDERS for k in ("", "_file")),
        "twilio_api_key_secret",
        "twilio_api_key_secret_file",
        "twilio_account_sid",
        "twilio_api_key_sid",
        "twilio_from",
        "twilio_messaging_service_sid",
        "twilio_whatsapp_from",
        "twilio_whatsapp_messaging_service_sid",
        "twilio_whatsapp_content",
        "page_call_url",
        mode="before",
    )
    @classmethod
    def _empty_auth_is_unset(cls, value: object) -> object:
        # An empty variable (`X=` in a compose file or a ConfigMap) means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _one_credential_each(self) -> Self:
        for provider in PROVIDERS:
            if getattr(self, f"{provider}_webhook_auth") is not None and getattr(
                self, f"{provider}_webhook_auth_file"
            ):
                name = provider.upper() + "_WEBHOOK_AUTH"
                raise ValueError(f"set {name} or {name}_FILE, not both")
            # A bad header, value or file fails the start here, naming the setting.
            try:
                self.provider_auth(provider)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{provider.upper()}_WEBHOOK_AUTH: {exc}") from None
        if self.uses_twilio:
            self._check_twilio()
        if self.page_calls:
            self._check_page_calls()
        check_inbound_sms_secret(self.inbound_sms_secret, development_mode=self.development_mode)
        return self

    def _check_page_calls(self) -> None:
        if not self.sms_uses_twilio:
            raise ValueError("PAGE_CALLS needs Twilio as SMS_PROVIDER or SMS_FALLBACK_PROVIDER")
        if not self.twilio_from:
            raise ValueError("PAGE_CALLS needs TWILIO_FROM (a Messaging Service places no calls)")
        if not (self.page_call_url or "").startswith(("https://", "http://")):
            raise ValueError("PAGE_CALLS needs PAGE_CALL_URL (crisis's public URL for Twilio)")

    @property
    def sms_uses_twilio(self) -> bool:
        return "twilio" in (self.sms_provider, self.sms_fallback_provider)

    @property
    def uses_twilio(self) -> bool:
        """Twilio sends texts or WhatsApp messages: its signed webhooks are taken."""
        return self.sms_uses_twilio or self.messaging_provider == "twilio"

    @property
    def takes_sms_replies(self) -> bool:
        """Whether a client's text back reaches notify: through the provider webhook's secret
        (`POST /inbound/sms`) or through Twilio's signed posts (`POST /inbound/sms/twilio`)."""
        return NotificationChannel.SMS in self.reply_channels()

    def reply_channels(self) -> frozenset[NotificationChannel]:
        """The text channels whose replies reach notify: both with the provider webhook's
        secret or Twilio sending SMS (as before WhatsApp); messaging when Twilio sends it as
        WhatsApp (its replies come on Twilio's route whatever the SMS provider)."""
        channels = set()
        if self.inbound_sms_secret.get_secret_value() or self.sms_uses_twilio:
            channels |= {NotificationChannel.SMS, NotificationChannel.MESSAGING}
        if self.messaging_provider == "twilio":
            channels.add(NotificationChannel.MESSAGING)
        return frozenset(channels)

    def _check_twilio(self) -> None:
        if self.sms_provider == self.sms_fallback_provider == "twilio":
            raise ValueError("SMS_PROVIDER and SMS_FALLBACK_PROVIDER are both twilio")
        who = "SMS provider twilio" if self.sms_uses_twilio else "MESSAGING_PROVIDER=twilio"
        # Status callbacks are signed with the auth token.
        self.check_twilio_webhooks(who)
        if not self.twilio_account_sid:
            raise ValueError(f"{who} needs TWILIO_ACCOUNT_SID")
        if self.sms_uses_twilio and (
            (self.twilio_from is None) == (self.twilio_messaging_service_sid is None)
        ):
            raise ValueError("set one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID")
        if self.messaging_provider == "twilio":
            self._check_whatsapp()
        key_secret = (self.twilio_api_key_secret, self.twilio_api_key_secret_file)
        if all(v is not None for v in key_secret):
            raise ValueError("set TWILIO_API_KEY_SECRET or TWILIO_API_KEY_SECRET_FILE, not both")
        if (self.twilio_api_key_sid is None) != all(v is None for v in key_secret):
            raise ValueError("TWILIO_API_KEY_SID and its secret go together")
        try:
            self.twilio_basic_auth()
        except OSError as exc:
            raise ValueError(f"TWILIO_API_KEY_SECRET_FILE: {exc}") from None

    def _check_whatsapp(self) -> None:
        senders = (self.twilio_whatsapp_from, self.twilio_whatsapp_messaging_service_sid)
        if (senders[0] is None) == (senders[1] is None):
            raise ValueError(
                "MESSAGING_PROVIDER=twilio needs one of TWILIO_WHATSAPP_FROM and"
                " TWILIO_WHATSAPP_MESSAGING_SERVICE_SID"
            )
        if self.twilio_whatsapp_from is not None and not _E164.match(self.twilio_whatsapp_from):
            raise ValueError(
                "TWILIO_WHATSAPP_FROM: the WhatsApp sender's number in E.164 (+15551234567),"
                " without whatsapp:"
            )
        if self.twilio_whatsapp_content is None:
            raise ValueError(
                "MESSAGING_PROVIDER=twilio needs TWILIO_WHATSAPP_CONTENT (the approved"
                " templates: a JSON file's path or the JSON)"
            )
        self._whatsapp_content = load_content(self.twilio_whatsapp_content)

    def whatsapp_content(self) -> WhatsAppContent:
        """TWILIO_WHATSAPP_CONTENT as read and checked at start (MESSAGING_PROVIDER=twilio)."""
        if self._whatsapp_content is None:
            raise ValueError("TWILIO_WHATSAPP_CONTENT is read only with MESSAGING_PROVIDER=twilio")
        return self._whatsapp_content

    def whatsapp_sender(self) -> dict[str, str]:
        """What names the WhatsApp sender in a Messages API post."""
        if self.twilio_whatsapp_messaging_service_sid:
            return {"MessagingServiceSid": self.twilio_whatsapp_messaging_service_sid}
        return {"From": f"whatsapp:{self.twilio_whatsapp_from or ''}"}

    def twilio_basic_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials for Twilio's API: the API key when set, else the account SID
        and auth token."""
        if self.twilio_api_key_sid:
            secret = read_secret(self.twilio_api_key_secret, self.twilio_api_key_secret_file)
            return self.twilio_api_key_sid, secret
        return self.twilio_account_sid or "", self.twilio_token()

    def provider_auth(self, provider: "Provider") -> ProviderAuth | None:
        """The header for one provider URL, its secret read from the env or its file (a
        missing file fails the start: sending unauthenticated would only collect 401s)."""
        secret: SecretStr | None = getattr(self, f"{provider}_webhook_auth")
        path: Path | None = getattr(self, f"{provider}_webhook_auth_file")
        if secret is None and path is None:
            return None
        return ProviderAuth(
            getattr(self, f"{provider}_webhook_auth_header"), read_secret(secret, path)
        )

    @property
    def webhooks_reach_private_addresses(self) -> bool:
        allowed = self.webhook_allow_private_urls
        return self.development_mode if allowed is None else allowed

    @field_validator(
        "webhook_retry_base",
        "webhook_retry_max_delay",
        "webhook_retry_window",
        "webhook_disable_after",
        "webhook_rotation_overlap",
        "claim_lease",
        "retry_base",
        "crisis_retry_base",
        "retry_max_delay",
        "crisis_retry_max_delay",
        "defer_max_age",
        mode="before",
    )
    @classmethod
    def _seconds_or_iso8601(cls, value: Any) -> Any:
        """`PT30S` or a plain number of seconds (`30`, `0.2`), as operators tend to write."""
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return value
        return value

    def webhook_retry(self) -> WebhookRetryPolicy:
        return WebhookRetryPolicy(
            self.webhook_retry_base,
            max(self.webhook_retry_max_delay, self.webhook_retry_base),
            self.webhook_retry_window,
            self.webhook_disable_after,
        )

    def bulk_retry(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts, self.retry_base, max(self.retry_max_delay, self.retry_base)
        )

    def fallback_channels(self) -> frozenset[str]:
        """The channels with a second provider (a page whose receipt failed goes by it)."""
        urls = {
            "sms": self.sms_fallback_webhook_url,
            "messaging": self.messaging_fallback_webhook_url,
        }
        has = {channel for channel, url in urls.items() if url}
        if self.sms_fallback_provider == "twilio":
            has.add("sms")
        return frozenset(has)

    def crisis_retry(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts,
            self.crisis_retry_base,
            max(self.crisis_retry_max_delay, self.crisis_retry_base),
        )
