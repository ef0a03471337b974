"""`dataclasses.replace` for the aggregates' `evolve`, without its cost where it does nothing.

`dataclasses.replace` walks every field and calls the class's `__init__`, which for a frozen
dataclass sets each field through `object.__setattr__`: several microseconds for a state of
twenty fields, paid once or twice per event, and a projection rebuild folds every event of a
store. For a dataclass whose `__init__` is the generated one and only stores its fields (no
`__post_init__`, no `InitVar` or `ClassVar`, every field in `__init__`, a `__dict__`),
copying the instance's `__dict__` and overwriting the changed fields makes the same object.
Any other class goes through `dataclasses.replace`, as does a call naming a field the class
does not have (its error). `constructor(cls)` makes new instances of such a class the same way
(its `__dict__` set whole), for a replay that makes one per stored event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

# Class → its field names when its instances can be copied by their `__dict__`, else None.
_COPYABLE: dict[type, frozenset[str] | None] = {}


def _copyable(cls: type) -> frozenset[str] | None:
    fields = getattr(cls, "__dataclass_fields__", None)
    # The generated `__init__` is compiled from text; one written in the class is not.
    init = getattr(cls.__dict__.get("__init__", object.__init__), "__code__", None)
    if (
        fields is None
        or init is None
        or init.co_filename != "<string>"
        or hasattr(cls, "__post_init__")
        or "__slots__" in cls.__dict__
        or any(f._field_type is not dataclasses._FIELD for f in fields.values())  # type: ignore[attr-defined]
        or not all(f.init for f in fields.values())
    ):
        return None
    return frozenset(fields)


def replace(obj: T, /, **changes: Any) -> T:
    """What `dataclasses.replace(obj, **changes)` returns."""
    cls = type(obj)
    try:
        names = _COPYABLE[cls]
    except KeyError:
        names = _COPYABLE[cls] = _copyable(cls)
    if names is None or not names.issuperset(changes):
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    copy = object.__new__(cls)
    state = copy.__dict__
    state.update(obj.__dict__)
    state.update(changes)
    return copy


def constructor(cls: Callable[P, T]) -> Callable[P, T]:
    """A function making what `cls(...)` makes, with the same parameters (positions,
    keywords, defaults, errors), by setting the new instance's `__dict__` whole: about half
    the cost of a frozen dataclass's generated `__init__`, which sets each field through
    `object.__setattr__` (a rebuild makes a state and an event per replayed event). `cls`
    itself for a class `replace` would not copy, or with a keyword-only field or a default
    factory."""
    assert isinstance(cls, type)
    if _copyable(cls) is None:
        return cls
    fields = list(cls.__dataclass_fields__.values())  # type: ignore[attr-defined]
    if any(f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        return cls
    # Names no field takes (a parameter would hide them).
    scope: dict[str, Any] = {"__fast_made__": _made, "__fast_class__": cls}
    parameters = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            parameters.append(f.name)
        else:
            scope[f"__fast_default_{f.name}__"] = f.default
            parameters.append(f"{f.name}=__fast_default_{f.name}__")
    state = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    source = (
        f"def make({', '.join(parameters)}):\n"
        f"    return __fast_made__(__fast_class__, {{{state}}})\n"
    )
    exec(source, scope)  # noqa: S102 (the text is made of the class's field names only)
    made: Callable[P, T] = scope["make"]
    made.__qualname__ = f"constructor({cls.__qualname__})"
    return made


def _made(cls: type[T], state: dict[str, Any]) -> T:
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", state)  # a frozen class refuses plain assignment
    return made
