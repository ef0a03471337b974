"""Helpers the backbone's integration tests share: waiting, reading a stream, serving an app."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import uvicorn
from fastapi import FastAPI
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from counseling_shared.codes import GoalHorizon, RiskLevel
from counseling_shared.events import SessionCompleted
from counseling_shared.jetstream import PIN_GROUP, ConsumerSpec
from counseling_shared.pull import Puller
from devstack.ports import free_port

PROBE_MIGRATIONS = Path(__file__).parent / "migrations"

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail with its last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer!r} after {timeout} s")
        await asyncio.sleep(interval)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel until the task ends: Python 3.11's asyncio.wait_for (inside nats-py's fetch)
    swallows a cancel that lands as its result arrives, so one cancel may not be enough."""
    for _ in range(10):
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=0.5)
        if done:
            break
    assert task.done(), "the task did not stop"
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def messages_on(js: JetStreamContext, stream: str, subject: str) -> list[Msg]:
    """Every message the stream holds on `subject` (wildcards allowed), in stream order."""
    info = await js.stream_info(stream, subjects_filter=subject)
    expected = sum((info.state.subjects or {}).values())
    if expected == 0:
        return []
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=10.0,
        ),
    )
    try:
        found: list[Msg] = []
        while len(found) < expected:
            found += await sub.fetch(expected - len(found), timeout=5.0)
        return found
    finally:
        await sub.unsubscribe()


async def replica_fetch(
    js: JetStreamContext,
    spec: ConsumerSpec,
    batch: int = 100,
    *,
    timeout: float = 5.0,
    ack: bool = True,
) -> list[Msg]:
    """What another replica bound to the pinned durable `spec` is given within `timeout` (it
    stands by while the durable is pinned to someone else); acked if `ack`. It unpins when
    done, so the next reader need not wait for its pin to time out."""
    puller = Puller(
        js._nc,
        spec.stream,
        spec.durable,
        expires=0.5,
        group=PIN_GROUP,
        ack_wait=spec.ack_seconds,
        standby_poll=0.1,
    )
    async with puller:
        deadline = time.monotonic() + timeout
        msgs: list[Msg] = []
        while not msgs and time.monotonic() < deadline:
            msgs = await puller.fetch(batch)
        for msg in msgs if ack else []:
            await msg.ack()
        await puller.unpin()
    return msgs


async def count_on(js: JetStreamContext, stream: str, subject: str) -> int:
    info = await js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


def session_completed(site_id: UUID, appointment_id: UUID | None = None) -> SessionCompleted:
    return SessionCompleted(
        appointment_id=appointment_id or uuid4(),
        site_id=site_id,
        client_id=uuid4(),
        counselor_id=uuid4(),
        completed_at=datetime.now(UTC),
        goal_horizon=GoalHorizon.SHORT_TERM,
        risk_level=RiskLevel.NONE,
    )


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Run `app` with its lifespan under uvicorn on a free port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the app stopped during start-up")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def delaying_proxy(url: str, delay: float) -> AsyncIterator[str]:
    """A TCP proxy to the server at `url` (nats://host:port) that holds every byte the client
    sends for `delay` seconds (the server's replies pass at once); yields the proxy's URL.

    A slow path to the server makes it start each pull request's `expires` late, so the request
    outlives the client's own timeout: the race a loaded machine hits now and then."""
    host, port = url.rsplit("//", 1)[-1].rsplit(":", 1)
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        try:
            while data := await reader.read(65536):
                if hold:
                    await asyncio.sleep(hold)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        for task in (pipe(client_r, server_w, delay), pipe(server_r, client_w, 0.0)):
            pipes.add(asyncio.create_task(task))

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    try:
        yield f"nats://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
