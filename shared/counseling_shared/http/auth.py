"""Bearer API keys. A key is an admin of every site or of a listed set of sites."""

import hashlib
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request

from counseling_shared.http.problems import Problem


@dataclass(frozen=True)
class Principal:
    """Who is calling: identified by a hash of the key, never the key itself."""

    key_id: str
    site_ids: frozenset[UUID] | None  # None: every site

    def can_access(self, site_id: UUID) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def require_site(self, site_id: UUID) -> None:
        if not self.can_access(site_id):
            raise Problem(403, "forbidden", "Forbidden", "This API key has no access to that site.")


def parse_api_keys(spec: str) -> dict[str, Principal]:
    """`key` (every site) or `key=site_id|site_id`, comma-separated."""
    keys: dict[str, Principal] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, sites = item.partition("=")
        site_ids = frozenset(UUID(s) for s in sites.split("|") if s) if sites else None
        keys[key] = Principal(hashlib.sha256(key.encode()).hexdigest()[:16], site_ids)
    return keys


class ApiKeyAuth:
    def __init__(self, spec: str) -> None:
        self._keys = parse_api_keys(spec)

    def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        principal = self._keys.get(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Problem(
                401, "unauthorized", "Unauthorized", "A valid Bearer API key is required."
            )
        request.state.principal = principal
        return principal
