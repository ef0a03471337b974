"""Streams and consumers are declared in code, idempotently, and updated when the code changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

from counseling_shared.jetstream import (
    STREAMS,
    ConsumerSpec,
    StreamSpec,
    ensure_consumer,
    ensure_streams,
)
from tests.shared.integration.support import replica_fetch

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch_stream(js: JetStreamContext) -> AsyncIterator[StreamSpec]:
    """A stream of this test's own, so changing its configuration disturbs nobody."""
    name = f"PROBE_{uuid.uuid4().hex[:8].upper()}"
    yield StreamSpec(name, [f"probe{name[-8:].lower()}.>"], max_age=3600.0)
    await js.delete_stream(name)


async def test_the_suites_streams_use_file_storage_and_a_two_minute_duplicate_window(
    js: JetStreamContext,
) -> None:
    await ensure_streams(js)

    for spec in STREAMS:
        config = (await js.stream_info(spec.name)).config
        assert config.storage == StorageType.FILE, spec.name
        assert config.duplicate_window is not None
        assert config.duplicate_window >= 120.0, spec.name
        assert sorted(config.subjects or []) == sorted(spec.subjects)
        assert config.max_age is not None
        assert config.max_age >= 30 * 24 * 3600.0, spec.name


async def test_ensure_streams_twice_is_idempotent(
    js: JetStreamContext, scratch_stream: StreamSpec
) -> None:
    await ensure_streams(js, specs=[scratch_stream])
    await js.publish(f"{scratch_stream.subjects[0][:-1]}kept", b"x")

    await ensure_streams(js, specs=[scratch_stream])

    info = await js.stream_info(scratch_stream.name)
    assert info.state.messages == 1, "redeclaring a stream must not recreate it"


async def test_ensure_streams_brings_a_changed_stream_to_the_new_config(
    js: JetStreamContext, scratch_stream: StreamSpec
) -> None:
    await ensure_streams(js, specs=[scratch_stream])
    prefix = scratch_stream.subjects[0][:-2]
    changed = StreamSpec(
        scratch_stream.name,
        [*scratch_stream.subjects, f"{prefix}-extra.>"],
        max_age=7200.0,
        duplicate_window=300.0,
    )

    await ensure_streams(js, specs=[changed])

    config = (await js.stream_info(scratch_stream.name)).config
    assert sorted(config.subjects or []) == sorted(changed.subjects)
    assert config.max_age == 7200.0
    assert config.duplicate_window == 300.0


async def test_ensure_consumer_creates_then_updates_a_durable(
    js: JetStreamContext, scratch_stream: StreamSpec
) -> None:
    await ensure_streams(js, specs=[scratch_stream])
    prefix = scratch_stream.subjects[0][:-2]
    spec = ConsumerSpec("probe-sessions", scratch_stream.name, [f"{prefix}.a"], max_deliver=3)

    await ensure_consumer(js, spec)
    created = (await js.consumer_info(scratch_stream.name, spec.durable)).config
    await ensure_consumer(js, spec)  # the same declaration again is fine
    changed = ConsumerSpec(
        spec.durable,
        spec.stream,
        [f"{prefix}.a", f"{prefix}.b"],
        max_deliver=5,
        ack_wait=12.0,
    )
    await ensure_consumer(js, changed)
    updated = (await js.consumer_info(scratch_stream.name, spec.durable)).config

    assert created.durable_name == "probe-sessions"
    assert created.ack_policy == AckPolicy.EXPLICIT
    # JetStream never drops a message on its own: the consumer counts handler failures.
    assert created.max_deliver == -1
    assert created.filter_subject == f"{prefix}.a"
    assert updated.max_deliver == -1
    assert updated.ack_wait == 12.0
    assert sorted(updated.filter_subjects or []) == [f"{prefix}.a", f"{prefix}.b"]


async def test_an_existing_durable_with_a_bounded_max_deliver_is_made_unlimited_in_place(
    js: JetStreamContext, scratch_stream: StreamSpec
) -> None:
    # A durable created by an earlier release, with JetStream's max_deliver bounding retries.
    await ensure_streams(js, specs=[scratch_stream])
    prefix = scratch_stream.subjects[0][:-2]
    old = ConsumerConfig(
        name="probe-old",
        durable_name="probe-old",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30.0,
        max_deliver=8,
        filter_subject=f"{prefix}.a",
    )
    await js.add_consumer(scratch_stream.name, old)

    await ensure_consumer(js, ConsumerSpec("probe-old", scratch_stream.name, [f"{prefix}.a"]))

    assert (await js.consumer_info(scratch_stream.name, "probe-old")).config.max_deliver == -1


async def test_a_durable_declared_from_new_skips_the_streams_past_and_keeps_its_position(
    js: JetStreamContext, scratch_stream: StreamSpec
) -> None:
    await ensure_streams(js, specs=[scratch_stream])
    subject = f"{scratch_stream.subjects[0][:-2]}.a"
    await js.publish(subject, b"before")
    spec = ConsumerSpec("probe-new", scratch_stream.name, [subject], from_new=True)
    everything = ConsumerSpec("probe-all", scratch_stream.name, [subject])

    await ensure_consumer(js, spec)
    await ensure_consumer(js, everything)
    await js.publish(subject, b"after")
    await ensure_consumer(js, spec)  # declared again at the next start: same position

    async def read(spec: ConsumerSpec) -> list[bytes]:
        return [m.data for m in await replica_fetch(js, spec, 10, timeout=2.0)]

    assert await read(spec) == [b"after"]
    assert await read(everything) == [b"before", b"after"]
