"""A 3-node JetStream cluster with R3 streams loses one node under load, the leader of the
BOOKING stream: the streams elect new leaders and every accepted command keeps its effects."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats.errors
import pytest
from nats.js import JetStreamContext

from devstack.handles import PostgresHandle
from devstack.nats import NatsCluster
from devstack.sinks import Sinks
from tests.e2e.harness import Suite, eventually
from tests.faults.conftest import observer, start_suite
from tests.faults.run import survive

# Generous: a fault, its recovery and the load around it take 20 to 80 s on a quiet machine.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

NODE_DOWN = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("faults-cluster")) as running:
        yield running


@pytest.fixture(scope="module")
async def cluster_suite(
    cluster: NatsCluster,
    postgres_server: PostgresHandle,
    fault_sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    suite = await start_suite(
        cluster.url,
        postgres_server.url(),
        fault_sinks,
        tmp_path_factory.mktemp("faults-cluster-suite"),
        STREAM_REPLICAS="3",
    )
    try:
        yield suite
    finally:
        await suite.stop()


@pytest.fixture(scope="module")
async def cluster_js(cluster: NatsCluster) -> AsyncIterator[JetStreamContext]:
    nc = await observer(cluster.url)
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


async def test_the_stream_leader_killed_in_a_3_node_cluster_loses_and_doubles_nothing(
    cluster: NatsCluster,
    cluster_suite: Suite,
    cluster_js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    streams = ("BOOKING", "FOLLOWUP", "CRISIS", "NOTIFY")
    for name in streams:
        info = await cluster_js.stream_info(name)
        assert info.config.num_replicas == 3, (name, info.config.num_replicas)
    leaders: dict[str, str] = {}

    async def kill_the_leader() -> None:
        leaders["before"] = await leader_of(cluster_js, "BOOKING")
        cluster.node(leaders["before"]).kill()
        leaders["during"] = await eventually(
            lambda: new_leader(cluster_js, "BOOKING", leaders["before"]), timeout=30
        )
        await asyncio.sleep(NODE_DOWN)
        await asyncio.to_thread(cluster.node(leaders["before"]).start)

    record = await survive(
        "NATS cluster: BOOKING's leader SIGKILLed",
        cluster_suite,
        cluster_js,
        kill_the_leader,
        fault_figures,
    )
    assert (record["lost"], record["doubled"]) == (0, 0)
    assert leaders["during"] != leaders["before"]
    for name in streams:
        assert await leader_of(cluster_js, name)


async def leader_of(js: JetStreamContext, stream: str) -> str:
    info = await js.stream_info(stream)
    assert info.cluster is not None
    assert info.cluster.leader
    return info.cluster.leader


async def new_leader(js: JetStreamContext, stream: str, old: str) -> str | None:
    """The stream's leader once it is another node than `old` (None while there is none)."""
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        info = await js.stream_info(stream)
        if info.cluster is not None and info.cluster.leader not in (None, old):
            return info.cluster.leader
    return None
