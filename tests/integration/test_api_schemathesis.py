"""Schemathesis against /api/v1's own OpenAPI document: generated requests, no server error.

Every operation gets valid (positive) and invalid (negative) generated requests, sent with an
office token to a uvicorn on loopback over a seeded ledger; the check is Schemathesis'
``not_a_server_error``. Writes that succeed are real ledger writes (events, completions,
extensions): the audit chain must still verify afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlmodel import Session

from db.audit import verify_chain

#: Generated requests per operation and mode: 5 operations x 2 modes x 40 = 400 requests.
EXAMPLES = 40


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_cause_no_server_error(site: Any, mode: GenerationMode) -> None:
    document = site.client().get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {site.tokens['cms']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    sent: list[int] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call(base_url=site.url, headers=headers, timeout=30)
            sent.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    assert len(sent) >= 5 * EXAMPLES * 0.8  # a few hundred requests in all
    assert all(status < 500 for status in sent)
    with Session(site.engine) as session:
        _checked, problems = verify_chain(session)
    assert problems == []
