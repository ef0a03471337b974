"""Refreshes `notify_sms_opt_outs`: the STOP digests by the link key that made them, so an
operator rotating LINK_SIGNING_KEY sees how many opt-outs dropping an old key would forget.
Read from the database: every replica reports the same figures (rules use `max`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from counseling_shared.gauge_loop import refresh_every
from counseling_shared.links import digest_states
from counseling_shared.service import Runtime
from notify import metrics
from notify.adapters import opt_outs
from notify.domain.phones import key_fingerprint
from notify.settings import NotifySettings


async def refresh_opt_out_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.webhook_gauge_interval if isinstance(settings, NotifySettings) else 15.0
    await refresh_every(
        interval,
        lambda: refresh_once(runtime.db(), settings.link_keys),
        "opt_out_gauges_not_refreshed",
    )


async def refresh_once(pool: asyncpg.Pool[Any], keys: Sequence[str]) -> None:
    async with pool.acquire() as conn:
        by_key = await opt_outs.count_by_key(conn)
    current, *previous = [key_fingerprint(k) for k in keys]
    for state, n in digest_states(by_key, current, frozenset(previous)).items():
        metrics.SMS_OPT_OUTS.labels(state).set(n)
