"""devstack's 3-node JetStream cluster keeps a replicated stream when a node dies."""

import asyncio
import time
import uuid
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.api import StreamConfig

from devstack.nats import NatsCluster

pytestmark = pytest.mark.integration


async def test_an_r3_stream_elects_a_new_leader_and_keeps_its_messages_when_the_leader_dies(
    tmp_path: Path,
) -> None:
    stream = f"T{uuid.uuid4().hex[:8]}"
    with NatsCluster(tmp_path / "cluster") as cluster:
        client = await nats.connect(cluster.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        try:
            js = client.jetstream(timeout=2.0)
            await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"], num_replicas=3))
            await js.publish(f"{stream}.a", b"before", headers={"Nats-Msg-Id": "before"})
            info = await js.stream_info(stream)
            assert info.cluster is not None
            leader = info.cluster.leader
            assert leader is not None
            assert len(info.cluster.replicas or []) == 2

            cluster.node(leader).kill()
            deadline = time.monotonic() + 30
            while True:  # no leader for a moment: publishes get no answer until one is elected
                try:
                    await js.publish(f"{stream}.a", b"after", headers={"Nats-Msg-Id": "after"})
                    break
                except (nats.errors.Error, TimeoutError):
                    assert time.monotonic() < deadline, "no new leader within 30 s"
                    await asyncio.sleep(0.2)

            info = await js.stream_info(stream)
            assert info.cluster is not None
            assert info.cluster.leader not in (None, leader)
            assert info.state.messages == 2
        finally:
            await client.close()
