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

Pinned durables (`group`, docs/reliability.md, One replica per durable): the server delivers
to one replica at a time, the one it pinned; its messages carry the pin id (`Nats-Pin-Id`),
which its pulls then name. The others stand by: a standby's pull is answered at once (no
`expires`, so it never waits at the server, where its batch would count against the pinned
replica's `no_wait` pulls and get them a `408 Requests Pending`), and it asks again every
`standby_poll`. A pull naming a pin that is no longer the durable's is answered `423`: the
replica is a standby again, nothing failed. The pin moves when the pinned replica has not
pulled for the durable's `priority_timeout` (`keep_pin` covers a long batch), on `unpin`, and
when the consumer's leader changes in a cluster (the pin is not replicated).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from counseling_shared.jetstream import JS_API

_STATUS = "Status"
_HEARTBEAT = "100"
_NOT_PINNED = "423"
PIN_HEADER = "Nats-Pin-Id"
"""Delivery metadata (which replica the server pinned), not part of the message."""
_REQUEST_OVER = frozenset({"404", "408", "409", _NOT_PINNED})
"""No more messages, expired, ended by the server (max waiting, leadership change), or this
replica is not (or no longer) the pinned one: the request is over and the next one is asked
for; any other status is the consumer's failure."""
_TAKEOVER_PULL = 0.25
"""While taking over, how long each pull waits for what the previous replica held."""


class Puller:
    """Fetches batches of a durable pull consumer (`stream`, `durable`) over `nc`."""

    def __init__(
        self,
        nc: NatsClient,
        stream: str,
        durable: str,
        *,
        expires: float,
        grace: float = 1.0,
        group: str | None = None,
        ack_wait: float = 30.0,
        standby_poll: float = 0.5,
    ) -> None:
        self._nc = nc
        self._next_subject = f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._info_subject = f"{JS_API}.CONSUMER.INFO.{stream}.{durable}"
        self._unpin_subject = f"{JS_API}.CONSUMER.UNPIN.{stream}.{durable}"
        self._expires = expires
        self._grace = grace  # how long past `expires` to wait for the server's end of a request
        self._group = group
        self._ack_wait = ack_wait
        self._standby_poll = standby_poll
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self._numbers = itertools.count(1)
        self._prefix = ""
        self._sub: Subscription | None = None
        self.pin: str | None = None
        """The pin id the server gave this replica: None while standing by."""
        self._pinned_at = 0  # the number of the first request sent with the current pin
        self._took_over = False

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
        status = _status_of(msg)
        if status is None:
            self._note_pin(msg)
        elif status == _NOT_PINNED and self._number_of(msg) >= self._pinned_at:
            self.pin = None  # an answer to a request sent with the current pin (not an older one)
        self._arrived.put_nowait(msg)

    def _note_pin(self, msg: Msg) -> None:
        pin = (msg.headers or {}).get(PIN_HEADER)
        if pin and pin != self.pin:
            self.pin = pin
            self._pinned_at = next(self._numbers)
            self._took_over = True

    async def fetch(self, batch: int) -> list[Msg]:
        """Up to `batch` messages: as soon as any is there, or none after `expires` (after
        `standby_poll` while standing by)."""
        msgs = self._already_arrived(batch)
        if not msgs:
            standby = self._group is not None and self.pin is None
            if standby and await self._nobody_pinned():
                # A start, or a pin released or timed out: wait at the server like a pinned
                # replica (for one `standby_poll`), so the next message comes at once and pins
                # this replica, instead of waiting for the next ask.
                msgs = await self._pull(batch, self._standby_poll)
            else:
                msgs = await self._pull(batch, 0.0 if standby else self._expires)
                if standby and not msgs and self.pin is None:
                    await asyncio.sleep(self._standby_poll)
        if self._took_over:
            self._took_over = False
            msgs = await self._after_takeover(msgs)
        return msgs

    async def _pull(self, batch: int, expires: float, *, max_bytes: int = 0) -> list[Msg]:
        """One request: what it brings until it ends (`expires` 0: answered at once)."""
        msgs: list[Msg] = []
        number = next(self._numbers)
        reply = f"{self._prefix}.{number}"
        request: dict[str, object] = {"batch": batch, "no_wait": True}
        if expires:
            request["expires"] = int(expires * 1e9)
        if max_bytes:
            request["max_bytes"] = max_bytes
        if self._group is not None:
            request["group"] = self._group
            if self.pin is not None:
                request["id"] = self.pin
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=reply)
        if max_bytes:
            return msgs  # keeping the pin: the answer is not waited for
        try:
            async with asyncio.timeout(expires + self._grace):
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

    async def keep_pin(self) -> None:
        """Pinned: tell the server this replica is alive without taking a message (a batch
        that takes longer than `priority_timeout` must not lose the pin while in hand).

        A pull of at most 1 byte: every message is larger, so the server answers `409` (or
        `404`, `408`) and delivers nothing, but the pull, naming the pin, keeps it."""
        if self._group is not None and self.pin is not None:
            await self._pull(1, 0.0, max_bytes=1)

    async def unpin(self) -> None:
        """Shutting down, everything settled: a standby takes over now, not after
        `priority_timeout`. Best effort (NATS away: the pin times out)."""
        if self._group is None or self.pin is None:
            return
        self.pin = None
        request = json.dumps({"group": self._group}).encode()
        with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
            await self._nc.request(self._unpin_subject, request, timeout=2.0)

    async def _after_takeover(self, msgs: list[Msg]) -> list[Msg]:
        """Just pinned: the previous replica may still hold messages that come before these
        (it died, or the consumer's leader changed under it: the server moves the pin without
        waiting for them). They are either settled by it or redelivered here after their
        `ack_wait`; until then, nothing is handled. Then what is held is handed over in
        stream order. Bounded by `ack_wait` (messages waiting out a nak's delay count as held
        elsewhere too; the inbox's holds keep those in order)."""
        held = msgs + self._already_arrived(self._arrived.qsize())
        deadline = time.monotonic() + self._ack_wait + self._grace
        progress = time.monotonic() + self._ack_wait / 3
        while time.monotonic() < deadline and self.pin is not None:
            pending = await self._ack_pending()
            if pending is not None and pending <= len(held):
                break  # nothing held elsewhere (not known: wait, the safe side)
            held += await self._pull(64, _TAKEOVER_PULL)
            held += self._already_arrived(self._arrived.qsize())
            if time.monotonic() >= progress:
                progress = time.monotonic() + self._ack_wait / 3
                for msg in held:
                    with contextlib.suppress(nats.errors.Error, OSError):
                        await msg.in_progress()
        return sorted(held, key=lambda m: m.metadata.sequence.stream or 0)

    async def _nobody_pinned(self) -> bool:
        """Whether no replica holds the durable's pin now (not known: False, the safe side,
        since a request waiting at the server would get the pinned replica's pulls a `408`)."""
        info = await self._info()
        if info is None:
            return False
        groups = info.get("priority_groups")
        if not isinstance(groups, list):
            return True  # a durable without priority groups: nobody can hold a pin
        return not any(g.get("pinned_client_id") for g in groups if isinstance(g, dict))

    async def _info(self) -> dict[str, object] | None:
        try:
            reply = await self._nc.request(self._info_subject, b"", timeout=2.0)
            info = json.loads(reply.data)
        except (nats.errors.Error, OSError, TimeoutError, ValueError):
            return None
        return info if isinstance(info, dict) and "error" not in info else None

    async def _ack_pending(self) -> int | None:
        """The durable's messages delivered and not yet settled (None: not known now)."""
        try:
            reply = await self._nc.request(self._info_subject, b"", timeout=2.0)
            return int(json.loads(reply.data)["num_ack_pending"])
        except (nats.errors.Error, OSError, TimeoutError, KeyError, ValueError):
            return None

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

    def _number_of(self, msg: Msg) -> int:
        """The number of the request a status answers (0 if not one of ours)."""
        tail = msg.subject.rsplit(".", 1)[-1]
        return int(tail) if tail.isdigit() else 0


def _status_of(msg: Msg) -> str | None:
    """A status from the server (no ack subject), or None for a message of the stream."""
    if msg.reply or not msg.headers:
        return None
    return msg.headers.get(_STATUS)
