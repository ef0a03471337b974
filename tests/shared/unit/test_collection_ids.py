"""The suite's own collection hook: no two tests share an id, so pytest-xdist runs each."""

from __future__ import annotations

from typing import cast

import pytest
from _pytest.nodeid import coerce_node_id

from tests.conftest import pytest_collection_modifyitems


class _Item:
    """What the hook reads and sets of a collected test."""

    def __init__(self, nodeid: str, name: str) -> None:
        self._id = coerce_node_id(nodeid)
        self.name = name

    @property
    def nodeid(self) -> str:
        return str(self._id)


def _collect(*items: _Item) -> None:
    pytest_collection_modifyitems(cast("list[pytest.Item]", list(items)))


def test_tests_named_by_operation_get_the_operation_in_their_id() -> None:
    # As schemathesis names them: the operation in the name, not in the id.
    first = _Item("tests/e2e/t.py::test_api", "test_api[GET /sites]")
    second = _Item("tests/e2e/t.py::test_api", "test_api[POST /sites]")

    _collect(first, second)

    assert first.nodeid == "tests/e2e/t.py::test_api[GET /sites]"
    assert second.nodeid == "tests/e2e/t.py::test_api[POST /sites]"


def test_an_id_already_holding_its_parameters_is_left_as_it_is() -> None:
    item = _Item("tests/t.py::test_x[booking]", "test_x[booking]")

    _collect(item)

    assert item.nodeid == "tests/t.py::test_x[booking]"


def test_two_tests_with_one_id_stop_the_run() -> None:
    with pytest.raises(pytest.UsageError, match=r"tests/t\.py::test_x"):
        _collect(_Item("tests/t.py::test_x", "test_x"), _Item("tests/t.py::test_x", "test_x"))
