"""`fast_replace.replace` gives what `dataclasses.replace` gives, copying only where that is
the same thing (the aggregates' states), and leaves the rest to `dataclasses.replace`."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import ClassVar

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
