"""SMTP connections kept between messages, against a real SMTP server (aiosmtpd): reused,
replaced when the server hangs up, retried once only when the connection (not the message)
failed, and closed when idle."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.waiting import poll_until
from devstack.ports import LOOPBACK, free_port
from notify.adapters.smtp import SmtpProvider
from notify.application.ports import OutgoingMessage
from notify.domain.codes import AttemptOutcome

REFUSED = "nobody@mail.example"


class Server:
    """What the server saw, by connection (the client's port), and how it misbehaves."""

    def __init__(self) -> None:
        self.mails: list[int] = []  # the connection of each MAIL command
        self.delivered: list[tuple[int, str]] = []  # (connection, recipient) per message
        self.rcpts: Counter[str] = Counter()
        self.quits = 0
        self.hang_up_at_mail: set[int] = set()  # MAIL numbers (1-based) answered by hanging up
        self.busy_at_mail: set[int] = set()  # MAIL numbers answered 421
        self._lock = threading.Lock()

    @property
    def connections(self) -> list[int]:
        """The connection each delivered message came over."""
        return [peer for peer, _ in self.delivered]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self._lock:
            self.mails.append(session.peer[1])
            number = len(self.mails)
        if number in self.hang_up_at_mail:
            server.transport.close()  # no answer: the client finds the connection gone
            return "421 closing"
        if number in self.busy_at_mail:
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.rcpts[address] += 1
        if address == REFUSED:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.append((session.peer[1], envelope.rcpt_tos[0]))
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"


@pytest.fixture
def server() -> Iterator[tuple[Server, int]]:
    seen = Server()
    port = free_port()
    controller = Controller(seen, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield seen, port
    finally:
        controller.stop(no_assert=True)


def provider_for(port: int, idle_close: float = 30.0) -> SmtpProvider:
    return SmtpProvider(
        host=LOOPBACK,
        port=port,
        sender="center@counseling.example",
        clock=ControllableClock(),
        timeout=5.0,
        idle_close=idle_close,
    )


def to(address: str) -> OutgoingMessage:
    return OutgoingMessage(uuid4(), NotificationChannel.EMAIL, address, "Subject", "Body", "en")


async def test_several_messages_go_over_one_connection(server: tuple[Server, int]) -> None:
    seen, port = server
    provider = provider_for(port)
    try:
        for n in range(3):
            outcome = await provider.send(to(f"client{n}@mail.example"))
            assert outcome.kind is AttemptOutcome.SENT
    finally:
        await provider.aclose()
    assert len(seen.delivered) == 3
    assert len(set(seen.connections)) == 1


async def test_a_connection_the_server_closed_between_messages_is_replaced(
    server: tuple[Server, int],
) -> None:
    seen, port = server
    provider = provider_for(port)
    try:
        assert (await provider.send(to("a@mail.example"))).kind is AttemptOutcome.SENT
        await asyncio.sleep(0.05)
        seen.hang_up_at_mail.add(2)  # the server drops the idle connection on the next MAIL
        second = await provider.send(to("b@mail.example"))
        third = await provider.send(to("c@mail.example"))
    finally:
        await provider.aclose()
    assert (second.kind, third.kind) == (AttemptOutcome.SENT, AttemptOutcome.SENT)
    first_connection, second_connection, third_connection = seen.connections
    assert second_connection != first_connection
    assert third_connection == second_connection  # the replacement is kept in turn
    # The MAIL the server hung up on was sent once more, on a new connection.
    assert seen.mails == [first_connection, first_connection, second_connection, third_connection]
    assert seen.rcpts == Counter({"a@mail.example": 1, "b@mail.example": 1, "c@mail.example": 1})


async def test_a_server_closing_an_idle_connection_on_its_own_is_survived(
    server: tuple[Server, int],
) -> None:
    seen, port = server
    provider = provider_for(port)
    try:
        assert (await provider.send(to("a@mail.example"))).kind is AttemptOutcome.SENT
        seen.busy_at_mail.add(2)  # "421 shutting down": aiosmtplib hangs up itself
        second = await provider.send(to("b@mail.example"))
    finally:
        await provider.aclose()
    assert second.kind is AttemptOutcome.SENT
    assert len(seen.delivered) == 2
    assert len(set(seen.connections)) == 2


async def test_a_fresh_connection_failing_is_the_messages_failure_and_not_retried(
    server: tuple[Server, int],
) -> None:
    seen, port = server
    seen.busy_at_mail.add(1)
    provider = provider_for(port)
    try:
        outcome = await provider.send(to("a@mail.example"))
    finally:
        await provider.aclose()
    assert (outcome.kind, outcome.error_code) == (AttemptOutcome.TRANSIENT_FAILURE, "smtp_421")
    assert len(seen.mails) == 1
    assert seen.delivered == []


async def test_a_refused_recipient_fails_its_message_only_and_the_connection_stays(
    server: tuple[Server, int],
) -> None:
    seen, port = server
    provider = provider_for(port)
    try:
        assert (await provider.send(to("a@mail.example"))).kind is AttemptOutcome.SENT
        refused = await provider.send(to(REFUSED))
        after = await provider.send(to("b@mail.example"))
    finally:
        await provider.aclose()
    assert (refused.kind, refused.error_code) == (AttemptOutcome.PERMANENT_FAILURE, "smtp_550")
    assert seen.rcpts[REFUSED] == 1  # not tried again on another connection
    assert after.kind is AttemptOutcome.SENT
    assert len(set(seen.mails)) == 1


async def test_an_idle_connection_is_closed_with_a_quit(server: tuple[Server, int]) -> None:
    seen, port = server
    provider = provider_for(port, idle_close=0.2)
    try:
        assert (await provider.send(to("a@mail.example"))).kind is AttemptOutcome.SENT
        assert provider.idle_connections == 1

        async def closed() -> bool:
            return seen.quits == 1 and provider.idle_connections == 0

        assert await poll_until(closed, 5.0, every=0.05)
        # The next message opens a new connection.
        assert (await provider.send(to("b@mail.example"))).kind is AttemptOutcome.SENT
    finally:
        await provider.aclose()
    assert len(set(seen.connections)) == 2
    assert seen.quits == 2  # aclose quit the second one


async def test_an_unreachable_server_is_still_retried_later() -> None:
    provider = provider_for(free_port())
    outcome = await provider.send(to("a@mail.example"))
    assert (outcome.kind, outcome.error_code) == (
        AttemptOutcome.TRANSIENT_FAILURE,
        "smtp_unreachable",
    )
    assert provider.idle_connections == 0
