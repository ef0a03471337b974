"""Ports handed to the stack's processes, and how the runner knows a service is its own."""

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.ports import LOOPBACK, free_port
from devstack.procs import StartupError
from devstack.runner import not_ready_message
from devstack.services import ServiceProcess

# Real sockets and a real HTTP server, like the rest of the devstack tests.
pytestmark = pytest.mark.integration


def test_free_port_never_hands_the_same_port_out_twice() -> None:
    # The kernel picks among ~14,000 ports; 500 picks repeat one by chance ~9 times on average.
    ports = [free_port() for _ in range(500)]

    assert len(set(ports)) == len(ports)


def test_two_processes_choosing_at_once_never_get_the_same_port() -> None:
    # As two pytest-xdist workers starting stacks: 500 picks each, side by side. Without the
    # machine-wide claims, two sets this size share a port ~9 times on average.
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from devstack.ports import free_port\n"
            "print(' '.join(str(free_port()) for _ in range(500)))",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    mine = {free_port() for _ in range(500)}
    theirs, _ = other.communicate(timeout=60)

    assert other.returncode == 0
    assert mine.isdisjoint(int(p) for p in theirs.split())


def _answering_as(service: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ready", "service": service}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def notify_on_a_port() -> Iterator[int]:
    server = http.server.HTTPServer((LOOPBACK, 0), _answering_as("notify"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_service_whose_port_another_service_answers_is_not_ready(
    notify_on_a_port: int, tmp_path: Path
) -> None:
    crisis = ServiceProcess("crisis", notify_on_a_port, {}, tmp_path, tmp_path)

    with pytest.raises(StartupError, match="answered by notify"):
        crisis.ready()


def test_a_port_in_use_says_which_variable_moves_the_service(
    notify_on_a_port: int, tmp_path: Path
) -> None:
    """A newcomer whose 8001 another stack holds read only "booking: port 8001 is in use"."""
    booking = ServiceProcess("booking", notify_on_a_port, {}, tmp_path, tmp_path)

    with pytest.raises(StartupError, match=f"port {notify_on_a_port} is in use.*BOOKING_PORT="):
        booking.start()


def test_a_service_answering_on_its_own_port_is_ready(
    notify_on_a_port: int, tmp_path: Path
) -> None:
    notify = ServiceProcess("notify", notify_on_a_port, {}, tmp_path, tmp_path)

    assert notify.ready()


@pytest.fixture
def booking_waiting_for_nats() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            checks = {"started": False, "database": True, "nats": False, "consumers": False}
            body = json.dumps({"status": "not ready", "service": "booking", "checks": checks})
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_service_not_ready_says_what_it_waits_for_and_which_variable_named_it(
    booking_waiting_for_nats: int, tmp_path: Path
) -> None:
    """With a stale NATS_URL in the shell, make run started no NATS and said only "not ready
    after 60 s: booking, followup, notify, crisis (GET /readyz)"."""
    booking = ServiceProcess("booking", booking_waiting_for_nats, {}, tmp_path, tmp_path)

    assert not booking.ready()
    assert booking.failing_checks == ["started", "nats", "consumers"]
    message = not_ready_message(
        [booking], 60, {"NATS_URL": "nats://u:secret@127.0.0.1:1", "DATABASE_URL": "x"}
    )
    assert "booking (waiting for started, nats, consumers)" in message
    assert "NATS_URL is set (nats://u:***@127.0.0.1:1)" in message
    assert "secret" not in message
    assert "DATABASE_URL" not in message  # the database answered
    assert "NATS_URL" not in not_ready_message([booking], 60, {})
