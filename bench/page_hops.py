"""Where a page's milliseconds go: each idle page's path cut into hops, from the instants the
services record anyway (no tracing exporter, no extra logging in the timed path).

    post      the bench sends `POST /risk-flags`
    txn       crisis's transaction starts (its outbox row's `created_at`, `now()`)
    relay     crisis's relay starts the transaction that publishes it (`published_at`)
    inbox     notify's consumer starts the batch's transaction (`inbox.received_at`)
    queued    notify's handler queues the SMS (`notifications.created_at`, its clock)
    provider  the SMS provider stand-in records it (its file's mtime)
    recorded  notify records the outcome (`sent_at`, after the provider answered)

The hops are differences of these on one machine's clock. `python -m bench.page_hops` starts
the whole stack, sends `--pages` flags `--rounds` times and prints each hop's percentiles;
with `--backlog 20000`, the flags are sent while notify's bulk lane drains that many messages.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.backlog import queue_backlog
from bench.cpu import CpuMeter, load_average
from bench.paging import Pager
from bench.stack import Stack, running_stack
from counseling_shared.db import connect
from counseling_shared.waiting import poll_until

INSTANTS = ("post", "txn", "relay", "inbox", "queued", "provider", "recorded")
HOPS = tuple(itertools.pairwise(INSTANTS))

_CRISIS = """SELECT created_at, published_at, payload FROM outbox
             WHERE subject LIKE 'crisis.%.PageRequested'"""
_NOTIFY = """SELECT n.params->>'alert_id' AS alert_id, i.received_at, n.created_at,
                    n.sent_at
             FROM notifications n
             JOIN inbox i ON i.consumer = 'notify-crisis' AND i.event_id = n.cause_event_id
             WHERE n.template = 'crisis_page' AND n.channel = 'sms'"""


@dataclass(frozen=True)
class PageHops:
    """Each hop's seconds, one list per hop, in path order."""

    seconds: dict[str, list[float]]

    def summary(self) -> str:
        lines = [f"{'hop':<20} {'p50':>7} {'p90':>7} {'max':>7}  (ms, {self._count()} pages)"]
        for name, values in self.seconds.items():
            ordered = sorted(values)
            p50, p90, top = _at(ordered, 50), _at(ordered, 90), ordered[-1] * 1000
            lines.append(f"{name:<20} {p50:7.1f} {p90:7.1f} {top:7.1f}")
        return "\n".join(lines)

    def _count(self) -> int:
        return max((len(v) for v in self.seconds.values()), default=0)


def _at(ordered: Sequence[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def hops(instants: Mapping[str, Mapping[str, float]]) -> PageHops:
    """Per-alert instants (epoch seconds, by `INSTANTS` name) → each hop's durations, plus
    the whole path; an alert missing an instant is left out of the hops that need it."""
    seconds: dict[str, list[float]] = {f"{a} → {b}": [] for a, b in HOPS}
    seconds["post → provider"] = []
    for at in instants.values():
        for a, b in HOPS:
            if a in at and b in at:
                seconds[f"{a} → {b}"].append(at[b] - at[a])
        if "post" in at and "provider" in at:
            seconds["post → provider"].append(at["provider"] - at["post"])
    return PageHops({name: values for name, values in seconds.items() if values})


async def instants_of(stack: Stack, pager: Pager) -> dict[str, dict[str, float]]:
    """The last `pager.page_each`'s pages, each with every instant the stack recorded."""
    found: dict[str, dict[str, float]] = {
        alert: {"post": at, "provider": pager.arrived[alert]}
        for alert, at in pager.sent.items()
        if alert in pager.arrived
    }
    crisis = await connect(stack.suite.database_url("crisis"))
    try:
        for row in await crisis.fetch(_CRISIS):
            alert = json.loads(row["payload"])["data"]["alert_id"]
            if alert in found and row["published_at"] is not None:
                found[alert]["txn"] = _epoch(row["created_at"])
                found[alert]["relay"] = _epoch(row["published_at"])
    finally:
        await crisis.close()
    notify = await connect(stack.suite.database_url("notify"))
    try:
        for row in await notify.fetch(_NOTIFY):
            if (at := found.get(row["alert_id"])) is None or row["sent_at"] is None:
                continue
            at["inbox"] = _epoch(row["received_at"])
            at["queued"] = _epoch(row["created_at"])
            at["recorded"] = _epoch(row["sent_at"])
    finally:
        await notify.close()
    return found


def _epoch(at: datetime) -> float:
    return at.timestamp()


async def _notify_idle(stack: Stack) -> None:
    conn = await connect(stack.suite.database_url("notify"))
    try:

        async def idle() -> bool:
            return not await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE status = 'pending'"
            )

        await poll_until(idle, 60.0, every=0.2)
    finally:
        await conn.close()


async def measure(pages: int, rounds: int, interval: float, backlog: int) -> list[PageHops]:
    """`rounds` rounds of `pages` flags; with a `backlog`, that many bulk messages are queued
    (as `bench.backlog` does) before the first round, and the rounds run while they drain."""
    results = []
    async with running_stack() as stack:
        pagers = [await Pager.prepare(stack.suite, pages) for _ in range(rounds)]
        await _notify_idle(stack)
        if backlog:
            first = pagers[0]
            site = uuid.UUID(first.center.site_id)
            queued = await queue_backlog(stack, site, first.clients, backlog)
            print(f"{queued:,} bulk messages queued", flush=True)
        services = {name: p.pid for name, p in stack.suite.processes.items() if p.pid}
        meter = CpuMeter(
            {**services, "nats": stack.nats_pid, "bench": os.getpid()},
            {"postgresql": stack.postgres_pid},
        )
        for number, pager in enumerate(pagers, 1):
            if not backlog:
                await _notify_idle(stack)
            meter.start()
            latencies = await pager.page_each(interval)
            spent = meter.stop()
            instants = await instants_of(stack, pager)
            found = hops(instants)
            in_order = sorted(instants.values(), key=lambda at: at["post"])
            first_three = ", ".join(
                f"{(at['provider'] - at['post']) * 1000:.0f}" for at in in_order[:3]
            )
            results.append(found)
            print(
                f"round {number}: p50 {latencies.percentile(50) * 1000:.0f} ms, "
                f"p99 {latencies.percentile(99) * 1000:.0f} ms, "
                f"max {max(latencies.ok) * 1000:.0f} ms (the first three: {first_three} ms); "
                f"load {load_average()}",
                flush=True,
            )
            print(found.summary(), flush=True)
            print(
                "CPU seconds while paging: "
                + ", ".join(f"{name} {cpu:.2f}" for name, cpu in spent.items()),
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="flags per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds on the same stack")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between flags")
    parser.add_argument(
        "--backlog", type=int, default=0, help="bulk messages queued before the first round"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.pages, args.rounds, args.interval, args.backlog))
    everything: dict[str, list[float]] = {}
    for result in results:
        for name, values in result.seconds.items():
            everything.setdefault(name, []).extend(values)
    print("all rounds:")
    print(PageHops(everything).summary())
    whole = sorted(everything.get("post → provider", []))
    if whole:
        print(f"end to end: median {statistics.median(whole) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
