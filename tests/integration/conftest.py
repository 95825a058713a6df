"""Tests against a database (SQLite file, PostgreSQL) or servers on loopback.

Every test collected under tests/integration/ gets the ``integration`` marker:
``pytest -m integration`` selects this tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


# --- ledger fixtures: every test using ``engine`` runs on SQLite and on PostgreSQL ----------

import datetime as dt  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from sqlalchemy import Engine, text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import psycopg

    base_url = request.getfixturevalue("postgres_url")
    name = f"gongkai_test_{uuid.uuid4().hex[:10]}"
    admin = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty ledger database migrated to head: a SQLite file or PostgreSQL."""
    from db.engine import make_engine
    from db.migrate import upgrade

    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        upgrade(made)
        yield made
        made.dispose()
        return
    url = request.getfixturevalue("postgres_database")
    made = make_engine(url)
    upgrade(made)
    with made.begin() as connection:
        # A connection an earlier (failed) test leaked would block TRUNCATE: end them first,
        # so one failure cannot turn every later PostgreSQL test into an error.
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        names = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        connection.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)"),
            {"genesis": "0" * 64},
        )
    yield made
    made.dispose()


@pytest.fixture(scope="session")
def domain():  # type: ignore[no-untyped-def]
    from db.context import Domain
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    return Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)


@pytest.fixture
def at() -> dt.datetime:
    """The fixed 'now' of ledger tests: Fri 2026-11-27 10:00 Beijing time."""
    return dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)


@pytest.fixture
def system():  # type: ignore[no-untyped-def]
    from db.context import Actor

    return Actor.system("test")


@pytest.fixture
def bureau(engine: Engine):  # type: ignore[no-untyped-def]
    """A commerce bureau like the seeds': 办公室 and four sections, with personas."""
    from db.engine import session_scope
    from db.models import Agency, Person, Section

    with session_scope(engine) as session:
        agency = Agency(
            code="xm-commerce", name="厦门市商务局", created_at=dt.datetime(2026, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        sections = {}
        for code, name in [
            ("office", "办公室"),
            ("general", "综合科"),
            ("foreign-trade", "外贸科"),
            ("foreign-investment", "外资科"),
            ("finance", "财务科"),
        ]:
            section = Section(agency_id=agency.id, code=code, name=name)
            session.add(section)
            session.flush()
            sections[code] = section
        people = {
            "trade_chief": Person(
                agency_id=agency.id,
                section_id=sections["foreign-trade"].id,
                name="王外贸",
                role="chief",
            ),
            "office": Person(
                agency_id=agency.id, section_id=sections["office"].id, name="李办公", role="office"
            ),
            "leader": Person(agency_id=agency.id, section_id=None, name="赵局长", role="leader"),
        }
        for person in people.values():
            session.add(person)
        session.flush()
        return {"agency": agency, "sections": sections, "people": people}


@pytest.fixture
def site(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The bureau's dashboard on a live loopback server (``dashboard_support.build_site``):
    the five personas' logins, three tasks, API and feed tokens."""
    import dashboard_support as support  # registered by tests/conftest.py

    support.fast_hashes(monkeypatch)
    with support.running(support.build_site(engine, domain, at)) as running:
        yield running
