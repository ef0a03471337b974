"""What every service process is made of: one runtime (database, NATS, relay, consumers, timers)
and one FastAPI app around it. A service describes itself with a `ServiceDefinition`; its
`bootstrap.py` builds that definition, and `run_service` serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import nats.errors
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from counseling_shared.bus import BusCredentials, connect_options
from counseling_shared.busauth import durables_of, streams_needed
from counseling_shared.clock import Clock, SystemClock
from counseling_shared.db import DATABASE_ERRORS, connect, create_pool
from counseling_shared.envelope import REGISTRY, EventRegistry
from counseling_shared.heap import freeze_startup_heap, tune_collector
from counseling_shared.http.audit import AuditMiddleware, audit_router
from counseling_shared.http.auth import ApiKeyAuth, StaffDeactivatedLookup
from counseling_shared.http.body_limit import install_body_limit
from counseling_shared.http.idempotency import IdempotencyMiddleware
from counseling_shared.http.openapi import describe_api
from counseling_shared.http.problems import (
    HtmlErrorPage,
    NotReady,
    install_html_error_pages,
    install_problem_handlers,
)
from counseling_shared.http.rate_limit import (
    FormBudget,
    RateBudget,
    RateKeys,
    RateLimitMiddleware,
    parse_rate_limit,
)
from counseling_shared.inbox import BatchHandler, Handler, InboxConsumer
from counseling_shared.jetstream import ConsumerSpec, ensure_streams
from counseling_shared.links import check_link_key_allowed
from counseling_shared.logs import configure_logging, get_logger
from counseling_shared.migrations import (
    MigrationFailed,
    apply_migrations,
    grant_runtime_access,
    is_permanent,
    role_of,
)
from counseling_shared.pruner import Pruner, PruneTarget, backbone_targets
from counseling_shared.relay import OutboxRelay
from counseling_shared.settings import ServiceSettings, parse_gc_thresholds
from counseling_shared.tracing import configure_tracing

log = get_logger(__name__)

_UNREACHABLE: tuple[type[Exception], ...] = (*DATABASE_ERRORS, nats.errors.Error)
"""What a start-up attempt raises while the database or NATS cannot be reached."""


class StartupFailed(Exception):
    """The service stopped because starting failed in a way waiting would not fix; the message
    says what to fix (never a secret)."""


BackgroundTask = Callable[["Runtime"], Awaitable[None]]
StaffDeactivatedQuery = Callable[["asyncpg.Pool[Any]", UUID], Awaitable[bool]]
"""A service's look-up of its own projection: has booking deactivated this staff member?"""


@dataclass(frozen=True)
class Route:
    """One row of a service's routing table: what it consumes, who handles it.

    `batch_handler`, optional, handles a fetched batch's fresh messages in one call (see
    `counseling_shared.inbox.BatchHandler`); `handler` stays the fallback for a failing batch.
    `fetch` is how many messages one fetch asks for at most (one transaction's batch).
    """

    spec: ConsumerSpec
    handler: Handler
    batch_handler: BatchHandler | None = None
    fetch: int = 64


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    migrations_dir: Path
    routes: Sequence[Route] = ()
    routers: Sequence[APIRouter] = ()
    background: Sequence[BackgroundTask] = ()
    on_start: Sequence[BackgroundTask] = ()
    prune_targets: Sequence[PruneTarget] = ()
    """The service's own tables to prune (settled timers, old attempts), beside the backbone's."""
    version: str = "1.0.0"
    registry: EventRegistry = REGISTRY
    client_free_text: frozenset[str] = frozenset()
    """Response fields holding free text about a client: withheld from integration keys."""
    staff_deactivated: StaffDeactivatedQuery | None = None
    """Asked for every `staff` key: a deactivated member's key is refused on every route."""
    link_purposes: Sequence[str] = ()
    """The purposes of the signed links the service's routes accept: a request carrying a
    genuine one is rate-limited per link, not per address (http/rate_limit.py)."""
    rate_budgets: Sequence[RateBudget] = ()
    """Credentials of the service's own that get a rate budget apart (crisis's SMS webhook)."""
    rate_form_budgets: Sequence[FormBudget] = ()
    """The same for credentials that sign the whole form (Twilio's webhooks)."""
    html_error_page: HtmlErrorPage | None = None
    """Answers the errors of the service's HTML pages as HTML (`install_html_error_pages`)."""
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
        self.streams_ready = False
        self.started = False
        self._hooks_run = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self.heap_frozen = False
        self.waiting_for = "the database (MIGRATION_DATABASE_URL, else DATABASE_URL)"
        """What the current start-up step needs: named in the log line while it waits."""
        self.fatal: str | None = None
        """Why starting failed for good (a migration), once it has."""
        self.request_exit: Callable[[], None] | None = None
        """Stops the server (set by `run_service`): a process that cannot start exits."""
        self._last_nats_error = ""
        self.drain_timeout = 10.0
        """At shutdown, how long the consumers' batches in hand may take to finish (well
        inside the pods' 30 s grace period); past it they are cancelled and nak'ed."""

    @property
    def name(self) -> str:
        return self.definition.name

    def db(self) -> asyncpg.Pool[Any]:
        if self.pool is None:
            # Still waiting for the database at start-up: the request is refused, not lost.
            raise NotReady()
        return self.pool

    def jetstream(self) -> JetStreamContext:
        assert self.js is not None, "runtime not started"
        return self.js

    def nats(self) -> NatsClient:
        assert self.nc is not None, "runtime not started"
        return self.nc

    async def start(self) -> None:
        """Connect, migrate, and start every loop; raise if the database or NATS is down.

        Safe to call again after such a failure: what is already open is kept.
        """
        await self._open_database()
        await self._open_nats()
        await self._start_loops()

    async def start_when_reachable(self) -> None:
        """`start`, retried with a growing back-off while the database or NATS is unreachable.

        The HTTP server runs meanwhile: `/healthz` answers 200, `/readyz` 503 until it is done.
        """
        delay = 0.25
        while True:
            try:
                await self.start()
                return
            except MigrationFailed as exc:
                self.fail(str(exc))
                return
            except _UNREACHABLE as exc:
                log.warning(
                    "waiting_for_infrastructure",
                    error=repr(exc),
                    check=self.waiting_for,
                    retry_in=delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.outage_backoff_max)

    def fail(self, reason: str) -> None:
        """Starting failed for good: say why in one line and stop the process (exit 1)."""
        self.fatal = reason
        log.error("startup_failed", reason=reason)
        if self.request_exit is not None:
            self.request_exit()

    async def _nats_error(self, exc: Exception) -> None:
        # nats-py's own callback logs a 20-line traceback for every failed (re)connect, twice
        # a second while NATS is down: one line instead, and only when the error changes.
        if repr(exc) != self._last_nats_error:
            self._last_nats_error = repr(exc)
            log.warning("nats_error", error=repr(exc), check="NATS_URL")

    async def _nats_reconnected(self) -> None:
        self._last_nats_error = ""
        log.info("nats_reconnected")

    def bus_credentials(self) -> BusCredentials:
        s = self.settings
        seed = s.nats_nkey_seed.get_secret_value() if s.nats_nkey_seed is not None else None
        return BusCredentials(
            user=self.name,
            seed=seed,
            seed_file=s.nats_nkey_seed_file,
            tls_ca_file=s.nats_tls_ca_file,
        )

    async def migrate(self) -> None:
        """Apply migrations as the migration role, then grant the runtime role its share."""
        s = self.settings
        variable = "MIGRATION_DATABASE_URL" if s.migration_database_url else "DATABASE_URL"
        self.waiting_for = f"the database ({variable})"
        conn = await connect(s.migration_dsn, schema=s.database_schema)
        try:
            # Migrations come before any consumer or loop touches the tables.
            applied = await apply_migrations(
                conn, self.definition.migrations_dir, schema=s.database_schema
            )
            runtime_role = role_of(s.database_url)
            if s.migration_database_url and runtime_role != role_of(s.migration_database_url):
                await grant_runtime_access(conn, runtime_role, schema=s.database_schema)
        except asyncpg.PostgresError as exc:
            # Creating the migrations' table or granting the runtime role its share.
            if is_permanent(exc):
                raise MigrationFailed("migrating", exc) from exc
            raise
        finally:
            await conn.close()
        if applied:
            log.info("migrations_applied", names=applied)

    async def _open_database(self) -> None:
        if self.pool is not None:
            return
        s = self.settings
        await self.migrate()
        self.waiting_for = "the database (DATABASE_URL)"
        self.pool = await create_pool(
            s.database_url,
            schema=s.database_schema,
            max_size=s.db_pool_max,
            timeouts=s.db_timeouts(),
        )

    async def _open_nats(self) -> None:
        if self.js is not None:
            return
        s = self.settings
        self.waiting_for = "NATS (NATS_URL)"
        if self.nc is None:
            nc = NatsClient()
            # reconnect_time_wait is typed int in nats-py but takes seconds as a float.
            options: dict[str, Any] = {
                "reconnect_time_wait": 0.5,
                "error_cb": self._nats_error,
                "reconnected_cb": self._nats_reconnected,
            }
            try:
                # nats-py retries an unreachable server for ever when reconnects are unlimited:
                # bound the first connection, and start over on the next attempt.
                async with asyncio.timeout(5.0):
                    await nc.connect(
                        s.nats_url,
                        **connect_options(self.bus_credentials(), s.nats_url),
                        max_reconnect_attempts=-1,
                        allow_reconnect=True,
                        **options,
                    )
            except BaseException:
                with contextlib.suppress(Exception):
                    await nc.close()
                raise
            self.nc = nc
        js = self.nc.jetstream(timeout=5.0)
        if s.nats_authenticated:
            # The operator declares the streams (`counselctl streams ensure`); this user may
            # not. Until they exist the service is not ready.
            self.js = js
            self._spawn(self._await_streams(), "await-streams")
            return
        await ensure_streams(js, replicas=s.stream_replicas)
        self.streams_ready = True
        self.js = js

    async def _await_streams(self, interval: float = 1.0) -> None:
        specs = durables_of(route.spec for route in self.definition.routes)
        missing = streams_needed(self.name, specs)
        while missing:
            for name in list(missing):
                try:
                    await self.jetstream().stream_info(name)
                    missing.remove(name)
                except (nats.errors.Error, OSError, TimeoutError) as exc:
                    log.info("stream_awaited", stream=name, error=type(exc).__name__)
            if missing:
                await asyncio.sleep(interval)
        self.streams_ready = True
        log.info("streams_found")

    async def _start_loops(self) -> None:
        if self.relay is None:
            self._spawn_loops()
        # A hook that failed on the database going away is run again on the next attempt.
        for hook in self.definition.on_start[self._hooks_run :]:
            await hook(self)
            self._hooks_run += 1
        for task in self.definition.background:
            self._spawn(task(self), getattr(task, "__name__", "background"))
        self.started = True

    def _spawn_loops(self) -> None:
        s = self.settings
        pool, js = self.db(), self.jetstream()
        self.relay = OutboxRelay(
            pool,
            js,
            dsn=s.database_url,
            schema=s.database_schema,
            listening_poll=s.relay_listening_poll(),
        )
        self._spawn(self.relay.run(), "outbox-relay")
        for route in self.definition.routes:
            consumer = InboxConsumer(
                pool=pool,
                js=js,
                spec=route.spec,
                handler=route.handler,
                batch_handler=route.batch_handler,
                batch_size=route.fetch,
                registry=self.definition.registry,
                source=self.name,
                clock=self.clock,
                handler_timeout=s.handler_timeout,
                outage_backoff=(0.25, s.outage_backoff_max),
            )
            self.consumers.append(consumer)
            self._consumer_tasks.append(self._spawn(consumer.run(), route.spec.durable))
            self._consumer_tasks.append(
                self._spawn(consumer.run_redriven(), f"{route.spec.durable}-redrive")
            )
        pruner = Pruner(
            pool,
            [*backbone_targets(s), *self.definition.prune_targets],
            batch_size=s.prune_batch,
            interval=s.prune_interval,
            clock=self.clock,
        )
        self._spawn(pruner.run(), "pruner")

    def settle_heap(self) -> None:
        """Once started, freeze the heap built so far (`counseling_shared.heap`): the app and
        its connections live as long as the process, so full collections need not walk them;
        and set the collector's thresholds (`GC_THRESHOLDS`), whether frozen or not."""
        if self.heap_frozen:
            return
        tune_collector(parse_gc_thresholds(self.settings.gc_thresholds))
        if not self.settings.gc_freeze_after_start:
            return
        freeze_startup_heap()
        self.heap_frozen = True

    def spawn_guarded(self, coro: Awaitable[None], name: str) -> None:
        """Run `coro` until `stop`; if it crashes, the process stops (never a silent loop)."""
        self._spawn(coro, name)

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
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

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        await self._drain_consumers()
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

    async def _drain_consumers(self) -> None:
        """Stop fetching and let each consumer finish the batch in hand, within the deadline:
        a rolling deploy then settles its messages instead of leaving them to ack_wait. What
        is still in hand after it is cancelled and nak'ed (`InboxConsumer.process_batch`)."""
        for consumer in self.consumers:
            consumer.stop_fetching()
        running = [t for t in self._consumer_tasks if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=self.drain_timeout)
            if late:
                log.warning("consumers_not_drained", tasks=sorted(t.get_name() for t in late))
        self._consumer_tasks.clear()

    async def readiness(self) -> dict[str, bool]:
        """Started, the database answering, NATS connected, every consumer fetching."""
        checks = {
            "started": self.started,
            "database": False,
            "nats": False,
            "streams": self.streams_ready,
            "consumers": False,
        }
        if self.pool is not None:
            with contextlib.suppress(Exception):
                checks["database"] = await self.pool.fetchval("SELECT true", timeout=2.0)
        checks["nats"] = bool(self.nc is not None and self.nc.is_connected)
        checks["consumers"] = self.started and all(c.ready for c in self.consumers)
        return checks


_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})

SERVER_SPANS: TelemetryConfig = {
    # FastAPI's own telemetry names the server span once routing has chosen the route; the
    # OpenTelemetry instrumentation matched the path against every route in turn, before
    # routing, to name it. One span per request: no spans for dependencies and serialization.
    "operation_spans": False,
    "exclude": lambda scope: scope.get("path") in _UNTRACED,
}


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def live_runtime(request: Request) -> Runtime:
    """`runtime_of` as a route dependency: FastAPI runs a plain `def` dependency in a worker
    thread, a hand-off that cost each request more than the look-up itself."""
    return runtime_of(request)


def _staff_lookup(
    runtime: Runtime, query: StaffDeactivatedQuery | None
) -> StaffDeactivatedLookup | None:
    """The service's query, on the runtime's pool (503 while the database is not reached)."""
    if query is None:
        return None

    async def deactivated(staff_id: UUID) -> bool:
        return await query(runtime.db(), staff_id)

    return deactivated


def create_app(definition: ServiceDefinition, clock: Clock | None = None) -> FastAPI:
    settings = definition.settings
    configure_logging(definition.name, settings.log_level)
    configure_tracing(definition.name, settings.otel_exporter_otlp_endpoint)
    runtime = Runtime(definition, clock or SystemClock())

    async def start_in_background() -> None:
        await runtime.start_when_reachable()
        app.state.pool = runtime.pool
        log.info("service_ready", port=settings.port)
        runtime.settle_heap()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One attempt in the foreground, so a service whose servers are up is ready when it
        # serves; if the database or NATS is down, the HTTP server still comes up (readiness
        # 503) and the runtime keeps trying in the background instead of the process exiting.
        try:
            await runtime.start()
            app.state.pool = runtime.pool
            log.info("service_started", port=settings.port)
            runtime.settle_heap()
        except MigrationFailed as exc:
            runtime.fail(str(exc))
        except _UNREACHABLE as exc:
            log.warning(
                "service_waiting_for_infrastructure", error=repr(exc), check=runtime.waiting_for
            )
            runtime.spawn_guarded(start_in_background(), "start-when-reachable")
        try:
            yield
        finally:
            await runtime.stop()

    # Swagger UI (/docs) and ReDoc (/redoc) from assets the package bundles: no CDN, so the
    # interactive docs work offline.
    app = FastAPIOffline(
        title=definition.name,
        version=definition.version,
        lifespan=lifespan,
        static_url="/docs-assets",
        telemetry=SERVER_SPANS,
    )
    describe_api(app)
    app.state.runtime = runtime
    app.state.auth = ApiKeyAuth(
        settings.api_keys,
        development_mode=settings.development_mode,
        staff_deactivated=_staff_lookup(runtime, definition.staff_deactivated),
    )
    install_problem_handlers(app)
    if definition.html_error_page is not None:
        install_html_error_pages(app, definition.html_error_page)
    app.add_middleware(AuditMiddleware, free_text_fields=definition.client_free_text)
    app.add_middleware(IdempotencyMiddleware, auth=app.state.auth, ttl=settings.idempotency_key_ttl)
    # Added last, so run first: the rate limit, then the body limit, then everything else.
    install_body_limit(app)
    app.add_middleware(
        RateLimitMiddleware,
        limits=parse_rate_limit(settings.rate_limit),
        storage_uri=settings.rate_limit_storage_uri,
        rate_keys=RateKeys(
            keys=app.state.auth.keys,
            signer=settings.link_signer(),
            link_purposes=tuple(definition.link_purposes),
            budgets=tuple(definition.rate_budgets),
            form_budgets=tuple(definition.rate_form_budgets),
        ),
    )
    trusted_proxies = settings.trusted_proxies
    if trusted_proxies:
        # Outermost: the client address everything after sees (the rate limit above all) is
        # the one the trusted ingress forwarded; from anyone else X-Forwarded-For is ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))

    @app.get("/healthz", tags=["probes"], summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["probes"],
        summary="Ready: database and NATS connected, consumers bound",
        responses={503: {"description": "Not ready; `checks` says what is missing."}},
    )
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "not_ready",
                "service": definition.name,
                "checks": checks,
            },
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["probes"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router)
    app.include_router(audit_router)
    return app


def run_service(definition: ServiceDefinition) -> None:
    s = definition.settings
    # Checked where the service is served (not in create_app, which the docs build also uses
    # with default settings): a forgeable link key never serves outside development.
    current, *previous = s.link_keys
    check_link_key_allowed(current, development_mode=s.development_mode, previous_keys=previous)
    app = create_app(definition)
    runtime: Runtime = app.state.runtime
    # uvloop and httptools (both dependencies) roughly halve the event loop's and the HTTP
    # parser's share of each request; "auto" picks them and falls back where they cannot run.
    config = uvicorn.Config(
        app,
        host=s.host,
        port=s.port,
        loop="auto",
        http="auto",
        log_config=None,
        access_log=False,
        # create_app applies FORWARDED_ALLOW_IPS itself; uvicorn's own default would trust
        # 127.0.0.1 (a sidecar) and rewrite the client address a second time.
        proxy_headers=False,
    )
    # Our own Server (as uvicorn.run builds one) so that a start-up that fails for good stops
    # it: the runtime then asks it to exit, and this raises instead of returning.
    server = uvicorn.Server(config)
    runtime.request_exit = lambda: setattr(server, "should_exit", True)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if runtime.fatal is not None:
        raise StartupFailed(runtime.fatal)
    if not server.started:
        sys.exit(3)  # uvicorn's own STARTUP_FAILURE: it has logged why
