"""Profile booking while `POST /appointments` runs flat out: py-spy samples the booking
process, and the samples are summed by the part of the request they were in.

python bench/profile_booking.py [--seconds 20] [--out docs/profile] [--service booking]

Writes <out>/<service>-flamegraph.svg, <out>/<service>-stacks.txt (collapsed stacks) and
prints the summary that docs/performance.md quotes. `--service followup` samples followup's
process instead, while the same bookings run (it plans their reminders). py-spy needs ptrace
rights over the process (root, or the same user with ptrace allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.booking_load import BookingLoad  # noqa: E402
from bench.stack import running_stack  # noqa: E402

PY_SPY = Path(sys.executable).with_name("py-spy")

# First match wins, checked from the innermost frame outwards, so a frame of asyncpg inside
# the idempotency module counts as the database, not as idempotency; the event loop's own
# transport frames are skipped, so a socket write counts for whoever wrote.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("database driver (asyncpg)", ("asyncpg/",)),
    ("logging (structlog, json)", ("structlog/", "counseling_shared/logs.py", "json/")),
    ("tracing (opentelemetry)", ("opentelemetry/",)),
    ("metrics (prometheus)", ("prometheus_client/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("directory responder (contact look-ups)", ("booking/entrypoints/directory.py",)),
    ("idempotency", ("counseling_shared/idempotency.py",)),
    ("outbox and envelopes", ("counseling_shared/outbox.py", "counseling_shared/envelope.py")),
    ("event store", ("counseling_shared/eventstore.py",)),
    ("booking's own code", ("booking/",)),
    ("followup's own code", ("followup/",)),
    ("inbox consumer", ("counseling_shared/inbox.py", "counseling_shared/pull.py")),
    ("nats client", ("nats/",)),
    ("HTTP stack (uvicorn, starlette, fastapi)", ("uvicorn/", "starlette/", "fastapi/", "h11/")),
    ("asyncio event loop", ("asyncio/", "uvloop/")),
)


_LOOP_INTERNALS = ("_SelectorSocketTransport.", "WriteTransport.", "StreamWriter.")
IDLE = ("EpollSelector.select", "Condition.wait", "concurrent/futures/thread.py:81")


def part_of(stack: str) -> str | None:
    """The part a sample's time belongs to; None for a thread waiting for work (idle)."""
    frames = stack.split(";")
    if any(marker in frames[-1] for marker in IDLE):
        return None
    for frame in reversed(frames):
        if frame.startswith(_LOOP_INTERNALS):
            continue  # a socket write is its caller's cost (asyncpg's, nats-py's, uvicorn's)
        for name, markers in PARTS:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def summarize(collapsed: str) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit() and (part := part_of(stack)) is not None:
            counts[part] += int(samples)
    total = sum(counts.values()) or 1
    return [(name, n / total) for name, n in counts.most_common()]


def py_spy_record(
    pid: int, out: Path, *, rate: int, seconds: float | None = None, fmt: str = "raw"
) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` `rate` times a second into `out`, for `seconds` (else until the
    process ends or the recorder is stopped); started, not waited for."""
    command = [str(PY_SPY), "record", "-p", str(pid), "-r", str(rate), "--nonblocking"]
    if seconds is not None:
        command += ["-d", str(int(seconds))]
    command += ["--format", fmt, "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def profile(seconds: float, out: Path, service: str = "booking") -> list[tuple[str, float]]:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    async with running_stack() as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        pid = suite.processes[service].pid
        assert pid is not None
        stacks = out / f"{service}-stacks.txt"
        recorders = [
            py_spy_record(pid, path, rate=97, seconds=seconds, fmt=fmt)
            for fmt, path in (("raw", stacks), ("flamegraph", out / f"{service}-flamegraph.svg"))
        ]
        result = await load.flat_out(16, seconds + 2)
        for recorder in recorders:
            await asyncio.to_thread(recorder.wait)
        await asyncio.to_thread(_without_checkout_path, out / f"{service}-flamegraph.svg")
        print(
            f"during the profile: {result.per_second:.0f} bookings/s, "
            f"p50 {result.percentile(50) * 1000:.0f} ms, p99 {result.percentile(99) * 1000:.0f} ms"
        )
    return summarize(await asyncio.to_thread(stacks.read_text))


def _without_checkout_path(svg: Path) -> None:
    """py-spy writes its command line, with this checkout's absolute paths, into the picture:
    the published one names paths from the repository's root instead."""
    svg.write_text(svg.read_text().replace(f"{ROOT}/", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "profile")
    parser.add_argument("--service", default="booking", help="the process to sample")
    args = parser.parse_args()
    for name, share in asyncio.run(profile(args.seconds, args.out, args.service)):
        print(f"{share:6.1%}  {name}")


if __name__ == "__main__":
    main()
