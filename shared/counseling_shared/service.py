"""What every service process is made of: one runtime (database, NATS, relay, consumers, timers)
and one FastAPI app around it. A service describes itself with a `ServiceDefinition`; its
`bootstrap.py` builds that definition, and `run_service` serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from counseling_shared.clock import Clock, SystemClock
from counseling_shared.db import connect, create_pool
from counseling_shared.envelope import REGISTRY, EventRegistry
from counseling_shared.http.auth import ApiKeyAuth
from counseling_shared.http.idempotency import IdempotencyMiddleware
from counseling_shared.http.problems import install_problem_handlers
from counseling_shared.inbox import BatchHandler, Handler, InboxConsumer
from counseling_shared.jetstream import ConsumerSpec, ensure_streams
from counseling_shared.logs import configure_logging, get_logger
from counseling_shared.migrations import apply_migrations
from counseling_shared.relay import OutboxRelay
from counseling_shared.settings import ServiceSettings
from counseling_shared.tracing import configure_tracing

log = get_logger(__name__)

BackgroundTask = Callable[["Runtime"], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """One row of a service's routing table: what it consumes, who handles it.

    `batch_handler`, optional, handles a fetched batch's fresh messages in one call (see
    `counseling_shared.inbox.BatchHandler`); `handler` stays the fallback for a failing batch.
    """

    spec: ConsumerSpec
    handler: Handler
    batch_handler: BatchHandler | None = None


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    migrations_dir: Path
    routes: Sequence[Route] = ()
    routers: Sequence[APIRouter] = ()
    background: Sequence[BackgroundTask] = ()
    on_start: Sequence[BackgroundTask] = ()
    version: str = "1.0.0"
    registry: EventRegistry = REGISTRY
    state: dict[str, Any] = field(default_factory=dict)


class Runtime:
    """The live connections and loops of one service process."""

    def __init__(self, definition: ServiceDefinition, clock: Clock) -> None:
        self.definition = definition
        self.settings = definition.settings
        self.clock = clock
        self.pool: asyncpg.Pool[Any] | None = None
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[InboxConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return self.definition.name

    def db(self) -> asyncpg.Pool[Any]:
        assert self.pool is not None, "runtime not started"
        return self.pool

    def jetstream(self) -> JetStreamContext:
        assert self.js is not None, "runtime not started"
        return self.js

    def nats(self) -> NatsClient:
        assert self.nc is not None, "runtime not started"
        return self.nc

    async def start(self) -> None:
        s = self.settings
        conn = await connect(s.database_url, schema=s.database_schema)
        try:
            applied = await apply_migrations(
                conn, self.definition.migrations_dir, schema=s.database_schema
            )
        finally:
            await conn.close()
        if applied:
            log.info("migrations_applied", names=applied)
        self.pool = await create_pool(
            s.database_url, schema=s.database_schema, max_size=s.db_pool_max
        )
        self.nc = await nats.connect(
            s.nats_url,
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
        self.js = self.nc.jetstream(timeout=5.0)
        await ensure_streams(self.js, replicas=s.stream_replicas)
        self.relay = OutboxRelay(self.pool, self.js, dsn=s.database_url, schema=s.database_schema)
        self._spawn(self.relay.run(), "outbox-relay")
        for route in self.definition.routes:
            consumer = InboxConsumer(
                pool=self.pool,
                js=self.js,
                spec=route.spec,
                handler=route.handler,
                batch_handler=route.batch_handler,
                registry=self.definition.registry,
                source=self.name,
                clock=self.clock,
            )
            self.consumers.append(consumer)
            self._spawn(consumer.run(), route.spec.durable)
            self._spawn(consumer.run_redriven(), f"{route.spec.durable}-redrive")
        for hook in self.definition.on_start:
            await hook(self)
        for task in self.definition.background:
            self._spawn(task(self), getattr(task, "__name__", "background"))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                # A loop that dies silently is worse than a crash: stop the process.
                log.exception("background_task_crashed", task=name)
                import os
                import signal

                os.kill(os.getpid(), signal.SIGTERM)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def stop(self) -> None:
        # Cancel until each loop has ended: Python 3.11's asyncio.wait_for (used inside nats-py's
        # fetch) swallows a cancel that lands as its result arrives, so once may not be enough.
        pending = set(self._tasks)
        for _ in range(10):
            if not pending:
                break
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in pending:
            log.error("background_task_would_not_stop", task=task.get_name())
        for task in self._tasks:
            if task in pending:
                continue
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.pool is not None:
            await self.pool.close()

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "nats": False, "consumers": False}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                checks["database"] = await self.pool.fetchval("SELECT true", timeout=2.0)
        checks["nats"] = bool(self.nc is not None and self.nc.is_connected)
        checks["consumers"] = all(c.bound for c in self.consumers)
        return checks


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def create_app(definition: ServiceDefinition, clock: Clock | None = None) -> FastAPI:
    settings = definition.settings
    configure_logging(definition.name, settings.log_level)
    configure_tracing(definition.name, settings.otel_exporter_otlp_endpoint)
    runtime = Runtime(definition, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.pool = runtime.pool
        log.info("service_started", port=settings.port)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=definition.name, version=definition.version, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.auth = ApiKeyAuth(settings.api_keys)
    install_problem_handlers(app)
    app.add_middleware(IdempotencyMiddleware, api_keys=settings.api_keys)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router)
    return app


def run_service(definition: ServiceDefinition) -> None:
    app = create_app(definition)
    s = definition.settings
    uvicorn.run(app, host=s.host, port=s.port, log_config=None, access_log=False)
