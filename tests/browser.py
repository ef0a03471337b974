"""A real browser for tests: Playwright driving Debian's Chromium (never Playwright's own
downloaded builds). `scripts/test-tools.sh` installs Chromium when it is missing."""

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason="no Chromium on this machine (scripts/test-tools.sh)"
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
