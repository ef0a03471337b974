"""What delivery needs from the outside world: booking's client directory, the providers of
each channel, and the message templates."""

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.codes import Channel, NotificationChannel
from notify.domain.codes import Template
from notify.domain.locales import MessageLocale
from notify.domain.notification import DeliveryOutcome, Params


@dataclass(frozen=True)
class ClientContact:
    """booking's answer about a client. Held in memory for one delivery, never stored."""

    client_id: UUID
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    preferred_channel: Channel | None


class DirectoryUnavailable(Exception):
    """booking did not answer in time (or nobody listens): try the delivery again later."""


class ClientNotFound(Exception):
    """booking knows no such client: the delivery can never succeed."""


ContactAnswer = ClientContact | ClientNotFound | DirectoryUnavailable
"""booking's answer about one client of a batched request: the details, or why not."""


class ClientDirectory(Protocol):
    """booking's client directory (`booking.directory.contact`, and
    `booking.directory.contacts` for several clients; request-reply)."""

    async def contact(self, client_id: UUID) -> ClientContact:
        """The client's contact details; raises DirectoryUnavailable or ClientNotFound."""
        ...

    async def contacts(self, client_ids: Sequence[UUID]) -> list[ContactAnswer]:
        """One answer per id asked, in order (each for one delivery); raises
        DirectoryUnavailable when booking answers none of them."""
        ...


@dataclass(frozen=True)
class RemindedAppointment:
    """What a reminder by text names, kept (by the number's digest) once it is sent, so the
    client's C/X reply finds its appointment (`adapters/sms_reminders`)."""

    appointment_id: UUID
    client_id: UUID
    start: datetime
    locale: str
    timezone: str


@dataclass(frozen=True)
class MessageSource:
    """What a message was written from: a provider that sends a template of its own (an
    approved WhatsApp template) fills its variables from these, as the text was."""

    template: str
    """The template's name as `templates.template_file` names it (`followup_due_checkin`)."""
    params: Params
    locale: MessageLocale
    zone: ZoneInfo


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message on its way to a provider. `notification_id` makes a repeated
    send recognisable (the email Message-ID, the providers' idempotency key)."""

    notification_id: UUID
    channel: NotificationChannel
    to: str
    subject: str
    body: str
    language: str
    avoid_provider: str | None = None
    """`primary` when its receipt said the primary's carrier did not deliver: the fallback
    goes first (a page sent again after a failed receipt)."""
    resends: int = 0
    """How often a failed delivery receipt sent it again (pages only)."""
    page_code: str = ""
    """A page's reply code (`1A2B3C`): a page's phone call names it in the URL Twilio asks
    crisis what to say."""
    reminder: RemindedAppointment | None = None
    """A client's appointment reminder: what a C/X reply to it acts on."""
    source: MessageSource | None = None
    """What the text was written from (WhatsApp sends an approved template instead)."""

    @property
    def idempotency_key(self) -> str:
        """The notification id; `<id>:<n>` once a failed receipt sent it again (the same key
        would be dropped by a provider as a repeat). Receipts name it back."""
        return (
            f"{self.notification_id}:{self.resends}" if self.resends else str(self.notification_id)
        )


class ChannelProvider(Protocol):
    """Hands a message to an email, SMS or messaging provider."""

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        """Sent, or a transient or permanent failure with a short error code. Never raises
        for a provider's answer or an unreachable provider."""
        ...


class BatchLookups(Protocol):
    """What a batch of sends can look up at once beforehand: the opt-outs of its numbers."""

    def batch(self, numbers: Iterable[str]) -> AbstractAsyncContextManager[None]:
        """Within it, the sends of these numbers need no look-up of their own."""
        ...


PREFERENCES_URL = "preferences_url"
"""The parameter naming a client's preferences link: the email body ends with it."""


@dataclass(frozen=True)
class RenderedMessage:
    """`subject` and `body` for email; `short` for SMS and messaging."""

    subject: str
    body: str
    short: str

    def text_for(self, channel: NotificationChannel) -> str:
        return self.body if channel is NotificationChannel.EMAIL else self.short


class TemplateMissing(Exception):
    """No template (or a parameter it needs is missing): a bug or bad data, never transient."""


class MessageRenderer(Protocol):
    """Writes a message in the recipient's language, times in the recipient's zone."""

    def render(
        self, template: Template, params: Params, locale: MessageLocale, zone: ZoneInfo
    ) -> RenderedMessage: ...
