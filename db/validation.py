"""Text checks at the ledger's edge: what every writer (CLI, API, bot, import) passes in.

PostgreSQL refuses NUL bytes in text and SQLite would store them silently; control
characters never belong in a title, a reason or a name. Refusing them here keeps both
databases equal and turns a would-be server error into a message naming the field.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from db.errors import LedgerError


def clean_text(value: str, *, field: str, max_length: int = 500) -> str:
    """``value`` stripped; refused when it holds control characters or is too long."""
    text = value.strip()
    for char in text:
        if char in "\n\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise LedgerError(f"{field}: control character U+{ord(char):04X} is not allowed")
    if len(text) > max_length:
        raise LedgerError(f"{field}: {len(text)} characters, at most {max_length}")
    return text


def clean_mapping(values: Mapping[str, str], *, field: str) -> dict[str, str]:
    return {
        clean_text(str(key), field=f"{field} name", max_length=64): clean_text(
            str(item), field=f"{field}.{key}", max_length=500
        )
        for key, item in values.items()
    }
