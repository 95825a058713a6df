"""Backing up and restoring the SQLite database (online backup API), and ``gongkai db``."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

import db.models  # noqa: F401  (registers the tables)
from db.audit import verify_chain
from db.backup import (
    BackupError,
    backup_sqlite,
    before_restore_path,
    inspect_backup,
    restore_sqlite,
)
from db.engine import make_engine, session_scope
from db.migrate import head_revision, upgrade
from db.models import Agency, Section, Task
from db.spawn import spawn_recurring

UTC = dt.UTC
PG_URL = "postgresql://gongkai:s3cret@127.0.0.1:5432/gongkai"


# --- helpers ---------------------------------------------------------------------------------


def seed(engine: Engine, domain: Any, system: Any, at: dt.datetime) -> int:
    """An agency with three sections and this month's recurring tasks; returns the task count."""
    with session_scope(engine) as session:
        agency = Agency(code="xm-commerce", name="厦门市商务局", created_at=at)
        session.add(agency)
        session.flush()
        assert agency.id is not None
        for code, name in [
            ("office", "办公室"),
            ("foreign-trade", "外贸科"),
            ("finance", "财务科"),
        ]:
            session.add(Section(agency_id=agency.id, code=code, name=name))
    with session_scope(engine) as session:
        spawn_recurring(
            session, domain, through=at.date(), actor=system, at=at, since=dt.date(2026, 11, 1)
        )
    return task_count(engine)


def task_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(Task)).one())


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema revision), read with plain sqlite3."""
    connection = sqlite3.connect(path)
    try:
        tables = [table.name for table in SQLModel.metadata.sorted_tables] + ["alembic_version"]
        return {
            name: connection.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
            for name in tables
        }
    finally:
        connection.close()


def journal_mode(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        connection.close()


@pytest.fixture
def live(
    tmp_path: Path, domain: Any, system: Any, at: dt.datetime
) -> Iterator[tuple[Engine, Path]]:
    """A migrated SQLite ledger with an agency, sections and tasks; (engine, file)."""
    path = tmp_path / "live.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    assert seed(engine, domain, system, at) > 0
    yield engine, path
    engine.dispose()


# --- backup ----------------------------------------------------------------------------------


def test_backup_while_a_writer_is_open_copies_committed_rows_only(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    engine, path = live
    committed = snapshot(path)
    assert (tmp_path / "live.db-wal").stat().st_size > 0  # recent commits still in the WAL
    target = tmp_path / "backup.db"

    with session_scope(engine) as session:  # BEGIN IMMEDIATE: holds the write lock
        session.add(Agency(code="uncommitted", name="未提交", created_at=at))
        session.flush()
        result = backup_sqlite(engine, target)

    assert snapshot(target) == committed
    assert result.target == target
    assert result.revision == head_revision()
    assert result.pages > 0
    assert result.size == target.stat().st_size
    assert journal_mode(target) == "delete"  # one self-contained file
    assert not Path(f"{target}-wal").exists()
    assert inspect_backup(target).tasks == task_count(engine)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_backup_refuses_to_overwrite_unless_asked(
    live: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, path = live
    target = tmp_path / "backup.db"
    target.write_bytes(b"keep me")

    with pytest.raises(BackupError, match="already exists; use --overwrite"):
        backup_sqlite(engine, target)
    assert target.read_bytes() == b"keep me"

    backup_sqlite(engine, target, overwrite=True)
    assert snapshot(target) == snapshot(path)


def test_backup_refuses_the_live_file_and_missing_places(
    live: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, path = live
    with pytest.raises(BackupError, match="live database itself"):
        backup_sqlite(engine, path, overwrite=True)
    with pytest.raises(BackupError, match="does not exist"):
        backup_sqlite(engine, tmp_path / "nowhere" / "backup.db")
    with pytest.raises(BackupError, match="is a folder"):
        backup_sqlite(engine, tmp_path)
    with pytest.raises(BackupError, match="no database at"):
        backup_sqlite(f"sqlite:///{tmp_path / 'absent.db'}", tmp_path / "backup.db")


def test_backup_reports_progress(live: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, _ = live
    calls: list[tuple[int, int]] = []

    result = backup_sqlite(
        engine,
        tmp_path / "backup.db",
        progress=lambda done, total: calls.append((done, total)),
        pages_per_step=4,
    )

    assert len(calls) > 2
    assert calls[-1] == (result.pages, result.pages)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize("url", [PG_URL, "postgres://gongkai:s3cret@127.0.0.1/gongkai"])
def test_postgresql_is_refused_with_the_pg_dump_hint(url: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError) as raised:
        backup_sqlite(url, tmp_path / "backup.db")
    message = str(raised.value)
    assert "pg_dump -Fc" in message
    assert "s3cret" not in message
    assert "\n" not in message

    with pytest.raises(BackupError, match="pg_restore --clean --if-exists"):
        restore_sqlite(tmp_path / "backup.db", url, at=dt.datetime(2026, 11, 27, tzinfo=UTC))


def test_in_memory_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="in-memory"):
        backup_sqlite("sqlite://", tmp_path / "backup.db")


# --- restore ---------------------------------------------------------------------------------


def test_restore_brings_back_exactly_the_backed_up_rows(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    engine, path = live
    backup = tmp_path / "backup.db"
    backup_sqlite(engine, backup)
    backed_up = snapshot(path)

    with session_scope(engine) as session:  # the live database moves on
        session.add(Agency(code="later", name="后来的机关", created_at=at))
        for task in session.exec(select(Task)).all():
            task.title = f"changed {task.id}"
    changed = snapshot(path)
    assert changed != backed_up

    calls: list[tuple[int, int]] = []
    result = restore_sqlite(
        backup,
        f"sqlite:///{path}",
        at=at,
        progress=lambda d, t: calls.append((d, t)),
        pages_per_step=8,
    )

    assert snapshot(path) == backed_up
    assert result.saved_copy == tmp_path / "live.db.before-restore-20261127T020000Z"
    assert result.saved_copy.exists()
    assert snapshot(result.saved_copy) == changed  # nothing is lost
    assert result.revision == head_revision()
    assert calls[-1] == (result.pages, result.pages)
    assert journal_mode(path) == "wal"  # the live database keeps its mode
    # The engine's pooled connections see the restored content; the audit chain holds.
    assert task_count(engine) == len(backed_up["task"])
    with session_scope(engine) as session:
        assert verify_chain(session)[1] == []


def test_restore_into_a_missing_database_creates_it(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    engine, path = live
    backup = tmp_path / "backup.db"
    backup_sqlite(engine, backup)
    fresh = tmp_path / "new.db"

    result = restore_sqlite(backup, f"sqlite:///{fresh}", at=at)

    assert result.saved_copy is None
    assert snapshot(fresh) == snapshot(path)


def test_before_restore_names_do_not_collide(tmp_path: Path, at: dt.datetime) -> None:
    database = tmp_path / "gongkai.db"
    first = before_restore_path(database, at)
    first.write_bytes(b"")
    second = before_restore_path(database, at)
    assert first.name == "gongkai.db.before-restore-20261127T020000Z"
    assert second.name == "gongkai.db.before-restore-20261127T020000Z-2"
    with pytest.raises(BackupError, match="no time zone"):
        before_restore_path(database, dt.datetime(2026, 11, 27))  # noqa: DTZ001


def _not_sqlite(path: Path) -> None:
    path.write_text("name,section\n王外贸,外贸科\n", encoding="utf-8")


def _empty_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()


def _no_revision(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
    engine.dispose()
    _to_delete_mode(path)


def _newer_revision(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    _to_delete_mode(path)


def _to_delete_mode(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_not_sqlite, "is not a SQLite database"),
        (_empty_sqlite, r"is not a gongkai database \(no alembic_version, task table\)"),
        (_no_revision, "no schema revision"),
        (_newer_revision, "'9999', which this version of gongkai does not know"),
    ],
)
def test_restore_refuses_a_file_that_is_not_a_usable_gongkai_database(
    live: tuple[Engine, Path],
    tmp_path: Path,
    at: dt.datetime,
    make: Callable[[Path], None],
    message: str,
) -> None:
    _, path = live
    before = snapshot(path)
    candidate = tmp_path / "candidate.db"
    make(candidate)

    with pytest.raises(BackupError, match=message) as raised:
        restore_sqlite(candidate, f"sqlite:///{path}", at=at)

    assert "\n" not in str(raised.value)
    assert snapshot(path) == before
    assert list(tmp_path.glob("*.before-restore-*")) == []


def test_restore_refuses_a_damaged_file(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    engine, path = live
    backup = tmp_path / "backup.db"
    backup_sqlite(engine, backup)
    # Point one index at another index's pages: the schema still reads, the check fails.
    connection = sqlite3.connect(backup)
    root = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'ix_audit_entry_seq'"
    ).fetchone()[0]
    connection.execute("PRAGMA writable_schema=ON")
    connection.execute(
        "UPDATE sqlite_master SET rootpage = ? WHERE name = 'ix_agency_code'", (root,)
    )
    connection.commit()
    connection.close()
    before = snapshot(path)

    with pytest.raises(BackupError, match=r"is damaged \(PRAGMA integrity_check") as raised:
        restore_sqlite(backup, f"sqlite:///{path}", at=at)

    assert "\n" not in str(raised.value)
    assert snapshot(path) == before
    assert list(tmp_path.glob("*.before-restore-*")) == []


def test_restore_refuses_a_truncated_file(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    engine, path = live
    backup = tmp_path / "backup.db"
    backup_sqlite(engine, backup)
    data = backup.read_bytes()
    backup.write_bytes(data[: len(data) // 3])

    with pytest.raises(BackupError, match=r"damaged|cannot be read") as raised:
        restore_sqlite(backup, f"sqlite:///{path}", at=at)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.glob("*.before-restore-*")) == []


def test_restore_refuses_a_missing_file_and_the_live_file(
    live: tuple[Engine, Path], tmp_path: Path, at: dt.datetime
) -> None:
    _, path = live
    with pytest.raises(BackupError, match="no file at"):
        restore_sqlite(tmp_path / "absent.db", f"sqlite:///{path}", at=at)
    with pytest.raises(BackupError, match="live database itself"):
        restore_sqlite(path, f"sqlite:///{path}", at=at)


# --- gongkai db ------------------------------------------------------------------------------


class Cli:
    """``gongkai`` in-process with GONGKAI_DATABASE_URL set for this test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Any:
        from gongkai.cli import app

        result = self.runner.invoke(app, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def error(self, *args: str) -> str:
        """The one-line error of a refused command."""
        stderr: str = self(*args, code=1).stderr.strip()
        assert "\n" not in stderr, stderr
        return stderr


def _use_database(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    from gongkai.runtime import engine_for
    from gongkai.settings import get_settings

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("GONGKAI_DATABASE_URL", url)
    get_settings.cache_clear()
    yield Cli(url)
    if url.startswith("sqlite"):
        engine_for(get_settings(), migrate=False).dispose()
    get_settings.cache_clear()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from _use_database(f"sqlite:///{tmp_path / 'cli.db'}", monkeypatch, tmp_path)


@pytest.fixture
def pg_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from _use_database(PG_URL, monkeypatch, tmp_path)


def test_cli_current_and_upgrade(cli: Cli) -> None:
    head = head_revision()
    assert cli.json("db", "current") == {
        "database": cli.url,
        "current": None,
        "head": head,
        "up_to_date": False,
    }

    first = cli.json("db", "upgrade")
    assert (first["from"], first["to"], first["changed"], first["up_to_date"]) == (
        None,
        head,
        True,
        True,
    )
    again = cli.json("db", "upgrade")
    assert (again["from"], again["to"], again["changed"]) == (head, head, False)
    assert cli.json("db", "current")["up_to_date"] is True
    assert "unchanged" in cli("db", "upgrade").stdout


def test_cli_downgrade_needs_yes_without_a_terminal(cli: Cli) -> None:
    cli("db", "upgrade")

    assert "pass --yes" in cli.error("db", "downgrade", "base")
    assert cli.json("db", "current")["current"] == head_revision()

    result = cli.json("db", "downgrade", "base", "--yes")
    assert (result["from"], result["to"]) == (head_revision(), None)
    assert "nonsense" in cli.error("db", "downgrade", "nonsense", "--yes")


def test_cli_backup_and_restore(cli: Cli, tmp_path: Path, at: dt.datetime) -> None:
    from gongkai.runtime import engine_for
    from gongkai.settings import get_settings

    cli("db", "upgrade")
    engine = engine_for(get_settings(), migrate=False)
    with session_scope(engine) as session:
        session.add(Agency(code="xm-commerce", name="厦门市商务局", created_at=at))
    live = tmp_path / "cli.db"
    backed_up = snapshot(live)
    target = tmp_path / "backup.db"

    made = cli.json("db", "backup", str(target))
    assert made["backup"] == str(target)
    assert made["revision"] == head_revision()
    assert snapshot(target) == backed_up
    assert "--overwrite" in cli.error("db", "backup", str(target))
    assert "已备份 backed up" in cli("db", "backup", str(target), "--overwrite").stdout

    folder = tmp_path / "backups"
    folder.mkdir()
    dated = Path(cli.json("db", "backup", str(folder))["backup"])
    assert dated.parent == folder
    assert dated.name.startswith("gongkai-")
    assert dated.suffix == ".db"

    with session_scope(engine) as session:
        session.add(Agency(code="later", name="后来的机关", created_at=at))
    assert snapshot(live) != backed_up

    assert "pass --yes" in cli.error("db", "restore", str(target))
    assert list(tmp_path.glob("*.before-restore-*")) == []

    restored = cli.json("db", "restore", str(target), "--yes")
    assert snapshot(live) == backed_up
    assert restored["up_to_date"] is True
    saved = Path(restored["saved_copy"])
    assert saved.exists()
    assert saved.name.startswith("cli.db.before-restore-")
    assert [row[1] for row in snapshot(saved)["agency"]] == ["xm-commerce", "later"]

    not_gongkai = tmp_path / "notes.txt"
    not_gongkai.write_text("hello", encoding="utf-8")
    assert "not a SQLite database" in cli.error("db", "restore", str(not_gongkai), "--yes")


def test_cli_refuses_postgresql_with_the_pg_tools(pg_cli: Cli, tmp_path: Path) -> None:
    backup_error = pg_cli.error("db", "backup", str(tmp_path / "backup.db"))
    assert "pg_dump -Fc" in backup_error
    assert "s3cret" not in backup_error
    assert "pg_restore" in pg_cli.error("db", "restore", str(tmp_path / "backup.db"), "--yes")
