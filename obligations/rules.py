"""Deadline rules: how long a duty may take, in which unit, and how it may be stretched.

A rule is data (validated with pydantic, frozen). The clock in :mod:`obligations.clocks`
applies a rule to a list of clock events; this module only describes rules.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Unit(StrEnum):
    """The unit a deadline is counted in."""

    WORKING_DAY = "working_day"  # 工作日: start day not counted, State Council calendar
    DAY = "day"  # 日: calendar days, start day not counted, rest-day roll-forward (民法典 Art.203)
    MONTH = "month"  # 个月: same day of the target month, clamped (民法典 Art.202)
    HOUR = "hour"  # wall-clock hours, 24/7 (舆情)
    FIXED_DATE = "fixed_date"  # a date relative to the anchor, e.g. 31 January of the next year

    def label(self, lang: str = "zh") -> str:
        return _UNIT_LABELS[lang][self]


_UNIT_LABELS = {
    "zh": {
        Unit.WORKING_DAY: "个工作日",
        Unit.DAY: "日",
        Unit.MONTH: "个月",
        Unit.HOUR: "小时",
        Unit.FIXED_DATE: "日",
    },
    "en": {
        Unit.WORKING_DAY: " working days",
        Unit.DAY: " days",
        Unit.MONTH: " months",
        Unit.HOUR: " hours",
        Unit.FIXED_DATE: " days",
    },
}

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ExtensionPolicy(BaseModel):
    """How far a deadline may be extended (延期): in the rule's unit, approved by a named person."""

    model_config = _FROZEN

    max_total: int = Field(gt=0, description="Most units all extensions may add together")
    max_times: int = Field(default=1, gt=0, description="How many extensions may be granted")
    approver_role: str = Field(default="office", description="Who approves: office or leader")


class RegimeOverride(BaseModel):
    """A variant of the rule for clocks that started before ``before`` (e.g. the 2008 条例)."""

    model_config = _FROZEN

    before: dt.date
    amount: int | None = Field(default=None, ge=0)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    extension: ExtensionPolicy | None = None
    basis: str = Field(min_length=2, description="Legal basis of this variant")
    label: str | None = None


class DeadlineRule(BaseModel):
    """How the due moment follows from the clock's start.

    ``fixed_date`` rules name a ``day`` (and optionally a ``month``) counted from the anchor
    date shifted by ``years``/``months``: 31 January of the next year is
    ``{unit: fixed_date, month: 1, day: 31, years: 1}`` anchored at the period's last day.
    """

    model_config = _FROZEN

    unit: Unit
    amount: int = Field(default=0, ge=0, le=10_000)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    years: int = Field(default=0, ge=0, le=5)
    months: int = Field(default=0, ge=0, le=60)
    roll_forward: bool = True
    pausable: bool = False
    extension: ExtensionPolicy | None = None
    regimes: tuple[RegimeOverride, ...] = ()
    label: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> DeadlineRule:
        if self.unit is Unit.FIXED_DATE:
            if self.day is None:
                raise ValueError("a fixed_date rule needs 'day' (and usually 'month')")
        elif self.month is not None or self.day is not None:
            raise ValueError(f"'month'/'day' only apply to fixed_date rules, not {self.unit.value}")
        if self.unit is Unit.HOUR and not self.roll_forward:
            pass  # hour rules never consult the calendar; roll_forward is irrelevant
        befores = [regime.before for regime in self.regimes]
        if befores != sorted(befores):
            raise ValueError("regimes must be listed from the oldest 'before' date to the newest")
        return self

    def for_start(self, start: dt.date) -> tuple[DeadlineRule, RegimeOverride | None]:
        """The rule in force for a clock started on ``start`` and the regime that chose it."""
        if not self.regimes:
            return self, None
        for regime in self.regimes:
            if start < regime.before:
                update = {
                    key: value
                    for key, value in (
                        ("amount", regime.amount),
                        ("month", regime.month),
                        ("day", regime.day),
                        ("extension", regime.extension),
                    )
                    if value is not None
                }
                return self.model_copy(update={**update, "regimes": ()}), regime
        return self, None

    @property
    def uses_calendar(self) -> bool:
        """Whether the working-day calendar decides the due date (hour rules ignore it)."""
        return self.unit is Unit.WORKING_DAY or (self.unit is not Unit.HOUR and self.roll_forward)

    def describe(self, lang: str = "zh") -> str:
        """A short human description, e.g. ``20个工作日`` / ``20 working days``."""
        if self.unit is Unit.FIXED_DATE:
            month = f"{self.month}" if self.month else ("次月" if lang == "zh" else "next month")
            if lang == "zh":
                prefix = "次年" if self.years else ""
                return f"{prefix}{month}月{self.day}日前"
            prefix = "next year's " if self.years else ""
            return f"by {prefix}{month}/{self.day}"
        return f"{self.amount}{self.unit.label(lang)}"
