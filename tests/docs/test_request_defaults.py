"""A request field whose default comes from a `default_factory` shows that default in the
OpenAPI document too (pydantic leaves a factory's default out unless told): the contract leaves
defaults to the server to document."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import BaseModel

from counseling_shared.http.bodies import RequestBody

SERVICES = ("booking", "followup", "notify", "crisis")


def _request_bodies() -> list[type[BaseModel]]:
    for service in SERVICES:
        package = importlib.import_module(f"{service}.entrypoints")
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [RequestBody]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls is not RequestBody and cls.__module__.split(".")[0] in SERVICES:
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


FACTORY_FIELDS = [
    (body, name)
    for body in _request_bodies()
    for name, field in body.model_fields.items()
    if field.default_factory is not None
]


def test_the_request_bodies_were_found() -> None:
    names = {(b.__name__, n) for b, n in FACTORY_FIELDS}
    assert {("PolicyIn", "post_closure_checkins"), ("PolicyIn", "appointment_reminders")} <= names


@pytest.mark.parametrize(
    ("body", "name"), FACTORY_FIELDS, ids=[f"{b.__name__}.{n}" for b, n in FACTORY_FIELDS]
)
def test_a_factory_default_is_shown_as_the_value_it_makes(body: type[BaseModel], name: str) -> None:
    field = body.model_fields[name]
    key = field.alias or name
    shown = body.model_json_schema()["properties"][key].get("default", "<not shown>")
    factory = field.default_factory
    assert factory is not None
    value = factory()  # type: ignore[call-arg]
    assert shown == value
