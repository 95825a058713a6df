"""The live counts stay exact while reused: a ledger change made elsewhere (bot, CLI, API)
and the clock passing a due moment both show on the next page view."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from db import tasks as ledger
from db.context import Actor
from db.engine import session_scope
from db.models import Task


@pytest.fixture
def clocked(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, list[dt.datetime]]]:
    """The dashboard with a clock the test moves (the live cache on, as in production)."""
    support.fast_hashes(monkeypatch)
    now = [at]
    site = support.build_site(engine, domain, at, clock=lambda: now[0], live_cache_seconds=600)
    with support.running(site) as running:
        yield running, now


def overdue_total(client: Any) -> int:
    match = re.search(r'data-testid="overdue-total"><b>(\d+)</b>', client.get("/").text)
    assert match is not None
    return int(match.group(1))


def board_total(client: Any, **params: str) -> int:
    match = re.search(r'data-testid="board-total">(\d+)<', client.get("/board", params=params).text)
    assert match is not None
    return int(match.group(1))


def test_a_change_made_outside_the_dashboard_shows_at_once(clocked: Any) -> None:
    site, now = clocked
    office = support.logged_in(site, "office")
    assert overdue_total(office) == 3
    assert board_total(office) == 3
    assert overdue_total(office) == 3  # reused
    with session_scope(site.engine) as session:  # as the bot or the CLI would
        ledger.complete(
            session,
            site.tasks["general-doc"],
            site.domain,
            actor=Actor.system("bot"),
            at=now[0],
            evidence="https://www.example.gov.cn/zcjd/1.html",
        )
    assert overdue_total(office) == 2
    assert board_total(office) == 2


def test_the_clock_passing_a_due_moment_shows_at_once(clocked: Any) -> None:
    site, now = clocked
    office = support.logged_in(site, "office")
    gov = support.logged_in(site, "gov")  # every agency: the next due moment over all of them
    with Session(site.engine) as session:
        task = session.get(Task, site.tasks["invest-doc"])
        assert task is not None
        due_at = task.due_at
    assert due_at is not None
    assert overdue_total(office) == overdue_total(gov) == 3
    assert board_total(office) == 3
    now[0] = due_at - dt.timedelta(seconds=1)
    assert overdue_total(office) == overdue_total(gov) == 3
    assert board_total(office) == 3
    now[0] = due_at  # due at 24:00 of its due day: overdue from that instant
    assert overdue_total(office) == overdue_total(gov) == 4
    assert board_total(office) == 4
    assert board_total(office, days="2") == 3  # counted from the next day on: 1 so far
