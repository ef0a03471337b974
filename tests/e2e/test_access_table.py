"""Who may call what: every endpoint of the four services, by role and by own site or other site.

The table below names every route with the roles it admits and how to call it on site A's
resources. `test_every_route_is_in_the_table_with_the_roles_it_declares` reads the routes from
the apps themselves, so a new route without a declaration (or without a row here) fails it.
`test_each_route_answers_each_role_at_its_own_and_another_site` then calls every row with an
`admin`, `integration` and `staff` key of site A (own) and of site B (other):
- a role the route does not admit gets 403 at either site;
- an admitted role gets its success (or a domain answer such as 409) at its own site;
- an admitted role of the other site gets 403 or 404 (a list answers without site A's data).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import pytest

from counseling_shared.http.auth import Role
from counseling_shared.http.dependencies import api_routes, route_roles
from counseling_shared.http.idempotency import REPLAYED
from counseling_shared.service import create_app
from tests.e2e.center import created, listed, unique_email, unique_phone
from tests.e2e.harness import API_KEY, Suite, eventually

pytestmark = pytest.mark.e2e

ADMIN, INTEGRATION, STAFF = Role.ADMIN, Role.INTEGRATION, Role.STAFF
EVERYONE = frozenset(Role)
PEOPLE = frozenset({ADMIN, STAFF})
ADMINS = frozenset({ADMIN})
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics"}  # no key, no data
# The interactive documentation pages (served offline from bundled assets): no key, no data.
DOCS_PATHS = {"/docs", "/docs/oauth2-redirect", "/redoc"}
# No API key: a signed token in the link is the credential (checked by its own test below).
# The on-call page's routes are checked by tests/crisis/integration/test_oncall_page.py.
SIGNED_LINK_ROUTES = {
    ("crisis", "GET", "/schedules/{schedule_id}/calendar.ics"),
    ("booking", "GET", "/staff/{staff_id}/calendar.ics"),
    # The waitlist offer's page and its button (or an API caller's accept).
    ("booking", "GET", "/waitlist/offers/{offer_id}/accept"),
    ("booking", "POST", "/waitlist/offers/{offer_id}/accept"),
    # Its "No, thank you" and "Take me off the waiting list" (or an API caller's), checked by
    # tests/booking/integration/test_waitlist_exit.py.
    ("booking", "POST", "/waitlist/offers/{offer_id}/decline"),
    ("booking", "POST", "/waitlist/offers/{offer_id}/leave"),
    # The client's confirm-or-cancel pages (tests/booking/integration/test_manage_link.py).
    ("booking", "GET", "/appointments/{appointment_id}/manage"),
    ("booking", "POST", "/appointments/{appointment_id}/manage/confirm"),
    ("booking", "GET", "/appointments/{appointment_id}/manage/cancel"),
    ("booking", "POST", "/appointments/{appointment_id}/manage/cancel"),
    # Picking another time from it (tests/booking/integration/test_client_reschedule.py).
    ("booking", "GET", "/appointments/{appointment_id}/manage/reschedule"),
    ("booking", "POST", "/appointments/{appointment_id}/manage/reschedule"),
    # The client's answer form: the signed, single-use link is the credential.
    ("followup", "GET", "/followups/{followup_id}/response"),
    ("followup", "POST", "/followups/{followup_id}/response"),
    ("crisis", "GET", "/pages/{page_id}"),
    ("crisis", "POST", "/pages/{page_id}/ack"),
    ("crisis", "POST", "/pages/{page_id}/escalate"),
    ("crisis", "POST", "/pages/{page_id}/resolve"),
    ("crisis", "POST", "/pages/{page_id}/contact"),
    # A shift a colleague offered the link's staff member (tests/crisis/integration/
    # test_shift_swaps_page.py).
    ("crisis", "POST", "/pages/{page_id}/swaps/{swap_request_id}/take"),
    # The client's own preferences page (tests/notify/integration/test_preferences_page.py).
    ("notify", "GET", "/recipients/{recipient_id}/preferences/page"),
    ("notify", "POST", "/recipients/{recipient_id}/preferences/page"),
}
# No API key: the SMS provider's webhooks, authenticated by their shared secret (tested in
# tests/crisis/integration/test_oncall_page.py, tests/notify/integration/test_sms_opt_outs.py,
# tests/notify/integration/test_delivery_receipts.py), or Twilio's by its signature
# (tests/notify/integration/test_twilio.py, tests/crisis/integration/test_twilio_replies.py,
# a page's call: tests/crisis/integration/test_voice_calls.py).
WEBHOOK_ROUTES = {
    ("crisis", "POST", "/inbound/sms"),
    ("notify", "POST", "/inbound/sms"),
    ("notify", "POST", "/inbound/sms/status"),
    ("crisis", "POST", "/inbound/sms/twilio"),
    ("notify", "POST", "/inbound/sms/twilio"),
    ("notify", "POST", "/inbound/sms/twilio/status"),
    ("crisis", "POST", "/inbound/voice/twilio"),
    ("crisis", "POST", "/inbound/voice/twilio/gather"),
    ("crisis", "POST", "/inbound/voice/twilio/status"),
}
SERVICES = ("booking", "followup", "notify", "crisis")
WEBHOOK_URL = "http://127.0.0.1:9/hooks"  # nothing listens: deliveries stay pending


@dataclass
class World:
    """Site A with everything a route may name, site B with its own staff; keys for both."""

    suite: Suite
    site_a: str
    site_b: str
    staff_a: str  # the staff key of site A acts as this crisis-line member
    staff_b: str
    counselor_a: str
    room_a: str
    client_a: str = ""
    appointment_a: str = ""  # completed, with goals and next steps
    followup_id: str = ""
    notification_id: str = ""
    alert_id: str = ""
    flag_id: str = ""
    schedule_id: str = ""
    swap_schedule_id: str = ""  # staff A on call 00:00-12:00 UTC, the counselor 12:00-24:00
    swap_request_id: str = ""
    webhook_id: str = ""
    delivery_id: str = ""
    _hour: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def key(self, role: Role, own: bool) -> str:
        return f"{role}-{'own' if own else 'other'}"

    def api_keys(self) -> str:
        entries = [API_KEY]
        sites = ((True, self.site_a, self.staff_a), (False, self.site_b, self.staff_b))
        for own, site, staff in sites:
            entries += [
                f"{self.key(ADMIN, own)};role=admin;sites={site}",
                f"{self.key(INTEGRATION, own)};role=integration;sites={site}",
                f"{self.key(STAFF, own)};role=staff;sites={site};staff={staff}",
            ]
        return ",".join(entries)

    def admin(self, service: str) -> httpx.AsyncClient:
        return self.suite.client(service)

    def later(self) -> str:
        """A start an hour apart from every other one this test books."""
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(
            days=30, hours=next(self._hour)
        )
        return start.isoformat()

    async def post(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.admin(service) as client:
            return created(await client.post(path, json=body))

    async def new_client(self) -> str:
        body = {
            "site_id": self.site_a,
            "name": "Client",
            "preferred_channel": "email",
            "email": unique_email("client"),
        }
        return str((await self.post("booking", "/clients", body))["id"])

    async def new_counselor(self) -> str:
        body = {
            "site_id": self.site_a,
            "name": "Counselor",
            "role": "counselor",
            "email": unique_email("counselor"),
        }
        return str((await self.post("booking", "/staff", body))["id"])

    async def book(self, *, start: str | None = None, client_id: str | None = None) -> str:
        body = {
            "counselor_id": self.counselor_a,
            "client_id": client_id or self.client_a,
            "start": start or self.later(),
            "duration_minutes": 50,
            "modality": "online",
        }
        return str((await self.post("booking", "/appointments", body))["id"])

    async def started_appointment(self) -> str:
        """An appointment whose start has passed (its own counselor and client)."""
        counselor, client = await self.new_counselor(), await self.new_client()
        start = datetime.now(UTC) + timedelta(seconds=0.5)
        body = {
            "counselor_id": counselor,
            "client_id": client,
            "start": start.isoformat(),
            "duration_minutes": 15,
            "modality": "online",
        }
        appointment = str((await self.post("booking", "/appointments", body))["id"])
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.1)
        return appointment

    async def new_alert(self) -> str:
        client = await self.new_client()
        body = {
            "client_id": client,
            "site_id": self.site_a,
            "level": "high",
            "source": "integration",
        }
        accepted = await self.post("crisis", "/risk-flags", body)
        self.flag_id = accepted["flag_id"]
        return str(accepted["alert_id"])


Call = tuple[str, dict[str, Any] | None]  # path with query, JSON body
Prepare = Callable[[World, Role], Awaitable[Call]]


@dataclass(frozen=True)
class Case:
    roles: frozenset[Role]
    prepare: Prepare
    ok: frozenset[int] = frozenset({200, 201, 202, 204})
    listing: bool = False  # another site's key may get 200, without site A's data
    every_site_only: bool = False  # admitted roles also need a key for every site
    # What the own site's staff key gets when the route admits only some staff members (it
    # acts as staff_a, a crisis-line member): None, its success like the other roles.
    own_staff: int | None = None


def fixed(path: str, body: dict[str, Any] | None = None) -> Prepare:
    async def prepare(world: World, role: Role) -> Call:
        return path.format(**vars(world)), body and _fill(world, body)

    return prepare


def _fill(world: World, body: dict[str, Any]) -> dict[str, Any]:
    return {k: v.format(**vars(world)) if isinstance(v, str) else v for k, v in body.items()}


async def _register_staff(world: World, role: Role) -> Call:
    email = unique_email("staff")
    return "/staff", {"site_id": world.site_a, "name": "N", "role": "counselor", "email": email}


async def _register_client(world: World, role: Role) -> Call:
    body = {
        "site_id": world.site_a,
        "name": "C",
        "preferred_channel": "sms",
        "phone": unique_phone(),
    }
    return "/clients", body


async def _close_episode(world: World, role: Role) -> Call:
    client = await world.new_client()
    await world.book(client_id=client)  # opens the episode
    body = {"reason": "goals_met", "effective_on": date.today().isoformat()}
    return f"/clients/{client}/episode/close", body


async def _book(world: World, role: Role) -> Call:
    body = {
        "counselor_id": world.counselor_a,
        "client_id": world.client_a,
        "start": world.later(),
        "duration_minutes": 50,
        "modality": "online",
    }
    return "/appointments", body


async def _reschedule(world: World, role: Role) -> Call:
    return f"/appointments/{await world.book()}/reschedule", {"start": world.later()}


async def _cancel(world: World, role: Role) -> Call:
    body = {"reason": "feels better", "cancelled_by": "client"}
    return f"/appointments/{await world.book()}/cancel", body


async def _no_show(world: World, role: Role) -> Call:
    return f"/appointments/{await world.started_appointment()}/no-show", None


async def _complete(world: World, role: Role) -> Call:
    body = {"goal_horizon": "short_term", "goals": ["sleep better"], "next_steps": "journal"}
    return f"/appointments/{await world.started_appointment()}/complete", body


async def _deactivate(world: World, role: Role) -> Call:
    # A counselor of its own: the others keep being booked by the rows after this one.
    return f"/staff/{await world.new_counselor()}/deactivate", None


WEEKDAYS = {"weekly": [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 6)]}


async def _hours_set(world: World, role: Role) -> Call:
    async with world.admin("booking") as client:
        answer = await client.put(f"/staff/{world.counselor_a}/working-hours", json=WEEKDAYS)
        assert answer.status_code == 200, answer.text
    return f"/staff/{world.counselor_a}/working-hours", None


async def _rules_set(world: World, role: Role) -> Call:
    async with world.admin("booking") as client:
        answer = await client.put(
            f"/sites/{world.site_a}/booking-rules", json={"buffer_minutes": 5}
        )
        assert answer.status_code == 200, answer.text
    return f"/sites/{world.site_a}/booking-rules", None


async def _availability(world: World, role: Role) -> Call:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
    window = {
        "site_id": world.site_a,
        "from": start.isoformat(),
        "to": (start + timedelta(days=7)).isoformat(),
    }
    return f"/availability?{urlencode(window)}", None


def _hold_body(world: World) -> dict[str, Any]:
    return {"counselor_id": world.counselor_a, "start": world.later(), "modality": "online"}


async def _hold(world: World, role: Role) -> Call:
    return "/holds", _hold_body(world)


async def _get_hold(world: World, role: Role) -> Call:
    return f"/holds/{(await world.post('booking', '/holds', _hold_body(world)))['id']}", None


async def _series_body(world: World) -> dict[str, Any]:
    return {
        "counselor_id": await world.new_counselor(),
        "client_id": await world.new_client(),
        "start": world.later(),
        "modality": "online",
        "rrule": "FREQ=WEEKLY;COUNT=2",
    }


async def _book_series(world: World, role: Role) -> Call:
    return "/appointment-series", await _series_body(world)


async def _get_series(world: World, role: Role) -> Call:
    booked = await world.post("booking", "/appointment-series", await _series_body(world))
    return f"/appointment-series/{booked['id']}", None


async def _cancel_series(world: World, role: Role) -> Call:
    booked = await world.post("booking", "/appointment-series", await _series_body(world))
    body = {"reason": "moving", "cancelled_by": "client"}
    return f"/appointment-series/{booked['id']}/cancel", body


def _group_body(world: World) -> dict[str, Any]:
    return {
        "counselor_id": world.counselor_a,
        "start": world.later(),
        "duration_minutes": 50,
        "modality": "online",
        "capacity": 4,
    }


async def _new_group(world: World) -> str:
    return str((await world.post("booking", "/group-sessions", _group_body(world)))["id"])


async def _schedule_group(world: World, role: Role) -> Call:
    return "/group-sessions", _group_body(world)


async def _get_group(world: World, role: Role) -> Call:
    return f"/group-sessions/{await _new_group(world)}", None


async def _take_seat(world: World, role: Role) -> Call:
    client = await world.new_client()
    return f"/group-sessions/{await _new_group(world)}/seats", {"client_id": client}


async def _reschedule_group(world: World, role: Role) -> Call:
    return f"/group-sessions/{await _new_group(world)}/reschedule", {"start": world.later()}


async def _cancel_group(world: World, role: Role) -> Call:
    body = {"reason": "counselor ill", "cancelled_by": "center"}
    return f"/group-sessions/{await _new_group(world)}/cancel", body


async def _join_group_waitlist(world: World, role: Role) -> Call:
    group = await world.post("booking", "/group-sessions", _group_body(world) | {"capacity": 2})
    for _ in range(2):
        seat = {"client_id": await world.new_client()}
        await world.post("booking", f"/group-sessions/{group['id']}/seats", seat)
    return f"/group-sessions/{group['id']}/waitlist", {"client_id": await world.new_client()}


async def _change_capacity(world: World, role: Role) -> Call:
    return f"/group-sessions/{await _new_group(world)}/capacity", {"capacity": 6}


def _group_series_body(world: World) -> dict[str, Any]:
    return _group_body(world) | {"rrule": "FREQ=WEEKLY;COUNT=2"}


async def _new_group_series(world: World) -> str:
    made = await world.post("booking", "/group-session-series", _group_series_body(world))
    return str(made["id"])


async def _schedule_group_series(world: World, role: Role) -> Call:
    return "/group-session-series", _group_series_body(world)


async def _get_group_series(world: World, role: Role) -> Call:
    return f"/group-session-series/{await _new_group_series(world)}", None


async def _seat_in_group_series(world: World, role: Role) -> Call:
    client = await world.new_client()
    return f"/group-session-series/{await _new_group_series(world)}/seats", {"client_id": client}


async def _leave_group_series(world: World, role: Role) -> Call:
    series, client = await _new_group_series(world), await world.new_client()
    await world.post("booking", f"/group-session-series/{series}/seats", {"client_id": client})
    body = {"reason": "moving away", "cancelled_by": "client"}
    return f"/group-session-series/{series}/seats/{client}/cancel", body


async def _cancel_group_series(world: World, role: Role) -> Call:
    body = {"reason": "counselor on leave", "cancelled_by": "center"}
    return f"/group-session-series/{await _new_group_series(world)}/cancel", body


async def _get_waitlist_entry(world: World, role: Role) -> Call:
    body = {"client_id": world.client_a, "site_id": world.site_a}
    return f"/waitlist/{(await world.post('booking', '/waitlist', body))['id']}", None


async def _withdraw_waitlist_entry(world: World, role: Role) -> Call:
    body = {"client_id": world.client_a, "site_id": world.site_a}
    entry = await world.post("booking", "/waitlist", body)
    return f"/waitlist/{entry['id']}/withdraw", {"reason": "client_request"}


def _acting(world: World, role: Role) -> dict[str, Any]:
    """An admin names who it acts for; a staff key acts as itself."""
    return {"staff_id": world.staff_a} if role is ADMIN else {}


async def _ack(world: World, role: Role) -> Call:
    return f"/alerts/{world.alert_id}/ack", _acting(world, role)


async def _escalate(world: World, role: Role) -> Call:
    """A new alert each time: its level 1 (staff_a, paged) escalates; the chain repeats."""
    return f"/alerts/{await world.new_alert()}/escalate", _acting(world, role)


async def _resolve(world: World, role: Role) -> Call:
    body = {**_acting(world, role), "outcome": "safety_plan"}
    return f"/alerts/{await world.new_alert()}/resolve", body


def _policy(world: World) -> dict[str, Any]:
    return {"levels": [{"staff_ids": [world.staff_a], "ack_timeout": "PT10M"}]}


async def _put_policy(world: World, role: Role) -> Call:
    return f"/sites/{world.site_a}/escalation-policy", _policy(world)


def _schedule(world: World) -> dict[str, Any]:
    rotation = {"kind": "daily", "handoff": "09:00", "start_on": date.today().isoformat()}
    return {
        "site_id": world.site_a,
        "name": "Crisis line",
        "timezone": "UTC",
        "layers": [{"rotation": rotation, "participants": [world.staff_a]}],
    }


def _override(world: World) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=1)
    end = start + timedelta(hours=1)
    return {"staff_id": world.staff_a, "start": start.isoformat(), "end": end.isoformat()}


async def _post_schedule(world: World, role: Role) -> Call:
    return "/schedules", _schedule(world)


async def _put_schedule(world: World, role: Role) -> Call:
    return f"/schedules/{world.schedule_id}", _schedule(world)


async def _post_override(world: World, role: Role) -> Call:
    return f"/schedules/{world.schedule_id}/overrides", _override(world)


async def _delete_override(world: World, role: Role) -> Call:
    added = await world.post(
        "crisis", f"/schedules/{world.schedule_id}/overrides", _override(world)
    )
    return f"/schedules/{world.schedule_id}/overrides/{added['override_id']}", None


def _swap_schedule(world: World) -> dict[str, Any]:
    """Two participants, each on call for half of every day (UTC): swaps between them."""
    rotation = {"kind": "daily", "handoff": "00:00", "start_on": date.today().isoformat()}
    mornings = {"weekdays": [1, 2, 3, 4, 5, 6, 7], "from": "00:00", "to": "12:00"}
    return {
        "site_id": world.site_a,
        "name": "Swaps",
        "timezone": "UTC",
        "layers": [
            {"rotation": rotation, "participants": [world.counselor_a]},
            {"rotation": rotation, "participants": [world.staff_a], "restrictions": [mornings]},
        ],
    }


def _swap_hour(world: World, *, afternoon: bool) -> dict[str, str]:
    """A future hour of its own (each take changes who is on call): staff A's in the morning,
    the counselor's in the afternoon."""
    day = datetime.combine(date.today(), datetime.min.time(), UTC) + timedelta(
        days=2 + next(world._hour) % 80
    )
    start = day + timedelta(hours=13 if afternoon else 1)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}


async def _post_swap_request(world: World, role: Role) -> Call:
    body = {**_swap_hour(world, afternoon=False), "requester_id": world.staff_a}
    return f"/schedules/{world.swap_schedule_id}/swap-requests", body


async def _accept_swap_request(world: World, role: Role) -> Call:
    """The counselor's hour, offered to staff A (the staff key's member; an admin names them)."""
    body = {
        **_swap_hour(world, afternoon=True),
        "requester_id": world.counselor_a,
        "offered_to": [world.staff_a],
    }
    asked = await world.post("crisis", f"/schedules/{world.swap_schedule_id}/swap-requests", body)
    return f"/swap-requests/{asked['id']}/accept", {"staff_id": world.staff_a}


async def _cancel_swap_request(world: World, role: Role) -> Call:
    """Staff A's own request: the staff key's member may cancel it, and an admin."""
    body = {**_swap_hour(world, afternoon=False), "requester_id": world.staff_a}
    asked = await world.post("crisis", f"/schedules/{world.swap_schedule_id}/swap-requests", body)
    return f"/swap-requests/{asked['id']}/cancel", None


async def _delete_webhook(world: World, role: Role) -> Call:
    """A subscription of its own for each call: a deleted one answers 404 to the next."""
    hook = {"site_id": world.site_a, "url": WEBHOOK_URL, "event_types": ["AppointmentBooked"]}
    return f"/webhooks/{(await world.post('notify', '/webhooks', hook))['id']}", None


async def _shifts(world: World, role: Role) -> Call:
    start = datetime.now(UTC).replace(microsecond=0)
    window = {"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()}
    return f"/schedules/{world.schedule_id}/shifts?{urlencode(window)}", None


TABLE: dict[tuple[str, str, str], Case] = {
    # booking
    ("booking", "POST", "/sites"): Case(
        ADMINS, fixed("/sites", {"name": "New", "timezone": "UTC"}), every_site_only=True
    ),
    ("booking", "GET", "/sites"): Case(EVERYONE, fixed("/sites"), listing=True),
    ("booking", "GET", "/sites/{site_id}"): Case(EVERYONE, fixed("/sites/{site_a}")),
    ("booking", "POST", "/staff"): Case(EVERYONE, _register_staff),
    ("booking", "GET", "/staff"): Case(EVERYONE, fixed("/staff?site_id={site_a}"), listing=True),
    ("booking", "GET", "/staff/{staff_id}"): Case(EVERYONE, fixed("/staff/{counselor_a}")),
    # People only (pages go to these details): a staff key changes only its own (staff_a).
    ("booking", "PATCH", "/staff/{staff_id}"): Case(
        PEOPLE, fixed("/staff/{staff_a}", {"locale": "en-GB"})
    ),
    ("booking", "POST", "/staff/{staff_id}/deactivate"): Case(ADMINS, _deactivate),
    ("booking", "POST", "/rooms"): Case(
        EVERYONE, fixed("/rooms", {"site_id": "{site_a}", "name": "Room"})
    ),
    ("booking", "GET", "/rooms"): Case(EVERYONE, fixed("/rooms?site_id={site_a}"), listing=True),
    ("booking", "GET", "/rooms/{room_id}"): Case(EVERYONE, fixed("/rooms/{room_a}")),
    ("booking", "POST", "/clients"): Case(EVERYONE, _register_client),
    ("booking", "GET", "/clients"): Case(
        EVERYONE, fixed("/clients?site_id={site_a}"), listing=True
    ),
    ("booking", "GET", "/clients/{client_id}"): Case(EVERYONE, fixed("/clients/{client_a}")),
    ("booking", "PATCH", "/clients/{client_id}"): Case(
        EVERYONE, fixed("/clients/{client_a}", {"locale": "fr"})
    ),
    ("booking", "POST", "/clients/{client_id}/episode/close"): Case(EVERYONE, _close_episode),
    ("booking", "POST", "/appointments"): Case(EVERYONE, _book),
    ("booking", "GET", "/appointments"): Case(
        EVERYONE, fixed("/appointments?site_id={site_a}"), listing=True
    ),
    ("booking", "GET", "/appointments/{appointment_id}"): Case(
        EVERYONE, fixed("/appointments/{appointment_a}")
    ),
    ("booking", "POST", "/appointments/{appointment_id}/reschedule"): Case(EVERYONE, _reschedule),
    ("booking", "POST", "/appointments/{appointment_id}/cancel"): Case(EVERYONE, _cancel),
    ("booking", "POST", "/appointments/{appointment_id}/no-show"): Case(EVERYONE, _no_show),
    ("booking", "POST", "/appointments/{appointment_id}/complete"): Case(EVERYONE, _complete),
    ("booking", "GET", "/fhir/Appointment/{appointment_id}"): Case(
        EVERYONE, fixed("/fhir/Appointment/{appointment_a}")
    ),
    ("booking", "GET", "/fhir/Appointment"): Case(
        EVERYONE, fixed("/fhir/Appointment?patient=Patient/{client_a}"), listing=True
    ),
    ("booking", "GET", "/fhir/Slot"): Case(
        EVERYONE, fixed("/fhir/Slot?schedule=Schedule/{counselor_a}"), listing=True
    ),
    ("booking", "GET", "/fhir/Schedule"): Case(
        EVERYONE, fixed("/fhir/Schedule?actor=Practitioner/{counselor_a}"), listing=True
    ),
    # A feed link goes to the staff member it shows (the staff key acts as staff_a) or an admin.
    ("booking", "GET", "/staff/{staff_id}/calendar-url"): Case(
        PEOPLE, fixed("/staff/{staff_a}/calendar-url")
    ),
    ("booking", "DELETE", "/staff/{staff_id}/calendar-links"): Case(
        PEOPLE, fixed("/staff/{staff_a}/calendar-links")
    ),
    ("booking", "PUT", "/staff/{staff_id}/working-hours"): Case(
        EVERYONE, fixed("/staff/{counselor_a}/working-hours", WEEKDAYS)
    ),
    ("booking", "GET", "/staff/{staff_id}/working-hours"): Case(EVERYONE, _hours_set),
    ("booking", "PUT", "/sites/{site_id}/booking-rules"): Case(
        PEOPLE, fixed("/sites/{site_a}/booking-rules", {"buffer_minutes": 5})
    ),
    ("booking", "GET", "/sites/{site_id}/booking-rules"): Case(EVERYONE, _rules_set),
    # A staff key changes closures only as a site lead of the site (staff_a is not one).
    ("booking", "PUT", "/sites/{site_id}/closures"): Case(
        PEOPLE, fixed("/sites/{site_a}/closures", {"closures": []}), own_staff=403
    ),
    ("booking", "GET", "/sites/{site_id}/closures"): Case(
        EVERYONE, fixed("/sites/{site_a}/closures")
    ),
    ("booking", "GET", "/availability"): Case(EVERYONE, _availability),
    ("booking", "POST", "/holds"): Case(EVERYONE, _hold),
    ("booking", "GET", "/holds/{hold_id}"): Case(EVERYONE, _get_hold),
    ("booking", "POST", "/appointment-series"): Case(EVERYONE, _book_series),
    ("booking", "GET", "/appointment-series/{series_id}"): Case(EVERYONE, _get_series),
    ("booking", "POST", "/appointment-series/{series_id}/cancel"): Case(EVERYONE, _cancel_series),
    ("booking", "POST", "/group-sessions"): Case(EVERYONE, _schedule_group),
    ("booking", "GET", "/group-sessions"): Case(
        EVERYONE, fixed("/group-sessions?site_id={site_a}"), listing=True
    ),
    ("booking", "GET", "/group-sessions/{group_session_id}"): Case(EVERYONE, _get_group),
    ("booking", "POST", "/group-sessions/{group_session_id}/seats"): Case(EVERYONE, _take_seat),
    ("booking", "POST", "/group-sessions/{group_session_id}/reschedule"): Case(
        EVERYONE, _reschedule_group
    ),
    ("booking", "POST", "/group-sessions/{group_session_id}/cancel"): Case(EVERYONE, _cancel_group),
    ("booking", "POST", "/group-sessions/{group_session_id}/waitlist"): Case(
        EVERYONE, _join_group_waitlist
    ),
    ("booking", "POST", "/group-sessions/{group_session_id}/capacity"): Case(
        EVERYONE, _change_capacity
    ),
    ("booking", "POST", "/group-session-series"): Case(EVERYONE, _schedule_group_series),
    ("booking", "GET", "/group-session-series/{group_series_id}"): Case(
        EVERYONE, _get_group_series
    ),
    ("booking", "POST", "/group-session-series/{group_series_id}/seats"): Case(
        EVERYONE, _seat_in_group_series
    ),
    ("booking", "POST", "/group-session-series/{group_series_id}/seats/{client_id}/cancel"): Case(
        EVERYONE, _leave_group_series
    ),
    ("booking", "POST", "/group-session-series/{group_series_id}/cancel"): Case(
        EVERYONE, _cancel_group_series
    ),
    ("booking", "POST", "/waitlist"): Case(
        EVERYONE, fixed("/waitlist", {"client_id": "{client_a}", "site_id": "{site_a}"})
    ),
    ("booking", "GET", "/waitlist"): Case(
        EVERYONE, fixed("/waitlist?site_id={site_a}"), listing=True
    ),
    ("booking", "GET", "/waitlist/{entry_id}"): Case(EVERYONE, _get_waitlist_entry),
    # A front desk, an admin or an integration takes a client who no longer waits off the list.
    ("booking", "POST", "/waitlist/{entry_id}/withdraw"): Case(EVERYONE, _withdraw_waitlist_entry),
    # followup
    ("followup", "PUT", "/sites/{site_id}/followup-policy"): Case(
        PEOPLE, fixed("/sites/{site_a}/followup-policy", {})
    ),
    ("followup", "GET", "/sites/{site_id}/followup-policy"): Case(
        EVERYONE, fixed("/sites/{site_a}/followup-policy")
    ),
    ("followup", "GET", "/sites/{site_id}/contact-gaps"): Case(
        EVERYONE, fixed("/sites/{site_a}/contact-gaps")
    ),
    ("followup", "GET", "/followups"): Case(
        EVERYONE, fixed("/followups?client_id={client_a}"), listing=True
    ),
    ("followup", "GET", "/followups/{followup_id}"): Case(
        EVERYONE, fixed("/followups/{followup_id}")
    ),
    ("followup", "POST", "/followups/{followup_id}/complete"): Case(
        EVERYONE,
        fixed("/followups/{followup_id}/complete", {"outcome": "reached"}),
        ok=frozenset({200, 409}),  # the first admitted call completes it
    ),
    ("followup", "PUT", "/clients/{client_id}/followup-preferences"): Case(
        EVERYONE, fixed("/clients/{client_a}/followup-preferences", {"intensity": "standard"})
    ),
    ("followup", "GET", "/clients/{client_id}/followup-preferences"): Case(
        EVERYONE, fixed("/clients/{client_a}/followup-preferences")
    ),
    # A client's scores are clinical: people of the client's site only, never integrations.
    ("followup", "GET", "/clients/{client_id}/measures"): Case(
        PEOPLE, fixed("/clients/{client_a}/measures")
    ),
    ("followup", "GET", "/clients/{client_id}/progress"): Case(
        PEOPLE, fixed("/clients/{client_a}/progress")
    ),
    ("followup", "GET", "/fhir/Observation"): Case(
        PEOPLE, fixed("/fhir/Observation?patient=Patient/{client_a}")
    ),
    ("followup", "GET", "/sites/{site_id}/satisfaction"): Case(
        EVERYONE, fixed("/sites/{site_a}/satisfaction")
    ),
    # notify
    ("notify", "GET", "/notifications"): Case(
        EVERYONE, fixed("/notifications?recipient_id={client_a}"), listing=True
    ),
    ("notify", "GET", "/notifications/{notification_id}"): Case(
        EVERYONE, fixed("/notifications/{notification_id}")
    ),
    ("notify", "PUT", "/recipients/{recipient_id}/preferences"): Case(
        EVERYONE, fixed("/recipients/{client_a}/preferences", {"channel": "email"})
    ),
    ("notify", "GET", "/recipients/{recipient_id}/preferences"): Case(
        EVERYONE, fixed("/recipients/{client_a}/preferences")
    ),
    # Integrations read webhooks and their deliveries but never change them.
    ("notify", "POST", "/webhooks"): Case(
        PEOPLE,
        fixed(
            "/webhooks",
            {"site_id": "{site_a}", "url": WEBHOOK_URL, "event_types": ["AppointmentBooked"]},
        ),
    ),
    ("notify", "GET", "/webhooks"): Case(
        EVERYONE, fixed("/webhooks?site_id={site_a}"), listing=True
    ),
    ("notify", "GET", "/webhooks/{webhook_id}"): Case(EVERYONE, fixed("/webhooks/{webhook_id}")),
    ("notify", "PATCH", "/webhooks/{webhook_id}"): Case(
        PEOPLE, fixed("/webhooks/{webhook_id}", {"event_types": ["AppointmentBooked"]})
    ),
    ("notify", "DELETE", "/webhooks/{webhook_id}"): Case(PEOPLE, _delete_webhook),
    ("notify", "POST", "/webhooks/{webhook_id}/rotate-secret"): Case(
        PEOPLE, fixed("/webhooks/{webhook_id}/rotate-secret")
    ),
    ("notify", "GET", "/webhooks/{webhook_id}/deliveries"): Case(
        EVERYONE, fixed("/webhooks/{webhook_id}/deliveries")
    ),
    ("notify", "POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): Case(
        PEOPLE,
        fixed("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"),
        ok=frozenset({202, 409}),  # its receiver never answers: the delivery is still pending
    ),
    # crisis
    ("crisis", "PUT", "/sites/{site_id}/escalation-policy"): Case(PEOPLE, _put_policy),
    ("crisis", "GET", "/sites/{site_id}/escalation-policy"): Case(
        EVERYONE, fixed("/sites/{site_a}/escalation-policy")
    ),
    ("crisis", "POST", "/risk-flags"): Case(
        EVERYONE,
        fixed(
            "/risk-flags",
            {
                "client_id": "{client_a}",
                "site_id": "{site_a}",
                "level": "low",
                "source": "integration",
            },
        ),
    ),
    ("crisis", "GET", "/risk-flags/{flag_id}"): Case(EVERYONE, fixed("/risk-flags/{flag_id}")),
    ("crisis", "GET", "/alerts"): Case(EVERYONE, fixed("/alerts?site_id={site_a}"), listing=True),
    ("crisis", "GET", "/alerts/{alert_id}"): Case(EVERYONE, fixed("/alerts/{alert_id}")),
    ("crisis", "POST", "/alerts/{alert_id}/ack"): Case(PEOPLE, _ack),
    ("crisis", "POST", "/alerts/{alert_id}/escalate"): Case(PEOPLE, _escalate),
    ("crisis", "POST", "/alerts/{alert_id}/resolve"): Case(PEOPLE, _resolve),
    # Integrations read schedules but never change who is on call.
    ("crisis", "POST", "/schedules"): Case(PEOPLE, _post_schedule),
    ("crisis", "PUT", "/schedules/{schedule_id}"): Case(PEOPLE, _put_schedule),
    ("crisis", "GET", "/schedules/{schedule_id}"): Case(
        EVERYONE, fixed("/schedules/{schedule_id}")
    ),
    ("crisis", "GET", "/schedules/{schedule_id}/oncall"): Case(
        EVERYONE, fixed("/schedules/{schedule_id}/oncall")
    ),
    ("crisis", "GET", "/schedules/{schedule_id}/shifts"): Case(EVERYONE, _shifts),
    ("crisis", "POST", "/schedules/{schedule_id}/overrides"): Case(PEOPLE, _post_override),
    ("crisis", "DELETE", "/schedules/{schedule_id}/overrides/{override_id}"): Case(
        PEOPLE, _delete_override
    ),
    ("crisis", "GET", "/schedules/{schedule_id}/calendar-url"): Case(
        EVERYONE, fixed("/schedules/{schedule_id}/calendar-url")
    ),
    # Shift swaps (extension): changes by people only, as for overrides; reads by anyone.
    ("crisis", "POST", "/schedules/{schedule_id}/swap-requests"): Case(PEOPLE, _post_swap_request),
    ("crisis", "GET", "/schedules/{schedule_id}/swap-requests"): Case(
        EVERYONE, fixed("/schedules/{swap_schedule_id}/swap-requests")
    ),
    ("crisis", "GET", "/swap-requests/{swap_request_id}"): Case(
        EVERYONE, fixed("/swap-requests/{swap_request_id}")
    ),
    ("crisis", "POST", "/swap-requests/{swap_request_id}/accept"): Case(
        PEOPLE, _accept_swap_request
    ),
    ("crisis", "POST", "/swap-requests/{swap_request_id}/cancel"): Case(
        PEOPLE, _cancel_swap_request
    ),
    ("crisis", "PUT", "/staff/{staff_id}/pin"): Case(
        ADMINS, fixed("/staff/{staff_a}/pin", {"pin": "482913"})
    ),
}
for _service in SERVICES:  # every service reads its own audit trail the same way
    TABLE[(_service, "GET", "/audit")] = Case(ADMINS, fixed("/audit?site_id={site_a}"))


def test_every_route_is_in_the_table_with_the_roles_it_declares() -> None:
    declared: dict[tuple[str, str, str], frozenset[Role] | None] = {}
    replay_only: dict[str, frozenset[Role] | None] = {}
    for service in SERVICES:
        app = create_app(importlib.import_module(f"{service}.bootstrap").definition())
        for route in api_routes(app.routes):
            if route.path in PUBLIC_PATHS | DOCS_PATHS:
                continue
            if route.path.startswith(REPLAYED):
                # Read only by a replay of the caller's own command (404 to anything else,
                # tests/*/integration/*replay*): its roles are checked, not its answers.
                replay_only[f"{service} {route.path}"] = route_roles(route)
                continue
            for method in route.methods or ():
                declared[(service, method, route.path)] = route_roles(route)

    undeclared = sorted(k for k, roles in declared.items() if roles is None)
    assert undeclared == sorted(SIGNED_LINK_ROUTES | WEBHOOK_ROUTES), (
        "routes without an access declaration (Caller, Person or Admin)"
    )
    for signed in SIGNED_LINK_ROUTES | WEBHOOK_ROUTES:
        del declared[signed]
    assert set(declared) == set(TABLE)
    assert replay_only
    assert None not in replay_only.values(), replay_only
    assert {k: declared[k] for k in TABLE} == {k: case.roles for k, case in TABLE.items()}


@pytest.fixture(scope="module")
async def world(suite: Suite) -> World:
    async with suite.client("booking") as booking:
        site_a = created(await booking.post("/sites", json={"name": "A", "timezone": "UTC"}))
        site_b = created(await booking.post("/sites", json={"name": "B", "timezone": "UTC"}))
        people = []
        for site in (site_a, site_b):
            body = {
                "site_id": site["id"],
                "name": "On call",
                "role": "crisis_line",
                "email": unique_email("oncall"),
                "phone": unique_phone(),
            }
            people.append(created(await booking.post("/staff", json=body)))
        counselor = created(
            await booking.post(
                "/staff",
                json={
                    "site_id": site_a["id"],
                    "name": "Counselor",
                    "role": "counselor",
                    "email": unique_email("counselor"),
                },
            )
        )
        room = created(await booking.post("/rooms", json={"site_id": site_a["id"], "name": "R"}))
    world = World(
        suite,
        site_a=site_a["id"],
        site_b=site_b["id"],
        staff_a=people[0]["id"],
        staff_b=people[1]["id"],
        counselor_a=counselor["id"],
        room_a=room["id"],
    )
    # The keys name sites and staff that exist only now.
    await suite.restart_with_keys(world.api_keys())

    completed = await world.started_appointment()
    world.appointment_a = completed
    session = {"goal_horizon": "short_term", "goals": ["sleep better"], "next_steps": "journal"}
    await world.post("booking", f"/appointments/{completed}/complete", session)
    # Bind site A's follow-ups and notifications to a client of ours with a session of ours.
    async with world.admin("booking") as booking:
        done = created(await booking.get(f"/appointments/{completed}"))
    world.client_a = done["client_id"]
    hook = {"site_id": world.site_a, "url": WEBHOOK_URL, "event_types": ["AppointmentBooked"]}
    world.webhook_id = (await world.post("notify", "/webhooks", hook))["id"]
    await world.book()  # a confirmation to the client, in notify; a webhook delivery
    async with world.admin("followup") as followup:
        rows = await eventually(
            lambda: _non_empty(followup, f"/followups?client_id={world.client_a}"), timeout=20
        )
        world.followup_id = rows[0]["id"]
    async with world.admin("notify") as notify:
        rows = await eventually(
            lambda: _non_empty(notify, f"/notifications?recipient_id={world.client_a}"),
            timeout=20,
        )
        world.notification_id = rows[0]["id"]
        rows = await eventually(
            lambda: _non_empty(notify, f"/webhooks/{world.webhook_id}/deliveries"), timeout=20
        )
        world.delivery_id = rows[0]["id"]
    async with world.admin("crisis") as crisis:
        policy = _policy(world)
        await eventually(
            lambda: _accepted(crisis, f"/sites/{world.site_a}/escalation-policy", policy)
        )
    world.alert_id = await world.new_alert()
    world.schedule_id = (await world.post("crisis", "/schedules", _schedule(world)))["schedule_id"]
    swaps = await world.post("crisis", "/schedules", _swap_schedule(world))
    world.swap_schedule_id = swaps["schedule_id"]
    asked = await _post_swap_request(world, ADMIN)
    world.swap_request_id = (await world.post("crisis", asked[0], asked[1] or {}))["id"]
    return world


async def _non_empty(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]] | None:
    return listed(await client.get(path)) or None


async def _accepted(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> bool:
    return (await client.put(path, json=body)).status_code == 200


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: " ".join(r))
async def test_each_route_answers_each_role_at_its_own_and_another_site(
    world: World, route: tuple[str, str, str]
) -> None:
    service, method, _ = route
    case = TABLE[route]
    wrong: list[str] = []
    since = datetime.now(UTC) - timedelta(seconds=1)
    answered: dict[str, int] = {}
    for role, own in itertools.product(Role, (True, False)):
        path, body = await case.prepare(world, role)
        request_id = f"table-{uuid4().hex}"
        headers = {"Authorization": f"Bearer {world.key(role, own)}", "X-Request-ID": request_id}
        async with httpx.AsyncClient(base_url=world.suite.url(service), timeout=15) as client:
            answer = await client.request(method, path, json=body, headers=headers)
        answered[request_id] = answer.status_code
        problem = _judge(world, case, role, own, answer)
        if problem:
            wrong.append(f"{role} key of the {'own' if own else 'other'} site: {problem}")
    assert wrong == []
    # Each call, change or read, success or refusal, is one entry with the status answered
    # (a change's is written in its own transaction, with the route's status).
    recorded = await _statuses_recorded(world, service, since, set(answered))
    assert recorded == {request_id: [status] for request_id, status in answered.items()}


async def _statuses_recorded(
    world: World, service: str, since: datetime, request_ids: set[str]
) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {request_id: [] for request_id in request_ids}
    cursor = ""
    async with world.admin(service) as client:
        while True:
            params = {"since": since.isoformat(), "limit": "200", "cursor": cursor}
            page = created(await client.get("/audit", params=params))
            for entry in page["items"]:
                if entry["request_id"] in found:
                    found[entry["request_id"]].append(entry["status"])
            if not page["next_cursor"]:
                return found
            cursor = page["next_cursor"]


def _judge(world: World, case: Case, role: Role, own: bool, answer: httpx.Response) -> str:
    status = answer.status_code
    if role not in case.roles or case.every_site_only:
        return "" if status == 403 else f"expected 403, got {status} {answer.text[:200]}"
    if own and role is STAFF and case.own_staff is not None:
        wanted = case.own_staff
        return "" if status == wanted else f"expected {wanted}, got {status} {answer.text[:200]}"
    if own:
        return (
            ""
            if status in case.ok
            else f"expected {sorted(case.ok)}, got {status} {answer.text[:200]}"
        )
    if status in (403, 404):
        return ""
    if case.listing and status == 200 and world.site_a not in answer.text:
        return ""
    return f"expected 403/404 or nothing of site A, got {status} {answer.text[:200]}"


async def _get(world: World, service: str, path: str, role: Role, **headers: str) -> Any:
    auth = {"Authorization": f"Bearer {world.key(role, True)}", **headers}
    async with httpx.AsyncClient(base_url=world.suite.url(service), timeout=15) as client:
        answer = await client.get(path, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _all_pages(world: World, service: str, path: str, role: Role) -> list[Any]:
    """Every item of a list, following its `Next-Cursor` header."""
    auth = {"Authorization": f"Bearer {world.key(role, True)}"}
    items: list[Any] = []
    async with httpx.AsyncClient(base_url=world.suite.url(service), timeout=15) as client:
        params = {"limit": "200"}
        while True:
            answer = await client.get(path, params=params, headers=auth)
            assert answer.status_code == 200, answer.text
            items += answer.json()
            if "next-cursor" not in answer.headers:
                return items
            params = {"limit": "200", "cursor": answer.headers["next-cursor"]}


async def _whole_trail(world: World, service: str, client_id: str) -> list[Any]:
    """Every audit entry about the client, following `next_cursor` (oldest first)."""
    entries: list[Any] = []
    cursor = ""
    while True:
        page = await _get(world, service, f"/audit?client_id={client_id}&cursor={cursor}", ADMIN)
        entries += page["items"]
        if not page["next_cursor"]:
            return entries
        cursor = page["next_cursor"]


async def test_free_text_about_a_client_is_withheld_from_integration_keys(world: World) -> None:
    one = f"/appointments/{world.appointment_a}"
    listing = f"/appointments?client_id={world.client_a}"

    for_staff = await _get(world, "booking", one, STAFF)
    for_integration = await _get(world, "booking", one, INTEGRATION)
    listed_for_integration = await _get(world, "booking", listing, INTEGRATION)

    assert (for_staff["goals"], for_staff["next_steps"]) == (["sleep better"], "journal")
    assert (for_integration["goals"], for_integration["next_steps"]) == (None, None)
    assert for_integration["status"] == "completed"  # the rest is served
    assert {(a["goals"], a["next_steps"]) for a in listed_for_integration} == {(None, None)}

    # A referral (who the client was referred to, how to reach them), after a referral close.
    referred = await world.new_client()
    referral = {"to": "Inpatient unit, St. X", "contact": "Dr Y, +1 555 0101"}
    close = {"reason": "referred", "effective_on": date.today().isoformat(), "referral": referral}
    await world.post("booking", f"/clients/{referred}/episode/close", close)
    clients = f"/clients?site_id={world.site_a}"
    for role, expected in ((STAFF, referral), (ADMIN, referral), (INTEGRATION, None)):
        one = await _get(world, "booking", f"/clients/{referred}", role)
        listed = await _all_pages(world, "booking", clients, role)
        assert (one["episode"]["referred"], one["episode"]["referral"]) == (True, expected)
        assert [c["episode"]["referral"] for c in listed if c["id"] == referred] == [expected]
        if role is INTEGRATION:
            assert {c["episode"]["referral"] is None for c in listed} == {True}


async def test_every_client_read_is_in_the_audit_trail_with_its_actor(world: World) -> None:
    """Each read of one client's data, in all four services (single resources and lists
    filtered to the client), is an entry naming the client, the site and the staff actor; and so
    are the client's registration, a risk flag and notify's directory read."""
    alert_id = await world.new_alert()  # its own client; sets world.flag_id
    alert = await _get(world, "crisis", f"/alerts/{alert_id}", ADMIN)
    client, flagged = world.client_a, alert["client_id"]
    reads = [
        ("booking", f"/clients/{client}", client),
        ("booking", f"/appointments/{world.appointment_a}", client),
        ("booking", f"/appointments?client_id={client}", client),
        ("booking", f"/fhir/Appointment/{world.appointment_a}", client),
        ("booking", f"/fhir/Appointment?patient=Patient/{client}", client),
        ("followup", f"/followups/{world.followup_id}", client),
        ("followup", f"/followups?client_id={client}", client),
        ("followup", f"/clients/{client}/followup-preferences", client),
        ("followup", f"/clients/{client}/measures", client),
        ("followup", f"/fhir/Observation?patient=Patient/{client}", client),
        ("notify", f"/notifications/{world.notification_id}", client),
        ("notify", f"/notifications?recipient_id={client}", client),
        ("notify", f"/recipients/{client}/preferences", client),
        ("crisis", f"/alerts/{alert_id}", flagged),
        ("crisis", f"/risk-flags/{world.flag_id}", flagged),
    ]
    missing: list[str] = []
    registered = await _register_client(world, STAFF)
    async with httpx.AsyncClient(base_url=world.suite.url("booking"), timeout=15) as http:
        headers = {"Authorization": f"Bearer {world.key(STAFF, True)}", "X-Request-ID": "reg"}
        new_client = created(await http.post(registered[0], json=registered[1], headers=headers))
    trail = await _whole_trail(world, "booking", new_client["id"])
    if ("register_client", world.staff_a) not in [(e["action"], e["actor"]["id"]) for e in trail]:
        missing.append(f"booking POST /clients: {trail}")
    # notify read the client's address from booking's directory, over the authenticated bus.
    directory = {"kind": "service", "id": "notify"}

    async def read_by_notify() -> bool:
        trail = await _whole_trail(world, "booking", client)
        return any(e["action"] == "directory_contact" and e["actor"] == directory for e in trail)

    await eventually(read_by_notify, timeout=20)
    flagging = [e["action"] for e in await _whole_trail(world, "crisis", flagged)]
    if flagging[:1] != ["post_risk_flag"]:
        missing.append(f"crisis POST /risk-flags: {flagging}")
    for n, (service, path, client_id) in enumerate(reads):
        request_id = f"read-{n}-{client_id}"
        await _get(world, service, path, STAFF, **{"X-Request-ID": request_id})

        trail = await _whole_trail(world, service, client_id)

        found = [e for e in trail if e["request_id"] == request_id]
        expected = {"kind": "staff", "id": world.staff_a}, client_id, world.site_a, 200
        if [(e["actor"], e["client_id"], e["site_id"], e["status"]) for e in found] != [expected]:
            missing.append(f"{service} GET {path}: {found}")
    assert missing == [], "\n".join(missing)


async def test_a_calendar_feed_answers_its_signed_link_alone_whatever_key_comes_with_it(
    world: World,
) -> None:
    url = (await _get(world, "crisis", f"/schedules/{world.schedule_id}/calendar-url", ADMIN))[
        "url"
    ]
    path = url[url.index("/schedules/") :]
    other = (await world.post("crisis", "/schedules", _schedule(world)))["schedule_id"]
    async with httpx.AsyncClient(base_url=world.suite.url("crisis"), timeout=15) as client:
        without_key = await client.get(path)
        altered = await client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
        elsewhere = await client.get(path.replace(world.schedule_id, other))
        with_keys = {
            (role, own): (
                await client.get(
                    path[:-2] + "zz",
                    headers={"Authorization": f"Bearer {world.key(role, own)}"},
                )
            ).status_code
            for role, own in itertools.product(Role, (True, False))
        }

    assert without_key.status_code == 200, without_key.text
    assert without_key.headers["content-type"].startswith("text/calendar")
    assert (altered.status_code, elsewhere.status_code) == (403, 403)
    assert set(with_keys.values()) == {403}  # no API key stands in for the token


async def test_a_staff_calendar_feed_answers_its_signed_link_alone(world: World) -> None:
    url = (await _get(world, "booking", f"/staff/{world.staff_a}/calendar-url", STAFF))["url"]
    path = url[url.index("/staff/") :]
    async with httpx.AsyncClient(base_url=world.suite.url("booking"), timeout=15) as client:
        without_key = await client.get(path)
        altered = await client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
        elsewhere = await client.get(path.replace(world.staff_a, world.counselor_a))
        with_key = await client.get(
            path[:-2] + "zz", headers={"Authorization": f"Bearer {world.key(ADMIN, True)}"}
        )

    assert without_key.status_code == 200, without_key.text
    assert without_key.headers["content-type"].startswith("text/calendar")
    assert (altered.status_code, elsewhere.status_code, with_key.status_code) == (403, 403, 403)
