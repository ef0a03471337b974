"""Refreshes `notify_sms_opt_outs`: the STOP digests by the link key that made them, so an
operator rotating LINK_SIGNING_KEY sees how many opt-outs dropping an old key would forget.
Read from the database: every replica reports the same figures (rules use `max`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from counseling_shared.links import digest_states
from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime
from notify import metrics
from notify.adapters import opt_outs
from notify.domain.phones import key_fingerprint
from notify.settings import NotifySettings

log = get_logger(__name__)


async def refresh_opt_out_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.webhook_gauge_interval if isinstance(settings, NotifySettings) else 15.0
    while True:
        try:
            await refresh_once(runtime.db(), settings.link_keys)
        except Exception as exc:
            # Gauges are not worth stopping the process for (a crashed task would).
            log.warning("opt_out_gauges_not_refreshed", error=repr(exc))
        await asyncio.sleep(interval)


async def refresh_once(pool: asyncpg.Pool[Any], keys: Sequence[str]) -> None:
    async with pool.acquire() as conn:
        by_key = await opt_outs.count_by_key(conn)
    current, *previous = [key_fingerprint(k) for k in keys]
    for state, n in digest_states(by_key, current, frozenset(previous)).items():
        metrics.SMS_OPT_OUTS.labels(state).set(n)
