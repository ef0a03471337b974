"""What every booking route reaches: the runtime's pool and clock, and the caller."""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends

from booking.application import manage_links
from booking.application.runner import run_command
from booking.entrypoints.policies import manage_link_maker
from counseling_shared.service import Runtime, live_runtime
from counseling_shared.unit_of_work import UnitOfWork

T = TypeVar("T")

Live = Annotated[Runtime, Depends(live_runtime)]


async def execute(
    runtime: Runtime,
    handler: Callable[[UnitOfWork], Awaitable[T]],
    *,
    key_in_first_read: bool = False,
) -> T:
    # A booking or a reschedule publishes the client's manage link (`manage_url`).
    with manage_links.minting(manage_link_maker(runtime)):
        return await run_command(
            runtime.db(), runtime.clock, handler, key_in_first_read=key_in_first_read
        )
