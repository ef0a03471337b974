"""Pulling batches from a durable JetStream consumer, returning as soon as a message is there.

Every pull asks with `no_wait` and `expires`: the server holds the request until at least one
message is available (or it expires), sends what it has up to the batch, then ends the request
with a `404 No Messages` (`408` on expiry). So a lone message comes back at once, and a backlog
in batches.

nats-py's `PullSubscription.fetch` sends such a request too, but all its requests answer on one
subject: when the previous fetch gave up a moment before its request expired, that request's
late `408` looked like the answer to the next one, which then sent a second, lingering request
(no `no_wait`) that outlived the fetch. A message delivered to that leftover request was taken
by the following fetch as its first message, which then waited up to a whole fetch timeout for
the end of a request that was not its own: pages waited 0.1 to 0.6 s in notify's consumer
(bench/page_hops.py). Here each request answers on a subject of its own, so a status is only
ever taken as the end of the request it belongs to; messages delivered to an earlier request
are still ours and come back with the next batch (they are never dropped, or JetStream would
hold them until their ack_wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json

import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from counseling_shared.busauth import JS_API

_STATUS = "Status"
_HEARTBEAT = "100"
_REQUEST_OVER = frozenset({"404", "408", "409"})
"""No more messages, expired, or ended by the server (max waiting, leadership change): the
request is over and the next one is asked for; any other status is the consumer's failure."""


class Puller:
    """Fetches batches of a durable pull consumer (`stream`, `durable`) over `nc`."""

    def __init__(
        self, nc: NatsClient, stream: str, durable: str, *, expires: float, grace: float = 1.0
    ) -> None:
        self._nc = nc
        self._next_subject = f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._expires = expires
        self._grace = grace  # how long past `expires` to wait for the server's end of a request
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self._numbers = itertools.count(1)
        self._prefix = ""
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._prefix = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._receive)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def __aenter__(self) -> Puller:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _receive(self, msg: Msg) -> None:
        self._arrived.put_nowait(msg)

    async def fetch(self, batch: int) -> list[Msg]:
        """Up to `batch` messages: as soon as any is there, or none after `expires`."""
        msgs = self._already_arrived(batch)
        if msgs:
            return msgs
        reply = f"{self._prefix}.{next(self._numbers)}"
        request = {"batch": batch, "expires": int(self._expires * 1e9), "no_wait": True}
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=reply)
        try:
            async with asyncio.timeout(self._expires + self._grace):
                while len(msgs) < batch:
                    msg = await self._arrived.get()
                    status = _status_of(msg)
                    if status is None:
                        msgs.append(msg)
                    elif msg.subject == reply and status != _HEARTBEAT:
                        if status not in _REQUEST_OVER:
                            nats.js.errors.APIError.from_msg(msg)  # raises
                        break
                    # else: an earlier request's end, already given up on
        except TimeoutError:
            pass  # no answer at all (NATS away, or a slow server): what came is returned
        return msgs

    def take_arrived(self) -> list[Msg]:
        """Every message already here and not yet fetched (to give back at shutdown)."""
        return self._already_arrived(self._arrived.qsize())

    def _already_arrived(self, batch: int) -> list[Msg]:
        """Messages an earlier request brought after its fetch had returned."""
        msgs: list[Msg] = []
        while len(msgs) < batch and not self._arrived.empty():
            msg = self._arrived.get_nowait()
            if _status_of(msg) is None:
                msgs.append(msg)
        return msgs


def _status_of(msg: Msg) -> str | None:
    """A status from the server (no ack subject), or None for a message of the stream."""
    if msg.reply or not msg.headers:
        return None
    return msg.headers.get(_STATUS)
