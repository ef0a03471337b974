"""`python -m devstack` starts the stack, and leaves nothing of its own running when stopped."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from counseling_shared.bus import BusCredentials, connect_bus
from devstack.environment import SERVICES
from devstack.ports import free_port

# It starts embedded NATS and PostgreSQL servers, like every integration test.
pytestmark = pytest.mark.integration

READY = "devstack is up"

# Stands in for `python -m <service>` until the real services exist: serves /readyz on
# its <SERVICE>_PORT, writes its environment down, and dies on request.
FAKE_SERVICE = textwrap.dedent(
    """
    import http.server, json, os, pathlib, threading, time

    name = __package__
    out = pathlib.Path(os.environ["FAKE_OUT"])
    (out / f"{name}.json").write_text(json.dumps(dict(os.environ)))
    print(f"{name} says hello", flush=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    if os.environ.get("FAKE_CRASH") == name:
        def crash():
            time.sleep(1)
            print(f"{name}: boom", flush=True)
            os._exit(3)
        threading.Thread(target=crash).start()

    port = int(os.environ[f"{name.upper()}_PORT"])
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)

# What devstack reads of a service besides running it: its consumers (none for a fake).
FAKE_BOOTSTRAP = textwrap.dedent(
    """
    import types

    def definition():
        return types.SimpleNamespace(routes=[])
    """
)


class Runner:
    """The runner as a child process, its console output collected line by line."""

    def __init__(self, var_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if k not in _STACK_VARIABLES}
        # Free ports, so the test never collides with a `make run` on the same machine.
        base |= {
            f"DEVSTACK_{x}_PORT": "0"
            for x in ("NATS", "NATS_HTTP", "POSTGRES", "SMTP", "HTTP_SINK")
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--var-dir", str(var_dir), *args],
            env=base | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"runner never printed {text!r}:\n{self.output}")
            time.sleep(0.05)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


_STACK_VARIABLES = {
    "NATS_URL",
    "DATABASE_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMS_WEBHOOK_URL",
    "MESSAGING_WEBHOOK_URL",
    "API_KEYS",
    "ALERT_BASE_URL",
    "BOOKING_BASE_URL",
    "DEVSTACK_VAR_DIR",
}


def _all_gone(procs: list[psutil.Process], timeout: float = 10.0) -> bool:
    def gone(proc: psutil.Process) -> bool:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + timeout
    while not all(gone(p) for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _names(procs: list[psutil.Process]) -> set[str]:
    return {p.name() for p in procs}


@pytest.fixture
def fake_services(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PYTHONPATH and ports that make `python -m booking` etc. run the fake service."""
    modules, out = tmp_path / "fake_modules", tmp_path / "fake_out"
    out.mkdir()
    for name in SERVICES:
        (modules / name).mkdir(parents=True)
        (modules / name / "__init__.py").write_text("")
        (modules / name / "__main__.py").write_text(FAKE_SERVICE)
        # devstack reads each service's routing table for its NATS user's permissions.
        (modules / name / "bootstrap.py").write_text(FAKE_BOOTSTRAP)
    env = {"PYTHONPATH": str(modules), "FAKE_OUT": str(out)}
    env |= {f"{name.upper()}_PORT": str(free_port()) for name in SERVICES}
    return env, out


def test_no_services_starts_infra_and_sigterm_stops_it(tmp_path: Path) -> None:
    runner = Runner(tmp_path / "var", "--no-services")
    runner.wait_for_line(READY)
    started = runner.descendants()
    assert {"nats-server", "postgres"} <= _names(started)
    assert "export NATS_URL=nats://127.0.0.1:" in runner.output
    assert "/booking  # for booking" in runner.output

    runner.proc.send_signal(signal.SIGTERM)

    assert runner.wait() == 0
    assert _all_gone(started)


def test_a_second_run_reuses_the_data_left_by_a_killed_one(tmp_path: Path) -> None:
    first = Runner(tmp_path / "var", "--no-services")
    first.wait_for_line(READY)
    orphans = first.descendants()
    first.proc.kill()  # no cleanup at all: its servers and postmaster.pid stay behind
    first.wait()

    second = Runner(tmp_path / "var", "--no-services")
    second.wait_for_line(READY)
    assert _all_gone(orphans), "the second run should stop what the first left running"
    started = second.descendants()
    second.proc.send_signal(signal.SIGINT)

    assert second.wait() == 0
    assert _all_gone(started)
    assert (
        "initdb"
        not in (tmp_path / "var" / "log" / "postgres.log")
        .read_text()
        .split("database system is shut down")[-1]
    ), "the data dir should be reused, not initialised again"


def test_a_second_run_on_the_same_var_dir_refuses_and_leaves_the_first_running(
    tmp_path: Path,
) -> None:
    """It used to take the running stack's PostgreSQL and NATS for a killed run's leftovers
    and stop them (`make run` typed in a second terminal broke the first)."""
    first = Runner(tmp_path / "var", "--no-services")
    first.wait_for_line(READY)
    started = first.descendants()

    second = Runner(tmp_path / "var", "--no-services")

    assert second.wait(timeout=30) == 1
    assert f"another `make run` (pid {first.proc.pid}) is using" in second.output
    assert "DEVSTACK_VAR_DIR" in second.output
    assert "starting PostgreSQL" not in second.output
    assert all(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started)
    first.proc.send_signal(signal.SIGINT)
    assert first.wait() == 0
    assert _all_gone(started)


def test_services_get_their_environment_and_are_stopped_with_the_stack(
    tmp_path: Path, fake_services: tuple[dict[str, str], Path]
) -> None:
    env, out = fake_services
    runner = Runner(tmp_path / "var", env=env)
    runner.wait_for_line(READY)
    started = runner.descendants()

    booking = json.loads((out / "booking.json").read_text())
    # Its own NATS user's seed, and an owner role for migrations beside the runtime role.
    assert booking["NATS_NKEY_SEED_FILE"].endswith("/bus/booking/seed.nk")
    assert "//booking_owner@" in booking["MIGRATION_DATABASE_URL"]
    assert "//booking@" in booking["DATABASE_URL"]
    crisis_port = env["CRISIS_PORT"]
    assert booking["DATABASE_URL"].endswith("/booking")
    assert booking["NATS_URL"].startswith("nats://127.0.0.1:")
    assert booking["API_KEYS"] == "dev-admin-key"
    assert booking["INBOUND_SMS_SECRET"] == "dev-inbound-sms-secret"  # noqa: S105
    assert "X-Webhook-Secret: dev-inbound-sms-secret" in runner.output
    assert booking["ALERT_BASE_URL"] == f"http://127.0.0.1:{crisis_port}"
    assert booking["BOOKING_BASE_URL"] == f"http://127.0.0.1:{env['BOOKING_PORT']}"
    assert booking["SMS_WEBHOOK_URL"].endswith("/sms")
    assert booking["SMTP_HOST"] == "127.0.0.1"
    assert json.loads((out / "crisis.json").read_text())["DATABASE_URL"].endswith("/crisis")
    assert "booking  | booking says hello" in runner.output
    assert "booking says hello" in (tmp_path / "var" / "log" / "booking.log").read_text()
    assert f"http://127.0.0.1:{env['BOOKING_PORT']}/docs" in runner.output

    runner.proc.send_signal(signal.SIGTERM)

    assert runner.wait() == 0
    assert _all_gone(started)


def test_a_dying_service_takes_the_stack_down_with_its_last_words(
    tmp_path: Path, fake_services: tuple[dict[str, str], Path]
) -> None:
    env, _ = fake_services
    runner = Runner(tmp_path / "var", env=env | {"FAKE_CRASH": "followup"})
    runner.wait_for_line(READY)
    started = runner.descendants()

    assert runner.wait() == 1
    assert "followup exited with code 3" in runner.output
    assert "followup: boom" in runner.output
    assert _all_gone(started)


def test_counselctl_finds_the_running_stack_through_its_state_file(
    tmp_path: Path, fake_services: tuple[dict[str, str], Path]
) -> None:
    env, _ = fake_services
    var_dir = tmp_path / "var"
    monitor_port = free_port()
    runner = Runner(var_dir, env=env | {"DEVSTACK_NATS_HTTP_PORT": str(monitor_port)})
    runner.wait_for_line(READY)
    state = json.loads((var_dir / "devstack.json").read_text())
    asyncio.run(
        _publish_on_a_fresh_stream(state["nats"]["url"], state["nats"]["credentials"], messages=3)
    )
    # Nothing says where NATS or the databases are: only where the stack keeps its state.
    bare = {k: v for k, v in os.environ.items() if k not in _STACK_VARIABLES}
    bare["DEVSTACK_VAR_DIR"] = str(var_dir)

    streams = subprocess.run(
        [sys.executable, "-m", "opsctl", "streams", "--json"],
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert streams.returncode == 0, streams.stderr
    [probe] = [s for s in json.loads(streams.stdout) if s["name"] == PROBE_STREAM]
    assert probe["messages"] == 3
    assert state["databases"]["crisis"].endswith("/crisis")
    assert state["services"]["booking"] == f"http://127.0.0.1:{env['BOOKING_PORT']}"
    assert state["nats"]["credentials"]  # the operator seed counselctl used
    assert state["nats"]["monitor_url"] == f"http://127.0.0.1:{monitor_port}"
    assert f"NATS monitoring {state['nats']['monitor_url']}" in runner.output
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.wait() == 0
    assert not (var_dir / "devstack.json").exists()


PROBE_STREAM = "BOOKING"


async def _publish_on_a_fresh_stream(url: str, seed_file: str, messages: int) -> None:
    # As booking, the only user that may publish on its subjects (seeds sit side by side).
    booking = BusCredentials(
        user="booking", seed_file=Path(seed_file).parents[1] / "booking" / "seed.nk"
    )
    nc = await connect_bus(url, booking, max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        # devstack declares the streams itself; with fake services nothing else publishes.
        for _ in range(messages):
            await js.publish(f"booking.{uuid.uuid4()}.SiteRegistered", b"{}")
    finally:
        await nc.close()
