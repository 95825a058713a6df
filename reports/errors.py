"""Exceptions of the reports package; messages are meant for the user as they are."""

from __future__ import annotations


class ReportsError(Exception):
    """The report could not be compiled."""


class ScopeError(ReportsError):
    """The report's scope (agency, year, month) is not valid."""


class TableCheckError(ReportsError):
    """A check of an official table failed (e.g. table 三: 一 + 二 ≠ 总计 + 四 in a column)."""


class LedgerInconsistent(ReportsError):
    """The ledger holds records the report cannot count; each problem names its task."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = [f"台账数据不一致，无法编制报告 the ledger is inconsistent ({len(problems)}):"]
        super().__init__("\n".join([*lines, *problems]))


class LockError(ReportsError):
    """A year lock could not be made or read."""
