"""Delivering one claimed notification: find the recipient, respect quiet hours, pick the
channel, write the message, hand it to the provider, and record the outcome with the public
NotificationSent / NotificationFailed in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from opentelemetry import trace

from counseling_shared import outbox
from counseling_shared.clock import Clock
from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import NotificationFailed, NotificationSent
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.logs import get_logger
from counseling_shared.tracing import context_from_headers, tracer
from counseling_shared.unit_of_work import unit_of_work
from notify.adapters import notification_outcomes, notification_store
from notify.adapters.notification_outcomes import Outcome
from notify.adapters.notification_store import Claimed
from notify.adapters.preference_links import PreferenceLinks
from notify.adapters.recipient_facts import RecipientFacts, recipient_facts
from notify.application.ports import (
    PREFERENCES_URL,
    BatchLookups,
    ChannelProvider,
    ClientContact,
    ClientDirectory,
    ClientNotFound,
    ContactAnswer,
    DirectoryUnavailable,
    MessageRenderer,
    MessageSource,
    OutgoingMessage,
    RemindedAppointment,
    RenderedMessage,
    TemplateMissing,
)
from notify.domain import notification as rules
from notify.domain.channels import Addresses, choose_channel, next_channel
from notify.domain.codes import (
    AttemptOutcome,
    HoldReason,
    Lane,
    NotificationStatus,
    RecipientKind,
    template_name,
)
from notify.domain.locales import message_locale
from notify.domain.notification import (
    DeliveryAbandoned,
    DeliveryAttempted,
    DeliveryDeferred,
    DeliveryOutcome,
    FallbackDropped,
    Notification,
    NotificationEvent,
)
from notify.domain.phones import OPTED_OUT
from notify.domain.quiet_hours import QuietHours, zone_named
from notify.domain.retry import RetryPolicy
from notify.metrics import (
    DELIVERY_ATTEMPTS,
    DELIVERY_DEFERRALS,
    DELIVERY_LATENCY,
    RECEIPT_FALLBACKS,
)

log = get_logger(__name__)
SOURCE = "notify"

DEFER_MAX_AGE = timedelta(hours=6)
"""How long a message without a deadline of its own waits for notify's own side
(`NOTIFY_DEFER_MAX_AGE`)."""

ContactSource = Callable[[UUID], Awaitable[ClientContact]]
"""Where one delivery gets its client's contact: booking's directory, or a batched answer."""


@dataclass(frozen=True)
class Recipient:
    """Everything delivery needs about the recipient, for this one delivery only."""

    addresses: Addresses
    locale: str | None
    zone: ZoneInfo
    quiet_hours: QuietHours | None
    wishes: tuple[Channel | None, ...]
    site_name: str | None


def reminded_appointment(
    claimed: Notification, channel: NotificationChannel, language: str, zone: ZoneInfo
) -> RemindedAppointment | None:
    """A client's appointment reminder by text: what a C/X reply to it acts on."""
    params = claimed.params
    appointment_id, start = params.get("appointment_id"), params.get("appointment_start")
    if (
        channel is NotificationChannel.EMAIL
        or claimed.recipient_kind is not RecipientKind.CLIENT
        or params.get("kind") != "reminder"
        or not appointment_id
        or not start
    ):
        return None
    return RemindedAppointment(
        UUID(str(appointment_id)),
        claimed.recipient_id,
        datetime.fromisoformat(str(start)),
        language,
        zone.key,
    )


class RecipientUnavailable(Exception):
    """The recipient cannot be resolved right now; `outcome` says whether to retry. `ours`:
    the cause is notify's own side (booking's directory unreachable, notify's copy of the
    staff behind), not the recipient: no attempt of theirs is counted."""

    def __init__(self, outcome: DeliveryOutcome, *, ours: bool = False) -> None:
        super().__init__(outcome.error_code)
        self.outcome = outcome
        self.ours = ours


class Courier:
    """Delivers claimed notifications of one lane."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        clock: Clock,
        directory: ClientDirectory,
        providers: Mapping[NotificationChannel, ChannelProvider],
        renderer: MessageRenderer,
        retry: RetryPolicy,
        jitter: Callable[[], float] = random.random,
        defer_max_age: timedelta = DEFER_MAX_AGE,
        reply_channels: frozenset[NotificationChannel] = frozenset(),
        lookups: BatchLookups | None = None,
        preference_links: PreferenceLinks | None = None,
    ) -> None:
        self._pool = pool
        # A client's email ends with a signed link to their preferences page.
        self._preference_links = preference_links
        self._lookups = lookups  # the SMS opt-outs, looked up once per batch
        self._clock = clock
        self._directory = directory
        self._providers = providers
        self._renderer = renderer
        self._retry = retry
        self._jitter = jitter
        self._defer_max_age = defer_max_age
        # A reminder by text says "reply C or X" only on the channels whose replies reach
        # notify (the inbound SMS webhook is configured, or Twilio sends by them), and only
        # there is it kept for them.
        self._reply_channels = reply_channels
        self._tracer = tracer("notify.delivery")

    async def deliver(
        self,
        claimed: Notification,
        trace_headers: Mapping[str, str] | None = None,
        facts: RecipientFacts | None = None,
    ) -> Notification | None:
        """Deliver (or hold, or fail) `claimed`; None when another worker recorded first.
        `facts`: the recipient's, when the claim read them (else they are read here)."""
        with self._span(claimed, trace_headers) as span:
            events = await self._deliver(claimed, facts, self._directory.contact)
            result = await self._record(claimed, events)
            if result is not None:
                span.set_attribute("notify.status", result.status.value)
                span.set_attribute("notify.channel", result.channel.value)
            return result

    async def deliver_batch(
        self,
        batch: Sequence[Claimed],
        go_on: Callable[[], bool],
        stopped: Callable[[list[Claimed]], Awaitable[None]],
    ) -> list[Claimed]:
        """Deliver a bulk worker's claimed messages in turn and record their outcomes in one
        statement; the clients' contacts are asked of booking in one request, each answer
        serving its one delivery and dropped with the batch. `go_on()` is asked before each
        message after the first: when it says no (a page is in flight, the leases run short),
        the rest is handed to `stopped` (which gives it back, and waits out the page) before
        the outcomes are recorded, so a page is not kept waiting by their statement; the rest
        is also returned."""
        # One instant for the batch's holds before asking, so a message not asked about is
        # held (`held_before_asking`) and never looks for an answer it was not given.
        asked_at = self._clock.now()
        answers = await self._contacts(batch, asked_at)
        outcomes: list[Outcome] = []
        rest: list[Claimed] = []
        try:
            async with self._batch_lookups(batch, answers):
                for n, (item, answer) in enumerate(zip(batch, answers, strict=True)):
                    if n and not go_on():
                        rest = list(batch[n:])
                        break
                    outcomes.append(await self._decide(item, answer, asked_at))
            if rest:
                await stopped(rest)
        except asyncio.CancelledError:
            # Stopped: what was sent is recorded (else it would go again), best effort.
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wait_for(self.record_many(outcomes), 2.0))
            raise
        await self.record_many(outcomes)
        return rest

    def _batch_lookups(
        self, batch: Sequence[Claimed], answers: Sequence[ContactAnswer | None]
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The batch's phone numbers (a client's from booking's answer, a staff member's from
        notify's copy) looked up at once, for the sends that follow."""
        if self._lookups is None:
            return contextlib.nullcontext()
        numbers = []
        for item, answer in zip(batch, answers, strict=True):
            if isinstance(answer, ClientContact):
                phone = answer.phone
            else:
                phone = item.facts.staff.phone if item.facts.staff else None
            if phone and (number := Addresses(phone=phone).for_channel(NotificationChannel.SMS)):
                numbers.append(number)
        return self._lookups.batch(numbers)

    async def _contacts(
        self, batch: Sequence[Claimed], asked_at: datetime
    ) -> list[ContactAnswer | None]:
        """booking's answer for each client message of `batch` (None for staff, and for a
        message held for quiet hours before asking), in one request; every client's is
        unavailable when booking answers none."""
        asked = [
            c.notification.recipient_kind is RecipientKind.CLIENT
            and not held_before_asking(c.notification, c.facts, asked_at)
            and not _expired_fallback(c.notification, asked_at)
            for c in batch
        ]
        ids = [
            c.notification.recipient_id for c, client in zip(batch, asked, strict=True) if client
        ]
        answers: list[ContactAnswer]
        try:
            answers = await self._directory.contacts(ids) if ids else []
        except DirectoryUnavailable as exc:
            answers = [exc] * len(ids)
        found = iter(answers)
        return [next(found) if client else None for client in asked]

    async def _decide(
        self, item: Claimed, answer: ContactAnswer | None, asked_at: datetime
    ) -> Outcome:
        """One message of a batch delivered (or held, or failed), in its own span; not
        recorded yet. A crash is a transient failure, as a lone delivery's is."""
        claimed = item.notification

        async def contact(client_id: UUID) -> ClientContact:
            if isinstance(answer, ClientContact) and answer.client_id == client_id:
                return answer
            raise answer if isinstance(answer, Exception) else DirectoryUnavailable("not asked")

        with self._span(claimed, item.trace_headers):
            try:
                events = await self._deliver(claimed, item.facts, contact, asked_at)
            except Exception as exc:
                log.exception("delivery_crashed", notification_id=str(claimed.id), error=repr(exc))
                outcome = DeliveryOutcome.transient("delivery_crashed")
                events = self._attempted(claimed, claimed.channel, outcome)
            return Outcome(claimed, events, self.announcement_rows(claimed, events))

    async def record_many(self, outcomes: Sequence[Outcome]) -> None:
        """Record outcomes in one statement; one at a time when it cannot be (a failed page,
        which also expedites its other channel, or a clash with a writer that did not lock)."""
        alone = [o for o in outcomes if _needs_transaction(o)]
        together = [o for o in outcomes if not _needs_transaction(o)]
        recorded: list[Notification | None] = []
        if together:
            try:
                async with self._pool.acquire() as conn:
                    recorded = await notification_outcomes.record_outcomes(conn, together)
            except ConcurrencyConflict:
                alone, together = list(outcomes), []
        for outcome, result in zip(together, recorded, strict=True):
            if result is None:
                log.warning("notification_lease_lost", notification_id=str(outcome.claimed.id))
                continue
            _count(result, outcome.events)
            _log_outcome(result, outcome.events)
        for outcome in alone:
            await self._record(outcome.claimed, list(outcome.events))

    def _span(
        self, claimed: Notification, trace_headers: Mapping[str, str] | None
    ) -> contextlib.AbstractContextManager[trace.Span]:
        return self._tracer.start_as_current_span(
            f"deliver {claimed.template.value}",
            context=context_from_headers(trace_headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "notify.notification_id": str(claimed.id),
                "notify.lane": claimed.lane.value,
                "notify.attempt": claimed.attempts + 1,
            },
        )

    async def _deliver(
        self,
        claimed: Notification,
        facts: RecipientFacts | None,
        contact: ContactSource,
        asked_at: datetime | None = None,
    ) -> list[NotificationEvent]:
        """Hold, send or fail `claimed`: the events its outcome is (recorded by the caller).
        `asked_at`: the instant its batch decided whether to ask booking about it."""
        if _expired_fallback(claimed, self._clock.now()):
            # The email a failed receipt asked for, held or deferred past the message's use:
            # dropped before booking is asked for an address it would not be sent to.
            return rules.drop_fallback(claimed, rules.EXPIRED, self._clock.now())
        if facts is None:
            async with self._pool.acquire() as conn:
                facts = await recipient_facts(conn, claimed.recipient_id, claimed.site_id)
        held = held_before_asking(claimed, facts, asked_at or self._clock.now())
        if held:
            log.info("notification_held", notification_id=str(claimed.id), reason="quiet_hours")
            return held
        try:
            recipient = await self._recipient(claimed, facts, contact)
        except RecipientUnavailable as exc:
            if exc.ours and claimed.lane is Lane.BULK:
                # Pages keep counting: they fail within minutes, on crisis's timeline.
                return self._deferred(claimed, exc.outcome.error_code or "unavailable")
            return self._not_sent(claimed, claimed.channel, exc.outcome)

        held = rules.hold_if_quiet(
            claimed, recipient.quiet_hours, recipient.zone, self._clock.now()
        )
        if held:
            log.info("notification_held", notification_id=str(claimed.id), reason="quiet_hours")
            return held

        channel = self._channel(claimed, recipient)
        address = recipient.addresses.for_channel(channel) if channel else None
        if channel is None or address is None:
            return self._not_sent(
                claimed, channel or claimed.channel, DeliveryOutcome.permanent("no_address")
            )
        locale = message_locale(recipient.locale)
        base = {
            **claimed.params,
            "site_name": recipient.site_name,
            **self._preferences_url(claimed),
        }
        written: dict[bool, tuple[RenderedMessage, MessageSource]] = {}

        def write(channel: NotificationChannel) -> tuple[RenderedMessage, MessageSource]:
            # A reminder asks for C or X only on a channel whose replies reach notify.
            replies = channel in self._reply_channels
            if replies not in written:
                params = {**base, "takes_replies": replies}
                name = template_name(claimed.template, params)
                rendered = self._renderer.render(claimed.template, params, locale, recipient.zone)
                written[replies] = rendered, MessageSource(name, params, locale, recipient.zone)
            return written[replies]

        def message_on(channel: NotificationChannel, address: str) -> OutgoingMessage:
            rendered, source = write(channel)
            return OutgoingMessage(
                notification_id=claimed.id,
                channel=channel,
                to=address,
                subject=rendered.subject,
                body=rendered.text_for(channel),
                language=locale.language,
                avoid_provider=claimed.avoid_provider,
                resends=claimed.resends,
                page_code=str(claimed.params.get("reply_code") or "") if claimed.page_id else "",
                reminder=(
                    reminded_appointment(claimed, channel, locale.language, recipient.zone)
                    if channel in self._reply_channels
                    else None
                ),
                source=source,
            )

        try:
            first = message_on(channel, address)
        except TemplateMissing as exc:
            log.error("template_failed", notification_id=str(claimed.id), error=str(exc))
            return self._attempted(claimed, channel, DeliveryOutcome.permanent("template"))

        outcome = await self._providers[channel].send(first)
        other = self._fallback(claimed, recipient, channel, outcome)
        if other is None:
            return self._attempted(claimed, channel, outcome)
        # Refused for good here: the client's next channel with an address, once, now.
        log.info(
            "notification_channel_fell_back",
            notification_id=str(claimed.id),
            failed=channel.value,
            to=other.value,
            error=outcome.error_code,
        )
        events = rules.fall_back(claimed, channel, outcome, other, self._clock.now())
        moved = rules.fold(claimed, events)
        other_address = recipient.addresses.for_channel(other)
        assert other_address is not None
        try:
            second = await self._providers[other].send(message_on(other, other_address))
        except TemplateMissing as exc:
            log.error("template_failed", notification_id=str(claimed.id), error=str(exc))
            second = DeliveryOutcome.permanent("template")
        return events + self._attempted(moved, other, second)

    def _preferences_url(self, claimed: Notification) -> dict[str, str]:
        """The footer link's parameter: clients only (a staff member's page or email has
        none), for the email body only (`JinjaRenderer`: an SMS has no room for it)."""
        if self._preference_links is None or claimed.recipient_kind is not RecipientKind.CLIENT:
            return {}
        url = self._preference_links.url_for(claimed.recipient_id, self._clock.now())
        return {PREFERENCES_URL: url}

    def _fallback(
        self,
        claimed: Notification,
        recipient: Recipient,
        channel: NotificationChannel,
        outcome: DeliveryOutcome,
    ) -> NotificationChannel | None:
        """Where a client's message goes when `outcome` on `channel` would end it; None when
        it does not, is no client's, or fell back once already."""
        if (
            claimed.recipient_kind is not RecipientKind.CLIENT
            or claimed.failed_channel is not None
            or not rules.ends_it(claimed, outcome, self._retry)
        ):
            return None
        addresses = recipient.addresses
        if outcome.error_code == OPTED_OUT:
            # The number opted out of texts on every text channel, not on this one alone.
            addresses = Addresses(email=addresses.email)
        return next_channel(recipient.wishes, addresses, channel)

    async def record_crash(self, claimed: Notification) -> Notification | None:
        """Delivery raised: record it as a transient failure of the planned channel."""
        return await self._finish(
            claimed, claimed.channel, DeliveryOutcome.transient("delivery_crashed")
        )

    def _channel(self, claimed: Notification, recipient: Recipient) -> NotificationChannel | None:
        if claimed.recipient_kind is RecipientKind.STAFF:
            return claimed.channel  # a page names its channel: one row per channel
        if claimed.receipt_fallback:
            # Its text was not delivered: email only, never another text.
            email = recipient.addresses.for_channel(NotificationChannel.EMAIL)
            return NotificationChannel.EMAIL if email else None
        return choose_channel(recipient.wishes, recipient.addresses, claimed.failed_channel)

    async def _recipient(
        self, claimed: Notification, facts: RecipientFacts, contact_of: ContactSource
    ) -> Recipient:
        preferences, site = facts.preferences, facts.site
        staff, profile = facts.staff, facts.client
        quiet_hours = preferences.quiet_hours if preferences else None
        preferred = preferences.channel if preferences else None
        site_name = site.name if site else None
        site_zone = site.timezone if site else None

        if claimed.recipient_kind is RecipientKind.STAFF:
            if staff is None:
                # StaffRegistered may still be on its way from booking's stream: notify's
                # copy is behind (its consumer paused, NATS down), not the staff member.
                raise RecipientUnavailable(
                    DeliveryOutcome.transient("recipient_unknown"), ours=True
                )
            if not staff.active:
                # booking deactivated them: a page still queued for them is never sent.
                raise RecipientUnavailable(DeliveryOutcome.permanent("recipient_deactivated"))
            return Recipient(
                addresses=Addresses(email=staff.email, phone=staff.phone),
                locale=staff.locale,
                zone=zone_named(site_zone),
                quiet_hours=quiet_hours,
                # (A page's call is a `phone` wish; a page's channel is fixed either way.)
                wishes=(
                    Channel.PHONE
                    if claimed.channel is NotificationChannel.VOICE
                    else Channel(claimed.channel.value),
                ),
                site_name=site_name,
            )

        try:
            contact = await contact_of(claimed.recipient_id)
        except DirectoryUnavailable:
            outcome = DeliveryOutcome.transient("directory_unavailable")
            raise RecipientUnavailable(outcome, ours=True) from None
        except ClientNotFound:
            raise RecipientUnavailable(DeliveryOutcome.permanent("recipient_not_found")) from None
        return Recipient(
            addresses=Addresses(email=contact.email, phone=contact.phone),
            locale=contact.locale or (profile.locale if profile else None),
            zone=zone_named(contact.timezone or (profile.timezone if profile else site_zone)),
            quiet_hours=quiet_hours,
            wishes=(
                preferred,
                claimed.requested_channel,
                contact.preferred_channel or (profile.preferred_channel if profile else None),
            ),
            site_name=site_name,
        )

    async def _finish(
        self, claimed: Notification, channel: NotificationChannel, outcome: DeliveryOutcome
    ) -> Notification | None:
        return await self._record(claimed, self._attempted(claimed, channel, outcome))

    def _not_sent(
        self, claimed: Notification, channel: NotificationChannel, outcome: DeliveryOutcome
    ) -> list[NotificationEvent]:
        """No provider was called (no address, a client booking does not know): the message
        fails; the email a failed receipt asked for is dropped instead (its text went)."""
        if claimed.receipt_fallback and outcome.kind is AttemptOutcome.PERMANENT_FAILURE:
            return rules.drop_fallback(claimed, outcome.error_code or "unknown", self._clock.now())
        return self._attempted(claimed, channel, outcome)

    def _deferred(self, claimed: Notification, reason: str) -> list[NotificationEvent]:
        log.info("notification_deferred", notification_id=str(claimed.id), reason=reason)
        return rules.defer(
            claimed, reason, self._clock.now(), self._retry, self._jitter(), self._defer_max_age
        )

    def _attempted(
        self, claimed: Notification, channel: NotificationChannel, outcome: DeliveryOutcome
    ) -> list[NotificationEvent]:
        return rules.record_attempt(
            claimed, channel, outcome, self._clock.now(), self._retry, self._jitter()
        )

    async def _record(
        self, claimed: Notification, events: list[NotificationEvent]
    ) -> Notification | None:
        expected = rules.fold(claimed, events)
        announcement = self.announcement_rows(claimed, events)
        try:
            if expected.status is NotificationStatus.FAILED and expected.page_id:
                # A failed page also expedites its other channel: one transaction for both.
                async with unit_of_work(self._pool, source=SOURCE, clock=self._clock) as uow:
                    recorded = await notification_store.record_outcome(
                        uow.conn, claimed, events, announcement
                    )
                    await self._try_other_channels(uow.conn, recorded)
            else:
                # One statement: atomic without BEGIN and COMMIT (two round trips fewer).
                async with self._pool.acquire() as conn:
                    recorded = await notification_store.record_outcome(
                        conn, claimed, events, announcement
                    )
        except ConcurrencyConflict:
            # Our lease ran out and another worker took over and recorded first.
            log.warning("notification_lease_lost", notification_id=str(claimed.id))
            return None
        _count(recorded, events)
        _log_outcome(recorded, events)
        return recorded

    def announcement_rows(
        self, claimed: Notification, events: list[NotificationEvent]
    ) -> list[outbox.OutboxRow]:
        """The outbox rows of the public announcement `events` end in (in the current trace).
        None for a dropped fallback: its text's NotificationSent said it already."""
        if any(isinstance(e, FallbackDropped) for e in events):
            return []
        return outbox.rows_of(self._announcement(rules.fold(claimed, events)))

    def _announcement(self, recorded: Notification) -> list[Envelope]:
        return announcement(recorded, self._clock.now())

    async def _try_other_channels(self, conn: Any, failed: Notification) -> None:
        await try_other_channels(conn, failed, self._clock.now())


def announcement(recorded: Notification, now: datetime) -> list[Envelope]:
    """NotificationSent / NotificationFailed, written with the status (none while pending)."""
    if recorded.status is NotificationStatus.PENDING:
        return []
    kind = NotificationSent if recorded.status is NotificationStatus.SENT else NotificationFailed
    event = kind(
        notification_id=recorded.id,
        recipient_id=recorded.recipient_id,
        site_id=recorded.site_id,
        channel=recorded.channel,
        template=recorded.template.value,
        cause_event_id=recorded.cause_event_id,
        attempts=recorded.attempts,
        page_id=recorded.page_id,
    )
    envelope = wrap(
        event,
        source=SOURCE,
        subject=recorded.id,
        correlation_id=recorded.correlation_id,
        causation_id=recorded.cause_event_id,
        time=now,
    )
    return [envelope]


async def try_other_channels(conn: Any, failed: Notification, now: datetime) -> None:
    """A page that failed on one channel: its other channel goes now, not at its retry."""
    assert failed.page_id is not None
    for sibling in await notification_store.idle_page_notifications(conn, failed.page_id, now):
        if sibling.id == failed.id or sibling.channel is failed.channel:
            continue
        if _call_still_waits(sibling, failed):
            continue
        events = rules.expedite(sibling, now, reason=f"{failed.channel.value}_failed")
        if events:
            await notification_store.record(conn, sibling, events)
            await notification_store.wake(conn, sibling.lane)


def _call_still_waits(sibling: Notification, failed: Notification) -> bool:
    """A call waiting out PAGE_CALL_DELAY goes early only when the page's text failed (the
    text it waits to be acknowledged from never came); a failed email leaves it waiting."""
    return sibling.hold_reason is HoldReason.CALL_DELAY and failed.channel not in (
        NotificationChannel.SMS,
        NotificationChannel.MESSAGING,
    )


def _expired_fallback(claimed: Notification, now: datetime) -> bool:
    return claimed.receipt_fallback and rules.no_longer_worth_resending(claimed, now)


def _needs_transaction(outcome: Outcome) -> bool:
    """A page that fails: recorded with its other channel's expedition, in one transaction."""
    if outcome.claimed.page_id is None:
        return False
    return rules.fold(outcome.claimed, outcome.events).status is NotificationStatus.FAILED


def _count(recorded: Notification, events: Sequence[NotificationEvent]) -> None:
    """The attempts `events` record (none when held or deferred), and deferrals."""
    lane = recorded.lane.value
    for event in events:
        if isinstance(event, DeliveryDeferred):
            DELIVERY_DEFERRALS.labels(lane, event.reason, "deferred").inc()
    attempts = [e for e in events if isinstance(e, DeliveryAttempted)]
    if not attempts and recorded.status is NotificationStatus.FAILED:
        # Given up without an attempt: a deferral ran past the message's deadline.
        reason = next((e.error_code for e in events if isinstance(e, DeliveryAbandoned)), None)
        DELIVERY_DEFERRALS.labels(lane, reason or "unknown", "given_up").inc()
    final = {
        NotificationStatus.SENT: "sent",
        NotificationStatus.FAILED: "failed",
        NotificationStatus.PENDING: "retry",
    }[recorded.status]
    for n, attempt in enumerate(attempts, start=1):
        # An attempt before the last one here was refused for good: its message fell back.
        outcome = final if n == len(attempts) else "failed"
        if attempt.outcome is AttemptOutcome.SENT:
            outcome = "sent"
        DELIVERY_ATTEMPTS.labels(lane, attempt.channel.value, outcome).inc()
    if attempts and recorded.sent_at is not None:
        latency = (recorded.sent_at - recorded.created_at).total_seconds()
        DELIVERY_LATENCY.labels(recorded.lane.value).observe(max(latency, 0.0))
    _count_fallback(recorded, events, attempts)


def _count_fallback(
    recorded: Notification,
    events: Sequence[NotificationEvent],
    attempts: Sequence[DeliveryAttempted],
) -> None:
    """What came of the email a failed receipt asked for, once it is settled."""
    if not recorded.receipt_fallback:
        return
    text = recorded.text_channel
    dropped = next((e for e in events if isinstance(e, FallbackDropped)), None)
    if dropped is not None:
        known = dropped.reason in (rules.EXPIRED, "no_address")
        outcome = dropped.reason if known else "dropped"
    elif attempts and recorded.status is NotificationStatus.SENT:
        outcome = "sent"
    elif attempts and recorded.status is NotificationStatus.FAILED:
        outcome = "failed"
    else:
        return  # still pending (a retry, quiet hours)
    if text is not None:
        RECEIPT_FALLBACKS.labels(text.value, outcome).inc()


def _log_outcome(recorded: Notification, events: Sequence[NotificationEvent]) -> None:
    fields: dict[str, Any] = {
        "notification_id": str(recorded.id),
        "template": recorded.template.value,
        "channel": recorded.channel.value,
        "attempts": recorded.attempts,
    }
    if any(isinstance(e, FallbackDropped) for e in events):
        log.info("notification_fallback_dropped", error=recorded.last_error, **fields)
    elif recorded.status is NotificationStatus.SENT:
        log.info("notification_sent", **fields)
    elif recorded.status is NotificationStatus.FAILED:
        log.warning("notification_failed", error=recorded.last_error, **fields)
    elif recorded.hold_reason is None and not any(isinstance(e, DeliveryDeferred) for e in events):
        log.info(
            "notification_retry_scheduled",
            error=recorded.last_error,
            next_attempt_at=recorded.next_attempt_at.isoformat(),
            **fields,
        )


def held_before_asking(
    claimed: Notification, facts: RecipientFacts, now: datetime
) -> list[NotificationEvent]:
    """A client's message held for quiet hours by the time zone notify already knows (the
    client's from booking's events, else the site's), before booking is asked for the
    address: a message that does not go now discloses nothing. booking's answer may name a
    newer zone; the check after it holds by that one too."""
    if claimed.recipient_kind is not RecipientKind.CLIENT or facts.preferences is None:
        return []
    known = facts.client.timezone if facts.client else (facts.site.timezone if facts.site else None)
    if known is None:  # as when it was queued: no hold by a guess; booking's answer decides
        return []
    return rules.hold_if_quiet(claimed, facts.preferences.quiet_hours, zone_named(known), now)
