"""The image's health check script: which port it asks, and what counts as ready."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.deploy.support import ROOT, service_configs


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", ROOT / "deploy/docker/healthcheck.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


class _Readyz(BaseHTTPRequestHandler):
    status = HTTPStatus.OK

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else HTTPStatus.NOT_FOUND)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer, path: str = "/readyz") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_its_default_ports_are_the_services_settings_defaults() -> None:
    assert {c.name: c.default_port for c in service_configs()} == healthcheck.DEFAULT_PORTS


@pytest.mark.parametrize(
    ("command", "service"),
    [
        (["/opt/venv/bin/python", "/opt/venv/bin/notify"], "notify"),
        (["python", "-m", "crisis"], "crisis"),
        (["booking"], "booking"),
        (["/usr/bin/sleep", "60"], None),
    ],
)
def test_the_service_is_read_from_the_main_command_line(
    command: list[str], service: str | None
) -> None:
    assert healthcheck.service_in(command) == service


def test_the_port_comes_from_the_services_own_port_variable() -> None:
    command = ["/opt/venv/bin/python", "/opt/venv/bin/followup"]
    assert healthcheck.readyz_url({}, command) == "http://127.0.0.1:8002/readyz"
    assert healthcheck.readyz_url({"FOLLOWUP_PORT": "9102"}, command).endswith(":9102/readyz")
    # Another service's port variable is not this one's.
    assert healthcheck.readyz_url({"BOOKING_PORT": "9101"}, command).endswith(":8002/readyz")


def test_the_service_variable_wins_over_the_command_line() -> None:
    url = healthcheck.readyz_url({"SERVICE": "crisis"}, ["booking"])
    assert url == "http://127.0.0.1:8004/readyz"


@pytest.mark.parametrize(
    "env", [{"SERVICE": "billing"}, {"SERVICE": "notify", "NOTIFY_PORT": "eighty"}]
)
def test_an_unknown_service_or_a_bad_port_is_unhealthy_not_a_crash(env: dict[str, str]) -> None:
    with pytest.raises(LookupError):
        healthcheck.readyz_url(env, [])


def test_ready_is_a_200_from_readyz(readyz_server: ThreadingHTTPServer) -> None:
    _Readyz.status = HTTPStatus.OK
    assert healthcheck.is_ready(_url(readyz_server))
    assert healthcheck.main([_url(readyz_server)]) == 0


def test_a_503_from_readyz_is_unhealthy(readyz_server: ThreadingHTTPServer) -> None:
    _Readyz.status = HTTPStatus.SERVICE_UNAVAILABLE
    try:
        assert not healthcheck.is_ready(_url(readyz_server))
        assert healthcheck.main([_url(readyz_server)]) == 1
    finally:
        _Readyz.status = HTTPStatus.OK


def test_nobody_listening_is_unhealthy(readyz_server: ThreadingHTTPServer) -> None:
    url = _url(readyz_server)
    readyz_server.shutdown()
    readyz_server.server_close()
    assert healthcheck.main([url]) == 1


def test_without_a_service_to_check_main_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE", "billing")
    assert healthcheck.main([]) == 1
