"""The pictures docs/performance.md shows: a latency histogram and a throughput chart."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from bench.e2e import EndToEnd
from bench.measure import Comparison

LATENCY_PNG = "performance-latency.png"
THROUGHPUT_PNG = "performance-throughput.png"


def latency_histogram(path: Path, e2e: EndToEnd) -> None:
    run = e2e.median_run
    series = [
        ("booking, flat out (16 in flight)", run.flat.ok),
        ("booking, paced at 100/s", run.paced.ok),
        ("page: risk flag → SMS provider", e2e.pages.ok),
    ]
    if e2e.backlog is not None:
        series.append(
            (f"page behind a {e2e.backlog.queued:,}-message bulk backlog", e2e.backlog.pages.ok)
        )
    height = 2.4 * len(series)
    figure, axes = plt.subplots(len(series), 1, figsize=(8, height), constrained_layout=True)
    for ax, (title, seconds) in zip(axes, series, strict=True):
        millis = [s * 1000 for s in seconds]
        ax.hist(millis, bins=40, color="#4C72B0")
        ax.set_title(f"{title}: {len(millis)} requests")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("requests")
    figure.savefig(path, dpi=90)
    plt.close(figure)


def throughput_chart(path: Path, backbone: list[Comparison], e2e: EndToEnd) -> None:
    """Each path beside its raw limit from the same run (log scale: they differ 100-fold)."""
    run = e2e.median_run
    names = [
        "booking POST /appointments\nvs pgbench single-row inserts",
        *(c.name.replace(": ", "\n") for c in backbone),
    ]
    ours = [run.flat.per_second, *(c.backbone.per_second for c in backbone)]
    raw = [run.pgbench_tps, *(c.raw.per_second for c in backbone)]
    if e2e.pipeline is not None:
        names.append("SessionCompleted → followup check-in rows\nvs raw fetch + inserts + acks")
        ours.append(e2e.pipeline.followup.per_second)
        raw.append(e2e.pipeline.raw.per_second)
    for r in e2e.rebuilds:
        if r.rebuild.events:
            emptied = ", tables emptied first" if r.emptied else ""
            names.append(f"{r.service} projection rebuild{emptied}\nvs one read + executemany")
            ours.append(r.rebuild.per_second)
            raw.append(r.raw.per_second)
    figure, ax = plt.subplots(figsize=(9, 2 + 0.6 * len(names)), constrained_layout=True)
    positions = range(len(names))
    ax.barh([p + 0.2 for p in positions], ours, height=0.4, label="ours", color="#4C72B0")
    ax.barh([p - 0.2 for p in positions], raw, height=0.4, label="raw limit", color="#C0C0C0")
    ax.set_yticks(list(positions), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("per second (log scale)")
    ax.legend()
    figure.savefig(path, dpi=90)
    plt.close(figure)
