"""Render a deadline's steps as lines a clerk can check, in Chinese (default) or English.

Example (a policy document published Fri 2024-09-27, interpretation within 3 working days)::

    起算日 2024-09-27（周五），当日不计入；期限 3个工作日
    2024-09-28（周六） 休息日，不计
    2024-09-29（周日） 调休上班（国庆节），第 1 个工作日
    2024-09-30（周一） 第 2 个工作日
    2024-10-01（周二）至2024-10-07（周一） 国庆节放假，不计
    2024-10-08（周二） 第 3 个工作日
    截止：2024-10-08（周二） 24:00 前
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from obligations.clocks import Step
from obligations.rules import DeadlineRule, Unit
from obligations.workdays import HOLIDAY_NAMES_EN

WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def day_label(day: dt.date, lang: str = "zh") -> str:
    weekday = WEEKDAYS[lang][day.weekday()]
    return f"{day.isoformat()}（{weekday}）" if lang == "zh" else f"{day.isoformat()} ({weekday})"


def _span(start: dt.date, end: dt.date, lang: str) -> str:
    if start == end:
        return day_label(start, lang)
    joiner = "至" if lang == "zh" else " to "
    return f"{day_label(start, lang)}{joiner}{day_label(end, lang)}"


def _holiday(name: str | None, lang: str) -> str:
    if not name:
        return ""
    return name if lang == "zh" else HOLIDAY_NAMES_EN.get(name, name)


def _ordinal(first: int, last: int, lang: str, unit: Unit) -> str:
    noun = "个工作日" if unit is Unit.WORKING_DAY else "日"
    noun_en = "working day" if unit is Unit.WORKING_DAY else "day"
    if lang == "zh":
        return f"第 {first} {noun}" if first == last else f"第 {first}–{last} {noun}"
    return f"{noun_en} {first}" if first == last else f"{noun_en}s {first}–{last}"


def _rule(rule: DeadlineRule, lang: str) -> str:
    return rule.describe(lang)


def _render_run(p: dict[str, Any], lang: str) -> str:
    span = _span(p["from"], p["to"], lang)
    category = p["category"]
    holiday = _holiday(p["holiday"], lang)
    counted = _ordinal(p["first"], p["last"], lang, p["unit"]) if p["counted"] else ""
    zh = lang == "zh"
    if category == "paused":
        return f"{span} 中止计时，不计" if zh else f"{span} clock paused, not counted"
    if category == "makeup":
        return (
            f"{span} 调休上班（{holiday}），{counted}"
            if zh
            else f"{span} make-up working day ({holiday}), {counted}"
        )
    if category == "holiday":
        if p["counted"]:
            return (
                f"{span} {holiday}放假，{counted}" if zh else f"{span} {holiday} holiday, {counted}"
            )
        return f"{span} {holiday}放假，不计" if zh else f"{span} {holiday} holiday, not counted"
    if category == "rest":
        return f"{span} 休息日，不计" if zh else f"{span} rest day, not counted"
    return f"{span} {counted}"


def render_step(step: Step, lang: str = "zh") -> str:
    p = step.params
    zh = lang == "zh"
    code = step.code
    if code == "regime":
        before = p["before"].isoformat()
        return (
            f"起算日在 {before} 之前，适用 {p['basis']}：{_rule(p['rule'], lang)}"
            if zh
            else f"Started before {before}: {p['basis']} applies, {_rule(p['rule'], lang)}"
        )
    if code == "start":
        rule: DeadlineRule = p["rule"]
        label = day_label(p["date"], lang)
        if rule.unit is Unit.HOUR:
            return (
                f"起算：{label}；期限 {_rule(rule, lang)}（连续计算）"
                if zh
                else f"Start: {label}; {_rule(rule, lang)} (round the clock)"
            )
        if rule.unit is Unit.FIXED_DATE:
            return (
                f"所属期末 {label}；期限 {_rule(rule, lang)}"
                if zh
                else f"Period ends {label}; due {_rule(rule, lang)}"
            )
        return (
            f"起算日 {label}，当日不计入；期限 {_rule(rule, lang)}"
            if zh
            else f"Start day {label} is not counted; period {_rule(rule, lang)}"
        )
    if code == "restart":
        label = day_label(p["date"], lang)
        return (
            f"{label} 收到补正后的申请，重新计时（此前计时作废），当日不计入"
            if zh
            else f"{label} corrected application received: the clock restarts (earlier time discarded); this day is not counted"
        )
    if code == "extend":
        unit = p["unit"].label(lang)
        return (
            f"经 {p['approver']} 批准延期 {p['amount']}{unit}"
            if zh
            else f"Extended by {p['amount']}{unit}, approved by {p['approver']}"
        )
    if code == "paused":
        label = day_label(p["date"], lang)
        return (
            f"{label} 起中止计时，恢复计时后才能确定截止日"
            if zh
            else f"Paused since {label}; the due date is set once the clock resumes"
        )
    if code == "run":
        return _render_run(p, lang)
    if code == "hours":
        start = p["from"].strftime("%Y-%m-%d %H:%M")
        end = p["to"].strftime("%Y-%m-%d %H:%M")
        return (
            f"{start} 起 {p['hours']} 小时 → {end}"
            if zh
            else f"{start} + {p['hours']} hours → {end}"
        )
    if code == "pause_hours":
        start = p["from"].strftime("%Y-%m-%d %H:%M")
        end = p["to"].strftime("%Y-%m-%d %H:%M")
        return f"{start} 至 {end} 中止计时，顺延" if zh else f"{start} to {end} paused, added on"
    if code == "calendar_target":
        extra = p["extra"]
        text = f"{day_label(p['from'], lang)} 起 {_rule(p['rule'], lang)}"
        if not zh:
            text = f"From {day_label(p['from'], lang)}: {_rule(p['rule'], lang)}"
        if extra:
            text += f"，另延期 {extra}" if zh else f", extended by {extra}"
        return text
    if code == "pause_days":
        span = _span(p["from"], p["to"], lang)
        return (
            f"{span} 中止计时 {p['days']} 日，顺延"
            if zh
            else f"{span} paused {p['days']} days, added on"
        )
    if code == "roll_forward":
        raw = day_label(p["from"], lang)
        return (
            f"期限末日 {raw} 为休息日，顺延至 {day_label(p['to'], lang)}（民法典第二百零三条）"
            if zh
            else f"The last day {raw} is a rest day: moved to {day_label(p['to'], lang)} (Civil Code Art.203)"
        )
    if code == "due_at":
        moment = p["at"].strftime("%Y-%m-%d %H:%M")
        return f"截止：{moment} 前" if zh else f"Due: {moment}"
    if code == "due":
        label = day_label(p["date"], lang)
        return f"截止：{label} 24:00 前" if zh else f"Due: {label}, by 24:00"
    if code == "provisional":
        years = (
            "、".join(str(y) for y in p["years"]) if zh else ", ".join(str(y) for y in p["years"])
        )
        return (
            f"注意：{years} 年放假安排的国务院通知尚未载入，本截止日为暂定，通知发布后将重新计算"
            if zh
            else f"Note: the State Council holiday notice for {years} is not loaded; "
            "this due date is provisional and will be recomputed"
        )
    raise ValueError(f"unknown explanation step {code!r}")


def render_steps(steps: Iterable[Step], lang: str = "zh") -> list[str]:
    if lang not in WEEKDAYS:
        raise ValueError(f"language must be 'zh' or 'en', not {lang!r}")
    return [render_step(step, lang) for step in steps]
