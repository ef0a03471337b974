"""FastAPI dependencies shared by every service's routes."""

from typing import Annotated

from fastapi import Depends, Request

from counseling_shared.http.auth import Principal


def authenticate(request: Request) -> Principal:
    principal: Principal = request.app.state.auth(request)
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
"""Use as a route parameter type: the authenticated caller (401 otherwise)."""
