"""`dataclasses.replace` for the aggregates' `evolve`, without its cost where it does nothing.

`dataclasses.replace` walks every field and calls the class's `__init__`, which for a frozen
dataclass sets each field through `object.__setattr__`: several microseconds for a state of
twenty fields, paid once or twice per event, and a projection rebuild folds every event of a
store. For a dataclass whose `__init__` is the generated one and only stores its fields (no
`__post_init__`, no `InitVar` or `ClassVar`, every field in `__init__`, a `__dict__`),
copying the instance's `__dict__` and overwriting the changed fields makes the same object.
Any other class goes through `dataclasses.replace`, as does a call naming a field the class
does not have (its error).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

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
