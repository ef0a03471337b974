"""The demo center's plan: deterministic per seed, no overlapping sessions, every reference
known before it is used."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from opsctl.demo.load import idempotency_key, resolve, resolve_path
from opsctl.demo.plan import SESSION_MINUTES, SITES, Ref, Step, demo_plan, monday_of, next_week

seeds = st.integers(min_value=0, max_value=2**32)
weeks = st.dates(min_value=date(2026, 1, 1), max_value=date(2035, 12, 31))
client_counts = st.integers(min_value=1, max_value=40)


def _by_kind(plan: list[Step], kind: str) -> list[Step]:
    return [s for s in plan if s.key.startswith(f"{kind}:")]


def _refs(value: object) -> list[str]:
    if isinstance(value, Ref):
        return [value.key]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


@settings(max_examples=40, deadline=None)
@given(seeds, weeks, client_counts)
def test_no_counselor_room_or_client_has_two_sessions_at_once(
    seed: int, week: date, clients: int
) -> None:
    busy: dict[object, list[tuple[datetime, datetime]]] = defaultdict(list)
    for step in _by_kind(demo_plan(seed, week, clients), "appointment"):
        start = datetime.fromisoformat(step.body["start"])
        span = (start, start + timedelta(minutes=step.body["duration_minutes"]))
        who = [step.body["counselor_id"], step.body["client_id"]]
        if "room_id" in step.body:
            who.append(step.body["room_id"])
        for holder in who:
            for other in busy[holder]:
                assert span[1] <= other[0] or other[1] <= span[0], (holder, span, other)
            busy[holder].append(span)


@settings(max_examples=40, deadline=None)
@given(seeds, weeks, client_counts)
def test_every_reference_names_an_earlier_step(seed: int, week: date, clients: int) -> None:
    known: set[str] = set()
    for step in demo_plan(seed, week, clients):
        for ref in _refs(step.body):
            assert ref in known, (step.key, ref)
        resolve_path(step.path, {k: "x" for k in known})  # raises KeyError when unknown
        known.add(step.key)


@settings(max_examples=20, deadline=None)
@given(seeds, weeks)
def test_sessions_fall_in_the_sites_working_week_in_its_own_zone(seed: int, week: date) -> None:
    monday = monday_of(week)
    for site in SITES:
        for step in _by_kind(demo_plan(seed, week), f"appointment:{site.key}"):
            local = datetime.fromisoformat(step.body["start"]).astimezone(ZoneInfo(site.timezone))
            assert monday <= local.date() < monday + timedelta(days=5)
            assert local.hour >= 9
            assert (local + timedelta(minutes=SESSION_MINUTES)).hour <= 17
            assert step.body["modality"] != "in_person" or "room_id" in step.body


def test_the_same_seed_gives_the_same_calls_and_another_seed_other_people() -> None:
    week = date(2031, 6, 2)

    first, again, other = demo_plan(7, week), demo_plan(7, week), demo_plan(8, week)

    assert first == again
    names = {s.body["name"] for s in _by_kind(first, "client")}
    assert names != {s.body["name"] for s in _by_kind(other, "client")}


def test_more_clients_leave_the_existing_records_bodies_unchanged() -> None:
    """A re-run with more clients replays the same bodies under the same keys (no 422)."""
    week = date(2031, 6, 2)
    small = {s.key: s for s in demo_plan(3, week, 4) if not s.key.startswith("appointment:")}
    large = {s.key: s for s in demo_plan(3, week, 9) if not s.key.startswith("appointment:")}

    assert set(small) < set(large)
    assert all(large[key] == step for key, step in small.items())


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=1, max_value=1000),
    fewer=st.integers(min_value=1, max_value=12),
    more=st.integers(min_value=0, max_value=8),
)
def test_more_clients_add_sessions_and_leave_the_weeks_others_unchanged(
    seed: int, fewer: int, more: int
) -> None:
    """Each site's sessions are planned client by client, so a larger plan starts with the
    smaller one's: `demo load --clients-per-site` raised (or lowered) for a week already loaded
    only adds (or leaves out) the extra clients' sessions, never a key with another body."""
    week = date(2031, 6, 2)
    small = {s.key: s for s in _by_kind(demo_plan(seed, week, fewer), "appointment")}
    large = {s.key: s for s in _by_kind(demo_plan(seed, week, fewer + more), "appointment")}

    assert set(small) <= set(large)
    assert all(large[key] == step for key, step in small.items())


def test_a_center_has_two_zones_several_locales_and_channels_and_both_policies() -> None:
    plan = demo_plan(1, date(2031, 6, 2), clients_per_site=12)

    assert {s.body["timezone"] for s in _by_kind(plan, "site")} == {"Europe/Paris", "Asia/Seoul"}
    clients = _by_kind(plan, "client")
    assert len({c.body["locale"] for c in clients}) >= 3
    assert len({c.body["preferred_channel"] for c in clients}) >= 3
    roles = {s.body["role"] for s in _by_kind(plan, "staff")}
    assert {"counselor", "crisis_line"} <= roles
    assert all(s.body["phone"] for s in _by_kind(plan, "staff"))
    assert len(_by_kind(plan, "followup-policy")) == len(_by_kind(plan, "escalation-policy")) == 2
    assert len(_by_kind(plan, "appointment")) >= 24


def test_keys_differ_by_seed_and_week_so_another_week_adds_appointments() -> None:
    this, later = demo_plan(1, date(2031, 6, 2)), demo_plan(1, date(2031, 6, 9))
    this_keys = {idempotency_key(1, s) for s in _by_kind(this, "appointment")}
    later_keys = {idempotency_key(1, s) for s in _by_kind(later, "appointment")}

    assert not this_keys & later_keys
    assert idempotency_key(1, this[0]) != idempotency_key(2, this[0])


def test_the_default_week_is_wholly_in_the_future() -> None:
    for today in (date(2031, 6, 2), date(2031, 6, 5), date(2031, 6, 8)):
        assert next_week(today) > today
        assert next_week(today).weekday() == 0


def test_references_are_filled_in_deeply() -> None:
    body = {"a": Ref("x"), "b": [{"c": Ref("y")}, 3], "d": "text"}

    assert resolve(body, {"x": "1", "y": "2"}) == {"a": "1", "b": [{"c": "2"}, 3], "d": "text"}
    assert resolve_path("/sites/{site:paris}/p", {"site:paris": "9"}) == "/sites/9/p"
