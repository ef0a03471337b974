"""`fast_replace.replace` gives what `dataclasses.replace` gives, copying only where that is
the same thing (the aggregates' states), and leaves the rest to `dataclasses.replace`."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import Any, ClassVar

import pytest

from counseling_shared import fast_replace
from counseling_shared.fast_replace import replace


@dataclass(frozen=True)
class State:
    id: int
    status: str = "open"
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


@dataclass(frozen=True)
class WithInitVar:
    n: int
    scale: InitVar[int] = 1


@dataclass
class Counted:
    n: int
    made: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class Slotted:
    n: int
    m: int = 0


def test_a_plain_state_is_copied_and_equals_the_replaced_one() -> None:
    state = State(1, tags=("a",))
    changed = replace(state, status="closed")
    assert changed == dataclasses.replace(state, status="closed")
    assert type(changed) is State
    assert state.status == "open"  # the original is untouched
    assert fast_replace._COPYABLE[State] == frozenset({"id", "status", "tags"})  # it took the copy
    with pytest.raises(FrozenInstanceError):
        changed.status = "x"  # type: ignore[misc]


def test_a_post_init_still_checks_the_new_state() -> None:
    with pytest.raises(ValueError, match="low above high"):
        replace(Checked(1, 2), low=3)
    assert fast_replace._COPYABLE[Checked] is None


@pytest.mark.parametrize(
    ("instance", "changes"),
    [
        pytest.param(WithInitVar(1), {"n": 2, "scale": 3}, id="initvar"),
        pytest.param(Counted(1), {"n": 2}, id="classvar"),
        pytest.param(Slotted(1), {"m": 2}, id="slots"),
    ],
)
def test_other_dataclasses_go_through_dataclasses_replace(
    instance: object, changes: dict[str, int]
) -> None:
    assert replace(instance, **changes) == dataclasses.replace(instance, **changes)  # type: ignore[type-var]
    assert fast_replace._COPYABLE[type(instance)] is None


def test_an_unknown_field_is_refused_as_dataclasses_replace_does() -> None:
    with pytest.raises(TypeError):
        replace(State(1), colour="red")


@dataclass(frozen=True)
class Planned:
    id: int
    kind: str
    at: float = 0.0
    note: str | None = None


def test_a_constructor_makes_what_the_class_makes() -> None:
    make = fast_replace.constructor(Planned)
    assert make is not Planned  # it took the fast way
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1, "a"), {}),
        ((1, "a", 2.5), {}),
        ((1,), {"kind": "b", "note": "n"}),
        ((), {"id": 1, "kind": "c", "at": 1.0, "note": None}),
    ]
    for args, kwargs in calls:
        made, expected = make(*args, **kwargs), Planned(*args, **kwargs)
        assert made == expected
        assert made.__dict__ == expected.__dict__  # every field, defaults included
        assert type(made) is Planned
    with pytest.raises(FrozenInstanceError):
        make(1, "a").kind = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((1,), {}, id="missing"),
        pytest.param((1, "a", 0.0, None, 5), {}, id="too-many"),
        pytest.param((1, "a"), {"id": 2}, id="twice"),
        pytest.param((1, "a"), {"other": 2}, id="unknown"),
    ],
)
def test_a_constructor_refuses_what_the_class_refuses(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    with pytest.raises(TypeError):
        Planned(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fast_replace.constructor(Planned)(*args, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ShadowingNames:
    made: int
    make: int = 1


def test_a_field_may_take_any_name() -> None:
    assert fast_replace.constructor(ShadowingNames)(3) == ShadowingNames(3)


@pytest.mark.parametrize("cls", [Checked, WithInitVar, Counted, Slotted, State])
def test_other_classes_are_their_own_constructor(cls: type) -> None:
    """A check in `__post_init__`, an init-only variable, a class variable, slots or a default
    factory: only the class's own `__init__` makes them right."""
    assert fast_replace.constructor(cls) is cls
