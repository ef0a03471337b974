"""Cursor pagination for every list endpoint (contract v2: `limit` 50 by default, 200 at most).

Lists stay plain JSON arrays, as in contract v1, so integrations that read an array keep
working. When there is more, the answer carries the next page's cursor twice: a
`Link: <…&cursor=…>; rel="next"` header (RFC 8288) and a bare `Next-Cursor` header.

Pages are keyset pages: a cursor is the sort key of the last item served (e.g. its
`registered_at` and `id`), so a page never repeats or skips rows that were there before it,
however many are added meanwhile, and the database seeks straight to it. Cursors are opaque to
callers (base64url of a small JSON list); a cursor that does not decode, or that does not fit
the list it is sent to, is a 422.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, Query, Request, Response

from counseling_shared.http.problems import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
NEXT_CURSOR_HEADER = "Next-Cursor"

CursorValue = datetime | UUID | int | str
T = TypeVar("T")

_TAGS: dict[type[Any], str] = {datetime: "t", UUID: "u", int: "i", str: "s"}
_READERS: dict[str, Callable[[Any], CursorValue]] = {
    "t": datetime.fromisoformat,
    "u": UUID,
    "i": int,
    "s": str,
}


class InvalidCursor(ValueError):
    """The text is not a cursor this suite made."""


def encode_cursor(values: Sequence[CursorValue]) -> str:
    """The opaque cursor of a sort key: each value tagged with its type, then base64url."""
    tagged = []
    for value in values:
        tag = next(t for cls, t in _TAGS.items() if isinstance(value, cls))
        tagged.append([tag, value.isoformat() if isinstance(value, datetime) else str(value)])
    raw = json.dumps(tagged, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[CursorValue, ...]:
    """The sort key a cursor names; `InvalidCursor` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tagged = json.loads(raw)
        if not isinstance(tagged, list) or not tagged:
            raise InvalidCursor("not a list")
        values = []
        for tag, text in tagged:
            if not isinstance(text, str):
                raise InvalidCursor("not a text value")
            values.append(_READERS[tag](text))
        return tuple(values)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        # ValueError covers bad JSON, UTF-8, instants and UUIDs alike.
        raise InvalidCursor(str(exc)) from None


def _naive(value: object) -> bool:
    """An instant without its offset: never in a cursor of ours (every list's instants are
    aware), and one a list cut in Python could not compare with its own (a 500)."""
    return isinstance(value, datetime) and value.utcoffset() is None


def _bad_cursor() -> Unprocessable:
    return Unprocessable(
        "cursor: not a cursor this list gave out",
        [{"field": "cursor", "message": "not a cursor this list gave out"}],
    )


class PageRequest:
    """The `limit` and `cursor` query parameters of a list, and the headers of its answer.

    A route takes `page: Page`, asks its query for `page.fetch` rows after `page.after(...)`,
    and returns `page.serve(rows, key=...)`, which trims the extra row and sets the headers.
    """

    def __init__(
        self,
        request: Request,
        response: Response,
        limit: Annotated[
            int,
            Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT})."),
        ] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(
                max_length=512,
                description="Where to continue: the `Next-Cursor` header (or the `Link` "
                'header\'s `rel="next"` target) of the previous page.',
            ),
        ] = None,
    ) -> None:
        self.limit = limit
        self._request = request
        self._response = response
        self._cursor = cursor

    @property
    def fetch(self) -> int:
        """How many rows to ask for: one more than the page, to know whether more follow."""
        return self.limit + 1

    def after(self, *types: type[Any]) -> tuple[Any, ...] | None:
        """The sort key to continue after (None on the first page), checked against the
        list's key types: a cursor of another list is a 422, never a database error."""
        if self._cursor is None:
            return None
        try:
            values = decode_cursor(self._cursor)
        except InvalidCursor:
            raise _bad_cursor() from None
        fits = len(values) == len(types) and all(
            isinstance(v, t) and not (t is int and isinstance(v, bool)) and not _naive(v)
            for v, t in zip(values, types, strict=True)
        )
        if not fits:
            raise _bad_cursor()
        return values

    def serve(self, rows: Sequence[T], key: Callable[[T], Sequence[CursorValue]]) -> list[T]:
        """The page itself; when `rows` holds more than a page, the next cursor goes out in
        the `Link` and `Next-Cursor` headers."""
        page = list(rows[: self.limit])
        if len(rows) > self.limit:
            cursor = encode_cursor(key(page[-1]))
            url = self._request.url.include_query_params(cursor=cursor, limit=self.limit)
            self._response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
            self._response.headers[NEXT_CURSOR_HEADER] = cursor
        return page


Page = Annotated[PageRequest, Depends()]
"""Use as a route parameter type on every list endpoint."""

PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of the list, as a JSON array.",
        "headers": {
            "Link": {
                "description": 'The next page, `<…>; rel="next"` (RFC 8288); absent on the '
                "last page.",
                "schema": {"type": "string"},
            },
            NEXT_CURSOR_HEADER: {
                "description": "The `cursor` of the next page; absent on the last page.",
                "schema": {"type": "string"},
            },
        },
    }
}
"""The list routes' `responses=`: documents the paging headers in the OpenAPI document."""
