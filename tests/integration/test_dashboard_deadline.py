"""期限计算器: the dashboard's what-if deadline page (live server, SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
import pytest


def due_of(page: str) -> str:
    match = re.search(r'data-testid="calculated-due"><b>([^<]+)</b>', page)
    assert match is not None, page[:2000]
    return match.group(1)


def ask(client: Any, **params: str) -> Any:
    return client.get("/deadline", params={"obligation": "request-reply", **params})


def test_the_form_alone_and_a_request_received_on_a_friday(site: Any) -> None:
    chief = support.logged_in(site, "trade")
    empty = chief.get("/deadline")
    assert empty.status_code == 200
    assert 'data-testid="deadline-form"' in empty.text
    assert 'data-testid="deadline-result"' not in empty.text
    answer = ask(chief, start="2026-11-20")
    assert answer.status_code == 200
    assert due_of(answer.text) == "2026-12-18 24:00"
    assert 'data-testid="provisional"' not in answer.text
    assert "第 16–20 个工作日" in answer.text  # the explanation, step by step
    assert "截止：2026-12-18（周五） 24:00 前" in answer.text
    assert "/calendar?month=2026-12" in answer.text
    chief.cookies.set("gongkai_lang", "en")
    english = ask(chief, start="2026-11-20")
    assert "working day" in english.text


@pytest.mark.parametrize(
    ("params", "due", "provisional"),
    [
        ({"restart": "2026-11-25"}, "2026-12-23 24:00", False),  # 补正: the clock restarts
        ({"pause_from": "2026-11-23", "pause_to": "2026-11-30"}, "2026-12-25 24:00", True),
        ({"extend": "20"}, "2027-01-18 24:00", True),  # into 2027, whose notice is not out
    ],
)
def test_restart_pause_and_extension_move_the_due_date(
    site: Any, params: dict[str, str], due: str, provisional: bool
) -> None:
    office = support.logged_in(site, "office")
    answer = ask(office, start="2026-11-20", **params)
    assert answer.status_code == 200, answer.text[:500]
    assert due_of(answer.text) == due
    assert ('data-testid="provisional"' in answer.text) is provisional


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": ""}, "start"),
        ({"start": "2026-13-01"}, "start"),
        ({"start": "1999-01-04"}, "start"),
        ({"start": "2026-11-20", "extend": "30"}, "extend"),  # the duty's cap is 20
        ({"start": "2026-11-20", "extend": "-1"}, "extend"),
        ({"start": "2026-11-20", "pause_from": "2026-11-23"}, "pause_to"),
        ({"start": "2026-11-20", "pause_from": "2026-11-30", "pause_to": "2026-11-23"}, "pause_to"),
        ({"start": "2026-11-20", "restart": "2026-11-01"}, "restart"),
        ({"start": "2026-11-20", "obligation": "<script>x</script>"}, "obligation"),
    ],
)
def test_bad_input_is_named_at_its_field(site: Any, params: dict[str, str], field: str) -> None:
    office = support.logged_in(site, "office")
    answer = ask(office, **params)
    assert answer.status_code == 422
    assert f'data-field="{field}"' in answer.text
    assert 'data-testid="deadline-result"' not in answer.text
    assert "<script>x</script>" not in answer.text


def test_the_calculator_needs_a_login(site: Any) -> None:
    anonymous = site.client()
    answer = anonymous.get(
        "/deadline", params={"obligation": "request-reply", "start": "2026-11-20"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
