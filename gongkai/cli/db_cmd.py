"""``gongkai db …``: schema migrations, backing up and restoring the SQLite database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import make_url

from db.backup import backup_sqlite, inspect_backup, restore_sqlite, sqlite_path
from db.migrate import current_revision, downgrade, head_revision, upgrade
from gongkai.cli._common import (
    JSON_OPTION,
    UserError,
    console,
    emit,
    new_app,
    progress_bar,
)
from gongkai.runtime import engine_for, now
from gongkai.settings import Settings, get_settings

app = new_app("数据库 Database: migrations, backup, restore")

YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation 不再确认")


def _say(text: str) -> None:
    """One line of human output; paths are never wrapped in the middle."""
    console.print(text, soft_wrap=True)


def _shown_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _status(settings: Settings) -> dict[str, Any]:
    engine = engine_for(settings, migrate=False)
    current = current_revision(engine)
    head = head_revision()
    return {
        "database": _shown_url(settings),
        "current": current,
        "head": head,
        "up_to_date": current == head,
    }


def _confirm(question: str, *, yes: bool) -> None:
    """Ask on a terminal; without one, ``--yes`` is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"{question}: pass --yes to confirm (no terminal to ask on)")
    if not typer.confirm(f"{question}?", default=False, err=True):
        raise typer.Abort()


@app.command("current")
def current(as_json: bool = JSON_OPTION) -> None:
    """当前结构版本 Schema revision of the database and the newest one this version knows."""
    data = _status(get_settings())

    def human() -> None:
        state = (
            "[green]已是最新 up to date[/]" if data["up_to_date"] else "[yellow]需升级 behind[/]"
        )
        _say(f"{data['database']}: {data['current'] or '(空 empty)'} / head {data['head']}")
        _say(state)

    emit(data, as_json=as_json, human=human)


def _change(settings: Settings, before: str | None, *, as_json: bool, verb: str) -> None:
    data = _status(settings)
    data.update({"from": before, "to": data["current"], "changed": before != data["current"]})

    def human() -> None:
        if data["changed"]:
            _say(f"{verb}: {before or '(空 empty)'} → {data['current'] or '(空 empty)'}")
        else:
            _say(f"未变更 unchanged: {data['current'] or '(空 empty)'}")

    emit(data, as_json=as_json, human=human)


@app.command("upgrade")
def upgrade_cmd(
    revision: str = typer.Option("head", "--revision", help="Target revision (default: head)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """升级数据库结构 Upgrade the schema (every command does this to head on start)."""
    settings = get_settings()
    engine = engine_for(settings, migrate=False)
    before = current_revision(engine)
    upgrade(engine, revision)
    _change(settings, before, as_json=as_json, verb="已升级 upgraded")


@app.command("downgrade")
def downgrade_cmd(
    revision: str = typer.Argument(..., help="Target revision; 'base' drops every table"),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """降级数据库结构 Downgrade the schema (data in dropped tables is lost: back up first)."""
    settings = get_settings()
    engine = engine_for(settings, migrate=False)
    _confirm(f"downgrading {_shown_url(settings)} to {revision} may drop data", yes=yes)
    before = current_revision(engine)
    downgrade(engine, revision)
    _change(settings, before, as_json=as_json, verb="已降级 downgraded")


@app.command("backup")
def backup(
    path: Path = typer.Argument(..., help="Backup file, or a folder for gongkai-<UTC time>.db"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file"),
    as_json: bool = JSON_OPTION,
) -> None:
    """备份 Copy the SQLite database while it runs (PostgreSQL: pg_dump -Fc)."""
    settings = get_settings()
    sqlite_path(settings.database_url, purpose="backup")  # refuses PostgreSQL before anything
    target = path
    if path.is_dir():
        target = path / f"gongkai-{now().strftime('%Y%m%dT%H%M%SZ')}.db"
    with progress_bar("备份 backup", "pages", enabled=not as_json) as progress:
        result = backup_sqlite(
            settings.database_url, target, overwrite=overwrite, progress=progress
        )
    data = {
        "database": str(result.source),
        "backup": str(result.target),
        "bytes": result.size,
        "pages": result.pages,
        "revision": result.revision,
    }

    def human() -> None:
        _say(
            f"已备份 backed up {result.source} → [bold]{result.target}[/] "
            f"({result.size / 1_048_576:.1f} MiB, revision {result.revision})"
        )

    emit(data, as_json=as_json, human=human)


@app.command("restore")
def restore(
    path: Path = typer.Argument(..., help="A backup made by gongkai db backup"),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """恢复 Replace the SQLite database with a backup; the old one is kept beside it."""
    settings = get_settings()
    database = sqlite_path(settings.database_url, purpose="restore")
    info = inspect_backup(path)  # refuse a bad file before asking anything
    _confirm(
        f"restore replaces {database} with {path} ({info.tasks} tasks, revision {info.revision})",
        yes=yes,
    )
    with progress_bar("恢复 restore", "pages", enabled=not as_json) as progress:
        result = restore_sqlite(path, settings.database_url, at=now(), progress=progress)
    head = head_revision()
    data = {
        "database": str(result.database),
        "restored_from": str(result.source),
        "saved_copy": str(result.saved_copy) if result.saved_copy else None,
        "revision": result.revision,
        "head": head,
        "up_to_date": result.revision == head,
        "tasks": info.tasks,
    }

    def human() -> None:
        _say(f"已恢复 restored {result.source} → [bold]{result.database}[/]")
        if result.saved_copy:
            _say(f"原数据库已保存 previous database kept at {result.saved_copy}")
        if result.revision != head:
            _say(
                f"[yellow]结构版本 {result.revision}，下次启动将升级到 {head} "
                "schema will be upgraded on the next start[/]"
            )

    emit(data, as_json=as_json, human=human)
