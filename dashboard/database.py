"""Sessions for the dashboard: writes through the ledger's engine, reads through a reader.

The ledger's SQLite engine begins every transaction with ``BEGIN IMMEDIATE`` so writers
never interleave a read-modify-write. A page view only reads, and taking the write lock
for it would serialise every page behind every other one. For a SQLite file the dashboard
therefore opens a second engine on the same file whose transactions begin ``DEFERRED``
(WAL lets them run beside a writer, each on one consistent snapshot) and which refuses
writes (``PRAGMA query_only``). PostgreSQL reads use the ledger's engine as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

from db.engine import BUSY_TIMEOUT_MS, is_sqlite, session_scope

#: Connections of the reader; more page views than this wait for a free one.
READER_POOL_SIZE = 16


def reader_for(engine: Engine) -> Engine:
    """The engine page views read through (see the module docstring)."""
    database = engine.url.database
    if not is_sqlite(engine) or database in (None, "", ":memory:"):
        return engine
    reader = create_engine(
        engine.url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=READER_POOL_SIZE,
        max_overflow=0,
    )

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB per connection
        cursor.close()

    @event.listens_for(reader, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN DEFERRED")

    return reader


class Database:
    """The two ways into the ledger a request handler needs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader_for(engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session on one snapshot. Closing it (not rolling back) keeps the loaded
        rows usable afterwards; the pool rolls the connection's transaction back."""
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A ledger transaction: commits on success, rolls back on any error."""
        with session_scope(self.engine) as session:
            yield session

    def dispose(self) -> None:
        if self.reader is not self.engine:
            self.reader.dispose()
