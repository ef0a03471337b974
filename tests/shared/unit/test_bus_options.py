"""nats-py options for a bus connection: with TLS, every server is checked against the name in
NATS_URL, so a reconnect to a server the cluster told the client about (a pod IP) still
verifies against certificates that carry DNS names only (tests/shared/integration/test_bus_tls.py
shows it on a real server)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from counseling_shared.bus import BusCredentials, connect_options, tls_server_name

CA = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture
def ca_file() -> Path:
    # Any PEM bundle will do: only the option's presence is under test.
    if not CA.is_file():
        pytest.skip("no system CA bundle to stand in for the NATS CA")
    return CA


def test_a_tls_url_pins_the_certificate_name_to_its_host(ca_file: Path) -> None:
    credentials = BusCredentials(
        user="booking", seed_file=Path("/run/bus/seed.nk"), tls_ca_file=ca_file
    )
    options = connect_options(credentials, "tls://nats:4222")
    assert options["tls_hostname"] == "nats"
    assert isinstance(options["tls"], ssl.SSLContext)
    assert options["inbox_prefix"] == "_INBOX.booking"


def test_a_tls_url_without_a_ca_file_is_pinned_too() -> None:
    options = connect_options(BusCredentials(user="crisis"), "tls://nats.counseling.svc:4222")
    assert options["tls_hostname"] == "nats.counseling.svc"


def test_a_plain_url_gets_no_certificate_name() -> None:
    options = connect_options(BusCredentials(user="notify"), "nats://nats:4222")
    assert "tls_hostname" not in options
    assert "tls" not in options


@pytest.mark.parametrize("url", ["tls://10.1.2.3:4222", "tls://[fd00::1]:4222"])
def test_an_address_is_not_a_name_to_pin(url: str) -> None:
    assert tls_server_name(url) is None
    assert "tls_hostname" not in connect_options(BusCredentials(user="notify"), url)


def test_without_a_url_the_options_are_the_credentials_alone() -> None:
    assert "tls_hostname" not in connect_options(BusCredentials(user="followup"))


def test_a_url_without_a_scheme_is_nats_py_s_default(ca_file: Path) -> None:
    credentials = BusCredentials(user="booking", tls_ca_file=ca_file)
    assert connect_options(credentials, "nats:4222")["tls_hostname"] == "nats"


def test_a_list_of_servers_is_pinned_only_when_they_share_one_name() -> None:
    assert tls_server_name("tls://nats:4222, tls://nats:4223") == "nats"
    assert tls_server_name("tls://nats-0.nats:4222,tls://nats-1.nats:4222") is None
