"""Running aggregate queries: plain rows from the session's connection (and transaction).

SQLModel's ``Session.exec`` types at most four selected columns; the report queries select
more, so they run as SQLAlchemy Core statements on the session's own connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Executable, Integer, Select
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session

from db.models import Task


def fetch(session: Session, statement: Executable) -> list[tuple[Any, ...]]:
    """All rows of ``statement`` as tuples, inside the session's transaction."""
    return [tuple(row) for row in session.connection().execute(statement).all()]


class _Unindexed(ColumnElement[Any]):
    """A column the SQLite planner will not match to an index (``+column``)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


@compiles(_Unindexed)
def _plain(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Unindexed, "sqlite")
def _unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


def unindexed(column: Any) -> ColumnElement[Any]:
    """``column`` in a form SQLite's planner does not match to an index (``+column``).

    SQLite prefers the single-column index on ``task.obligation_code`` (or the one on
    ``agency_id, status``) for the report queries and then reads every matching task row,
    each with 1–2 KB of rule snapshot; hiding the column from it makes the planner use the
    covering index of the closing facts (``ix_task_report_facts``) instead. Other databases
    get the plain column.
    """
    return _Unindexed(column)


class _Month(ColumnElement[int]):
    """The month (1–12) of a date column."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = Integer()

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.column._from_objects)


@compiles(_Month)
def _extract_month(element: _Month, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(MONTH FROM {compiler.process(element.column, **kw)})"


@compiles(_Month, "sqlite")
def _substr_month(element: _Month, compiler: SQLCompiler, **kw: Any) -> str:
    # Dates are stored as 'YYYY-MM-DD' text: cheaper than parsing them with strftime.
    return f"CAST(substr({compiler.process(element.column, **kw)}, 6, 2) AS INTEGER)"


def month_of(column: Any) -> ColumnElement[int]:
    return _Month(column)


#: Page cache and memory map for one report on SQLite: its queries revisit event and index
#: pages that the default 2 MB page cache would evict and read again.
READ_CACHE_KIB = 262_144
READ_MMAP_BYTES = 1 << 30


@contextmanager
def reading(session: Session) -> Iterator[None]:
    """Give a report's SQLite connection a larger page cache and a memory map, then restore
    the connection's settings (the connection goes back to the pool). No-op elsewhere."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    cache = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    mmap = connection.exec_driver_sql("PRAGMA mmap_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
    connection.exec_driver_sql(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
        connection.exec_driver_sql(f"PRAGMA mmap_size = {int(mmap)}")


#: The covering index of the tasks' closing facts (db/models.py, migration 0003).
FACTS_INDEX = "ix_task_report_facts"


def _sqlite_from_hint(self: SQLiteCompiler, table: Any, text: str) -> str:
    return text


# SQLAlchemy renders table hints (``Select.with_hint``) only for dialects whose compiler says
# how; SQLite's ``INDEXED BY`` goes right after the table name, as MySQL's hints do. Only
# statements carrying a hint for "sqlite" are affected.
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign, assignment]

_S = TypeVar("_S", bound=Select[Any])


def on_facts_index(statement: _S) -> _S:
    """Read ``task`` through its closing-facts index on SQLite (``INDEXED BY``).

    The planner's own choice depends on which other indexes exist and on stale statistics:
    a single-column or status index makes it read every matching task row (each with 1–2 KB
    of rule snapshot) and turns a second into a minute. PostgreSQL plans on its own.
    """
    return statement.with_hint(Task, f"INDEXED BY {FACTS_INDEX}", "sqlite")
