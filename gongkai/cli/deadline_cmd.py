"""``gongkai deadline CODE …``: the due moment of an obligation's rule for a what-if clock."""

from __future__ import annotations

import datetime as dt

import typer

from gongkai.cli._common import JSON_OPTION, LANG_OPTION, UserError, console, emit, parse_datetime
from gongkai.cli.calendar_cmd import deadline_json, print_deadline
from gongkai.cli.obligations_cmd import catalog
from gongkai.notices import current_calendar
from gongkai.settings import get_settings
from obligations.clocks import ClockEvent, ClockEventKind, compute_due


def _pause(value: str, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    if ".." not in value:
        raise UserError(f"--pause: {value!r} must be FROM..TO (e.g. 2026-11-25..2026-12-01)")
    first, _, second = value.partition("..")
    begin = parse_datetime(first, name="--pause FROM", tz=tz)
    end = parse_datetime(second, name="--pause TO", tz=tz)
    if end < begin:
        raise UserError(f"--pause: TO {second} is before FROM {first}")
    return begin, end


def deadline(
    code: str = typer.Argument(..., help="Obligation code, e.g. request-reply"),
    start_at: str = typer.Option(..., "--start", help="When the clock starts (date or date-time)"),
    pauses: list[str] = typer.Option([], "--pause", help="FROM..TO, repeatable (中止计时)"),
    restart: str | None = typer.Option(
        None, "--restart", help="Date the corrected request arrived (补正)"
    ),
    extend: int | None = typer.Option(
        None, "--extend", min=1, help="Extension in the rule's unit (延期)"
    ),
    approver: str | None = typer.Option(None, "--approver", help="Who approved the extension"),
    as_json: bool = JSON_OPTION,
    lang: str | None = LANG_OPTION,
) -> None:
    """计算截止时刻 Due moment of CODE's rule, with pauses, restart and extension."""
    settings = get_settings()
    language = lang or settings.language
    tz = settings.tz
    obligation = catalog().get(code)
    events = [ClockEvent(ClockEventKind.START, parse_datetime(start_at, name="--start", tz=tz))]
    timed: list[ClockEvent] = []
    for value in pauses:
        begin, end = _pause(value, tz)
        timed.append(ClockEvent(ClockEventKind.PAUSE, begin))
        timed.append(ClockEvent(ClockEventKind.RESUME, end))
    if restart is not None:
        timed.append(
            ClockEvent(ClockEventKind.RESTART, parse_datetime(restart, name="--restart", tz=tz))
        )
    timed.sort(key=lambda event: event.at)
    events.extend(timed)
    if extend is not None:
        if not approver:
            raise UserError("--extend needs --approver NAME (who approved the extension)")
        events.append(
            ClockEvent(ClockEventKind.EXTEND, events[-1].at, amount=extend, approver=approver)
        )
    elif approver:
        raise UserError("--approver is only meaningful with --extend N")
    result = compute_due(
        obligation.deadline, events, calendar=current_calendar(settings), tz=tz, explain=True
    )
    data = {
        "obligation": obligation.code,
        "title": obligation.title.zh,
        **deadline_json(result, language),
    }

    def human() -> None:
        title = obligation.title.zh if language == "zh" else obligation.title.en
        console.print(f"[bold]{obligation.code}[/] {title}")
        print_deadline(result, language, tz)

    emit(data, as_json=as_json, human=human)
