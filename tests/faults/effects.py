"""Every accepted command has exactly its effects: counted on the streams, at the sinks, in
crisis and in the dead letters, for one site.

- Each accepted command's event is on its stream once (an `unknown` command's at most once);
  no event stands for a command nobody sent.
- Each `SessionCompleted` leads to one `FollowUpDue`; each flagged client to one alert; each
  alert to one page (the site's policy has one level and one staff member, and no escalation
  falls due during a test).
- Each notifying event (`AppointmentBooked`, `FollowUpDue`: one message; `PageRequested`: an
  SMS and an email) has its `NotificationSent`s and reaches the sink once: distinct Message-IDs
  per mailbox and distinct idempotency keys per phone, so a provider call repeated after a crash
  (same key) is not a double, but a second notification is.
- Every open alert has pages, each of them delivered; no dead letter names the site.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devstack.environment import SERVICES
from tests.e2e.center import listed
from tests.e2e.harness import Suite
from tests.faults.load import Command, Site

NOTIFYING = {"AppointmentBooked": 1, "FollowUpDue": 1, "PageRequested": 2}
"""How many notifications notify sends for each event type it turns into messages."""


@dataclass
class Figures:
    events_checked: int = 0
    deliveries_checked: int = 0
    lost: int = 0
    doubled: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and not self.problems

    def expect(self, what: str, expected: int, found: int) -> None:
        """`found` copies of something that must exist `expected` times."""
        if found < expected:
            self.lost += expected - found
            self.problems.append(f"missing {expected - found}: {what}")
        elif found > expected:
            self.doubled += found - expected
            self.problems.append(f"doubled {found - expected}: {what}")

    def summary(self) -> str:
        head = (
            f"events checked {self.events_checked}, deliveries checked "
            f"{self.deliveries_checked}, lost {self.lost}, doubled {self.doubled}"
        )
        return "\n  ".join([head, *self.problems[:25]])


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    data: dict[str, Any]
    time: datetime | None = None  # the envelope's: when its producer decided it


async def read_subject(js: JetStreamContext, stream: str, subject: str) -> list[Event]:
    """Every message on `subject`, from the start, through a short-lived consumer."""
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        ),
    )
    events: list[Event] = []
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while len(events) < pending:
            try:
                msgs = await sub.fetch(256, timeout=2.0)
            except nats.errors.TimeoutError:
                break
            for msg in msgs:
                body = json.loads(msg.data)
                events.append(
                    Event(
                        str(body["id"]),
                        str(body["type"]),
                        body["data"],
                        datetime.fromisoformat(body["time"]),
                    )
                )
    finally:
        await sub.unsubscribe()
    return events


async def site_events(js: JetStreamContext, site_id: str) -> dict[str, list[Event]]:
    """The site's events per producing context."""
    contexts = {
        "booking": "BOOKING",
        "followup": "FOLLOWUP",
        "crisis": "CRISIS",
        "notify": "NOTIFY",
    }
    return {
        context: await read_subject(js, stream, f"{context}.{site_id}.*")
        for context, stream in contexts.items()
    }


def events_of(events: Iterable[Event], kind: str, **data: str) -> list[Event]:
    return [
        e
        for e in events
        if e.type == kind and all(str(e.data.get(k)) == v for k, v in data.items())
    ]


COMMAND_EVENTS = {
    "staff": ("booking", "StaffRegistered", "staff_id"),
    "client": ("booking", "ClientRegistered", "client_id"),
    "booking": ("booking", "AppointmentBooked", "appointment_id"),
    "completion": ("booking", "SessionCompleted", "appointment_id"),
    "flag": ("crisis", "RiskFlagged", "flag_id"),
}


def check_commands(figures: Figures, log: list[Command], events: dict[str, list[Event]]) -> None:
    for kind, (context, event_type, key) in COMMAND_EVENTS.items():
        commands = [c for c in log if c.kind == kind]
        on_stream = Counter(str(e.data[key]) for e in events_of(events[context], event_type))
        for command in commands:
            if command.outcome == "rejected":
                figures.problems.append(f"{kind} rejected: {command.detail}")
            if key not in command.ids:
                continue  # never answered: whether it took effect is checked below
            found = on_stream.get(command.ids[key], 0)
            if command.outcome == "accepted":
                figures.expect(f"{event_type} of accepted {kind} {command.ids[key]}", 1, found)
        # Events of commands that never got an answer: at most one per such command.
        unanswered = sum(1 for c in commands if c.outcome == "unknown" and key not in c.ids)
        others = sum(1 for k, n in on_stream.items() if n and not _answered(commands, key, k))
        if others > unanswered:
            figures.doubled += others - unanswered
            figures.problems.append(
                f"{others} {event_type} for {unanswered} unanswered {kind} commands"
            )
    # A high-risk completion is also booking's RiskFlagged for that client.
    for command in log:
        if command.kind == "completion" and command.risky and command.outcome == "accepted":
            flags = events_of(events["booking"], "RiskFlagged", client_id=command.ids["client_id"])
            figures.expect(
                f"booking RiskFlagged for client {command.ids['client_id']}", 1, len(flags)
            )


def _answered(commands: list[Command], key: str, value: str) -> bool:
    return any(c.ids.get(key) == value for c in commands)


def check_chains(figures: Figures, events: dict[str, list[Event]], oncall_id: str) -> None:
    booking, followup, crisis = events["booking"], events["followup"], events["crisis"]
    for completed in events_of(booking, "SessionCompleted"):
        client = str(completed.data["client_id"])
        due = events_of(followup, "FollowUpDue", client_id=client)
        figures.expect(f"FollowUpDue for client {client}", 1, len(due))
    flagged = {
        str(e.data["client_id"])
        for e in events_of(booking, "RiskFlagged") + events_of(crisis, "RiskFlagged")
    }
    for client in sorted(flagged):
        figures.expect(
            f"AlertRaised for client {client}",
            1,
            len(events_of(crisis, "AlertRaised", client_id=client)),
        )
    for alert in events_of(crisis, "AlertRaised"):
        alert_id = str(alert.data["alert_id"])
        pages = events_of(crisis, "PageRequested", alert_id=alert_id, staff_id=oncall_id)
        figures.expect(f"PageRequested for alert {alert_id}", 1, len(pages))


def check_notifications(figures: Figures, events: dict[str, list[Event]]) -> None:
    sent = events_of(events["notify"], "NotificationSent")
    for failed in events_of(events["notify"], "NotificationFailed"):
        figures.problems.append(f"notification failed: {failed.data}")
    by_cause: dict[str, set[str]] = {}
    for event in sent:
        by_cause.setdefault(str(event.data["cause_event_id"]), set()).add(
            str(event.data["notification_id"])
        )
    causes = [e for context in ("booking", "followup", "crisis") for e in events[context]]
    for cause in causes:
        if cause.type in NOTIFYING:
            # notify's own record of the delivery: not an effect of its own (the sink's
            # deliveries are counted), but nothing is complete until it is there.
            found = len(by_cause.get(cause.id, ()))
            if found != NOTIFYING[cause.type]:
                figures.problems.append(
                    f"{found} NotificationSent for {cause.type} {cause.id}, "
                    f"expected {NOTIFYING[cause.type]}"
                )


def check_sinks(figures: Figures, site: Site, events: dict[str, list[Event]]) -> None:
    """What reached the providers: one message per notification, per mailbox and per phone."""
    emails: dict[str, set[str]] = {}
    for email in site.suite.sinks.smtp.messages:
        for address in email.rcpt_tos:
            emails.setdefault(address, set()).add(str(email.message["Message-ID"]))
    texts: dict[str, set[str]] = {}
    for request in site.suite.sinks.http.requests("sms"):
        texts.setdefault(request.to, set()).add(str(request.idempotency_key))
    booking, followup, crisis = events["booking"], events["followup"], events["crisis"]
    for command in site.log.commands:
        if command.kind != "client" or "client_id" not in command.ids:
            continue
        client = command.ids["client_id"]
        expected = len(events_of(booking, "AppointmentBooked", client_id=client)) + len(
            events_of(followup, "FollowUpDue", client_id=client)
        )
        got = len(emails.get(command.address, ()))
        figures.deliveries_checked += expected
        figures.expect(f"emails to client {client}", expected, got)
    pages = len(events_of(crisis, "PageRequested", staff_id=str(site.oncall["id"])))
    figures.deliveries_checked += 2 * pages
    figures.expect("page emails to on-call", pages, len(emails.get(site.oncall["email"], ())))
    figures.expect("page texts to on-call", pages, len(texts.get(site.oncall["phone"], ())))


async def check_alerts(figures: Figures, suite: Suite, site_id: str) -> None:
    async with suite.client("crisis") as crisis:
        alerts: list[Any] = []
        params = {"site_id": site_id, "status": "open", "limit": "200"}
        while True:  # every page: lists come at most 200 at a time
            answer = await crisis.get("/alerts", params=params)
            alerts += listed(answer)
            if "next-cursor" not in answer.headers:
                break
            params = {**params, "cursor": answer.headers["next-cursor"]}
        for alert in alerts:
            detail = (await crisis.get(f"/alerts/{alert['id']}")).json()
            pages = detail.get("pages") or []
            if not pages or any(p.get("sent_at") is None for p in pages):
                figures.problems.append(f"open alert {alert['id']} has no delivered page: {pages}")


async def check_dead_letters(figures: Figures, suite: Suite, site_id: str) -> None:
    for service in SERVICES:
        conn = await asyncpg.connect(suite.database_url(service))
        try:
            rows = await conn.fetch(
                "SELECT consumer, subject, reason, detail FROM dead_letters WHERE subject LIKE $1",
                f"%.{site_id}.%",
            )
        finally:
            await conn.close()
        for row in rows:
            figures.problems.append(f"dead letter in {service}: {dict(row)}")


def exited_services(suite: Suite) -> list[str]:
    """Services whose process has ended: nothing restarts them here, as a fault must not stop
    one (a consumer backs off and resumes by itself)."""
    return [
        f"{name} exited with code {process.exit_code}: " + "\n".join(process.last_lines)[-2000:]
        for name, process in suite.processes.items()
        if process.exit_code is not None
    ]


async def check_effects(js: JetStreamContext, site: Site) -> Figures:
    figures = Figures()
    events = await site_events(js, site.site_id)
    figures.events_checked = sum(len(v) for v in events.values())
    for context, stream_events in events.items():
        copies = Counter(e.id for e in stream_events)
        for event_id, count in copies.items():
            figures.expect(f"{context} event {event_id} on its stream", 1, count)
    check_commands(figures, site.log.commands, events)
    check_chains(figures, events, str(site.oncall["id"]))
    check_notifications(figures, events)
    check_sinks(figures, site, events)
    await check_alerts(figures, site.suite, site.site_id)
    await check_dead_letters(figures, site.suite, site.site_id)
    return figures


async def recovered(
    js: JetStreamContext, site: Site, *, fault_ended: float, timeout: float, settle: float = 2.0
) -> tuple[Figures, float | None]:
    """Poll until every effect is present and nothing is doubled, then look once more after
    `settle` seconds (a late double shows up there). Returns the last figures and the seconds
    from `fault_ended` (a `time.monotonic()`) until the effects were complete, or None if they
    never were within `timeout` (or a service died)."""
    figures = Figures()
    while time.monotonic() - fault_ended < timeout:
        if exited := exited_services(site.suite):
            figures.problems[:0] = exited
            return figures, None
        try:
            figures = await check_effects(js, site)
        except (OSError, nats.errors.Error, asyncpg.PostgresError) as error:
            figures = Figures(problems=[f"cannot check yet: {error!r}"])
        if figures.clean:
            took = time.monotonic() - fault_ended
            await asyncio.sleep(settle)
            final = await check_effects(js, site)
            return final, took if final.clean else None
        await asyncio.sleep(1.0)
    return figures, None
