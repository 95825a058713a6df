"""Exceptions of the domain layer.

Every error a user can cause carries a one-line message naming what was wrong (the date,
the field, the file and line), so the CLI, the API and the bot can show it as it is.
"""

from __future__ import annotations


class ObligationsError(Exception):
    """A rule of the disclosure domain was broken."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class CalendarError(ObligationsError):
    """The working-day calendar cannot answer this question."""


class OutOfRangeError(CalendarError):
    """The date lies outside the years the calendar covers."""


class NoticeError(CalendarError):
    """A holiday notice file is invalid."""


class ClockError(ObligationsError):
    """The clock events of a deadline are inconsistent."""


class ExtensionCapError(ClockError):
    """The extension would exceed what the rule allows."""


class CatalogError(ObligationsError):
    """An obligation definition is invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
