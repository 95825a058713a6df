"""Alembic migrations: from an empty database to the models, down to base and up again.

Every test runs on SQLite and on a fresh PostgreSQL database of its own (the session-wide
``postgres_database`` is shared with the ``engine`` fixture, which fills it with
``create_all``; migrations need an empty one).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables)
from db import migrate
from db.audit import GENESIS, AuditWriter, verify_chain
from db.engine import make_engine, session_scope
from db.migrate import (
    MIGRATIONS_DIR,
    MigrationError,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from db.models import Agency, Event, Person, Section

#: The current head; tests that add a scratch revision put it on top as NEXT.
FIRST = head_revision()
NEXT = f"{int(FIRST) + 1:04d}"


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"gongkai_migrate_{uuid.uuid4().hex[:10]}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database (SQLite file or fresh PostgreSQL database)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        diffs: list[Any] = compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )
        connection.rollback()
    return diffs


def model_tables() -> set[str]:
    return {table.name for table in SQLModel.metadata.sorted_tables}


def audit_head(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, seq, hash FROM audit_head")).all()
        connection.rollback()
    return [tuple(row) for row in rows]


def scripts_copy(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    """The migrations copied to tmp_path, plus extra revision files (name, source)."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in extra:
        (target / "versions" / name).write_text(source, encoding="utf-8")
    return target


def revision_source(upgrade_body: str, downgrade_body: str = "    pass") -> str:
    return (
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = '{NEXT}'\n"
        f"down_revision = '{FIRST}'\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade() -> None:\n{upgrade_body}\n\n\n"
        f"def downgrade() -> None:\n{downgrade_body}\n"
    )


def seed_org(engine: Engine) -> None:
    """An agency with sections, people and an event: rows that reference ``section``."""
    import datetime as dt

    at = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
    with session_scope(engine) as session:
        agency = Agency(code="xm-commerce", name="厦门市商务局", created_at=at)
        session.add(agency)
        session.flush()
        assert agency.id is not None
        for code, name in [("office", "办公室"), ("foreign-trade", "外贸科")]:
            section = Section(agency_id=agency.id, code=code, name=name)
            session.add(section)
            session.flush()
            session.add(
                Person(agency_id=agency.id, section_id=section.id, name=f"{name}科长", role="chief")
            )
            session.add(
                Event(
                    agency_id=agency.id,
                    type="document_published",
                    occurred_at=at,
                    section_id=section.id,
                    title=name,
                    attributes={"k": "v"},
                    recorded_at=at,
                    recorded_by="test",
                )
            )


def org_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.id, s.code, p.name, e.title FROM section s "
                "JOIN person p ON p.section_id = s.id JOIN event e ON e.section_id = s.id "
                "ORDER BY s.id"
            )
        ).all()
        connection.rollback()
    return [tuple(row) for row in rows]


# --- the schema ------------------------------------------------------------------------------


def test_revisions_are_numbered_in_sequence() -> None:
    assert head_revision() == FIRST
    assert migrate.next_revision_id() == NEXT


def test_upgrade_from_empty_equals_the_models(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert differences(empty_engine) == []
    assert model_tables() <= set(inspect(empty_engine).get_table_names())


def test_partial_indexes_keep_their_where_clause(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    if empty_engine.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    with empty_engine.connect() as connection:
        task = connection.execute(text(query), {"name": "ix_task_next_action_at"}).scalar_one()
        outbox = connection.execute(text(query), {"name": "ix_outbox_pending"}).scalar_one()
        connection.rollback()
    assert "WHERE" in task.upper()
    assert "next_action_at IS NOT NULL" in task
    assert "WHERE" in outbox.upper()
    assert "pending" in outbox


def test_audit_chain_head_row_exists_after_upgrade(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert audit_head(empty_engine) == [(1, 0, GENESIS)]

    import datetime as dt

    at = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
    with session_scope(empty_engine) as session:
        writer = AuditWriter(session)
        writer.write(at=at, actor="test", action="check", entity="schema", entity_id="head")
    with session_scope(empty_engine) as session:
        assert verify_chain(session) == (1, [])
    assert audit_head(empty_engine)[0][1] == 1


def test_downgrade_to_base_drops_everything_and_upgrade_works_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    seed_org(empty_engine)

    downgrade(empty_engine, "base")

    assert current_revision(empty_engine) is None
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert differences(empty_engine) == []
    assert audit_head(empty_engine) == [(1, 0, GENESIS)]


def test_upgrade_is_idempotent_and_cheap_at_head(
    empty_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty_engine)
    seed_org(empty_engine)
    before = org_rows(empty_engine)

    def fail(*_args: object, **_kwargs: object) -> None:
        pytest.fail("upgrade at head must not run Alembic's command machinery")

    monkeypatch.setattr(migrate.command, "upgrade", fail)
    started = time.perf_counter()
    for _ in range(20):
        upgrade(empty_engine)
    assert time.perf_counter() - started < 1.0
    assert current_revision(empty_engine) == head_revision()
    assert org_rows(empty_engine) == before


def test_explicit_upgrade_to_the_current_revision_is_a_no_op(empty_engine: Engine) -> None:
    upgrade(empty_engine, FIRST)
    upgrade(empty_engine, FIRST)
    upgrade(empty_engine, "head")
    assert current_revision(empty_engine) == FIRST
    assert audit_head(empty_engine) == [(1, 0, GENESIS)]


def test_concurrent_upgrades_from_empty_both_succeed(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(2)]
    for engine in engines:
        # Connect first: switching a brand-new SQLite file to WAL (db.engine's connect
        # event) fails at once with "database is locked" while another connection holds a
        # lock; that race belongs to the engine, this test is about the migrations.
        engine.connect().close()
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            upgrade(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
        assert audit_head(engines[0]) == [(1, 0, GENESIS)]
    finally:
        for engine in engines:
            engine.dispose()


# --- transactions: one per run, rolled back on failure ---------------------------------------


def test_failed_migration_changes_nothing(empty_engine: Engine, tmp_path: Path) -> None:
    scripts = scripts_copy(
        tmp_path,
        (
            f"{NEXT}_broken.py",
            revision_source(
                "    op.create_table('scratch', sa.Column('id', sa.Integer(), primary_key=True))\n"
                '    op.execute("UPDATE audit_head SET seq = 99")\n'
                "    raise RuntimeError('broken migration')"
            ),
        ),
    )
    upgrade(empty_engine, script_location=scripts, revision=FIRST)

    with pytest.raises(RuntimeError, match="broken migration"):
        upgrade(empty_engine, script_location=scripts)

    assert current_revision(empty_engine) == FIRST
    assert "scratch" not in inspect(empty_engine).get_table_names()
    assert audit_head(empty_engine) == [(1, 0, GENESIS)]
    upgrade(empty_engine)  # the connection went back to the pool in a usable state
    assert current_revision(empty_engine) == FIRST


def test_sqlite_batch_migration_copies_referenced_table_with_data(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """A batch ALTER rebuilds ``section`` (copy, drop, rename) while people and events
    reference it: the run has foreign keys off, checks them before commit, and the pooled
    connection has them on again afterwards."""
    scripts = scripts_copy(
        tmp_path,
        (
            f"{NEXT}_section_note.py",
            revision_source(
                "    with op.batch_alter_table('section', recreate='always') as batch:\n"
                "        batch.add_column(sa.Column('note', sa.String(50), nullable=True))",
                "    with op.batch_alter_table('section', recreate='always') as batch:\n"
                "        batch.drop_column('note')",
            ),
        ),
    )
    upgrade(sqlite_engine)
    seed_org(sqlite_engine)
    before = org_rows(sqlite_engine)

    upgrade(sqlite_engine, script_location=scripts)

    assert current_revision(sqlite_engine) == NEXT
    assert "note" in {column["name"] for column in inspect(sqlite_engine).get_columns("section")}
    assert org_rows(sqlite_engine) == before
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        connection.rollback()

    downgrade(sqlite_engine, FIRST, script_location=scripts)
    assert current_revision(sqlite_engine) == FIRST
    assert org_rows(sqlite_engine) == before
    assert differences(sqlite_engine) == []


def test_sqlite_migration_that_breaks_foreign_keys_is_rolled_back(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    scripts = scripts_copy(
        tmp_path, (f"{NEXT}_orphans.py", revision_source("    op.execute('DELETE FROM agency')"))
    )
    upgrade(sqlite_engine)
    seed_org(sqlite_engine)
    before = org_rows(sqlite_engine)

    with pytest.raises(MigrationError, match="broken foreign key"):
        upgrade(sqlite_engine, script_location=scripts)

    assert current_revision(sqlite_engine) == FIRST
    assert org_rows(sqlite_engine) == before
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        connection.rollback()


def test_sqlite_upgrade_at_head_does_not_wait_for_a_writer(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """The check on every start reads outside any transaction: no BEGIN IMMEDIATE, so a
    service holding the write lock does not make the command line wait."""
    upgrade(sqlite_engine)
    sqlite_engine.dispose()
    writer = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE agency SET name = name")
        started = time.perf_counter()
        upgrade(sqlite_engine)
        assert current_revision(sqlite_engine) == head_revision()
        assert time.perf_counter() - started < 2.0
        writer.execute("ROLLBACK")
    finally:
        writer.close()


# --- refusals --------------------------------------------------------------------------------


def test_database_from_a_newer_version_is_refused(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    with sqlite_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(MigrationError, match=r"'9999'.*does not know") as raised:
        upgrade(sqlite_engine)
    assert "\n" not in str(raised.value)


def test_database_without_migration_history_is_refused(sqlite_engine: Engine) -> None:
    SQLModel.metadata.create_all(sqlite_engine)

    with pytest.raises(MigrationError, match="no migration history"):
        upgrade(sqlite_engine)


def test_unknown_downgrade_target_is_one_line(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)

    with pytest.raises(MigrationError) as raised:
        downgrade(sqlite_engine, "nonsense")
    assert "nonsense" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert current_revision(sqlite_engine) == FIRST


# --- writing revisions -----------------------------------------------------------------------


def test_autogenerate_against_head_finds_nothing_to_do(tmp_path: Path) -> None:
    scripts = scripts_copy(tmp_path)

    written = migrate.make_revision("nothing changed", script_location=scripts)

    assert written is not None
    assert written.name == f"{NEXT}_nothing_changed.py"
    source = written.read_text(encoding="utf-8")
    commands = "# ### commands auto generated by Alembic - please adjust! ###\n    pass\n"
    assert f"def upgrade() -> None:\n    {commands}" in source
    assert f"def downgrade() -> None:\n    {commands}" in source
    assert "import sqlalchemy" not in source  # imports only what the body uses (ruff F401)
    assert f"down_revision: str | Sequence[str] | None = '{FIRST}'" in source
