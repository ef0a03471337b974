"""The CRISIS stream used to bind `crisis.>`, which would capture notify's request on
`crisis.staff_replies` (stored 90 days and answered with a PubAck). A stack upgraded from it:
the stream is narrowed in place to crisis's event types, notify's webhook durable on it takes
the new filters in place with its pending messages, and the request is no longer stored."""

from dataclasses import replace
from pathlib import Path

import nats
import nats.errors
import pytest

from counseling_shared.jetstream import StreamSpec, ensure_consumer, ensure_streams
from devstack.nats import NatsServer
from notify.entrypoints.consumers import webhook_routes

pytestmark = pytest.mark.integration


async def test_an_old_crisis_stream_and_its_webhook_durable_are_narrowed_in_place(
    tmp_path: Path,
) -> None:
    [route] = [r for r in webhook_routes() if r.spec.stream == "CRISIS"]
    new = route.spec
    with NatsServer(tmp_path / "nats") as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream(timeout=5.0)
            await ensure_streams(js, specs=[StreamSpec("CRISIS", ["crisis.>"])])
            assert await ensure_consumer(js, replace(new, filter_subjects=["crisis.>"]))
            for n in range(3):
                await js.publish("crisis.s1.AlertRaised", b"{}", headers={"Nats-Msg-Id": f"{n}"})

            await ensure_streams(js)
            assert await ensure_consumer(js, new)

            stream = await js.stream_info("CRISIS")
            assert "crisis.>" not in (stream.config.subjects or [])
            durable = await js.consumer_info("CRISIS", new.durable)
            assert durable.config.filter_subjects == new.filter_subjects
            assert durable.num_pending == 3  # nothing lost, nothing delivered again
            with pytest.raises(nats.errors.NoRespondersError):
                await nc.request("crisis.staff_replies", b"{}", timeout=2)
            await js.publish("crisis.s1.PageRequested", b"{}", headers={"Nats-Msg-Id": "p"})
            assert (await js.consumer_info("CRISIS", new.durable)).num_pending == 4
            assert (await js.stream_info("CRISIS")).state.messages == 4
        finally:
            await nc.close()
