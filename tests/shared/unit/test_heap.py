"""Once started, a service freezes its heap, once: the garbage collector's full collections
then walk only what was made since, instead of pausing requests over the app's long-lived
objects (routes, models, validators)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from uuid import uuid4

import nats.errors
import pytest

from counseling_shared import service
from counseling_shared.clock import SystemClock
from counseling_shared.heap import freeze_startup_heap
from counseling_shared.service import Runtime, ServiceDefinition, create_app
from counseling_shared.waiting import poll_until
from tests.shared.integration.probe_service import probe_definition


class Cycle:
    """An object only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def definition(*, freeze: bool = True, thresholds: str = "700,10,10") -> ServiceDefinition:
    found = probe_definition(
        database_url="postgresql://unused/x", nats_url="nats://unused:1", site_id=uuid4()
    )
    found.settings = found.settings.model_copy(
        update={"gc_freeze_after_start": freeze, "gc_thresholds": thresholds}
    )
    return found


def test_freezing_frees_the_garbage_first_and_takes_the_rest_out_of_collections() -> None:
    garbage = Cycle()
    freed = weakref.ref(garbage)
    del garbage
    kept = Cycle()

    frozen = freeze_startup_heap()

    assert freed() is None, "garbage frozen would never be freed"
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects()), "a collection still walks it"


@pytest.fixture
def counted_freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def freeze() -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(service, "freeze_startup_heap", freeze)
    return calls


@pytest.fixture
def started_without_servers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Runtime.start and stop without a database or NATS: returns the starts attempted."""
    starts: list[int] = []

    async def start(runtime: Runtime) -> None:
        starts.append(1)

    async def stop(runtime: Runtime) -> None:
        return None

    monkeypatch.setattr(Runtime, "start", start)
    monkeypatch.setattr(Runtime, "stop", stop)
    return starts


@pytest.mark.usefixtures("started_without_servers")
async def test_the_service_start_up_freezes_the_heap_once(counted_freezes: list[int]) -> None:
    app = create_app(definition(), SystemClock())
    runtime: Runtime = app.state.runtime

    assert counted_freezes == []
    async with app.router.lifespan_context(app):
        assert counted_freezes == [1]
        runtime.settle_heap()  # a second call changes nothing
        assert counted_freezes == [1]
    assert runtime.heap_frozen


@pytest.mark.usefixtures("started_without_servers")
async def test_the_setting_turns_the_freeze_off(counted_freezes: list[int]) -> None:
    app = create_app(definition(freeze=False), SystemClock())

    async with app.router.lifespan_context(app):
        pass

    assert counted_freezes == []
    assert not app.state.runtime.heap_frozen


async def test_a_service_that_starts_late_freezes_its_heap_once_it_has_started(
    monkeypatch: pytest.MonkeyPatch, counted_freezes: list[int]
) -> None:
    attempts: list[int] = []

    async def start(runtime: Runtime) -> None:
        attempts.append(1)
        if len(attempts) == 1:  # the foreground attempt: NATS not up yet
            raise nats.errors.NoServersError()

    async def stop(runtime: Runtime) -> None:
        for task in runtime._tasks:
            task.cancel()

    monkeypatch.setattr(Runtime, "start", start)
    monkeypatch.setattr(Runtime, "stop", stop)
    app = create_app(definition(), SystemClock())

    async with app.router.lifespan_context(app):
        assert counted_freezes == []  # not before it has started

        async def frozen() -> bool:
            return bool(counted_freezes)

        assert await poll_until(frozen, 5.0, every=0.05)

    assert (len(attempts), counted_freezes) == (2, [1])


@pytest.mark.usefixtures("started_without_servers", "counted_freezes")
@pytest.mark.parametrize("freeze", [True, False])
async def test_the_service_start_up_sets_the_collector_thresholds(freeze: bool) -> None:
    gc.set_threshold(700, 10, 10)
    app = create_app(definition(freeze=freeze, thresholds="12345,7,3"), SystemClock())

    assert gc.get_threshold() == (700, 10, 10)  # not before it has started
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == (12345, 7, 3)
