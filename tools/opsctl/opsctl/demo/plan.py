"""The demo center as a list of HTTP calls, decided from a seed alone (no I/O here).

Every entity draws its details from its own `Random(f"{seed}:{key}")`, so changing how many
clients a site has does not change the bodies of the others, and the same seed always gives the
same bodies: replayed with the same Idempotency-Key, they create nothing twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Ref:
    """The id returned by an earlier step, filled in when the call is made."""

    key: str


Json = Any  # a body: dicts, lists, str, int, and `Ref`s anywhere inside


@dataclass(frozen=True)
class Step:
    """One call: `key` names its answer's id for later steps and derives its Idempotency-Key."""

    key: str
    service: str  # booking | followup | crisis
    method: str  # POST | PUT
    path: str  # may hold `{key}` of earlier steps: "/sites/{site:paris}/followup-policy"
    body: Json
    # crisis accepts a policy only for staff it has learned of from booking's events: wait.
    retry_unprocessable: bool = False


@dataclass(frozen=True)
class Person:
    given: Sequence[str]
    family: Sequence[str]
    family_first: bool = False  # 김민준, not 민준 김

    def name(self, rng: random.Random) -> str:
        given, family = rng.choice(self.given), rng.choice(self.family)
        return f"{family}{given}" if self.family_first else f"{given} {family}"


FRENCH = Person(
    ["Camille", "Louise", "Hugo", "Lucas", "Chloé", "Léa", "Nathan", "Manon", "Inès", "Théo"],
    ["Martin", "Bernard", "Dubois", "Durand", "Leroy", "Moreau", "Lefèvre", "Fournier"],
)
KOREAN = Person(
    ["민준", "서연", "지훈", "하은", "도윤", "서윤", "예준", "지우", "현우", "수아"],
    ["김", "이", "박", "최", "정", "강", "조", "윤"],
    family_first=True,
)
RUSSIAN = Person(
    ["Анна", "Иван", "Ольга", "Дмитрий", "Мария", "Сергей"],
    ["Петрова", "Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов"],
)
ENGLISH = Person(
    ["Emma", "Oliver", "Ava", "Noah", "Grace", "Samuel"],
    ["Wilson", "Taylor", "Brown", "Evans", "Clarke", "Hughes"],
)
PEOPLE = {"fr": FRENCH, "ko": KOREAN, "ru": RUSSIAN, "en": ENGLISH}


@dataclass(frozen=True)
class DemoSite:
    key: str
    name: str
    timezone: str
    locale: str
    phone_format: str  # digits drawn for each `#`
    client_locales: Mapping[str, int]  # locale -> weight
    followup_policy: Mapping[str, Any]
    rooms: Sequence[str]
    counselors: int = 3
    crisis_line: int = 2


SITES = (
    DemoSite(
        key="paris",
        name="Centre de consultation Paris-Bastille",
        timezone="Europe/Paris",
        locale="fr",
        phone_format="+33 6 ## ## ## ##",
        client_locales={"fr": 7, "en": 2, "ru": 1},
        followup_policy={
            "first_checkin_after": "P7D",
            "short_term_every": "P7D",
            "long_term_every": "P1M",
            "no_show_outreach_after": "PT24H",
            "post_closure_checkins": ["P14D", "P1M", "P3M"],
        },
        rooms=["Salle Voltaire", "Salle Colette"],
    ),
    DemoSite(
        key="seoul",
        name="서울 마음상담센터",
        timezone="Asia/Seoul",
        locale="ko",
        phone_format="+82 10-####-####",
        client_locales={"ko": 8, "en": 2},
        followup_policy={
            "first_checkin_after": "P5D",
            "short_term_every": "P7D",
            "long_term_every": "P1M",
            "no_show_outreach_after": "PT12H",
            "post_closure_checkins": ["P14D", "P2M"],
        },
        rooms=["상담실 1", "상담실 2"],
    ),
)

SESSION_HOURS = (9, 10, 11, 13, 14, 15, 16)  # local starts; 50-minute sessions never overlap
WORKDAYS = 5
# Counselors' hours, in the site's zone (lunch at noon), so `GET /availability` and FHIR free
# slots have something to show around the week's sessions.
WORKING_HOURS = [
    {"weekday": day, "from": start, "to": end}
    for day in range(1, WORKDAYS + 1)
    for start, end in (("09:00", "12:00"), ("13:00", "17:00"))
]
SESSION_MINUTES = 50
CHANNELS = {"email": 5, "sms": 2, "messaging": 2, "phone": 1}


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def next_week(today: date) -> date:
    """The Monday after `today`: a demo week lies wholly in the future."""
    return monday_of(today) + timedelta(days=7)


@dataclass
class _Week:
    """Who is busy when, for one site's week, so no two sessions ever overlap."""

    site: DemoSite
    slots: list[datetime] = field(default_factory=list)
    counselor_busy: dict[int, set[datetime]] = field(default_factory=dict)
    room_busy: dict[datetime, set[int]] = field(default_factory=dict)


def demo_plan(seed: int, week_of: date, clients_per_site: int = 10) -> list[Step]:
    """Every call that builds the demo center, in an order where each `Ref` is already known.

    Policies come last: crisis learns of the staff it pages from booking's events, which
    takes a moment after the staff are registered.
    """
    steps: list[Step] = []
    for site in SITES:
        steps += list(_registrations(seed, site, clients_per_site))
    for site in SITES:
        steps += list(_appointments(seed, site, monday_of(week_of), clients_per_site))
    for site in SITES:
        steps += _policies(site)
    return steps


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def _weighted(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _phone(rng: random.Random, site: DemoSite) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in site.phone_format)


def _staff_roles(site: DemoSite) -> list[tuple[str, int]]:
    roles = [("counselor", n) for n in range(site.counselors)]
    roles += [("site_lead", 0)]
    roles += [("crisis_line", n) for n in range(site.crisis_line)]
    return roles


def _registrations(seed: int, site: DemoSite, clients: int) -> Iterator[Step]:
    site_key = f"site:{site.key}"
    yield Step(
        site_key,
        "booking",
        "POST",
        "/sites",
        {
            "name": site.name,
            "timezone": site.timezone,
            "locale": site.locale,
            "late_cancellation_window": "PT24H",
        },
    )
    for role, n in _staff_roles(site):
        key = f"staff:{site.key}:{role}:{n}"
        rng = _rng(seed, key)
        yield Step(
            key,
            "booking",
            "POST",
            "/staff",
            {
                "site_id": Ref(site_key),
                "name": PEOPLE[site.locale].name(rng),
                "role": role,
                "email": f"{role.replace('_', '-')}-{n + 1}.{site.key}@demo-center.example",
                "phone": _phone(rng, site),
                "locale": site.locale,
            },
        )
    for n in range(site.counselors):
        staff_key = f"staff:{site.key}:counselor:{n}"
        yield Step(
            f"working-hours:{site.key}:{n}",
            "booking",
            "PUT",
            f"/staff/{{{staff_key}}}/working-hours",
            {"weekly": WORKING_HOURS},
        )
    for n, room in enumerate(site.rooms):
        yield Step(
            f"room:{site.key}:{n}",
            "booking",
            "POST",
            "/rooms",
            {"site_id": Ref(site_key), "name": room},
        )
    for n in range(clients):
        key = f"client:{site.key}:{n}"
        rng = _rng(seed, key)
        locale = _weighted(rng, site.client_locales)
        channel = _weighted(rng, CHANNELS)
        body: dict[str, Any] = {
            "site_id": Ref(site_key),
            "name": PEOPLE[locale].name(rng),
            "locale": locale,
            "preferred_channel": channel,
        }
        if channel == "email" or rng.random() < 0.5:
            body["email"] = f"client-{n + 1}.{site.key}@demo-mail.example"
        if channel != "email" or rng.random() < 0.5:
            body["phone"] = _phone(rng, site)
        yield Step(key, "booking", "POST", "/clients", body)


def _appointments(seed: int, site: DemoSite, monday: date, clients: int) -> Iterator[Step]:
    """Each client sees their own counselor once or twice in the week, in person when a room
    is free, else online or by phone."""
    zone = ZoneInfo(site.timezone)
    week = _Week(site)
    week.slots = [
        datetime.combine(monday + timedelta(days=d), time(hour), tzinfo=zone)
        for d in range(WORKDAYS)
        for hour in SESSION_HOURS
    ]
    counter = 0
    for n in range(clients):
        rng = _rng(seed, f"week:{monday}:{site.key}:{n}")
        counselor = n % site.counselors
        busy = week.counselor_busy.setdefault(counselor, set())
        sessions = 2 if rng.random() < 0.3 else 1
        free = [s for s in week.slots if s not in busy]
        for start in sorted(rng.sample(free, min(sessions, len(free)))):
            busy.add(start)
            body: dict[str, Any] = {
                "counselor_id": Ref(f"staff:{site.key}:counselor:{counselor}"),
                "client_id": Ref(f"client:{site.key}:{n}"),
                "start": start.isoformat(),
                "duration_minutes": SESSION_MINUTES,
            }
            rooms_taken = week.room_busy.setdefault(start, set())
            free_rooms = [r for r in range(len(site.rooms)) if r not in rooms_taken]
            if free_rooms and rng.random() < 0.6:
                rooms_taken.add(free_rooms[0])
                body |= {
                    "modality": "in_person",
                    "room_id": Ref(f"room:{site.key}:{free_rooms[0]}"),
                }
            else:
                body["modality"] = "online" if rng.random() < 0.75 else "phone"
            yield Step(
                f"appointment:{site.key}:{monday}:{counter}",
                "booking",
                "POST",
                "/appointments",
                body,
            )
            counter += 1


def _policies(site: DemoSite) -> list[Step]:
    site_ref = f"site:{site.key}"
    crisis_line = [Ref(f"staff:{site.key}:crisis_line:{n}") for n in range(site.crisis_line)]
    levels = [{"staff_ids": crisis_line[:1], "ack_timeout": "PT5M"}]
    levels.append(
        {
            "staff_ids": [*crisis_line[1:], Ref(f"staff:{site.key}:site_lead:0")],
            "ack_timeout": "PT10M",
        }
    )
    return [
        Step(
            f"followup-policy:{site.key}",
            "followup",
            "PUT",
            f"/sites/{{{site_ref}}}/followup-policy",
            dict(site.followup_policy),
        ),
        Step(
            f"escalation-policy:{site.key}",
            "crisis",
            "PUT",
            f"/sites/{{{site_ref}}}/escalation-policy",
            {"levels": levels, "repeat": 1},
            retry_unprocessable=True,
        ),
    ]
