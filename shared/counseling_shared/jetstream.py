"""Streams and consumers, declared in code and created or updated idempotently
(docs/architecture.md, Subjects and streams)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from counseling_shared.logs import get_logger

log = get_logger(__name__)

JS_API = "$JS.API"
DAY = 24 * 3600.0
DLQ_STREAM = "DLQ"
EVENT_STREAM_MAX_AGE = 90 * DAY
"""How long the event streams keep a message: long enough to rebuild a consumer from the start."""


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age: float = EVENT_STREAM_MAX_AGE
    duplicate_window: float = 120.0


# booking also answers core request-reply on `booking.directory.contact` (contract),
# `booking.directory.contacts` (several clients at once) and `booking.reminder_replies`
# (notify's), which a `booking.>` stream would capture and answer with a PubAck, racing the
# real responder. So the BOOKING stream lists one wildcard per event type booking publishes.
BOOKING_EVENT_TYPES = [
    "SiteRegistered",
    "StaffRegistered",
    "ClientRegistered",
    "ClientContactChanged",
    "StaffDeactivated",
    "AppointmentBooked",
    "AppointmentRescheduled",
    "AppointmentCancelled",
    "SessionCompleted",
    "SessionMissed",
    "CareEpisodeClosed",
    "RiskFlagged",
    "HoldPlaced",
    "HoldReleased",
    "WaitlistOfferMade",
    "AppointmentSeriesBooked",
    "AppointmentSeriesCancelled",
    "AppointmentConfirmed",
    "SiteClosuresChanged",
    "GroupSessionScheduled",
    "GroupSessionRescheduled",
    "GroupSessionCancelled",
    "GroupSessionCapacityChanged",
    "GroupSessionSeriesScheduled",
    "GroupSessionSeriesCancelled",
    "GroupSessionSeriesSeatTaken",
    "GroupSessionSeriesSeatCancelled",
    "WaitlistEntryWithdrawn",
]

# crisis answers notify's `crisis.staff_replies` (a staff member's text to the center's one
# number) the same way: its stream binds each event type crisis publishes, not `crisis.>`.
CRISIS_EVENT_TYPES = [
    "AlertRaised",
    "AlertEscalated",
    "AlertAcknowledged",
    "AlertResolved",
    "AlertExhausted",
    "AlertReopened",
    "PageRequested",
    "RiskFlagged",
    "StaffSmsOptOutChanged",
    "ShiftSwapRequested",
    "ShiftSwapTaken",
    "ShiftSwapCancelled",
    "ShiftSwapExpired",
]

STREAMS = [
    StreamSpec("BOOKING", [f"booking.*.{t}" for t in BOOKING_EVENT_TYPES]),
    StreamSpec("FOLLOWUP", ["followup.>"]),
    StreamSpec("NOTIFY", ["notify.>"]),
    StreamSpec("CRISIS", [f"crisis.*.{t}" for t in CRISIS_EVENT_TYPES]),
    StreamSpec(DLQ_STREAM, ["dlq.>"], max_age=365 * DAY),
]


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer named `<service>-<purpose>` on one stream.

    `max_deliver` is how many times a message's *handler* may fail before the message is
    dead-lettered; the consumer counts those failures itself (`inbox_failures`). The JetStream
    durable is configured with an unlimited `max_deliver`, so JetStream never drops a message
    on its own: redeliveries caused by an outage (a database or NATS down, a killed replica)
    cost nothing.
    """

    durable: str
    stream: str
    filter_subjects: list[str]
    max_deliver: int = 8
    backoff: Sequence[float] = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0)
    ack_wait: float = 30.0
    max_ack_pending: int = 1000
    description: str = field(default="")
    from_new: bool = False
    """Created now, start at the stream's next message instead of its first: a durable added
    to a running suite must not replay the stream's retained past (90 days). Only at creation;
    an existing durable keeps its position."""
    retry_overload: bool = False
    """A handler failing because the database is busy (statement or lock timeout, deadlock,
    serialization failure) is retried with the back-off and never counts towards
    `max_deliver`: for the durables whose messages must never become dead letters for want of
    capacity (risk flags, pages; docs/reliability.md). Such a failure that never goes away is
    retried for ever, visible in `consumer_infrastructure_failures_total`."""
    pin_timeout: float | None = None
    """How long the pinned replica may go without asking for messages before the server hands
    the durable to a standby (`priority_timeout`). None: `URGENT_PIN_TIMEOUT` for the urgent
    durables (`retry_overload`), `PIN_TIMEOUT` for the others (docs/reliability.md)."""

    @property
    def pin_seconds(self) -> float:
        if self.pin_timeout is not None:
            return self.pin_timeout
        return URGENT_PIN_TIMEOUT if self.retry_overload else PIN_TIMEOUT

    @property
    def ack_seconds(self) -> float:
        """The durable's `ack_wait`: an urgent one's is at most `URGENT_ACK_WAIT`, since a
        replica taking over waits for the messages a dead one held (`pull.Puller`)."""
        return min(self.ack_wait, URGENT_ACK_WAIT) if self.retry_overload else self.ack_wait

    def standby_seconds(self, default: float) -> float:
        """How often a replica not pinned asks for messages: at most `URGENT_STANDBY_POLL`
        for the urgent durables, `default` (the consumer's `standby_poll`) for the others."""
        return min(default, URGENT_STANDBY_POLL) if self.retry_overload else default

    def redelivery_delay(self, delivered: int) -> float:
        """The back-off before delivery number `delivered + 1`."""
        return self.backoff[min(delivered - 1, len(self.backoff) - 1)]


UNLIMITED_DELIVERIES = -1

PIN_GROUP = "replicas"
"""The one priority group of every durable: all replicas of a service pull in it, and the
server delivers to the one it pinned (policy `pinned_client`, NATS server 2.11 or later)."""
PIN_TIMEOUT = 10.0
URGENT_PIN_TIMEOUT = 3.0
"""A page must not wait long for a dead replica: its durables move to a standby after 3 s.
Well above the pinned replica's pull period (`InboxConsumer.fetch_timeout`, 1 s), so a slow
moment does not move the pin for nothing."""
URGENT_ACK_WAIT = 6.0
"""The urgent durables' `ack_wait`: what a dead replica held comes back after this long."""
URGENT_STANDBY_POLL = 0.1
"""How often a replica not (yet) pinned asks an urgent durable for messages. A replica is
pinned only when the server hands it a message, so after a start (or a takeover) the first
page waits for its next ask: at most this long, not the consumer's `standby_poll` (0.5 s).
A standby's ask is answered at once by the server, so this is ten cheap requests a second."""

REDRIVE_PREFIX = "dlq.redrive"
REDRIVE_ORIGINAL_SUBJECT = "Dlq-Original-Subject"
"""Header naming the subject a dead letter was first published on (DLQ copies, redrives)."""


def redrive_subject(durable: str) -> str:
    """Where an operator puts a dead letter of consumer `durable` to be handled again."""
    return f"{REDRIVE_PREFIX}.{durable}"


def redrive_spec(spec: ConsumerSpec) -> ConsumerSpec:
    """The durable that feeds redriven dead letters of `spec` back to the same handler.

    It reads `dlq.redrive.<durable>` on the DLQ stream with `spec`'s retry policy; the inbox
    (keyed by `spec.durable`) keeps the effects at most once.
    """
    return replace(
        spec,
        durable=f"{spec.durable}-redrive",
        stream=DLQ_STREAM,
        filter_subjects=[redrive_subject(spec.durable)],
        description=f"dead letters of {spec.durable} redriven by an operator",
        from_new=False,
    )


def stream_config(spec: StreamSpec, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=spec.subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age,
        duplicate_window=spec.duplicate_window,
        num_replicas=replicas,
    )


async def ensure_streams(
    js: JetStreamContext, replicas: int = 1, specs: Sequence[StreamSpec] = STREAMS
) -> None:
    """Create each stream, or bring an existing one to this configuration."""
    for spec in specs:
        config = stream_config(spec, replicas)
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # "stream name already in use with a different configuration"
            await js.update_stream(config)


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        name=spec.durable,
        durable_name=spec.durable,
        description=spec.description or None,
        deliver_policy=DeliverPolicy.NEW if spec.from_new else DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_seconds,
        # Unlimited: only handler failures end retries, counted by the consumer (see above).
        max_deliver=UNLIMITED_DELIVERIES,
        filter_subjects=spec.filter_subjects if len(spec.filter_subjects) > 1 else None,
        filter_subject=spec.filter_subjects[0] if len(spec.filter_subjects) == 1 else None,
        max_ack_pending=spec.max_ack_pending,
    )


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> bool:
    """Create or update a durable pull consumer (the server treats CREATE as upsert); True
    when it is pinned.

    Every durable is pinned: one replica at a time is delivered its messages, in stream order
    (`pull.Puller`). nats-py's `ConsumerConfig` has no priority fields, so the request is sent
    as nats-py would send it (same subject, so the same bus permission), with them added. An
    existing durable created without them is updated in place (nats-server 2.15 accepts it; its
    ack floor and pending messages are kept: tests/shared/integration/test_pinned.py). A server
    that refuses (older than 2.11, or one that will not change the policy of an existing
    durable) gets the durable unpinned, as before, and says so in the log.
    """
    config = consumer_config(spec).as_dict()
    pinned = config | {
        "priority_groups": [PIN_GROUP],
        "priority_policy": "pinned_client",
        "priority_timeout": int(spec.pin_seconds * 1e9),
    }
    try:
        await _create_consumer(js, spec, pinned)
    except nats.js.errors.BadRequestError as exc:
        log.error("durable_not_pinned", consumer=spec.durable, error=repr(exc))
        await _create_consumer(js, spec, config)
        return False
    return True


async def _create_consumer(
    js: JetStreamContext, spec: ConsumerSpec, config: dict[str, Any]
) -> None:
    filters = spec.filter_subjects
    subject = f"{JS_API}.CONSUMER.CREATE.{spec.stream}.{spec.durable}"
    if len(filters) == 1 and filters[0] != ">":
        subject += f".{filters[0]}"  # nats-py names the one filter in the subject too
    request = json.dumps({"stream_name": spec.stream, "config": config}).encode()
    # The context keeps its client and timeout private.
    reply = await js._nc.request(subject, request, timeout=js._timeout)
    error = json.loads(reply.data).get("error")
    if error:
        nats.js.errors.APIError.from_error(error)  # raises
