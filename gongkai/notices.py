"""Where user-loaded holiday notices live and how they join the shipped calendar."""

from __future__ import annotations

from pathlib import Path

from obligations.errors import NoticeError
from obligations.workdays import HolidayNotice, WorkdayCalendar, parse_notice, shipped_notices

from gongkai.settings import Settings


def read_notice(path: Path) -> HolidayNotice:
    """Parse a notice file; an unreadable file is one line naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoticeError(f"{path}: cannot read notice file: {exc.__class__.__name__}") from None
    return parse_notice(text, source=str(path))


def installed_notices(settings: Settings) -> list[HolidayNotice]:
    folder = settings.notices_dir
    if not folder.is_dir():
        return []
    return [read_notice(path) for path in sorted(folder.glob("*.yaml"))]


def install_notice(path: Path, settings: Settings) -> HolidayNotice:
    """Validate ``path`` and copy it to the data directory as ``<year>.yaml`` (replacing any)."""
    notice = read_notice(path)
    folder = settings.notices_dir
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{notice.year}.yaml"
    temporary = target.with_suffix(".yaml.tmp")
    temporary.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    temporary.replace(target)  # atomic: a half-written notice never becomes visible
    return notice


def current_calendar(settings: Settings) -> WorkdayCalendar:
    """Package data + shipped notices + the notices this installation has loaded."""
    return WorkdayCalendar.build([*shipped_notices(), *installed_notices(settings)])
