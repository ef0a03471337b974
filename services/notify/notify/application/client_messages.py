"""Messages to clients that booking's and followup's events ask for, stored a batch at a time.

An event handler says which messages its event asks for (`MessagesOf`, pure); these functions
look up what notify knows of the clients (preferences, profile, site) and store the requested
notifications. A consumer of such events gets both a per-message handler and a batch handler
from the same table, so a fetched batch costs two statements, not two per message.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from counseling_shared.codes import Channel
from counseling_shared.envelope import Envelope
from counseling_shared.events import IntegrationEvent
from counseling_shared.inbox import BatchHandler, Handler
from counseling_shared.tracing import current_trace_headers
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.adapters.recipient_facts import RecipientFacts, recipient_facts_many
from notify.domain import notification
from notify.domain.channels import planned_channel
from notify.domain.codes import Lane, RecipientKind, Template
from notify.domain.notification import Params
from notify.domain.quiet_hours import zone_named


@dataclass(frozen=True)
class ClientMessage:
    """A bulk-lane message an event asks for, before notify's facts about the client (their
    preferences, profile and site) decide its channel and quiet-hours hold."""

    envelope: Envelope
    client_id: UUID
    site_id: UUID
    template: Template
    params: Params
    requested_channel: Channel | None = None


MessagesOf = Callable[[Envelope, IntegrationEvent], list[ClientMessage]]
"""What one event asks to be sent to its client (nothing, one or several messages)."""


def client_message_handler(messages_of: MessagesOf) -> Handler:
    """The per-message handler of an event that asks for client messages."""

    async def handle(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        await request_for_clients(uow, messages_of(envelope, event))

    return handle


def client_messages_batch(table: Mapping[type[IntegrationEvent], MessagesOf]) -> BatchHandler:
    """The batch handler of a consumer whose events ask for client messages: the facts of
    every client in one query, every message stored in one statement."""

    async def handle_batch(
        uow: UnitOfWork, messages: Sequence[tuple[Envelope, IntegrationEvent]]
    ) -> None:
        wanted = [
            message
            for envelope, event in messages
            if (messages_of := table.get(type(event))) is not None
            for message in messages_of(envelope, event)
        ]
        await request_for_clients(uow, wanted)

    return handle_batch


async def request_for_clients(uow: UnitOfWork, messages: Sequence[ClientMessage]) -> None:
    """Bulk-lane messages to clients, each held from the start if it is their quiet hours:
    two round trips however many (the facts, then the events, rows and wake-up)."""
    if not messages:
        return
    conn = uow.conn
    asked = [(m.client_id, m.site_id) for m in messages]
    facts = await recipient_facts_many(conn, asked)
    now = uow.now()
    requested = [_client_request(m, f, now) for m, f in zip(messages, facts, strict=True)]
    # In a batch, the batch's span: it links to each message's trace.
    headers = current_trace_headers()
    await notification_store.add_many(conn, requested, [headers] * len(requested))


def _client_request(
    message: ClientMessage, facts: RecipientFacts, now: datetime
) -> notification.NotificationRequested:
    preferences, profile = facts.preferences, facts.client
    zone_name = profile.timezone if profile else facts.site.timezone if facts.site else None
    channel = planned_channel(
        [
            preferences.channel if preferences else None,
            message.requested_channel,
            profile.preferred_channel if profile else None,
        ]
    )
    return notification.request(
        notification_id=uuid4(),
        recipient_id=message.client_id,
        recipient_kind=RecipientKind.CLIENT,
        site_id=message.site_id,
        lane=Lane.BULK,
        channel=channel,
        requested_channel=message.requested_channel,
        template=message.template,
        params=message.params,
        cause_event_id=message.envelope.id,
        correlation_id=message.envelope.correlationid,
        now=now,
        quiet_hours=preferences.quiet_hours if preferences else None,
        # Unknown zone: no hold now; the send-time check uses booking's answer.
        zone=zone_named(zone_name) if zone_name else None,
    )
