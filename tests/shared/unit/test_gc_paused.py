"""`gc_paused`: no cyclic collection inside, the collector as it was afterwards, even when the
body fails."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from counseling_shared.gc_paused import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


async def test_paused_inside_and_enabled_again_after() -> None:
    gc.enable()
    async with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


async def test_enabled_again_after_an_error() -> None:
    gc.enable()
    with pytest.raises(RuntimeError):
        async with gc_paused():
            raise RuntimeError("boom")
    assert gc.isenabled()


async def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    async with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
