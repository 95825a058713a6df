"""Holiday notices: read a file, and install it into the ledger (which recomputes tasks)."""

from __future__ import annotations

from pathlib import Path

from db.engine import session_scope
from db.notices import NoticeResult, calendar_from_db, load_notice
from gongkai.runtime import cli_actor, domain_for, engine_for, now
from gongkai.settings import Settings
from obligations.errors import NoticeError
from obligations.workdays import WorkdayCalendar


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoticeError(f"{path}: cannot read notice file: {exc.__class__.__name__}") from None


def current_calendar(settings: Settings) -> WorkdayCalendar:
    """Package data + shipped notices + the notices loaded into this installation's ledger."""
    with session_scope(engine_for(settings)) as session:
        return calendar_from_db(session)


def install_notice(path: Path, settings: Settings) -> NoticeResult:
    """Validate ``path``, store it in the ledger and recompute the open tasks it moves."""
    text = read_text(path)
    engine = engine_for(settings)
    domain = domain_for(settings, engine)
    with session_scope(engine) as session:
        result, _ = load_notice(
            session, domain, text=text, source=str(path), actor=cli_actor(), at=now()
        )
    return result
