"""End-to-end tests: a browser, a Prefect server, the whole service.

Every test collected under tests/e2e/ gets the ``e2e`` marker:
``pytest -m e2e`` selects this tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)
