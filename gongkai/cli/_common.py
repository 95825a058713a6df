"""Shared pieces of the command line: one-line errors, ``--json`` output, argument parsing."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperGroup

from obligations.errors import ObligationsError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(
    label: str, unit: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr, ``update(done, total)`` counting ``unit``; None (no bar)
    when disabled or when stderr is not a terminal (CI, pipes, ``--json``)."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


class UserError(Exception):
    """A problem the user can fix in how the command was called."""


#: Exceptions that carry a message meant for the user. Other layers add theirs here.
USER_ERRORS: tuple[type[Exception], ...] = (ObligationsError, UserError)


def show_error(message: str) -> None:
    """One line per problem on stderr, no traceback."""
    for line in message.splitlines() or [""]:
        err_console.print(f"[bold red]错误 Error:[/] {escape(line)}", markup=True, soft_wrap=True)


def register_user_errors(*types: type[Exception]) -> None:
    global USER_ERRORS
    USER_ERRORS = (*USER_ERRORS, *types)


class Group(TyperGroup):
    """Prints domain errors raised by any sub-command as lines and exits with status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            show_error(str(exc))
            raise typer.Exit(code=1) from None


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=Group,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def parse_date(value: str, *, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_datetime(value: str, *, name: str, tz: dt.tzinfo) -> dt.datetime:
    """A date or date-time; without an offset it is read in the agency's zone."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{name}: {value!r} is not a date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00])"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json", by_alias=True))
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def emit(data: Any, *, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON when asked, else run the human renderer."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2) + "\n")
    else:
        human()


JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output 机器可读输出")
LANG_OPTION = typer.Option(None, "--lang", help="zh (default) or en")
