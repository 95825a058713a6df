"""A simulated year (flows.simulate: the demo organisation through the real jobs) compiles
without a failed check, and its carry-over meets the next year's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.org import parse_org_yaml
from flows.embedded import Jobs
from flows.simulate import Scenario, SimulatedClock, Simulation, import_organisation
from notifier.channels.console import ConsoleChannel
from reports.bulletin import compile_month
from reports.compile import compile_year
from reports.render import render_year
from reports.scope import resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
DEMO_ORG = Path(__file__).resolve().parents[2] / "gongkai" / "examples" / "demo-org.yaml"
UNTIL = dt.datetime(2026, 1, 25, 0, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def simulated_year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """2025 and the first weeks of 2026 for the demo organisation (about half a minute)."""
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    path = tmp_path_factory.mktemp("simulated") / "year.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    org = parse_org_yaml(DEMO_ORG.read_text(encoding="utf-8"), str(DEMO_ORG))
    start = dt.date(2025, 1, 1)
    import_organisation(engine, org, start=start, tz=TZ)
    jobs = Jobs(
        engine=engine,
        domain=lambda: domain,
        channels={"console": ConsoleChannel()},
        worker="simulate",
        actor=Actor.system("simulate"),
    )
    Simulation(
        jobs,
        clock=SimulatedClock(dt.datetime.combine(start, dt.time(), TZ)),
        scenario=Scenario(seed=11),
    ).run(start=start, until=UNTIL)
    yield engine
    engine.dispose()


@pytest.mark.slow
def test_simulated_year_compiles_without_a_failed_check(simulated_year: Engine) -> None:
    actor = Actor.system("test")
    with session_scope(simulated_year) as session:
        scope = resolve_scope(session, actor, everyone=True)
        year = compile_year(session, year=2025, at=UNTIL, tz=TZ, scope=scope)
        following = compile_year(session, year=2026, at=UNTIL, tz=TZ, scope=scope)
        months = [
            compile_month(session, year=2025, month=month, at=UNTIL, tz=TZ, scope=scope)
            for month in range(1, 13)
        ]
    figures = year.figures
    assert not figures.empty
    assert figures.requests.received > 50
    assert figures.timeliness.total.due > 1000
    assert all(check.ok for check in figures.table3.checks)
    for agency, later in zip(year.agencies, following.agencies, strict=True):
        assert all(check.ok for check in agency.table3.checks)
        assert agency.table3.value("carried_out") == later.table3.value("carried_in")
    assert figures.timeliness.total.late > 0
    assert sum(month.total.due for month in months) == figures.timeliness.total.due
    for fmt in ("json", "xlsx", "docx", "html"):
        assert render_year(year, fmt)
