"""The whole suite as separate processes, driven only through HTTP and NATS.

Each service runs as `python -m <name>` with its own fresh database, on free ports, talking to a
NATS server of the test module's own, a real SMTP server (aiosmtpd) and an HTTP sink for SMS
and messaging. A service can be SIGKILLed and started again in the middle of a flow.
"""

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from counseling_shared.bus import connect_bus
from counseling_shared.busauth import OPERATOR
from counseling_shared.jetstream import ensure_streams
from devstack.environment import SERVICES, common_env
from devstack.ports import free_port
from devstack.postgres import (
    ServiceRoles,
    drop_database,
    drop_roles,
    ensure_database,
    ensure_service_roles,
    with_database,
    with_role,
)
from devstack.services import ServiceProcess
from devstack.sinks import Sinks
from opsctl.bus import BusConfig

API_KEY = "e2e-admin-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Suite:
    def __init__(
        self,
        *,
        nats_url: str,
        postgres_url: str,
        sinks: Sinks,
        work_dir: Path,
        extra_env: Mapping[str, str] | None = None,
        bus: BusConfig | None = None,
    ) -> None:
        """With `bus`, each service connects as its own NATS user and the streams are declared
        by the operator; each service's database has an owner (migrations) and a runtime role."""
        self.nats_url = nats_url
        self.bus = bus
        self.sinks = sinks
        self._postgres_url = postgres_url
        self._prefix = f"e2e_{uuid.uuid4().hex[:8]}"
        self.ports = {name: free_port() for name in SERVICES}
        self.databases = {name: f"{self._prefix}_{name}" for name in SERVICES}
        self.roles = {
            name: ServiceRoles.for_database(self.databases[name], uuid.uuid4().hex)
            for name in SERVICES
        }
        common = common_env(
            {
                "API_KEYS": API_KEY,
                "LOG_LEVEL": "INFO",
                # A test calls followup or notify right after booking announced a site or
                # client: on a loaded machine their consumer may need more than the default 3 s.
                "KNOWN_ID_WAIT_SECONDS": "8",
                **(extra_env or {}),
            },
            nats_url=nats_url,
            ports=self.ports,
            sinks=sinks.env(),
        )
        common["PATH"] = os.environ.get("PATH", "")
        self.processes = {
            name: ServiceProcess(
                name,
                self.ports[name],
                {**common, **self._own_env(name)},
                work_dir / "log",
                work_dir / "run",
            )
            for name in SERVICES
        }

    def database_url(self, service: str) -> str:
        return with_database(self._postgres_url, self.databases[service])

    def _own_env(self, service: str) -> dict[str, str]:
        roles, database = self.roles[service], self.database_url(service)
        env = {
            "DATABASE_URL": with_role(database, roles.runtime, roles.password),
            "MIGRATION_DATABASE_URL": with_role(database, roles.owner, roles.password),
        }
        if self.bus is not None:
            env["NATS_NKEY_SEED_FILE"] = str(self.bus.seed_file(service))
        return env

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(service), headers=AUTH, timeout=10.0)

    async def start(self) -> None:
        for name in SERVICES:
            await ensure_database(self._postgres_url, self.databases[name])
            await ensure_service_roles(self._postgres_url, self.databases[name], self.roles[name])
        if self.bus is not None:
            nc = await connect_bus(self.nats_url, self.bus.credentials(OPERATOR))
            try:
                await ensure_streams(nc.jetstream(timeout=5.0))
            finally:
                await nc.close()
        for process in self.processes.values():
            process.start()
        for name in SERVICES:
            await self.wait_ready(name)

    async def wait_ready(self, service: str, timeout: float = 60.0) -> None:
        process = self.processes[service]
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(process.ready):
            if time.monotonic() > deadline:
                tail = "\n".join(process.last_lines)
                raise TimeoutError(f"{service} not ready after {timeout}s:\n{tail}")
            await asyncio.sleep(0.2)

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a crashed pod."""
        process = self.processes[service]
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.05)

    async def restart(self, service: str) -> None:
        self.processes[service].start()
        await self.wait_ready(service)

    async def restart_with_keys(self, keys: str) -> None:
        """Keys naming sites and staff that exist only now: restart every service with them."""
        for name, process in self.processes.items():
            process.send_stop()
            await asyncio.to_thread(process.stop)
            process.env["API_KEYS"] = keys
            process.start()
            await self.wait_ready(name)

    async def stop(self) -> None:
        for process in self.processes.values():
            process.send_stop()
        for process in self.processes.values():
            await asyncio.to_thread(process.stop)
        for name in SERVICES:
            await drop_database(self._postgres_url, self.databases[name])
            await drop_roles(self._postgres_url, self.roles[name])

    def logs(self, service: str) -> str:
        return self.processes[service].log_path.read_text(errors="replace")


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Poll an async or sync `check` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
