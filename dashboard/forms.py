"""Reading form fields: each bad value is refused with a message naming its field.

A handler collects :class:`FieldErrors` before touching the ledger; when there are any, it
re-renders the form with the messages beside their fields and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path

from db.tasks import check_evidence
from obligations.errors import ObligationsError

#: Largest row id: primary keys are 32-bit integers on PostgreSQL, and a larger number in a
#: URL or a form must be "not found", not a database error.
MAX_ID = 2**31 - 1

#: A row id in a URL path.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


class FieldErrors(Exception):
    """Some fields of the form are wrong; ``errors`` maps each field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {value}" for key, value in self.errors.items()))


class Form:
    """Typed access to submitted fields that remembers every problem found."""

    def __init__(self, data: Mapping[str, Any], lang: str) -> None:
        self.data = {key: value for key, value in data.items() if isinstance(value, str)}
        self.lang = lang
        self.errors: dict[str, str] = {}

    def _msg(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh

    def error(self, name: str, zh: str, en: str) -> None:
        self.errors.setdefault(name, self._msg(zh, en))

    def text(self, name: str, *, required: bool = False, max_length: int = 500) -> str:
        value = self.data.get(name, "").strip()
        if required and not value:
            self.error(name, "必填", "required")
        if len(value) > max_length:
            self.error(name, f"最多 {max_length} 个字符", f"at most {max_length} characters")
            return value[:max_length]
        return value

    def optional_text(self, name: str, *, max_length: int = 500) -> str | None:
        return self.text(name, max_length=max_length) or None

    def integer(
        self, name: str, *, minimum: int, maximum: int, required: bool = True
    ) -> int | None:
        raw = self.data.get(name, "").strip()
        if not raw:
            if required:
                self.error(name, "必填", "required")
            return None
        try:
            value = int(raw)
        except ValueError:
            self.error(name, f"{raw!r} 不是整数", f"{raw!r} is not a whole number")
            return None
        if not minimum <= value <= maximum:
            self.error(
                name,
                f"须在 {minimum} 到 {maximum} 之间",
                f"must be between {minimum} and {maximum}",
            )
            return None
        return value

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        raw = self.data.get(name, "").strip()
        if not raw:
            if required:
                self.error(name, "必填", "required")
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.error(
                name, f"{raw!r} 不是日期（YYYY-MM-DD）", f"{raw!r} is not a date (YYYY-MM-DD)"
            )
            return None

    def moment(self, name: str, *, tz: dt.tzinfo, required: bool = False) -> dt.datetime | None:
        """A date or a date and time (HTML ``datetime-local``), read in the agency's zone."""
        raw = self.data.get(name, "").strip()
        if not raw:
            if required:
                self.error(name, "必填", "required")
            return None
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            self.error(
                name,
                f"{raw!r} 不是日期或时间（YYYY-MM-DD 或 YYYY-MM-DDTHH:MM）",
                f"{raw!r} is not a date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
            )
            return None
        if value.year < 2004 or value.year > 2040:
            self.error(name, "年份须在 2004–2040 之间", "the year must be within 2004–2040")
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)

    def url(self, name: str, *, required: bool = True) -> str | None:
        raw = self.data.get(name, "").strip()
        if not raw:
            if required:
                self.error(
                    name,
                    "请填写佐证链接（http/https 地址）",
                    "give the evidence link (an http/https address)",
                )
            return None
        if len(raw) > 2000:
            self.error(
                name,
                "链接过长（最多 2000 个字符）",
                "the link is too long (at most 2000 characters)",
            )
            return None
        try:
            return check_evidence(raw)
        except ObligationsError:
            self.error(
                name,
                "不是 http/https 链接，例如 https://www.example.gov.cn/zwgk/123.html",
                "not an http(s) link, e.g. https://www.example.gov.cn/zwgk/123.html",
            )
            return None

    def choice(
        self, name: str, choices: Mapping[str, Any] | tuple[str, ...], *, required: bool = True
    ) -> str | None:
        raw = self.data.get(name, "").strip()
        if not raw:
            if required:
                self.error(name, "请选择", "choose one")
            return None
        if raw not in choices:
            self.error(name, f"{raw!r} 不是可选值", f"{raw!r} is not one of the choices")
            return None
        return raw

    def raise_if_errors(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)
