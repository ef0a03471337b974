"""Webhooks reach public receivers only (outside development): the address rule and the
sender's check before each attempt."""

import ipaddress

import httpx
import pytest

from notify.adapters.webhook_addresses import RefusedAddress, check_public
from notify.adapters.webhook_sender import WebhookSender
from notify.domain.webhooks.addresses import is_public, literal_address

REFUSED = {
    "loopback": "127.0.0.1",
    "private-10": "10.1.2.3",
    "private-192": "192.168.0.10",
    "cloud-metadata": "169.254.169.254",
    "shared-cgnat": "100.64.0.1",
    "unspecified": "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
    "multicast": "224.0.0.1",
    "ipv6-loopback": "::1",
    "ipv6-unique-local": "fd00::1",
    "ipv6-link-local": "fe80::1",
    "ipv4-mapped-loopback": "::ffff:127.0.0.1",
    "nat64-private": "64:ff9b::a00:1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "nat64-local-use": "64:ff9b:1::a00:1",
    "nat64-local-use-public-looking": "64:ff9b:1:5db8:d822::",
    "6to4-private": "2002:a00:1::",
    "6to4-loopback": "2002:7f00:1::1",
    "ipv4-compatible-loopback": "::127.0.0.1",
    "ipv4-compatible-private": "::10.0.0.1",
    "ipv4-translated-private": "::ffff:0:a00:1",
    "teredo-private-client": "2001:0:5db8:d822::f5ff:fffe",  # client 10.0.0.1, obfuscated
}
PUBLIC = {
    "ipv4": "93.184.216.34",
    "ipv6": "2606:2800:220:1:248:1893:25c8:1946",
    "nat64-public": "64:ff9b::5db8:d822",
    "6to4-public": "2002:5db8:d822::1",
}


@pytest.mark.parametrize("address", list(REFUSED.values()), ids=list(REFUSED))
def test_private_loopback_link_local_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", list(PUBLIC.values()), ids=list(PUBLIC))
def test_globally_routable_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_a_bracketed_ipv6_host_is_read_as_its_address() -> None:
    assert literal_address("[::1]") == ipaddress.ip_address("::1")
    assert literal_address("hooks.example") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/h",
        "http://[::1]/h",
        "http://169.254.169.254/latest",
        "http://localhost/h",
    ],
    ids=["loopback", "ipv6-loopback", "metadata", "localhost-name"],
)
async def test_a_url_whose_host_is_or_resolves_to_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(RefusedAddress):
        await check_public(url)


async def test_a_url_with_a_public_address_is_accepted() -> None:
    await check_public("https://93.184.216.34/hooks")


async def test_the_sender_refuses_a_private_receiver_without_connecting() -> None:
    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_request)) as client:
        sender = WebhookSender(client, reach_private=False)
        result = await sender.post("http://10.0.0.5/hook", "{}", {})

    assert result.status_code is None
    assert result.error == "private_address"


async def test_the_sender_reaches_a_private_receiver_where_that_is_allowed() -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(204))
    ) as client:
        result = await WebhookSender(client, reach_private=True).post("http://10.0.0.5/h", "{}", {})

    assert result.status_code == 204
