"""The on-call calendar feed's words: staff names and the language to write them in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING
from uuid import UUID

from fastapi import Request

from counseling_shared.http.languages import browser_language
from crisis.adapters import staff
from crisis.entrypoints.page_i18n import LANGUAGES, language_of

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def feed_words(
    conn: Connection, request: Request, staff_ids: Collection[UUID]
) -> tuple[dict[str, str], str]:
    """Names of `staff_ids`, and the feed's language: the calendar app's `Accept-Language`
    when it sends one crisis speaks; otherwise (a server fetching for a web calendar sends
    none) the language most of the people on call speak."""
    names = await staff.names_of(conn, staff_ids)
    asked = browser_language(request.headers.get("accept-language", ""), LANGUAGES, "")
    if asked:
        return names, asked
    spoken = Counter(language_of(locale) for locale in await staff.locales_of(conn, staff_ids))
    return names, spoken.most_common(1)[0][0] if spoken else "en"
