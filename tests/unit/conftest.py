"""Pure tests: no I/O, no database, no clock; milliseconds each.

Every test collected under tests/unit/ gets the ``unit`` marker:
``pytest -m unit`` selects this tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.unit)
