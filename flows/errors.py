"""Exceptions of the orchestration layer; messages are meant for the user as they are."""

from __future__ import annotations

from obligations.errors import ObligationsError


class FlowError(ObligationsError):
    """The flow refused its input; nothing was changed."""


class PayloadError(FlowError):
    """An intake payload is malformed; nothing was recorded."""
