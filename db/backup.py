"""Backing up and restoring the embedded SQLite database with SQLite's online backup API.

A backup is a consistent copy taken while the service runs: the backup API reads the
database page by page (including what is still in the WAL) and starts over by itself if
another connection writes in between. The copy is written beside the target under a
temporary name, switched to rollback-journal mode (one self-contained file), checked, and
only then renamed to the target, so a half-written backup never carries the target's name.

A restore first checks that the file is a gongkai database (``alembic_version`` and
``task`` tables, a schema revision this version knows, ``PRAGMA integrity_check`` ok),
copies the live database to ``<db>.before-restore-<UTC time>`` and then copies the backup
into the live database, again with the backup API, so open connections see the restored
content and nothing is lost.

PostgreSQL is backed up with its own tools (``pg_dump -Fc`` / ``pg_restore``).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Engine
from sqlalchemy.engine import make_url

from db.engine import BUSY_TIMEOUT_MS, normalise_url
from db.errors import LedgerError
from db.migrate import known_revision

#: Called after each step with (pages copied, pages in total).
Progress = Callable[[int, int], None]

#: Pages copied per step of the backup API (16 MiB with the default 4 KiB pages): small
#: databases are copied in one step, large ones report progress in between.
PAGES_PER_STEP = 4096

REQUIRED_TABLES = ("alembic_version", "task")


class BackupError(LedgerError):
    """A backup or restore was refused or failed; nothing was replaced."""


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    pages: int
    size: int
    revision: str | None


@dataclass(frozen=True)
class BackupInfo:
    """What :func:`inspect_backup` found in a backup file."""

    path: Path
    revision: str
    tasks: int
    size: int


@dataclass(frozen=True)
class RestoreResult:
    database: Path
    source: Path
    #: The live database as it was before the restore (None when there was none).
    saved_copy: Path | None
    revision: str
    pages: int


def sqlite_path(engine_or_url: Engine | URL | str, *, purpose: str = "backup") -> Path:
    """The file behind a SQLite URL; a clear refusal for PostgreSQL and in-memory databases."""
    if isinstance(engine_or_url, Engine):
        url = engine_or_url.url
    elif isinstance(engine_or_url, URL):
        url = engine_or_url
    else:
        url = make_url(normalise_url(engine_or_url))
    if url.get_backend_name() != "sqlite":
        shown = url.render_as_string(hide_password=True)
        if purpose == "restore":
            hint = 'use pg_restore --clean --if-exists -d "$URL" FILE'
        else:
            hint = 'use pg_dump -Fc -f gongkai.dump "$URL"'
        raise BackupError(
            f"gongkai db {purpose} handles SQLite only, and {shown} is not SQLite: {hint} "
            "(README: Backing up)"
        )
    if url.database in (None, "", ":memory:") or str(url.database).startswith("file::memory:"):
        raise BackupError(f"{url} is an in-memory database: there is no file to {purpose}")
    return Path(str(url.database))


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)


def _copy(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    *,
    progress: Progress | None,
    pages_per_step: int,
) -> int:
    """Copy with the backup API; returns the number of pages copied."""
    copied = 0

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total
        if progress is not None:
            progress(total - remaining, total)

    source.backup(target, pages=pages_per_step, progress=step)
    if copied == 0:
        copied = int(target.execute("PRAGMA page_count").fetchone()[0])
    return copied


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _make_self_contained(connection: sqlite3.Connection, path: Path) -> None:
    """Rollback-journal mode (no -wal file beside it), then a quick consistency check."""
    connection.execute("PRAGMA journal_mode=DELETE").fetchall()
    check = connection.execute("PRAGMA quick_check").fetchone()
    if check is None or check[0] != "ok":
        raise BackupError(f"the copy at {path} failed its consistency check: {check}")


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve() or (
            first.exists() and second.exists() and first.samefile(second)
        )
    except OSError:
        return False


def backup_sqlite(
    engine_or_url: Engine | URL | str,
    target: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> BackupResult:
    """Copy the live SQLite database to ``target`` while it may be in use."""
    source_path = sqlite_path(engine_or_url, purpose="backup")
    return _backup_file(
        source_path,
        Path(target),
        overwrite=overwrite,
        progress=progress,
        pages_per_step=pages_per_step,
    )


def _backup_file(
    source_path: Path,
    target: Path,
    *,
    overwrite: bool,
    progress: Progress | None,
    pages_per_step: int,
) -> BackupResult:
    if not source_path.is_file():
        raise BackupError(f"there is no database at {source_path} to back up")
    if _same_file(source_path, target):
        raise BackupError(f"the backup target {target} is the live database itself")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give a file name for the backup")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists; use --overwrite to replace it")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        source = _connect(source_path)
        try:
            copy = _connect(partial)
            try:
                pages = _copy(source, copy, progress=progress, pages_per_step=pages_per_step)
                _make_self_contained(copy, target)
                revision = _revision(copy)
            finally:
                copy.close()
        finally:
            source.close()
        if target.exists() and not overwrite:
            raise BackupError(f"{target} already exists; use --overwrite to replace it")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source_path} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(
        source=source_path,
        target=target,
        pages=pages,
        size=target.stat().st_size,
        revision=revision,
    )


def inspect_backup(path: Path) -> BackupInfo:
    """Check that ``path`` is a sound gongkai database this version can use."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"there is no file at {path}")
    try:
        connection = _connect(path, read_only=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened as a SQLite database: {exc}") from None
    try:
        try:
            tables = {
                str(row[0])
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise BackupError(f"{path} is not a SQLite database") from None
            raise BackupError(f"{path} is damaged: {_one_line(str(exc))}") from None
        missing = [name for name in REQUIRED_TABLES if name not in tables]
        if missing:
            raise BackupError(f"{path} is not a gongkai database (no {', '.join(missing)} table)")
        revision = _revision(connection)
        if revision is None:
            raise BackupError(f"{path} has no schema revision in alembic_version")
        if not known_revision(revision):
            raise BackupError(
                f"{path} is at schema revision {revision!r}, which this version of gongkai "
                "does not know (made by a newer gongkai?)"
            )
        problems = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(
                f"{path} is damaged (PRAGMA integrity_check: {len(problems)} problem(s), "
                f"first: {_one_line(problems[0])})"
            )
        tasks = int(connection.execute("SELECT count(*) FROM task").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read: {_one_line(str(exc))}") from None
    finally:
        connection.close()
    return BackupInfo(path=path, revision=revision, tasks=tasks, size=path.stat().st_size)


def _one_line(text: str) -> str:
    return " ".join(text.replace("*** in database main ***", "").split())


def before_restore_path(database: Path, at: dt.datetime) -> Path:
    """``<db>.before-restore-<UTC time>``, numbered if that name is taken."""
    if at.tzinfo is None:
        raise BackupError(f"restore time {at.isoformat()} has no time zone")
    stamp = at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = database.with_name(f"{database.name}.before-restore-{stamp}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = database.with_name(f"{database.name}.before-restore-{stamp}-{number}")
    return candidate


def restore_sqlite(
    source: Path,
    url: Engine | URL | str,
    *,
    at: dt.datetime,
    progress: Progress | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> RestoreResult:
    """Replace the live database with the backup at ``source``, keeping the old one aside.

    ``at`` (aware) names the copy of the old database; stop the service first if you can:
    its open transactions would otherwise wait for the restore (or it for them).
    """
    database = sqlite_path(url, purpose="restore")
    source = Path(source)
    if _same_file(source, database):
        raise BackupError(f"{source} is the live database itself")
    info = inspect_backup(source)
    saved: Path | None = None
    if database.exists():
        saved = before_restore_path(database, at)
        _backup_file(database, saved, overwrite=False, progress=None, pages_per_step=pages_per_step)
    elif not database.parent.is_dir():
        raise BackupError(f"the folder {database.parent} does not exist")
    try:
        backup = _connect(source, read_only=True)
        try:
            live = _connect(database)
            try:
                pages = _copy(backup, live, progress=progress, pages_per_step=pages_per_step)
                check = live.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise BackupError(
                        f"the restored database failed its consistency check ({check}); "
                        f"the previous one is at {saved}"
                    )
            finally:
                live.close()
        finally:
            backup.close()
    except sqlite3.Error as exc:
        where = f"; the previous database is at {saved}" if saved else ""
        raise BackupError(f"restore into {database} failed: {exc}{where}") from None
    return RestoreResult(
        database=database, source=source, saved_copy=saved, revision=info.revision, pages=pages
    )
