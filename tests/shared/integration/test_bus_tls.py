"""A TLS bus checked by name: a server reached at an IP address (as a NATS cluster advertises its
pods) verifies against the name in NATS_URL, which is the one the certificate carries, on a real
nats-server with a certificate for a DNS name only (made with the openssl command)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest

from counseling_shared.bus import BusCredentials, connect_options
from devstack.nats import NatsServer

pytestmark = pytest.mark.integration

NAME = "localhost"  # the certificate's only name; no IP address in it


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(folder: Path) -> None:
    """A CA, and a server certificate it signs for DNS:localhost alone."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=bus-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=folder,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={NAME}",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=folder,
    )
    (folder / "san.ext").write_text(f"subjectAltName=DNS:{NAME}\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=folder,
    )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificates")
    folder = tmp_path_factory.mktemp("bus-tls")
    _certificates(folder)
    config = folder / "tls.conf"
    cert, key = folder / "server.crt", folder / "server.key"
    config.write_text(f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}\n')
    with NatsServer(folder / "store", config_file=config) as server:
        yield TlsServer(server.port, folder / "ca.crt")


async def _connect_to_address(options: dict[str, object], port: int) -> None:
    # As nats-py reconnects to a server it learned: by its IP address.
    nc = await nats.connect(
        f"tls://127.0.0.1:{port}", allow_reconnect=False, connect_timeout=5, **options
    )
    try:
        await nc.flush(timeout=5)
    finally:
        await nc.close()


async def test_a_server_at_an_address_verifies_against_the_urls_name(
    tls_server: TlsServer,
) -> None:
    credentials = BusCredentials(user="booking", tls_ca_file=tls_server.ca_file)
    options = connect_options(credentials, f"tls://{NAME}:{tls_server.port}")
    assert options["tls_hostname"] == NAME
    await _connect_to_address(options, tls_server.port)


async def test_without_the_pinned_name_the_address_fails_verification(
    tls_server: TlsServer,
) -> None:
    credentials = BusCredentials(user="booking", tls_ca_file=tls_server.ca_file)
    options = connect_options(credentials, f"tls://{NAME}:{tls_server.port}")
    del options["tls_hostname"]
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await _connect_to_address(options, tls_server.port)
