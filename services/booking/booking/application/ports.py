"""What the command handlers need from their callers."""

from typing import Protocol
from uuid import UUID


class SiteAccess(Protocol):
    """Which sites the caller acts for (an API key's principal satisfies this)."""

    def can_access(self, site_id: UUID) -> bool: ...


class EverySite:
    """Access to every site: for operators' tools and tests."""

    def can_access(self, site_id: UUID) -> bool:
        return True


class AccessDenied(Exception):
    """The caller may not act for this site (answered as 403)."""

    def __init__(self, site_id: UUID) -> None:
        super().__init__(f"no access to site {site_id}")
        self.site_id = site_id


def require_site(access: SiteAccess, site_id: UUID) -> None:
    if not access.can_access(site_id):
        raise AccessDenied(site_id)


class PeopleOnly(Exception):
    """Only a person (a `staff` or `admin` key) may do this, not an integration (answered as
    403 with this message)."""


class SiteLeadsOnly(PeopleOnly):
    """Only an `admin` key, or the `staff` key of one of the site's leads, may do this (403)."""
