"""SMS replies from paged staff: `ACK <code>` acknowledges the alert of the page with that code
as the staff member whose phone sent it; `ESC <code>` escalates it now (they cannot take it);
`RES <code> <n>` resolves it with the n-th outcome (`RES <code>` alone: the list of outcomes),
by the HTTP resolve's rules (the staff member works at the alert's site, or was paged for it
as another site's backup).
The answer text goes back by SMS (as the webhook's answer, which the provider texts to the
sender)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from counseling_shared import events as public
from counseling_shared.codes import AlertOutcome
from counseling_shared.staff_replies import WITH_CODE, StaffCommand, StaffText
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import alert_views, staff
from crisis.application import alerts, people
from crisis.application.publishing import Paging, reply_code
from crisis.domain.alert import (
    AlertResolved,
    AlreadyAcknowledged,
    AlreadyEscalated,
    NothingToEscalate,
)
from crisis.domain.escalation import Step
from crisis.domain.phones import key_fingerprint, phone_digest


@dataclass(frozen=True)
class Sender:
    """The sender's phone as crisis recognises it: its staff-phone digest under each listed
    key, and the one under the current key (None: not given, so a match is not re-digested)."""

    digests: tuple[str, ...]
    current: str | None
    current_key: str

    @classmethod
    def of_phone(cls, phone_keys: Sequence[str], phone: str) -> "Sender":
        """A text posted to crisis itself: crisis has the number at this moment."""
        digests = tuple(phone_digest(key, phone) for key in phone_keys)
        return cls(digests, digests[0], key_fingerprint(phone_keys[0]))

    @classmethod
    def of_digests(cls, phone_keys: Sequence[str], given: Sequence[tuple[str, str]]) -> "Sender":
        """A text notify took in (`crisis.staff_replies`): the digests notify made, as
        (key fingerprint, digest), under the keys notify lists."""
        current_key = key_fingerprint(phone_keys[0])
        current = next((d for key, d in given if key == current_key), None)
        return cls(tuple(d for _, d in given), current, current_key)


@dataclass(frozen=True)
class SmsAnswer:
    """What to text back: an English msgid and its values (translated by the caller)."""

    msgid: str
    values: dict[str, Any] = field(default_factory=dict)
    staff_id: UUID | None = None
    alert_id: UUID | None = None
    site_id: UUID | None = None


HELP = (
    "Reply ACK and the code from the page to take the alert, e.g. ACK 1A2B3C; ESC and the code"
    " if you cannot, to page the next level now; RES and the code to resolve it."
)
KEYWORDS_HELP = (
    "Crisis pages. Reply ACK and the code from the page to take the alert, e.g. ACK 1A2B3C;"
    " ESC and the code if you cannot, to page the next level now; RES and the code to resolve"
    " it. STOP ends SMS pages to this phone (they go on by email), START brings them back."
)
STOPPED = (
    "SMS pages to this phone are stopped; you are still paged by email, and the escalation"
    " policy shows it. Reply START to get them again."
)
STARTED = "SMS pages to this phone are back on."
NOT_STAFF = "This number only pages on-call staff; this phone is not one of theirs."
UNKNOWN = "No open page with this code was sent to this phone."
ACKNOWLEDGED = "Alert %(alert)s acknowledged. Escalation has stopped."
ALREADY = "Alert %(alert)s was already acknowledged by %(who)s at %(when)s."
RESOLVED = "Alert %(alert)s is already resolved."
ESCALATED = "Alert %(alert)s escalated: level %(level)s is paged now."
ESCALATED_TO_FALLBACK = (
    "Alert %(alert)s escalated: every level has been paged; the fallback staff, if any, are"
    " paged now."
)
RESOLVE_CHOICES = (
    "To resolve alert %(alert)s, reply RES %(code)s and the outcome's digit: 1 safety plan,"
    " 2 referred to emergency services, 3 referred to hospital, 4 police, 5 no risk found."
)
RESOLVED_AS = "Alert %(alert)s resolved: %(outcome)s."
NOT_ALLOWED = (
    "Alert %(alert)s is not resolved: you do not work at its site (or have been deactivated)."
)
MOVED_ON = "Alert %(alert)s has already moved on: level %(level)s is paged."
NOTHING_TO_ESCALATE = "Alert %(alert)s has no further level to page."


async def handle_reply(
    uow: UnitOfWork, sender: Sender, asked: StaffText, paging: Paging
) -> SmsAnswer:
    """`sender`: the phone's digests under the current key of staff phone digests and the
    ones it replaced (a digest made before a key rotation still matches while its key is
    listed). A sender matched under a previous key (or under a key not on record) has their
    digest made again with the current key: crisis has it at this moment only."""
    if asked.command is StaffCommand.OTHER:
        return SmsAnswer(HELP)
    if asked.command is StaffCommand.HELP:
        return SmsAnswer(KEYWORDS_HELP)
    matches = await staff.with_phone_digest(uow.conn, sender.digests)
    if sender.current is not None:
        await _redigest(uow, matches, sender.current, sender.current_key)
    senders = [m.staff_id for m in matches]
    if asked.command not in WITH_CODE:
        return await _stop_or_start(uow, senders, asked.command is StaffCommand.STOP)
    code = asked.code or ""
    page = await alert_views.page_with_code(uow.conn, senders, code) if senders else None
    if page is None or reply_code(page["page_id"]) != code:
        return SmsAnswer(UNKNOWN)
    staff_id, alert_id = page["staff_id"], page["alert_id"]
    known = {"staff_id": staff_id, "alert_id": alert_id, "site_id": page["site_id"]}
    short = str(alert_id)[:8]
    if asked.command is StaffCommand.ESCALATE:
        return await _escalate(uow, page, paging, known)
    if asked.command is StaffCommand.RESOLVE:
        return await _resolve(uow, page, asked.outcome, paging, known)
    if page["status"] == "open":
        await alerts.acknowledge(uow, alert_id, staff_id, paging)
    view = await alert_views.alert_view(uow.conn, alert_id)
    assert view is not None
    if page["status"] == "open" and view["acknowledged_by"] == staff_id:
        return SmsAnswer(ACKNOWLEDGED, {"alert": short}, **known)
    if view["acknowledged_at"] is None:
        return SmsAnswer(RESOLVED, {"alert": short}, **known)
    return await _already(uow, alert_id, known)


async def _escalate(
    uow: UnitOfWork, page: dict[str, Any], paging: Paging, known: dict[str, Any]
) -> SmsAnswer:
    """`ESC <code>`: the alert leaves the page's step now. A page of a step the alert has
    left (the timer fired, or a colleague escalated) escalates nothing more; an acknowledged
    or resolved alert answers as `ACK` does."""
    alert_id, staff_id = page["alert_id"], page["staff_id"]
    short = str(alert_id)[:8]
    step = Step(page["cycle"], page["level"])
    try:
        after = await alerts.escalate_now(uow, alert_id, staff_id, paging, step)
    except AlreadyEscalated as moved:
        level = moved.step.level if moved.step else 0
        return SmsAnswer(MOVED_ON, {"alert": short, "level": level}, **known)
    except NothingToEscalate:
        return SmsAnswer(NOTHING_TO_ESCALATE, {"alert": short}, **known)
    except AlertResolved:
        return SmsAnswer(RESOLVED, {"alert": short}, **known)
    except AlreadyAcknowledged:
        return await _already(uow, alert_id, known)
    if after.exhausted:
        return SmsAnswer(ESCALATED_TO_FALLBACK, {"alert": short}, **known)
    return SmsAnswer(ESCALATED, {"alert": short, "level": after.current_level}, **known)


async def _resolve(
    uow: UnitOfWork,
    page: dict[str, Any],
    outcome: AlertOutcome | None,
    paging: Paging,
    known: dict[str, Any],
) -> SmsAnswer:
    """`RES <code> <n>`: resolved as the page's staff member, by `POST /alerts/{id}/resolve`'s
    rules; without a valid digit, the outcomes to choose from (nothing changes)."""
    alert_id, staff_id = page["alert_id"], page["staff_id"]
    short = str(alert_id)[:8]
    if page["status"] == "resolved":
        return SmsAnswer(RESOLVED, {"alert": short}, **known)
    if not await people.may_act_on(uow.conn, staff_id, page["site_id"], alert_id):
        return SmsAnswer(NOT_ALLOWED, {"alert": short}, **known)
    if outcome is None:
        code = reply_code(page["page_id"])
        return SmsAnswer(RESOLVE_CHOICES, {"alert": short, "code": code}, **known)
    try:
        await alerts.resolve(uow, alert_id, staff_id, outcome, paging)
    except AlertResolved:  # resolved meanwhile, under the alert's lock
        return SmsAnswer(RESOLVED, {"alert": short}, **known)
    return SmsAnswer(RESOLVED_AS, {"alert": short, "outcome": outcome}, **known)


async def _already(uow: UnitOfWork, alert_id: UUID, known: dict[str, Any]) -> SmsAnswer:
    view = await alert_views.alert_view(uow.conn, alert_id)
    assert view is not None
    assert view["acknowledged_at"] is not None
    by = view["acknowledged_by"]
    who = (await staff.names_of(uow.conn, [by])).get(str(by)) or str(by)[:8]
    short = str(alert_id)[:8]
    return SmsAnswer(
        ALREADY, {"alert": short, "who": who, "when": view["acknowledged_at"]}, **known
    )


async def _redigest(
    uow: UnitOfWork, matches: Sequence[staff.PhoneMatch], current: str, current_key: str
) -> None:
    for match in matches:
        if (match.phone_digest, match.phone_digest_key) != (current, current_key):
            await staff.redigest_phone(
                uow.conn, match.staff_id, match.phone_digest, current, current_key
            )


async def _stop_or_start(uow: UnitOfWork, senders: Sequence[UUID], stop: bool) -> SmsAnswer:
    """STOP from a staff member's phone: recorded, told to notify (which stops SMS and
    messaging to that phone; email pages go on), shown in the policy's warnings. Dangerous
    for paging, but the law gives the texter the last word; the admin sees the gap."""
    if not senders:
        return SmsAnswer(NOT_STAFF)
    known: dict[str, Any] = {}
    for staff_id in senders:
        if stop:
            site_id = await staff.stop_texts(uow.conn, staff_id, uow.now())
        else:
            site_id = await staff.resume_texts(uow.conn, staff_id)
        if site_id is not None:  # a repeat changes nothing and says nothing again
            change = public.StaffSmsOptOutChanged(
                staff_id=staff_id, site_id=site_id, opted_out=stop
            )
            uow.publish(change, subject=staff_id)
            known = {"staff_id": staff_id, "site_id": site_id}
    return SmsAnswer(STOPPED if stop else STARTED, **known)
