"""`counselctl streams` reports what JetStream itself says about streams and consumers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import nats
import pytest
from nats.js import JetStreamContext

from counseling_shared.jetstream import ConsumerSpec, ensure_consumer, ensure_streams
from tests.opsctl.integration.support import counselctl
from tests.shared.integration.support import replica_fetch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    context = nc.jetstream(timeout=5.0)
    await ensure_streams(context)
    yield context
    await nc.close()


async def test_a_consumers_lag_and_unacked_messages_are_reported(
    js: JetStreamContext, nats_url: str
) -> None:
    site = uuid4()
    spec = ConsumerSpec("probe-lag", "CRISIS", [f"crisis.{site}.>"])
    await ensure_consumer(js, spec)
    before = (await js.stream_info("CRISIS")).state.messages
    for n in range(5):
        await js.publish(f"crisis.{site}.AlertRaised", b"{}", headers={"Nats-Msg-Id": f"{n}"})
    fetched = await replica_fetch(js, spec, 2, ack=False)  # delivered, never acknowledged

    reports = {
        r["name"]: r for r in (await counselctl("streams", "--nats-url", nats_url, "--json")).json()
    }
    table = await counselctl("streams", "--nats-url", nats_url)

    assert len(fetched) == 2
    assert set(reports) == {"BOOKING", "FOLLOWUP", "NOTIFY", "CRISIS", "DLQ"}
    crisis = reports["CRISIS"]
    assert crisis["messages"] == before + 5
    assert crisis["last_seq"] == before + 5
    (consumer,) = [c for c in crisis["consumers"] if c["name"] == "probe-lag"]
    assert (consumer["pending"], consumer["ack_pending"]) == (3, 2)
    assert consumer["last_active"] is not None
    assert "probe-lag" in table.stdout
    assert "CRISIS" in table.stdout


async def test_an_unreachable_nats_is_an_error_not_a_hang() -> None:
    answer = await counselctl("streams", "--nats-url", "nats://127.0.0.1:1", timeout=15)

    assert answer.code == 1
    assert "no NATS server answers" in answer.stderr
