"""CPU time (user + system) of the processes a benchmark runs, read from `/proc`.

A rate on a shared 2-core machine says as much about the neighbours as about our code; the CPU
each process spends per operation says what the operation costs, and how the machine's two
cores are shared between the services, PostgreSQL, NATS and the load generator.
"""

import os
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """The process's own CPU seconds (0 when it is gone)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0


def tree_cpu_seconds(pid: int) -> float:
    """The process's CPU seconds with its live children's and its reaped children's: a
    PostgreSQL postmaster with its backends."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            child = _stat_fields(int(entry.name))
            if child is not None and child[1] == str(pid):  # its parent is `pid`
                total += (int(child[11]) + int(child[12])) / _TICKS
    return total


class CpuMeter:
    """CPU seconds spent by named processes between `start()` and `stop()`."""

    def __init__(self, processes: Mapping[str, int], trees: Mapping[str, int]) -> None:
        self._processes = dict(processes)
        self._trees = dict(trees)
        self._began: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        found = {name: cpu_seconds(pid) for name, pid in self._processes.items()}
        found |= {name: tree_cpu_seconds(pid) for name, pid in self._trees.items()}
        return found

    def start(self) -> None:
        self._began = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self._began.get(name, now[name]) for name in now}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"
