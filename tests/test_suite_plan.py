"""How tests/conftest.py marks, groups and orders the suite, as make test-unit and the xdist workers need.

These read the session's own collection, so they check every test collected with them.
"""

from __future__ import annotations

import pytest
from conftest import REPEAT, SERVER_FIXTURES, unique_keys


def collected(request: pytest.FixtureRequest) -> list[pytest.Item]:
    return list(request.session.items)


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def groups(item: pytest.Item) -> set[str]:
    return {mark.args[0] for mark in item.iter_markers("xdist_group")}


def test_every_test_that_starts_a_server_is_integration(request) -> None:
    starting = [item for item in collected(request) if SERVER_FIXTURES & set(item.fixturenames)]
    # test_compose's own `services` fixture (the compose file) is no server: its tests stay unit.
    unmarked = [
        item.nodeid
        for item in starting
        if not item.get_closest_marker("integration") and module_of(item) != "tests/test_compose.py"
    ]
    assert unmarked == []


def test_this_module_needs_no_server_so_make_test_unit_runs_it(request) -> None:
    assert request.node.get_closest_marker("integration") is None
    assert not SERVER_FIXTURES & set(request.node.fixturenames)


def test_tests_sharing_a_module_stack_run_together_and_others_spread(request) -> None:
    items = collected(request)
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(module_of(item), []).append(item)
    if "tests/test_cors.py" in by_module:  # its `allowing` functions start once for the module
        assert all(
            groups(item) == {"tests/test_cors.py"}
            for item in by_module["tests/test_cors.py"]
            if "allowing" in item.fixturenames
        )
    if "tests/test_journey.py" in by_module:  # the session's `services` only: each test goes anywhere
        assert all(groups(item) == set() for item in by_module["tests/test_journey.py"])
    assert groups(request.node) == set()


def test_serial_tests_share_one_group(request) -> None:
    serial = [item for item in collected(request) if item.get_closest_marker("serial")]
    assert all(groups(item) == {"serial"} for item in serial)


def test_modules_with_a_slow_test_come_first_and_every_module_stays_in_one_piece(request) -> None:
    modules: list[str] = []
    for item in collected(request):
        if not modules or modules[-1] != module_of(item):
            modules.append(module_of(item))
    assert len(modules) == len(set(modules))  # no module split, so its module fixtures start once
    slow = {module_of(item) for item in collected(request) if item.get_closest_marker("slow")}
    assert set(modules[: len(slow)]) == slow


def test_tests_sharing_a_node_id_each_get_a_key_of_their_own() -> None:
    ids = ["a.py::t", "a.py::u", "a.py::t", "a.py::t"]

    keys = unique_keys(ids)

    assert len(set(keys)) == 4
    assert keys[:2] == ids[:2]  # a node id seen once is its own key
    assert [key.split(REPEAT, 1)[0] for key in keys] == ids
