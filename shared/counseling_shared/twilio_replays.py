"""Twilio's signed posts, each acted on once (notify's and crisis's `twilio_posts` table).

Twilio's signature covers the URL and the form but no time, so a captured post stays valid
forever: replayed, an `X` would cancel the number's next appointment, a STOP undo a START.
Each post that acts is remembered by its Twilio id (the route's `post_key`: a text's
`MessageSid`, a call's `CallSid` with the key pressed, a status callback's id with its
status, which legitimately comes once per status).

The id is claimed before acting, in its own short transaction, and settled after: the action
spans other transactions and services (booking over the bus), so it cannot commit with it.

- an action that fails (an exception: Twilio gets a 5xx) releases its claim, so the same id
  posted again acts (Twilio does not retry a text after a 5xx or its read timeout by default:
  it posts the number's Fallback URL, which the operator sets to this same route);
- a process that dies between claim and settle leaves the claim unsettled: after `LEASE` a
  retry takes it over and acts (before, it is answered 503: the first may still be acting);
- a settled id is a replay: the caller answers its harmless empty answer, nothing changes,
  `twilio_replays_total{service,route}` counts it.

A death after the action but before the settle lets a retry after `LEASE` act a second time:
the window of one UPDATE. Rows are pruned after `KEEP` (a post replayed later acts again).

The shared secret's `POST /inbound/sms` (notify's and crisis's) is remembered the same way, in
the same table, by the message id the provider sends (`message_key`); a post without one acts
each time. The metric's `route` label tells those apart from Twilio's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg

from counseling_shared.http.problems import Problem
from counseling_shared.metrics import TWILIO_REPLAYS

LEASE = timedelta(seconds=30)
"""Longer than a request may act (Twilio itself gives up after 15 s)."""
KEEP = timedelta(days=30)
"""How long an id is remembered (the pruner's target)."""
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")

T = TypeVar("T")


def post_key(kind: str, *parts: str) -> str | None:
    """`kind:part:…` from Twilio's id and what tells its posts apart; None without a usable
    id (a signed post always has one: such a post is acted on without memory)."""
    if not parts or not _SID.match(parts[0]):
        return None
    return ":".join((kind, parts[0], *(p[:40] for p in parts[1:])))


def message_key(message_id: str | None) -> str | None:
    """The key of a text posted with the shared secret, by the provider's id (already checked:
    `counseling_shared.http.provider_message_id`); None without one (acted on without memory).
    Its own prefix: never the key of a Twilio post."""
    return f"secret-text:{message_id}" if message_id else None


async def _claim(pool: asyncpg.Pool[Any], key: str, route: str) -> bool | None:
    """True: claimed (new, or an unsettled claim past its lease); False: settled already
    (a replay); None: another request holds it now."""
    claimed = await pool.fetchval(
        """INSERT INTO twilio_posts (post_key, route) VALUES ($1, $2)
           ON CONFLICT (post_key) DO UPDATE SET received_at = now()
           WHERE NOT twilio_posts.settled AND twilio_posts.received_at < now() - $3::interval
           RETURNING true""",
        key,
        route,
        LEASE,
    )
    if claimed:
        return True
    settled = await pool.fetchval("SELECT settled FROM twilio_posts WHERE post_key = $1", key)
    return False if settled else None


async def once(
    pool: asyncpg.Pool[Any],
    service: str,
    route: str,
    key: str | None,
    act: Callable[[], Awaitable[T]],
) -> T | None:
    """`act()`'s result, or None when the post was acted on already (a replay, counted).
    Raises a 503 while another request holds the same post (the first may still fail)."""
    if key is None:
        return await act()
    claimed = await _claim(pool, key, route)
    if claimed is not True:
        TWILIO_REPLAYS.labels(service, route).inc()
        if claimed is None:
            detail = "The same post is being handled at this moment."
            raise Problem(
                503, "unavailable", "Service unavailable", detail, headers={"Retry-After": "5"}
            )
        return None
    try:
        result = await act()
    except BaseException:
        # Not acted on: Twilio's retry (the same id) must act. Shielded: a cancelled request
        # still releases (a release that fails leaves the claim to lapse after LEASE).
        await asyncio.shield(
            pool.execute("DELETE FROM twilio_posts WHERE post_key = $1 AND NOT settled", key)
        )
        raise
    await pool.execute("UPDATE twilio_posts SET settled = true WHERE post_key = $1", key)
    return result
