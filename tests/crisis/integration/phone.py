"""A staff member's phone for the pages crisis links to: a phone-sized Chromium page whose
requests to http://crisis reach the running crisis without the API key (the link's token
alone, as on a real phone)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, Route

from tests.a11y import PHONE
from tests.browser import chromium
from tests.crisis.integration.harness import RunningCrisis


def forward_to(crisis: RunningCrisis) -> Callable[[Route], Awaitable[None]]:
    """A route handler answering the browser's request from crisis, the API key left out."""

    async def forward(route: Route) -> None:
        request = route.request
        answer = await crisis.http.request(
            request.method,
            request.url,
            content=request.post_data_buffer,
            headers={**request.headers, "Authorization": ""},
        )
        await route.fulfill(
            status=answer.status_code, headers=dict(answer.headers), body=answer.content
        )

    return forward


@asynccontextmanager
async def phone_page(
    browser: Browser, crisis: RunningCrisis, locale: str = "en-US"
) -> AsyncIterator[Page]:
    """A page in a phone-sized context of `browser` (a browser the module shares)."""
    context = await browser.new_context(viewport=PHONE, is_mobile=True, locale=locale)
    try:
        await context.route("http://crisis/**", forward_to(crisis))
        yield await context.new_page()
    finally:
        await context.close()


@asynccontextmanager
async def phone(crisis: RunningCrisis, locale: str = "en-US") -> AsyncIterator[Page]:
    """A page on a Chromium of its own."""
    async with chromium() as browser, phone_page(browser, crisis, locale) as page:
        yield page
