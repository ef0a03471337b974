"""Twilio sends of unknown outcome (`twilio_unknown_outcomes`, migration 0012).

Twilio takes no idempotency key. A text or a page's call is written down here before it is
posted and crossed out once Twilio's answer says what became of it; a record still there at
the next attempt of the same key (in this process or after a restart: notify killed mid-send,
a timeout, a 5xx, the page lane's cap) means "it may have gone", and that attempt first lists
Twilio's recent messages or calls to the number.

Kept as keyed digests (HMAC with LINK_SIGNING_KEY, `digest_key` its fingerprint): the number,
and `look_for`, what identifies the send in Twilio's list (a text's body, a call's caller).
Never the number or the text. Without a pool (a provider built outside a lane) the records
live in the process, as before this table.
"""

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from counseling_shared import phones
from counseling_shared.logs import get_logger

if TYPE_CHECKING:
    from counseling_shared.db import Connection

    Conn = Connection | asyncpg.Pool[Any]

log = get_logger(__name__)

_PURPOSE = "twilio-unknown-outcome"
_KEPT_IN_PROCESS = 10_000  # without a pool: records at most (oldest forgotten)


@dataclass(frozen=True)
class Record:
    since: datetime
    phone_digest: str
    look_for: str
    digest_key: str


@dataclass(frozen=True)
class Unsure:
    """An earlier send of this key whose outcome is unknown, to the same number."""

    since: datetime
    look_for: str
    secret: str  # the link key that made the digests (never stored)

    def matches(self, value: object) -> bool:
        """Whether `value` (a listed message's body, a call's `from`) is what was sent."""
        if not isinstance(value, str):
            return False
        return hmac.compare_digest(_digest(self.secret, value), self.look_for)


class UnknownOutcomes:
    def __init__(self, pool: "Conn | None", keys: Sequence[str]) -> None:
        self._pool = pool
        self._keys = tuple(keys)
        self._kept: OrderedDict[str, Record] = OrderedDict()

    @classmethod
    def in_process(cls) -> "UnknownOutcomes":
        """Records in this process only, keyed by a secret of its own (no database)."""
        return cls(None, [secrets.token_hex(32)])

    async def begin(
        self,
        key: str,
        notification_id: UUID,
        *,
        channel: str,
        phone: str,
        look_for: str,
        now: datetime,
    ) -> Unsure | None:
        """Write down that a send of `key` starts now, unless an earlier one of unknown
        outcome to the same number is on record: that one is returned, kept as it was. A
        record to another number, or under a key no longer listed, is replaced. When the
        database does not answer, None (the message goes: a double text beats a missed page)."""
        current = self._keys[0]
        fresh = Record(
            since=now,
            phone_digest=_phone_digest(current, phone),
            look_for=_digest(current, look_for),
            digest_key=_fingerprint(current),
        )
        try:
            old = await self._insert_or_get(key, notification_id, channel, fresh)
            if old is None:
                return None
            secret = self._secret_of(old.digest_key)
            if secret is not None and hmac.compare_digest(
                _phone_digest(secret, phone), old.phone_digest
            ):
                return Unsure(since=old.since, look_for=old.look_for, secret=secret)
            await self._replace(key, fresh)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("twilio_unknown_outcome_unrecorded", notification_id=key, error=str(exc))
        return None

    async def forget(self, key: str) -> None:
        """The outcome is known: the record goes."""
        if self._pool is None:
            self._kept.pop(key, None)
            return
        try:
            await self._pool.execute(
                "DELETE FROM twilio_unknown_outcomes WHERE idempotency_key = $1", key
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # Left behind, it costs the next attempt of this key (if any) a look-up.
            log.warning("twilio_unknown_outcome_kept", notification_id=key, error=str(exc))

    async def _insert_or_get(
        self, key: str, notification_id: UUID, channel: str, fresh: Record
    ) -> Record | None:
        if self._pool is None:
            old = self._kept.get(key)
            if old is None:
                self._keep(key, fresh)
            return old
        row = await self._pool.fetchrow(
            """WITH old AS (
                   SELECT since, phone_digest, look_for, digest_key
                   FROM twilio_unknown_outcomes WHERE idempotency_key = $1),
               added AS (
                   INSERT INTO twilio_unknown_outcomes (idempotency_key, notification_id,
                       channel, since, phone_digest, look_for, digest_key)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (idempotency_key) DO NOTHING)
               SELECT * FROM old""",
            key,
            notification_id,
            channel,
            *_values(fresh),
        )
        return Record(**dict(row)) if row is not None else None

    async def _replace(self, key: str, fresh: Record) -> None:
        if self._pool is None:
            self._keep(key, fresh)
            return
        await self._pool.execute(
            """UPDATE twilio_unknown_outcomes
               SET since = $2, phone_digest = $3, look_for = $4, digest_key = $5
               WHERE idempotency_key = $1""",
            key,
            *_values(fresh),
        )

    def _keep(self, key: str, record: Record) -> None:
        self._kept[key] = record
        self._kept.move_to_end(key)
        while len(self._kept) > _KEPT_IN_PROCESS:
            self._kept.popitem(last=False)

    def _secret_of(self, fingerprint: str) -> str | None:
        return next((k for k in self._keys if _fingerprint(k) == fingerprint), None)


def _values(r: Record) -> tuple[datetime, str, str, str]:
    return (r.since, r.phone_digest, r.look_for, r.digest_key)


def _phone_digest(secret: str, phone: str) -> str:
    return phones.keyed_digest(_PURPOSE, secret, phone)


def _digest(secret: str, text: str) -> str:
    label = f"{_PURPOSE}:look-for:{secret}".encode()
    return hmac.new(label, text.encode(), hashlib.sha256).hexdigest()


def _fingerprint(secret: str) -> str:
    return phones.key_fingerprint(_PURPOSE, secret)
