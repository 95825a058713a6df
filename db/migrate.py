"""Schema migrations: Alembic, run programmatically on an engine (no ``alembic.ini``).

The revisions live in ``db/migrations/versions`` and start from the first table.
:func:`upgrade` is called on every command-line start, so the already-at-head case is one
cheap read of ``alembic_version`` (on SQLite outside any transaction, so it never waits for
the write lock) and a cached look at the revision files.

Every migration run is one transaction on the caller's connection. On SQLite that
transaction starts with ``BEGIN IMMEDIATE`` (the engine's "begin" event): two processes
upgrading at once are serialised, and the second finds the schema already at head. Foreign
key enforcement is switched off on that connection for the run (SQLite ignores the pragma
inside a transaction, so it is set before) because batch migrations copy and drop tables
that other tables reference; ``PRAGMA foreign_key_check`` must come back empty before the
transaction commits. On PostgreSQL an advisory lock serialises concurrent upgrades.

Developers add a revision with ``python -m db.migrate revision -m "what changed"``: it
upgrades a scratch SQLite database to head and autogenerates the difference to the models.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect

from db.errors import LedgerError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating ("gongkai" in ASCII).
PG_ADVISORY_LOCK_KEY = 0x676F6E676B6169

#: The tables only a gongkai database has (used to recognise one without migration history).
_GONGKAI_TABLES = frozenset({"task", "audit_entry"})


class MigrationError(LedgerError):
    """The schema could not be migrated (or the database is not one this version knows)."""


def alembic_config(
    connection: Connection | None = None, *, script_location: Path = MIGRATIONS_DIR
) -> Config:
    """An Alembic config for ``script_location``; ``connection`` is what ``env.py`` migrates."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=8)
def _script(script_location: Path) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(script_location=script_location))


def head_revision(*, script_location: Path = MIGRATIONS_DIR) -> str:
    """The newest revision this version of gongkai knows."""
    try:
        head = _script(script_location).get_current_head()
    except CommandError as exc:
        raise MigrationError(_one_line(exc)) from None
    if head is None:
        raise MigrationError(f"no migrations found in {script_location}")
    return head


def known_revision(revision: str, *, script_location: Path = MIGRATIONS_DIR) -> bool:
    """Whether ``revision`` is one of this version's migrations."""
    try:
        return _script(script_location).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty (or fully downgraded) database."""
    if engine.dialect.name == "sqlite":
        return _sqlite_current_revision(engine)
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
        connection.rollback()
    return _single(heads)


def _sqlite_current_revision(engine: Engine) -> str | None:
    # A plain DBAPI read: the driver runs in autocommit mode (isolation_level None) and
    # SQLAlchemy's "begin" event, which would issue BEGIN IMMEDIATE, is not involved.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            )
            if cursor.fetchone() is None:
                return None
            cursor.execute("SELECT version_num FROM alembic_version")
            heads = tuple(str(row[0]) for row in cursor.fetchall())
        finally:
            cursor.close()
    finally:
        raw.close()
    return _single(heads)


def _single(heads: Sequence[str]) -> str | None:
    if not heads:
        return None
    if len(heads) > 1:
        raise MigrationError(f"the database has several schema heads ({', '.join(heads)})")
    return heads[0]


def upgrade(
    engine: Engine, revision: str = "head", *, script_location: Path = MIGRATIONS_DIR
) -> None:
    """Upgrade the schema to ``revision``; a no-op (one cheap read) when already at head."""
    current = current_revision(engine)
    if revision == "head" and current == head_revision(script_location=script_location):
        return
    if current is not None and not known_revision(current, script_location=script_location):
        raise MigrationError(
            f"the database is at schema revision {current!r}, which this version of gongkai "
            "does not know (made by a newer gongkai?): upgrade gongkai or restore a backup"
        )
    _run(engine, lambda config: command.upgrade(config, revision), script_location, current)


def downgrade(engine: Engine, revision: str, *, script_location: Path = MIGRATIONS_DIR) -> None:
    """Downgrade the schema to ``revision`` (``base`` drops every table and its data)."""
    current = current_revision(engine)
    _run(engine, lambda config: command.downgrade(config, revision), script_location, current)


def _run(
    engine: Engine,
    action: Callable[[Config], None],
    script_location: Path,
    current: str | None,
) -> None:
    with _migration_connection(engine) as connection:
        if current is None:
            _refuse_unversioned(connection)  # (re-read under the lock: another may have won)
        try:
            action(alembic_config(connection, script_location=script_location))
        except CommandError as exc:
            raise MigrationError(_one_line(exc)) from None
        if connection.dialect.name == "sqlite":
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                table, rowid, parent, _ = problems[0]
                raise MigrationError(
                    f"migration left {len(problems)} broken foreign key(s), e.g. {table} row "
                    f"{rowid} → {parent}; nothing was changed"
                )


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction (committed on success) to run migrations on."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite and not _set_foreign_keys(connection, on=False):
            raise MigrationError("cannot switch SQLite foreign keys off: a transaction is open")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({PG_ADVISORY_LOCK_KEY})"
                    )
                yield connection
        finally:
            if sqlite and not _set_foreign_keys(connection, on=True):
                # Never hand a connection without foreign keys back to the pool.
                connection.invalidate()


def _set_foreign_keys(connection: Connection, *, on: bool) -> bool:
    """Switch enforcement on this connection; False when it is inside a transaction."""
    # Straight to the driver: through SQLAlchemy the statement would open a transaction
    # (BEGIN IMMEDIATE), and SQLite ignores this pragma inside one.
    dbapi: Any = connection.connection.dbapi_connection
    if not isinstance(dbapi, sqlite3.Connection) or dbapi.in_transaction:
        return False
    dbapi.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    return True


def _refuse_unversioned(connection: Connection) -> None:
    tables = set(inspect(connection).get_table_names())
    if tables & _GONGKAI_TABLES and not MigrationContext.configure(connection).get_current_heads():
        raise MigrationError(
            "the database has gongkai tables but no migration history (alembic_version): "
            "it was not created by gongkai db upgrade; start from an empty database"
        )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- for developers: writing a new revision -------------------------------------------------


def next_revision_id(*, script_location: Path = MIGRATIONS_DIR) -> str:
    """Revisions are numbered 0001, 0002, … so their files sort in order."""
    numbers = [
        int(script.revision)
        for script in _script(script_location).walk_revisions()
        if script.revision.isdigit()
    ]
    return f"{max(numbers, default=0) + 1:04d}"


def make_revision(message: str, *, script_location: Path = MIGRATIONS_DIR) -> Path | None:
    """Autogenerate a revision: the models compared to a scratch SQLite database at head.

    Review the file it writes: autogenerate misses renames, data changes and some index
    options (partial indexes need both ``sqlite_where`` and ``postgresql_where``).
    """
    from db.engine import make_engine

    _script.cache_clear()
    head = _script(script_location).get_current_head()
    rev_id = next_revision_id(script_location=script_location)
    with tempfile.TemporaryDirectory(prefix="gongkai-revision-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
        try:
            if head is not None:
                upgrade(engine, script_location=script_location)
            written: list[Path] = []

            def autogenerate(config: Config) -> None:
                scripts = command.revision(config, message, autogenerate=True, rev_id=rev_id)
                items = scripts if isinstance(scripts, list) else [scripts]
                written.extend(Path(item.path) for item in items if item is not None)

            _run(engine, autogenerate, script_location, head)
        finally:
            engine.dispose()
    _script.cache_clear()
    return written[0] if written else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m db.migrate")
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="autogenerate a new revision from the models")
    revision.add_argument("-m", "--message", required=True)
    commands.add_parser("heads", help="print the head revision")
    args = parser.parse_args(argv)
    if args.command == "revision":
        path = make_revision(args.message)
        print(f"wrote {path} — review it before committing")
    else:
        print(head_revision())


if __name__ == "__main__":
    main()
