"""FastAPI dependencies shared by every service's routes: who may call each route.

Every route declares what it needs by taking one of these as a parameter: `Caller` (any role),
`Person` (`staff` or `admin`: people, not integrations) or `Admin`. A wrong role is a 403.
A deactivated staff member's key is a 403 on every route (see `ApiKeyAuth.authenticate`).
The declaration is readable (`declared_roles`), so a test can check that every route has one.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from counseling_shared.http.auth import ApiKeyAuth, Principal, Role
from counseling_shared.http.problems import Problem

Access = Callable[[Request], Awaitable[Principal]]


async def authenticate(request: Request) -> Principal:
    """The caller (401 without a valid key; 403 for a deactivated staff member's key)."""
    auth: ApiKeyAuth = request.app.state.auth
    return await auth.authenticate(request)


def allow(*roles: Role) -> Access:
    """A dependency admitting callers of `roles` (401 without a valid key, 403 otherwise)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role not in allowed:
            needed = " or ".join(sorted(allowed))
            raise Problem(
                403, "forbidden", "Forbidden", f"This needs an {needed} key, not {principal.role}."
            )
        return principal

    dependency.declared_roles = allowed  # type: ignore[attr-defined]
    return dependency


def declared_roles(dependency: object) -> frozenset[Role] | None:
    roles: frozenset[Role] | None = getattr(dependency, "declared_roles", None)
    return roles


any_role = allow(Role.ADMIN, Role.INTEGRATION, Role.STAFF)
people = allow(Role.ADMIN, Role.STAFF)
admins = allow(Role.ADMIN)

Caller = Annotated[Principal, Depends(any_role)]
"""Any authenticated caller (`admin`, `integration`, `staff`); 401 otherwise."""
Person = Annotated[Principal, Depends(people)]
"""A person acting (`staff` or `admin`); an integration key gets a 403."""
Admin = Annotated[Principal, Depends(admins)]
"""An `admin` key only."""


def api_routes(routes: Iterable[BaseRoute]) -> list[APIRoute]:
    """Every API route of an app (`app.routes`), inside included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += api_routes(included.routes)
    return found


def route_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles a route declares it admits (None: it declares nothing)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if (roles := declared_roles(dependency.call)) is not None:
            return roles
        pending += dependency.dependencies
    return None
