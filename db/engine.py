"""Engine and sessions: SQLite (embedded default, WAL, foreign keys, busy timeout) or PostgreSQL.

SQLite transactions are begun with ``BEGIN IMMEDIATE`` so that a writer takes the write
lock before it reads what it will change (the audit chain's last hash, a claim): two
processes can then never interleave a read-modify-write; the second one waits up to the
busy timeout instead of failing with a stale snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_MS = 30_000

#: Execution option of a connection that only reads: on SQLite its transaction begins
#: DEFERRED (a snapshot, no write lock) instead of IMMEDIATE. See :func:`read_connection`.
READ_ONLY_OPTION = "gongkai_read_only"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json(value: Any) -> str:
    # Chinese stays Chinese in JSON columns: about half the bytes of \uXXXX escapes.
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", _json)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        memory = engine.url.database in (None, "", ":memory:")
        if not memory:
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _enable_wal(cursor: Any) -> None:
    """Switch a file database to WAL once; concurrent first openers retry instead of failing."""
    import sqlite3
    import time

    for attempt in range(50):
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.05)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection for reads only; its transaction is rolled back on close.

    On SQLite it begins DEFERRED: it reads one WAL snapshot beside a running writer instead
    of taking (or waiting up to the busy timeout for) the write lock, as every ledger
    transaction does. On PostgreSQL it is an ordinary connection.
    """
    with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as connection:
        yield connection


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
