"""`counselctl rebuild`: refold a service's projections from its own event store.

Each service offers its rebuild as an entry point in the group `counseling.rebuild`, named after
the service (docs/operator-cli.md):

    [project.entry-points."counseling.rebuild"]
    booking = "booking.application.rebuild:rebuild_projections"

The function is `async (conn, *, progress=None) -> Mapping[str, int]` (rows rebuilt per kind);
`progress`, when the function accepts it, is called as `progress(done, total)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from counseling_shared.db import Connection

REBUILD_GROUP = "counseling.rebuild"

ProgressCallback = Callable[[int, int], None]
RebuildHook = Callable[..., Awaitable[Mapping[str, int]]]


class RebuildNotSupported(LookupError):
    """The service offers no `counseling.rebuild` entry point (yet)."""


def rebuild_hook(service: str) -> RebuildHook:
    for entry in entry_points(group=REBUILD_GROUP):
        if entry.name == service:
            return cast(RebuildHook, entry.load())
    raise RebuildNotSupported(service)


def reports_progress(hook: RebuildHook) -> bool:
    return "progress" in inspect.signature(hook).parameters


async def rebuild(
    service: str, conn: Connection, progress: ProgressCallback | None = None
) -> dict[str, int]:
    hook = rebuild_hook(service)
    kwargs: dict[str, Any] = {"progress": progress} if progress and reports_progress(hook) else {}
    return dict(await hook(conn, **kwargs))
