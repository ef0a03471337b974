"""The `POST` routes of a service's OpenAPI document that an API key authorises: each is to
answer a replay of its `Idempotency-Key` as it answered first (contract: Retries). The
services' replay tables check they name every one."""

from __future__ import annotations

from opsctl.config import Service
from opsctl.docs import openapi_document


def keyed_posts(service: Service) -> set[str]:
    """The document's POST paths a caller's API key authorises (signed links are no key's)."""
    paths = openapi_document(service)["paths"]
    return {p for p, ops in paths.items() if "post" in ops and ops["post"].get("security") != []}
