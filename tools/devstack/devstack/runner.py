"""What `make run` runs: NATS, PostgreSQL, the sinks, the four services; then an
orderly stop on Ctrl-C or SIGTERM, or when a service dies."""

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from counseling_shared.bus import connect_bus
from counseling_shared.busauth import OPERATOR
from counseling_shared.jetstream import ensure_streams
from devstack import console, signals
from devstack.environment import (
    DEV_API_KEY,
    DEV_INBOUND_SMS_SECRET,
    SERVICES,
    common_env,
    port_variable,
    service_env,
    service_ports,
)
from devstack.nats import NatsServer
from devstack.ports import pick_port
from devstack.postgres import (
    PostgresServer,
    ServiceRoles,
    ensure_database,
    ensure_service_roles,
    with_database,
)
from devstack.procs import StartupError
from devstack.services import ServiceProcess
from devstack.sinks import HttpSink, SmtpSink
from devstack.state import remove_state, state_document, write_state
from devstack.var_lock import hold_var_dir
from opsctl.bus import BusConfig, write_bus_config

DEFAULT_INFRA_PORTS = {
    "DEVSTACK_NATS_PORT": 4222,
    "DEVSTACK_NATS_HTTP_PORT": 8222,
    "DEVSTACK_POSTGRES_PORT": 5432,
    "DEVSTACK_SMTP_PORT": 2525,
    "DEVSTACK_HTTP_SINK_PORT": 8025,
}


@dataclass(frozen=True)
class Options:
    var_dir: Path
    start_services: bool = True
    ready_timeout: float = 60.0


@dataclass
class Infra:
    nats_url: str
    nats_monitor_url: str | None
    postgres_url: str
    sink_env: dict[str, str]
    notes: list[tuple[str, str]]  # (what, where) lines for the summary table
    bus: BusConfig | None = None  # the bus's users, when devstack runs NATS itself
    roles: dict[str, ServiceRoles] | None = None  # per service, when it runs PostgreSQL


def run(options: Options, env: Mapping[str, str]) -> int:
    """Returns the process exit code: 0 after a stop signal, 1 when something failed."""
    var_dir = options.var_dir.resolve()
    with contextlib.ExitStack() as stack:
        try:
            # Before anything starts: a second run must not take this one's servers for leftovers.
            stack.callback(os.close, hold_var_dir(var_dir))
            infra = _start_infra(var_dir, env, stack)
            asyncio.run(_prepare(infra))
            ports = service_ports(env)
            common = common_env(env, nats_url=infra.nats_url, ports=ports, sinks=infra.sink_env)
            if not options.start_services:
                _print_env(common, infra)
                while True:
                    time.sleep(3600)
            services = [
                ServiceProcess(
                    name,
                    ports[name],
                    service_env(
                        common,
                        name,
                        infra.postgres_url,
                        roles=infra.roles[name] if infra.roles else None,
                        seed_file=infra.bus.seed_file(name) if infra.bus else None,
                    ),
                    log_dir=var_dir / "log",
                    run_dir=var_dir / "run",
                )
                for name in SERVICES
            ]
            stack.callback(_stop_services, services)
            _start_services(services, options.ready_timeout, env)
            stack.callback(remove_state, var_dir)
            state = write_state(var_dir, _state(services, infra, common))
            _print_table(services, infra, common, var_dir, state)
            return _supervise(services)
        except StartupError as error:
            console.say(f"devstack: {error}")
            return 1
        except signals.Shutdown as shutdown:
            console.say(f"devstack: {shutdown} received, stopping everything")
            return 0
        finally:
            signals.shield()
    raise AssertionError("unreachable")


def _start_infra(var_dir: Path, env: Mapping[str, str], stack: contextlib.ExitStack) -> Infra:
    log_dir = var_dir / "log"
    notes: list[tuple[str, str]] = []

    postgres_url = env.get("DATABASE_URL", "")
    roles: dict[str, ServiceRoles] | None = None
    if not postgres_url:
        # Ours: each service gets a migration role and a runtime role on its database.
        roles = {name: ServiceRoles.for_database(name) for name in SERVICES}
        postgres = PostgresServer(
            var_dir / "postgres",
            _infra_port(env, "DEVSTACK_POSTGRES_PORT"),
            log_path=log_dir / "postgres.log",
        )
        stack.callback(postgres.stop)
        console.say("devstack: starting PostgreSQL")
        postgres.start()
        postgres_url = postgres.url()
    notes.append(("PostgreSQL", _without_password(with_database(postgres_url, "<service>"))))

    nats_url = env.get("NATS_URL", "")
    bus: BusConfig | None = None
    nats_monitor_url: str | None = None
    if not nats_url:
        # Ours: authenticated, a user per service and the operator (seeds kept across runs).
        bus = write_bus_config(var_dir / "bus")
        nats = NatsServer(
            var_dir / "nats",
            _infra_port(env, "DEVSTACK_NATS_PORT"),
            monitor_port=_infra_port(env, "DEVSTACK_NATS_HTTP_PORT"),
            log_path=log_dir / "nats.log",
            config_file=bus.auth_file,
        )
        stack.callback(nats.stop)
        console.say("devstack: starting NATS")
        nats.start()
        nats_url, nats_monitor_url = nats.url, nats.monitor_url
    notes.append(("NATS", nats_url))
    if bus is not None:
        notes.append(("bus seeds", f"{bus.directory}/ (counselctl: {bus.seed_file(OPERATOR)})"))
    if nats_monitor_url:
        notes.append(("NATS monitoring", nats_monitor_url))

    outbox = var_dir / "outbox"
    sink_env: dict[str, str] = {}
    if not env.get("SMTP_HOST"):
        smtp = SmtpSink(outbox, _infra_port(env, "DEVSTACK_SMTP_PORT"))
        stack.callback(smtp.stop)
        smtp.start()
        sink_env |= {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port)}
        notes.append(("SMTP sink", f"{smtp.url} -> {outbox / 'email'}/"))
    if not (env.get("SMS_WEBHOOK_URL") and env.get("MESSAGING_WEBHOOK_URL")):
        http = HttpSink(outbox, _infra_port(env, "DEVSTACK_HTTP_SINK_PORT"))
        stack.callback(http.stop)
        http.start()
        for channel, url in (("SMS", http.sms_url), ("MESSAGING", http.messaging_url)):
            if not env.get(f"{channel}_WEBHOOK_URL"):
                sink_env[f"{channel}_WEBHOOK_URL"] = url
                notes.append((f"{channel.lower()} sink", f"{url} -> {outbox / channel.lower()}/"))
    return Infra(
        nats_url=nats_url,
        nats_monitor_url=nats_monitor_url,
        postgres_url=postgres_url,
        sink_env=sink_env,
        notes=notes,
        bus=bus,
        roles=roles,
    )


def _infra_port(env: Mapping[str, str], variable: str) -> int:
    # The usual port when it is free, so URLs stay the same from one run to the next.
    return pick_port(int(env.get(variable) or DEFAULT_INFRA_PORTS[variable]))


async def _prepare(infra: Infra) -> None:
    """The databases (and their roles), and the streams the operator declares."""
    for name in SERVICES:
        await ensure_database(infra.postgres_url, name)
        if infra.roles is not None:
            await ensure_service_roles(infra.postgres_url, name, infra.roles[name])
    if infra.bus is not None:
        nc = await connect_bus(
            infra.nats_url, infra.bus.credentials(OPERATOR), allow_reconnect=False
        )
        try:
            await ensure_streams(nc.jetstream(timeout=5.0))
        finally:
            await nc.close()


def _start_services(services: list[ServiceProcess], timeout: float, env: Mapping[str, str]) -> None:
    for service in services:
        service.start()
    waiting = list(services)
    deadline = time.monotonic() + timeout
    while waiting:
        for service in list(waiting):
            try:
                ready = service.ready()
            except StartupError:
                _report_death(service)
                raise
            if ready:
                console.say(f"devstack: {service.name} is ready at {service.url}")
                waiting.remove(service)
        if waiting and time.monotonic() > deadline:
            raise StartupError(not_ready_message(waiting, timeout, env))
        time.sleep(0.2)


# A server the environment names instead of one make run starts, and the `/readyz` check
# that fails while it does not answer.
_GIVEN_SERVERS = {"nats": "NATS_URL", "database": "DATABASE_URL"}


def not_ready_message(waiting: list[ServiceProcess], timeout: float, env: Mapping[str, str]) -> str:
    """Which services are not ready and what each waits for; and, when that is a server the
    environment names (a `NATS_URL` left in the shell), that make run started none of its own.
    It used to say only "not ready after 60 s: booking, … (GET /readyz)"."""
    names = ", ".join(
        f"{s.name} (waiting for {', '.join(s.failing_checks)})" if s.failing_checks else s.name
        for s in waiting
    )
    logs = waiting[0].log_path.parent
    lines = [f"not ready after {timeout:.0f} s: {names} (GET /readyz; logs in {logs}/)"]
    failing = {check for s in waiting for check in s.failing_checks}
    for check, variable in _GIVEN_SERVERS.items():
        if check in failing and env.get(variable):
            lines.append(
                f"  {variable} is set ({_without_password(env[variable])}), so make run started "
                f"no server of its own for it: check that one answers, or unset {variable}"
            )
    return "\n".join(lines)


def _supervise(services: list[ServiceProcess]) -> int:
    while True:
        for service in services:
            if service.exit_code is not None:
                _report_death(service)
                console.say("devstack: stopping everything")
                return 1
        time.sleep(0.2)


def _report_death(service: ServiceProcess) -> None:
    service.drain()
    console.say(f"devstack: {service.name} exited with code {service.exit_code}; last lines:")
    for line in service.last_lines:
        console.say(f"    {line}")


def _stop_services(services: list[ServiceProcess]) -> None:
    # SIGTERM to all first, so they shut down in parallel; then wait (and kill) one by one.
    for service in services:
        service.send_stop()
    for service in services:
        service.stop()


def _state(
    services: list[ServiceProcess], infra: Infra, common: Mapping[str, str]
) -> dict[str, object]:
    return state_document(
        nats_url=infra.nats_url,
        nats_monitor_url=infra.nats_monitor_url,
        databases={s.name: with_database(infra.postgres_url, s.name) for s in services},
        services={s.name: s.url for s in services},
        api_key=common["API_KEYS"] if common["API_KEYS"] == DEV_API_KEY else None,
        nats_credentials=str(infra.bus.seed_file(OPERATOR)) if infra.bus else None,
    )


def _print_table(
    services: list[ServiceProcess],
    infra: Infra,
    common: Mapping[str, str],
    var_dir: Path,
    state: Path,
) -> None:
    rows = [(s.name, f"{s.url}/docs") for s in services]
    rows += infra.notes
    rows.append(("API key", _api_key_note(common)))
    if common.get("INBOUND_SMS_SECRET") == DEV_INBOUND_SMS_SECRET:
        secret = f"X-Webhook-Secret: {DEV_INBOUND_SMS_SECRET}"
        rows.append(("texts back", f"POST /inbound/sms with {secret}"))
    rows.append(("logs", f"{var_dir / 'log'}/"))
    rows.append(("state", f"{state} (counselctl reads it)"))
    console.say()
    console.say("devstack is up (Ctrl-C stops everything)")
    for what, where in rows:
        console.say(f"  {what:<16}{where}")
    console.say()


def _print_env(common: Mapping[str, str], infra: Infra) -> None:
    names = ["NATS_URL", "API_KEYS", "INBOUND_SMS_SECRET", "SMTP_HOST", "SMTP_PORT", "SMTP_FROM"]
    names += ["SMS_WEBHOOK_URL", "MESSAGING_WEBHOOK_URL", "ALERT_BASE_URL", "BOOKING_BASE_URL"]
    names += [port_variable(name) for name in SERVICES]
    console.say()
    console.say("devstack is up without services (Ctrl-C stops it). Environment to use:")
    for name in names:
        if name in common:
            console.say(f"export {name}={shlex.quote(common[name])}")
    for name in SERVICES:
        url = with_database(infra.postgres_url, name)
        console.say(f"export DATABASE_URL={shlex.quote(url)}  # for {name}")
    if infra.bus is not None:
        for user in (*SERVICES, OPERATOR):
            seed = shlex.quote(str(infra.bus.seed_file(user)))
            console.say(f"export NATS_NKEY_SEED_FILE={seed}  # for {user}")
    console.say()


def _api_key_note(common: Mapping[str, str]) -> str:
    keys = common["API_KEYS"]
    return f"Authorization: Bearer {keys}" if keys == DEV_API_KEY else "from API_KEYS"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
