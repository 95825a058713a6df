"""Exceptions of the persistence layer; messages are meant for the user as they are."""

from __future__ import annotations

from obligations.errors import ObligationsError


class LedgerError(ObligationsError):
    """The ledger refused the operation."""


class NotFoundError(LedgerError):
    """The thing asked for does not exist (or is outside the caller's agency)."""


class TransitionError(LedgerError):
    """The task is not in a state that allows this operation."""


class ImportRowsError(LedgerError):
    """An import file has bad rows; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class AuditChainError(LedgerError):
    """The audit trail's hash chain is broken."""
