"""The `POST` routes of a service's OpenAPI document that an API key authorises: each is to
answer a replay of its `Idempotency-Key` as it answered first (contract: Retries). The
services' replay tables check they name every one."""

from __future__ import annotations

from typing import Any

import httpx

from opsctl.config import Service
from opsctl.docs import openapi_document


def keyed_posts(service: Service) -> set[str]:
    """The document's POST paths a caller's API key authorises (signed links are no key's)."""
    paths = openapi_document(service)["paths"]
    return {p for p, ops in paths.items() if "post" in ops and ops["post"].get("security") != []}


async def posted_twice(
    http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The same POST sent twice with one `Idempotency-Key` (in `headers`); checks the second
    is a replay answering the first's status and body fields, and returns both."""
    first = await http.post(path, json=body, headers=headers)
    again = await http.post(path, json=body, headers=headers)
    assert first.is_success, first.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.status_code == first.status_code, again.text
    assert sorted(again.json()) == sorted(first.json())
    return first, again
