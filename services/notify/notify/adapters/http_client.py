"""The HTTP client a lane sends through (the SMS and messaging providers' APIs)."""

import contextlib
from collections.abc import AsyncIterator

import anyio.lowlevel
import httpx


@contextlib.asynccontextmanager
async def provider_client(timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client, ready before its first request.

    httpx loads anyio's asyncio backend with its socket and stream modules at the first request
    it sends: tens of milliseconds of imports (60 to 180 ms on the loaded bench machine) that
    fell in the first page after every start. Any anyio call loads them, so one is made here.
    """
    async with httpx.AsyncClient(timeout=timeout) as client:
        await anyio.lowlevel.checkpoint()
        yield client
