"""Settings of the crisis service, read from the environment."""

from typing import Self

from pydantic import Field, SecretStr, model_validator

from counseling_shared.settings import ServiceSettings, check_inbound_sms_secret
from counseling_shared.twilio_settings import SmsProviderKind, TwilioWebhookSettings

# Seconds: how long a page can wait on crisis's relay if its LISTEN connection died unseen.
PAGE_PATH_POLL = 1.0


class CrisisSettings(ServiceSettings, TwilioWebhookSettings):
    service_name: str = "crisis"
    port: int = Field(default=8004, alias="CRISIS_PORT")
    alert_base_url: str = Field(
        default="http://127.0.0.1:8004",
        alias="ALERT_BASE_URL",
        description="Where on-call staff open an alert; pages link to `<this>/alerts/{id}`.",
    )
    require_known_staff: bool = Field(
        default=True,
        alias="CRISIS_REQUIRE_KNOWN_STAFF",
        description="Refuse a policy naming staff not registered at the site (StaffRegistered).",
    )
    staff_wait_seconds: float = Field(
        default=3.0,
        alias="CRISIS_STAFF_WAIT_SECONDS",
        ge=0,
        description="How long a policy naming staff crisis has not heard of yet waits for"
        " booking's StaffRegistered before it is refused (staff are often registered just"
        " before the policy is set).",
    )
    require_known_client: bool = Field(
        default=True,
        alias="CRISIS_REQUIRE_KNOWN_CLIENT",
        description="Refuse (422) a risk flag posted for a client not registered at the flag's"
        " site (booking's ClientRegistered).",
    )
    client_wait_seconds: float = Field(
        default=3.0,
        alias="CRISIS_CLIENT_WAIT_SECONDS",
        ge=0,
        description="How long a risk flag naming a client crisis has not heard of yet waits for"
        " booking's ClientRegistered before booking's directory is asked.",
    )
    directory_timeout: float = Field(
        default=1.5,
        alias="CRISIS_DIRECTORY_TIMEOUT",
        gt=0,
        description="Seconds to wait for booking's directory (booking.directory.contact) when a"
        " posted flag names a client crisis has not heard of; without an answer the flag is"
        " accepted.",
    )
    gauge_interval: float = Field(
        default=5.0,
        alias="CRISIS_GAUGE_INTERVAL",
        gt=0,
        description="Seconds between refreshes of the open-alert, overdue-step and unsent-page"
        " gauges.",
    )
    audit_interval: float = Field(
        default=5.0,
        alias="CRISIS_AUDIT_INTERVAL",
        gt=0,
        description="Seconds between passes of the escalation auditor, which repairs an open"
        " alert left without a next step (crisis_alerts_without_next_step_total).",
    )
    page_unsent_after: float = Field(
        default=30.0,
        alias="CRISIS_PAGE_UNSENT_AFTER_SECONDS",
        gt=0,
        description="A page of an open alert with neither a delivery nor a failure this many"
        " seconds after it was requested counts in crisis_pages_unsent (alert CrisisPageNotSent).",
    )
    calendar_link_ttl: str = Field(
        default="P365D",
        alias="CRISIS_CALENDAR_LINK_TTL",
        description="How long a schedule's signed calendar-feed link stays valid (ISO 8601).",
    )
    oncall_check_interval: float = Field(
        default=86400.0,
        alias="CRISIS_ONCALL_CHECK_INTERVAL",
        gt=0,
        description="Seconds between runs of the on-call look-ahead check (7 days ahead: hours"
        " a site's first level resolves to nobody, on-call staff with fewer than two channels)."
        " It also runs at start-up.",
    )
    page_link_ttl: str = Field(
        default="PT12H",
        alias="PAGE_LINK_TTL",
        description="How long a page's signed acknowledgement link (`ack_url`) stays valid"
        " (ISO 8601 duration).",
    )
    pin_max_attempts: int = Field(
        default=5,
        alias="CRISIS_PIN_MAX_ATTEMPTS",
        ge=1,
        description="Wrong PINs in a row before a staff member's PIN is locked on the on-call"
        " page (contact details stay hidden) for CRISIS_PIN_LOCKOUT.",
    )
    pin_lockout: str = Field(
        default="PT15M",
        alias="CRISIS_PIN_LOCKOUT",
        description="How long a PIN stays locked after too many wrong tries (ISO 8601); each"
        " further lockout in a row lasts twice the last, up to a day.",
    )
    inbound_sms_secret: SecretStr = Field(
        default=SecretStr(""),
        alias="INBOUND_SMS_SECRET",
        description="Shared secret the SMS provider sends (header `X-Webhook-Secret`) with a"
        " staff member's reply to `POST /inbound/sms`. Empty: the webhook answers 503.",
    )
    sms_provider: SmsProviderKind = Field(
        default="webhook",
        alias="SMS_PROVIDER",
        description="`twilio`: staff replies also come as Twilio's signed form posts to"
        " `POST /inbound/sms/twilio` (TWILIO_AUTH_TOKEN, TWILIO_WEBHOOK_BASE_URL); `webhook`:"
        " that route answers 503. crisis sends no SMS itself (notify does).",
    )

    @model_validator(mode="after")
    def _twilio_complete(self) -> Self:
        if self.sms_provider == "twilio":
            self.check_twilio_webhooks()
        check_inbound_sms_secret(self.inbound_sms_secret, development_mode=self.development_mode)
        return self

    def relay_listening_poll(self) -> float:
        """Pages cross crisis's outbox relay: it looks every second even while its LISTEN
        connection is up, so a connection dropped without a word (a firewall's idle timeout)
        holds a page for a second at most, not for `LISTENING_POLL` (crisis's timers keep it:
        their deadlines are known)."""
        return min(PAGE_PATH_POLL, self.listening_poll)
