"""The benchmarks' pure helpers: what they decode, build and report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.backlog import _copy_rows
from bench.claims import ClaimCost, InServer, _as_text, _indexes
from bench.consumer import row_of
from bench.e2e import EndToEnd
from bench.measure import Throughput
from bench.page_hops import hops
from bench.pg_time import EXITED, Processes, cpu_by_kind
from bench.rebuild import RebuildSpeed
from bench.report import claims_section, rebuild_section
from bench.workload import sessions_completed
from counseling_shared.envelope import REGISTRY
from counseling_shared.events import SessionCompleted


def test_the_raw_consumer_decodes_a_stored_envelope_into_the_projection_row() -> None:
    [envelope] = sessions_completed(1)
    event = REGISTRY.parse(envelope)
    assert isinstance(event, SessionCompleted)

    row = row_of(envelope.encode())

    assert row == (envelope.id, event.appointment_id, event.client_id, event.completed_at)


def test_the_indexes_of_a_plan_are_found_in_its_nested_nodes() -> None:
    plan = {
        "Node Type": "Update",
        "Plans": [
            {"Node Type": "Limit", "Plans": [{"Index Name": "notifications_due"}]},
            {"Node Type": "Index Scan", "Index Name": "notifications_pkey"},
        ],
    }

    assert _indexes(plan) == ["notifications_due", "notifications_pkey"]


def test_a_backlog_copy_takes_new_ids_and_keeps_every_other_column() -> None:
    statement = _copy_rows(["id", "lane", "cause_event_id", "params"])

    assert "(id, lane, cause_event_id, params)" in statement
    assert "SELECT c.id, n.lane, c.cause_event_id, n.params" in statement


def _claim_cost(round_trips: tuple[float, float], in_server: tuple[float, float]) -> ClaimCost:
    small, large = round_trips
    server_small, server_large = in_server
    return ClaimCost(
        "followups",
        [small] * 3,
        [large] * 3,
        1_000_000,
        "followups_due",
        1.0,
        [InServer(server_small, 6)] * 3,
        [InServer(server_large, 7)] * 3,
    )


def test_a_claim_ratio_over_the_target_is_reported_as_not_met() -> None:
    cost = _claim_cost(round_trips=(0.001, 0.001), in_server=(0.05, 0.1))

    assert cost.ratio == 2.0
    assert "| 2.00 | < 1.5 | NO |" in claims_section([cost])


def test_the_claim_is_judged_by_its_cost_in_postgresql_not_by_its_round_trip() -> None:
    slow_round_trips = _claim_cost(round_trips=(0.00007, 0.00013), in_server=(0.06, 0.061))

    assert slow_round_trips.round_trip_ratio > 1.5
    assert slow_round_trips.met
    row = claims_section([slow_round_trips]).splitlines()[-1]
    assert "0.060 ms, 0.060 ms (6)" in row
    assert "0.061 ms, 0.061 ms (7)" in row
    assert "| 0.07 ms, 0.13 ms (1.86) |" in row


@pytest.mark.parametrize(
    ("arg", "text"),
    [
        (None, None),
        (datetime(2026, 12, 4, 18, 0, tzinfo=UTC), "2026-12-04T18:00:00+00:00"),
        ([], "{}"),
        (["email", "sms"], '{"email","sms"}'),
        ("bulk", "bulk"),
    ],
    ids=["none", "datetime", "empty-list", "list", "text"],
)
def test_an_explained_claims_untyped_arguments_are_sent_as_postgresqls_text(
    arg: object, text: str | None
) -> None:
    assert _as_text(arg) == text


def test_a_rebuild_below_twenty_thousand_events_a_second_is_reported_as_not_met() -> None:
    slow = RebuildSpeed("followup", Throughput(1_000, 0.5), Throughput(1_000, 0.02), 400, 400)
    fast = RebuildSpeed("notify", Throughput(30_000, 1.0), Throughput(30_000, 0.5), 9, 9)

    table = rebuild_section(EndToEnd(rebuilds=[slow, fast]))

    assert "| followup | 1,000 (400) | 2,000 events/s (0.50 s) | 50,000 events/s | 4.0% |" in table
    assert table.splitlines()[2].endswith("| NO |")
    assert table.splitlines()[3].endswith("| yes |")


def test_a_rebuild_timed_after_emptying_tables_says_so_in_its_row() -> None:
    as_is = RebuildSpeed("booking", Throughput(6_000, 0.2), Throughput(6_000, 0.05), 6, 6)
    emptied = RebuildSpeed(
        "booking", Throughput(6_000, 0.4), Throughput(6_000, 0.05), 6, 6, ("a", "b")
    )

    rows = rebuild_section(EndToEnd(rebuilds=[as_is, emptied])).splitlines()

    assert rows[2].startswith("| booking | 6,000 (6) | 30,000 events/s (0.20 s) |")
    assert rows[3].startswith("| booking, a and b emptied first | 6,000 (6) | 15,000 events/s")
    assert rows[3].endswith("| NO |")


def test_a_pages_hops_are_the_differences_of_its_instants_and_a_missing_one_is_left_out() -> None:
    instants = {
        "a": {"post": 10.0, "txn": 10.004, "relay": 10.010, "provider": 10.050},
        "b": {"post": 20.0, "txn": 20.002, "relay": 20.020, "inbox": 20.030, "provider": 20.040},
    }

    found = hops(instants)

    assert found.seconds["post → txn"] == pytest.approx([0.004, 0.002])
    assert found.seconds["txn → relay"] == pytest.approx([0.006, 0.018])
    assert found.seconds["relay → inbox"] == pytest.approx([0.010])  # a's inbox is unknown
    assert found.seconds["post → provider"] == pytest.approx([0.050, 0.040])
    assert "inbox → queued" not in found.seconds  # nobody has both


def test_pg_time_charges_each_backend_to_its_database_and_an_exited_one_to_the_reaped() -> None:
    before = Processes(
        cpu={1: 1.0, 2: 2.0, 3: 0.5},
        kind={1: "booking", 2: "notify", 3: "notify"},
        postmaster=0.1,
        reaped=4.0,
    )
    # pid 3 exited with 0.7 s in all (0.2 s of it in the window); pid 4 is new.
    after = Processes(
        cpu={1: 1.5, 2: 2.25, 4: 0.125},
        kind={1: "booking", 2: "notify", 4: "walwriter"},
        postmaster=0.15,
        reaped=4.7,
    )

    spent = cpu_by_kind(before, after)

    assert spent["booking"] == pytest.approx(0.5)
    assert spent["notify"] == pytest.approx(0.25)
    assert spent["walwriter"] == pytest.approx(0.125)
    assert spent[EXITED] == pytest.approx(0.2)
    assert spent["postmaster"] == pytest.approx(0.05)
