"""The waitlist: joining it, offering freed slots in order, accepting an offer.

A freed slot is offered inside the transaction that freed it (the cancellation, the
reschedule, or the timer releasing a hold), so a slot is never freed without its offer.
Outside the offer window (`WAITLIST_OFFER_HOURS`, the site's zone) that transaction instead
records the slot as deferred: a durable timer offers it when the window opens.

A group session's waitlist is the same machinery: its entries name the session, and a freed
seat (a seat cancelled, a capacity raised, a seat's offer expired) is a freed slot naming the
session. Its seats are counted under the session's row lock before each is offered, and each
offered seat is held (a hold naming the session) until accepted or expired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg

from booking.adapters import (
    claims,
    closures_store,
    deferred_store,
    group_session_store,
    projections,
    scheduling_store,
    waitlist_store,
)
from booking.adapters.projections import RESOURCE_OF_CONSTRAINT
from booking.application import handlers
from booking.application.holding import expire_hold, save_hold
from booking.application.ports import EverySite, SiteAccess, require_site
from booking.application.recording import record, stream_id
from booking.domain import appointment, client, group_session
from booking.domain.appointment import Appointment
from booking.domain.client import Client
from booking.domain.errors import NotAllowedNow, UnknownAggregate, refuse_invalid
from booking.domain.group_session import GroupSession, GroupSessionStatus
from booking.domain.scheduling import deferred, holds, waitlist
from booking.domain.scheduling.closures import closed_day
from booking.domain.scheduling.deferred import DeferredSlot
from booking.domain.scheduling.holds import Hold
from booking.domain.scheduling.offer_window import OfferWindow, offer_at, worth_a_late_offer
from booking.domain.scheduling.waitlist import Entry, FreedSlot, Offer, OfferStatus
from booking.domain.slots import TimeSlot
from counseling_shared import audit
from counseling_shared import events as public
from counseling_shared.events import IntegrationEvent
from counseling_shared.links import LinkSigner
from counseling_shared.unit_of_work import UnitOfWork

ACCEPT_PURPOSE = "waitlist-offer"


@dataclass(frozen=True)
class OfferPolicy:
    ttl: timedelta
    signer: LinkSigner
    base_url: str
    window: OfferWindow  # the hours of the site's day in which offers are made

    def accept_url(self, offer: Offer) -> str:
        token = self.signer.sign(
            ACCEPT_PURPOSE, str(offer.id), expires_at=offer.expires_at, person=str(offer.client_id)
        )
        base = self.base_url.rstrip("/")
        return f"{base}/waitlist/offers/{offer.id}/accept?token={quote(token)}"

    def on_freed(self) -> handlers.SlotFreed:
        return lambda uow, freed: offer_freed_slot(uow, freed, self)


def _no_public(state: object, event: object) -> list[IntegrationEvent]:
    return []


async def join_waitlist(
    uow: UnitOfWork, command: waitlist.JoinWaitlist, access: SiteAccess
) -> Entry:
    require_site(access, command.site_id)
    the_client = await projections.load_client(uow.conn, command.client_id)
    counselor = (
        await projections.load_staff_member(uow.conn, command.counselor_id)
        if command.counselor_id
        else None
    )
    entry_id = uuid4()
    events = waitlist.join(command, entry_id, the_client, counselor, uow.now())
    state = await record(
        uow,
        stream_id("waitlist", entry_id),
        None,
        0,
        events,
        waitlist.evolve_entry,
        _no_public,
        entry_id,
    )
    await waitlist_store.save_entry(uow.conn, state)
    return state


async def join_group_waitlist(
    uow: UnitOfWork, group_session_id: UUID, client_id: UUID, access: SiteAccess
) -> Entry:
    """Put a client of the session's site on a full group's waitlist (an entry naming the
    session, with no other constraint). Checked under the session's row lock, as a seat is."""
    session = await _locked_group(uow, group_session_id)
    require_site(access, session.site_id)
    the_client = await projections.load_client(uow.conn, client_id)
    refuse_invalid({"client_id": appointment.client_problem(the_client, session.site_id)})
    seated = await group_session_store.seats_of(uow.conn, group_session_id)
    held = await group_session_store.held_seats(uow.conn, group_session_id)
    waiting = await waitlist_store.waiting_for_group(uow.conn, group_session_id)
    group_session.check_joins_waitlist(
        session, client_id, {s.client_id for s in seated}, held, {e.client_id for e in waiting}
    )
    entry_id = uuid4()
    # A replay of the request answers the entry, not the group session its path names.
    uow.name_resource(entry_id, f"/waitlist/{entry_id}")
    joined = waitlist.WaitlistJoined(
        entry_id,
        session.site_id,
        client_id,
        counselor_id=None,
        modality=None,
        earliest=None,
        latest=None,
        weekdays=None,
        joined_at=uow.now(),
        group_session_id=session.id,
    )
    state = await record(
        uow,
        stream_id("waitlist", entry_id),
        None,
        0,
        [joined],
        waitlist.evolve_entry,
        _no_public,
        entry_id,
    )
    await waitlist_store.save_entry(uow.conn, state)
    return state


async def _locked_group(uow: UnitOfWork, group_session_id: UUID) -> GroupSession:
    session = await group_session_store.load_group_session(uow.conn, group_session_id, locked=True)
    if session is None:
        raise UnknownAggregate("group session", group_session_id)
    return session


def offer_events(state: Offer, event: waitlist.OfferEvent, url: str) -> list[IntegrationEvent]:
    if not isinstance(event, waitlist.WaitlistOfferMade):
        return []
    return [
        public.WaitlistOfferMade(
            offer_id=state.id,
            client_id=state.client_id,
            site_id=state.site_id,
            appointment_start=state.start,
            appointment_end=state.end,
            counselor_id=state.counselor_id,
            accept_url=url,
            expires_at=state.expires_at,
            group_session_id=state.group_session_id,
        )
    ]


async def _save_offer(
    uow: UnitOfWork,
    current: Offer | None,
    events: list[waitlist.OfferEvent],
    policy: OfferPolicy | None = None,
) -> Offer:
    ident = current.id if current else events[0].offer_id

    def publish(state: Offer, event: waitlist.OfferEvent) -> list[IntegrationEvent]:
        return offer_events(state, event, policy.accept_url(state)) if policy else []

    state = await record(
        uow,
        stream_id("offer", ident),
        current,
        current.version if current else 0,
        events,
        waitlist.evolve_offer,
        publish,
        ident,
    )
    await waitlist_store.save_offer(uow.conn, state)
    return state


async def offer_freed_slot(uow: UnitOfWork, freed: FreedSlot, policy: OfferPolicy) -> Offer | None:
    """Offer `freed` to the waitlist (`_offer_slot`); a group's freed seat goes to the
    group's waitlist, as many offers as the group has free seats now."""
    if freed.group_session_id is None:
        return await _offer_slot(uow, freed, policy)
    offers = await offer_free_seats(uow, freed.group_session_id, policy)
    return offers[0] if offers else None


async def offer_free_seats(
    uow: UnitOfWork, group_session_id: UUID, policy: OfferPolicy
) -> list[Offer]:
    """Offer each free seat of the group (not seated, not held for an offer) to its
    waitlist, one entry per seat in joining order. Counted under the session's row lock, so
    concurrent seats and offers never overfill it."""
    session = await _locked_group(uow, group_session_id)
    if session.status is not GroupSessionStatus.BOOKED:
        return []
    seated = await group_session_store.seats_of(uow.conn, session.id)
    held = await group_session_store.held_seats(uow.conn, session.id)
    offers: list[Offer] = []
    for _ in range(group_session.seats_left(session, len(seated), held)):
        offer = await _offer_slot(uow, _seat_of(session), policy, session.on_closed_day)
        if offer is None:
            break  # nobody (else) waits, or the seat was deferred to the offer window
        offers.append(offer)
    return offers


def _seat_of(session: GroupSession) -> FreedSlot:
    return FreedSlot(
        session.site_id,
        session.counselor_id,
        session.room_id,
        session.modality,
        session.start,
        session.end,
        session.id,
    )


async def withdraw_group_offers(uow: UnitOfWork, group_session_id: UUID) -> None:
    """The group moves or ends: its open offers expire and their held seats are released
    (not offered on: the caller offers the seats again at the new time, if any)."""
    for offer in await waitlist_store.open_offers_of_group(uow.conn, group_session_id):
        hold = await scheduling_store.load_hold(
            uow.conn, offer.hold_id, lock=True, skip_locked=True
        )
        if hold is None:
            continue  # the hold timer is expiring it now: it offers the seat again itself
        await expire_hold(uow, hold)
        await _save_offer(uow, offer, [waitlist.WaitlistOfferExpired(offer.id, uow.now())])


async def _offer_slot(
    uow: UnitOfWork, freed: FreedSlot, policy: OfferPolicy, on_closed_day: bool = False
) -> Offer | None:
    """Offer `freed` to the first waiting entry it fits (in order of joining) that has no
    open offer, was not offered this slot before, and whose client is free then; outside
    the offer window, defer it to the window's opening instead (when anyone waits for it).
    `on_closed_day`: a seat of a group an admin put on a closed day is offered all the same."""
    now = uow.now()
    if freed.start <= now:
        return None
    at_site = await projections.load_site(uow.conn, freed.site_id)
    assert at_site is not None
    zone = ZoneInfo(at_site.timezone)
    closed = await closures_store.closures_of_site(uow.conn, freed.site_id)
    if closed_day(closed, zone, freed.start, freed.end) and not on_closed_day:
        return None  # the site is closed that day: nobody is offered it
    when = offer_at(policy.window, zone, now, freed.start, policy.ttl)
    if when is None:
        return None
    if when > now:
        await _defer(uow, freed, zone, when)
        return None
    slot = TimeSlot(freed.start, freed.end)
    for entry in await waitlist_store.candidates(
        uow.conn, freed.site_id, freed.counselor_id, freed.start, freed.group_session_id
    ):
        if not entry.matches(freed, zone):
            continue
        hold_id = uuid4()
        claim = claims.Claim(
            hold_id,
            "hold",
            freed.site_id,
            freed.counselor_id,
            freed.room_id,
            entry.client_id,
            slot.start,
            slot.end,
            active=True,
            group_session_id=freed.group_session_id,  # a seat: its client's time only
        )
        taken = await _claim_refused(uow, claim)
        if taken == "client":
            continue  # this client is busy then: the next one may not be
        if taken is not None:
            return None  # someone else has the slot already
        placed = holds.place(
            hold_id,
            freed.site_id,
            freed.counselor_id,
            entry.client_id,
            freed.room_id,
            freed.modality,
            slot,
            now,
            now + policy.ttl,
            freed.group_session_id,
        )
        hold = await save_hold(uow, None, placed)
        made = waitlist.WaitlistOfferMade(
            uuid4(),
            entry.id,
            entry.site_id,
            entry.client_id,
            hold.id,
            freed.counselor_id,
            slot.start,
            slot.end,
            now,
            hold.expires_at,
            freed.group_session_id,
        )
        return await _save_offer(uow, None, [made], policy)
    return None


async def _defer(uow: UnitOfWork, freed: FreedSlot, zone: ZoneInfo, when: datetime) -> None:
    """Keep the slot for the window's opening, unless no waiting entry could take it."""
    entries = await waitlist_store.waiting(uow.conn, freed.site_id)
    if not any(entry.matches(freed, zone) for entry in entries):
        return  # as inside the window: a slot nobody waits for is not offered later either
    deferred_id = uuid4()
    state = await record(
        uow,
        stream_id("deferred", deferred_id),
        None,
        0,
        deferred.defer(deferred_id, freed, uow.now(), when),
        deferred.evolve,
        _no_public,
        deferred_id,
    )
    await deferred_store.save_deferred(uow.conn, state)


async def _hand_over(uow: UnitOfWork, freed: FreedSlot) -> None:
    """What `decline_offer` does after releasing the hold, without an offer policy: the slot
    is recorded as deferred and due now, so the running service's deferred-offer timer (woken
    by the row's NOTIFY) offers it to the next client with its own policy (signed link,
    offer window, time to live), as `deferred_due`."""
    deferred_id = uuid4()
    state = await record(
        uow,
        stream_id("deferred", deferred_id),
        None,
        0,
        deferred.hand_over(deferred_id, freed, uow.now()),
        deferred.evolve,
        _no_public,
        deferred_id,
    )
    await deferred_store.save_deferred(uow.conn, state)


async def deferred_due(uow: UnitOfWork, slot: DeferredSlot, policy: OfferPolicy) -> None:
    """The deferred-offer timer's work: the window opened, so the slot goes to the waitlist
    as if freed now (still free, still far enough ahead; a late timer defers it again)."""
    events = deferred.release(slot, uow.now())
    if not events:
        return
    state = await record(
        uow,
        stream_id("deferred", slot.id),
        slot,
        slot.version,
        events,
        deferred.evolve,
        _no_public,
        slot.id,
    )
    await deferred_store.save_deferred(uow.conn, state)
    if worth_a_late_offer(slot.slot.start, uow.now(), policy.ttl):
        await offer_freed_slot(uow, slot.slot, policy)


async def _claim_refused(uow: UnitOfWork, claim: claims.Claim) -> str | None:
    """Claim the slot ahead of the hold's events; the resource that refused it, if any."""
    try:
        async with uow.conn.transaction():
            await claims.sync(uow.conn, claim)
    except asyncpg.ExclusionViolationError as exc:
        return RESOURCE_OF_CONSTRAINT.get(exc.constraint_name or "", "counselor")
    return None


async def hold_expired(uow: UnitOfWork, hold: Hold, policy: OfferPolicy | None) -> None:
    """The timer's work: release the hold, close its offer, offer the slot to the next."""
    released = await expire_hold(uow, hold)
    if released is None:
        return
    offer = await waitlist_store.offer_of_hold(uow.conn, hold.id)
    if offer is not None and offer.status is OfferStatus.OPEN:
        await _save_offer(uow, offer, [waitlist.WaitlistOfferExpired(offer.id, uow.now())])
    if policy is not None:
        await offer_freed_slot(uow, _freed_of(hold), policy)


def _freed_of(hold: Hold) -> FreedSlot:
    """The slot or seat a released hold kept."""
    return FreedSlot(
        hold.site_id,
        hold.counselor_id,
        hold.room_id,
        hold.modality,
        hold.slot.start,
        hold.slot.end,
        hold.group_session_id,
    )


async def accept_offer(uow: UnitOfWork, offer_id: UUID) -> Appointment:
    """Book the offered slot through its hold (the signed link is the credential). A group's
    seat: booked under the session's row lock, the hold counted as taken until then."""
    offer = await waitlist_store.load_offer(uow.conn, offer_id, lock=True)
    if offer is None:
        raise UnknownAggregate("waitlist offer", offer_id)
    waitlist.check_acceptable(offer, uow.now())
    hold = await scheduling_store.load_hold(uow.conn, offer.hold_id)
    assert hold is not None
    on_closed_day = False
    if offer.group_session_id is not None:
        # Offer, then session, then hold: the order the hold timer's expiry cannot cross.
        session = await _locked_group(uow, offer.group_session_id)
        if session.status is not GroupSessionStatus.BOOKED or session.slot != hold.slot:
            raise NotAllowedNow(
                f"group session {session.id} was cancelled or moved since this offer; a seat "
                "at its new time is offered again"
            )
        on_closed_day = session.on_closed_day  # its seats follow it onto that day
    command = appointment.BookAppointment(
        counselor_id=hold.counselor_id,
        client_id=offer.client_id,
        room_id=hold.room_id,
        start=hold.slot.start,
        duration_minutes=hold.slot.minutes,
        modality=hold.modality,
        group_session_id=hold.group_session_id,
    )
    booked = await handlers.book_appointment(
        uow, command, EverySite(), hold_id=hold.id, allow_closed_site=on_closed_day
    )
    await _save_offer(uow, offer, [waitlist.WaitlistOfferAccepted(offer.id, booked.id, uow.now())])
    entry = await waitlist_store.load_entry(uow.conn, offer.entry_id)
    assert entry is not None
    state = await record(
        uow,
        stream_id("waitlist", entry.id),
        entry,
        entry.version,
        [waitlist.WaitlistEntryBooked(entry.id, booked.id, uow.now())],
        waitlist.evolve_entry,
        _no_public,
        entry.id,
    )
    await waitlist_store.save_entry(uow.conn, state)
    return booked


def _entry_events(state: Entry, event: waitlist.EntryEvent) -> list[IntegrationEvent]:
    if not isinstance(event, waitlist.WaitlistEntryWithdrawn):
        return []
    return [
        public.WaitlistEntryWithdrawn(
            entry_id=state.id,
            client_id=state.client_id,
            site_id=state.site_id,
            reason=event.reason.value,
            withdrawn_at=event.withdrawn_at,
            group_session_id=state.group_session_id,
        )
    ]


async def withdraw_entry(
    uow: UnitOfWork,
    entry_id: UUID,
    reason: waitlist.WithdrawReason,
    access: SiteAccess,
    policy: OfferPolicy,
) -> Entry:
    """Take an entry off the waitlist (409 unless waiting). Its open offer, if any, is
    withdrawn and the slot or seat offered to the next client at once, as on expiry."""

    def decide(entry: Entry) -> list[waitlist.EntryEvent]:
        require_site(access, entry.site_id)
        _audit_names(entry.site_id, entry.client_id)
        return waitlist.withdraw(entry, reason, uow.now())

    left = await _leave(uow, entry_id, decide, policy)
    assert left is not None
    return left


def _audit_names(site_id: UUID, client_id: UUID) -> None:
    """The request is about this client, not the next one offered the slot (whose offer is
    the first event it publishes)."""
    audit.note_site(site_id)
    audit.note_client(client_id)


async def close_entries(
    uow: UnitOfWork,
    entries: list[Entry],
    reason: waitlist.CloseReason,
    policy: OfferPolicy | None,
    *,
    hand_over: bool = False,
) -> list[Entry]:
    """Close the waiting entries that no longer make sense (status `closed`), each open offer
    withdrawn; its slot or seat offered to the next client at once (`policy`), or, without
    one, by the hold timer when the offer's hold runs out; or, with `hand_over` (an
    operator's erasure, which has no policy), released now and handed to the service's
    deferred-offer timer, which offers it on at once."""
    closed = []
    for entry in entries:
        left = await _leave(
            uow,
            entry.id,
            lambda current: waitlist.close(current, reason, uow.now()),
            policy,
            hand_over=hand_over,
        )
        if left is not None:
            closed.append(left)
    return closed


async def _leave(
    uow: UnitOfWork,
    entry_id: UUID,
    decide: Callable[[Entry], list[waitlist.EntryEvent]],
    policy: OfferPolicy | None,
    *,
    release_hold: bool = False,
    hand_over: bool = False,
) -> Entry | None:
    """Record `decide`'s leaving of the entry, then withdraw its open offer. Locks the offer
    before the entry, the order an accept takes them in. None when nothing was decided.
    `release_hold` without a `policy`: the offer's hold is released now, nothing offered on;
    `hand_over`: released now and handed to the deferred-offer timer (`_hand_over`)."""
    pending = await waitlist_store.open_offer_of_entry(uow.conn, entry_id)
    if pending is not None:
        await waitlist_store.load_offer(uow.conn, pending.id, lock=True)
    entry = await waitlist_store.load_entry(uow.conn, entry_id, lock=True)
    if entry is None:
        raise UnknownAggregate("waitlist entry", entry_id)
    events = decide(entry)
    if not events:
        return None
    state = await record(
        uow,
        stream_id("waitlist", entry.id),
        entry,
        entry.version,
        events,
        waitlist.evolve_entry,
        _entry_events,
        entry.id,
    )
    await waitlist_store.save_entry(uow.conn, state)
    # Read again under the entry's lock: no offer is made to it meanwhile.
    offer = await waitlist_store.open_offer_of_entry(uow.conn, entry_id)
    if offer is not None:
        withdrawn = waitlist.WaitlistOfferWithdrawn(offer.id, uow.now())
        if policy is not None:
            await _release_offer(uow, offer, withdrawn, policy)
        elif hand_over:
            released = await _release_hold(uow, offer, withdrawn)
            if released is not None:  # else the hold timer has it now and offers it on
                await _hand_over(uow, _freed_of(released[1]))
        elif release_hold:
            await _release_hold(uow, offer, withdrawn)
        else:
            await _save_offer(uow, offer, [withdrawn])  # the hold runs out, then goes on
    return state


async def decline_offer(uow: UnitOfWork, offer_id: UUID, policy: OfferPolicy) -> Offer:
    """The client's "No, thank you": the hold is released and the slot or seat offered to
    the next client at once. 409 when accepted, 410 when expired, declined or withdrawn."""
    offer = await waitlist_store.load_offer(uow.conn, offer_id, lock=True)
    if offer is None:
        raise UnknownAggregate("waitlist offer", offer_id)
    _audit_names(offer.site_id, offer.client_id)
    waitlist.check_acceptable(offer, uow.now())
    released = await _release_offer(
        uow, offer, waitlist.WaitlistOfferDeclined(offer.id, uow.now()), policy
    )
    if released is None:
        raise waitlist.OfferExpired(offer)  # the hold timer is expiring it right now
    return released


async def _release_offer(
    uow: UnitOfWork, offer: Offer, closing: waitlist.OfferEvent, policy: OfferPolicy
) -> Offer | None:
    """Close an open offer with `closing`, release its hold and offer the slot on, as the
    hold timer does on expiry. None when the timer holds the hold now: it expires the offer
    and offers the slot on itself."""
    released = await _release_hold(uow, offer, closing)
    if released is None:
        return None
    state, hold = released
    await offer_freed_slot(uow, _freed_of(hold), policy)
    return state


async def _release_hold(
    uow: UnitOfWork, offer: Offer, closing: waitlist.OfferEvent
) -> tuple[Offer, Hold] | None:
    """Close an open offer with `closing` and release its hold. None when the hold timer holds
    the hold now (it expires the offer itself)."""
    hold = await scheduling_store.load_hold(uow.conn, offer.hold_id, lock=True, skip_locked=True)
    if hold is None:
        return None
    await expire_hold(uow, hold)
    return await _save_offer(uow, offer, [closing]), hold


async def withdraw_by_link(uow: UnitOfWork, offer_id: UUID, policy: OfferPolicy) -> Entry:
    """The offer page's "Take me off the waiting list": the link's client withdraws the
    offer's entry (`client_request`). The signed link is the credential."""
    offer = await waitlist_store.load_offer(uow.conn, offer_id)
    if offer is None:
        raise UnknownAggregate("waitlist offer", offer_id)
    return await withdraw_entry(
        uow, offer.entry_id, waitlist.WithdrawReason.CLIENT_REQUEST, EverySite(), policy
    )


async def close_care_episode(
    uow: UnitOfWork,
    client_id: UUID,
    command: client.CloseCareEpisode,
    access: SiteAccess,
    policy: OfferPolicy,
) -> Client:
    """Close the client's care episode; their waiting entries close with it
    (`episode_closed`), each open offer going to the next client at once."""
    closed = await handlers.close_care_episode(uow, client_id, command, access)
    entries = await waitlist_store.waiting_of_client(uow.conn, client_id)
    await close_entries(uow, entries, waitlist.CloseReason.EPISODE_CLOSED, policy)
    return closed


async def close_series_entries(
    uow: UnitOfWork,
    client_id: UUID,
    group_session_ids: set[UUID],
    policy: OfferPolicy | None,
) -> list[Entry]:
    """The client left a group series: their waiting entries for these of its occurrences
    close (`left_series`), each open offer withdrawn and its seat offered to the next client
    at once (`policy`), as on a closed care episode."""
    waiting = await waitlist_store.waiting_of_client(uow.conn, client_id)
    entries = [e for e in waiting if e.group_session_id in group_session_ids]
    return await close_entries(uow, entries, waitlist.CloseReason.LEFT_SERIES, policy)


async def lock_group_wait(uow: UnitOfWork, group_session_id: UUID, client_id: UUID) -> Entry | None:
    """The client's waiting entry for the group, if any, with its open offer locked: a direct
    seat takes this before the session's row lock, the order an accept takes them in."""
    waiting = await waitlist_store.waiting_for_group(uow.conn, group_session_id)
    entry = next((e for e in waiting if e.client_id == client_id), None)
    if entry is not None:
        offer = await waitlist_store.open_offer_of_entry(uow.conn, entry.id)
        if offer is not None:
            await waitlist_store.load_offer(uow.conn, offer.id, lock=True)
    return entry


async def close_seated_entry(uow: UnitOfWork, entry: Entry) -> None:
    """The client is taking a seat in the group directly: their entry for it closes
    (`seated`), and its open offer is withdrawn with its hold released but not offered on (the
    client's own hold would refuse their seat as an overlap; the caller offers the seats still
    free once the client is seated). An entry that left meanwhile is left as it is."""
    await _leave(
        uow,
        entry.id,
        lambda current: waitlist.close(current, waitlist.CloseReason.SEATED, uow.now()),
        None,
        release_hold=True,
    )


async def close_group_entries(uow: UnitOfWork, group_session_id: UUID) -> None:
    """The group session was cancelled: its waiting entries close (`group_cancelled`); its
    open offers were withdrawn already (`withdraw_group_offers`), and nothing is offered on."""
    entries = await waitlist_store.waiting_for_group(uow.conn, group_session_id)
    await close_entries(uow, entries, waitlist.CloseReason.GROUP_CANCELLED, None)
