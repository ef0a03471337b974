"""One service as a child process: started, logged, probed, stopped."""

import collections
import contextlib
import datetime
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil

from devstack import console
from devstack.ports import LOOPBACK, port_is_free
from devstack.procs import StartupError, stop_stray, terminate


class ServiceProcess:
    """`python -m <name>` with its output in `<log_dir>/<name>.log` and on the console."""

    def __init__(
        self, name: str, port: int, env: Mapping[str, str], log_dir: Path, run_dir: Path
    ) -> None:
        self.name = name
        self.port = port
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.pid_path = run_dir / f"{name}.pid"
        self.last_lines: collections.deque[str] = collections.deque(maxlen=40)
        self._proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None
        # The checks its last `/readyz` answered false (`nats`, `database`, …), for the
        # runner's message when it never gets ready.
        self.failing_checks: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        self._stop_leftover()
        if not port_is_free(self.port):
            # Most often another `make run` (someone else's, on a shared machine): say how to
            # move this one.
            raise StartupError(
                f"{self.name}: port {self.port} is in use; start it on another with "
                f"{self.name.upper()}_PORT=<port> (the README's examples then need that port)"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        # A session of its own: on Ctrl-C the runner, not the terminal, stops it.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", self.name],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_path.write_text(str(self._proc.pid))
        assert self._proc.stdout is not None
        self._pump = threading.Thread(
            target=self._copy_output, args=(self._proc.stdout,), daemon=True
        )
        self._pump.start()

    def ready(self) -> bool:
        """True once this service's `GET /readyz` answers 200; raises StartupError if the
        process died or another service answers on its port."""
        if self.exit_code is not None:
            raise StartupError(f"{self.name} exited with code {self.exit_code}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1.0) as response:  # noqa: S310
                status: int = response.status
                body = response.read()
        except urllib.error.HTTPError as error:  # a 503 while not ready: its body says why
            status, body = error.code, error.read()
        except OSError:
            return False
        answering = _service_named_in(body)
        if answering is not None and answering != self.name:
            raise StartupError(f"{self.name}: port {self.port} is answered by {answering}")
        self.failing_checks = _failing_checks(body)
        return status == 200

    def send_stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout)
        self.drain()
        self.pid_path.unlink(missing_ok=True)

    def drain(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until the output of an exited process is fully copied."""
        if self._pump is not None:
            self._pump.join(timeout)

    def _copy_output(self, stream: IO[bytes]) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"---- {self.name} started {datetime.datetime.now().isoformat()} ----\n")
            log.flush()
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                self.last_lines.append(line)
                console.prefixed(self.name, line)

    def _stop_leftover(self) -> None:
        # The runner of an earlier run may have been SIGKILLed and left this service behind.
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            proc = psutil.Process(int(self.pid_path.read_text()))
            if proc.cmdline()[-2:] == ["-m", self.name]:
                stop_stray(proc, signal.SIGTERM)
        self.pid_path.unlink(missing_ok=True)


def _service_named_in(readyz_body: bytes) -> str | None:
    try:
        parsed = json.loads(readyz_body)
    except ValueError:
        return None
    named = parsed.get("service") if isinstance(parsed, dict) else None
    return named if isinstance(named, str) else None


def _failing_checks(readyz_body: bytes) -> list[str]:
    try:
        checks = json.loads(readyz_body).get("checks")
    except (ValueError, AttributeError):
        return []
    return [name for name, ok in checks.items() if ok is False] if isinstance(checks, dict) else []
