"""Explanations a clerk can check line by line, in Chinese and English."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from obligations.clocks import ClockEvent, ClockEventKind, Deadline, Step, compute_due, start
from obligations.explain import day_label, render_step, render_steps
from obligations.rules import DeadlineRule, ExtensionPolicy, RegimeOverride, Unit
from obligations.workdays import WorkdayCalendar, default_calendar

TZ = ZoneInfo("Asia/Shanghai")
D = dt.date
K = ClockEventKind

POLICY_INTERPRETATION = DeadlineRule(unit=Unit.WORKING_DAY, amount=3)
REQUEST_REPLY = DeadlineRule(
    unit=Unit.WORKING_DAY,
    amount=20,
    pausable=True,
    extension=ExtensionPolicy(max_total=20),
    regimes=(
        RegimeOverride(
            before=D(2019, 5, 15),
            amount=15,
            extension=ExtensionPolicy(max_total=15),
            basis="2008年条例第二十四条",
        ),
    ),
)
PROVISIONAL_NOTE_ZH = (
    "注意：2027 年放假安排的国务院通知尚未载入，本截止日为暂定，通知发布后将重新计算"
)


def at(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, tzinfo=TZ)


@pytest.fixture(scope="module")
def cal() -> WorkdayCalendar:
    return default_calendar()


def explained(rule: DeadlineRule, events: list[ClockEvent], calendar: WorkdayCalendar) -> Deadline:
    return compute_due(rule, events, calendar=calendar, tz=TZ, explain=True)


@pytest.fixture(scope="module")
def worked_example(cal: WorkdayCalendar) -> Deadline:
    return explained(POLICY_INTERPRETATION, [start(at(2024, 9, 27, 15))], cal)


def test_worked_example_zh(worked_example: Deadline) -> None:
    # DOMAIN.md: 09-28 Sat rest, 09-29 Sun make-up = day 1, 09-30 = day 2, 10-01..07 National
    # Day, 10-08 = day 3. (The module docstring of explain.py spaces "至 " and "）24:00"
    # slightly differently from the real output asserted here.)
    assert worked_example.explain() == [
        "起算日 2024-09-27（周五），当日不计入；期限 3个工作日",
        "2024-09-28（周六） 休息日，不计",
        "2024-09-29（周日） 调休上班（国庆节），第 1 个工作日",
        "2024-09-30（周一） 第 2 个工作日",
        "2024-10-01（周二）至2024-10-07（周一） 国庆节放假，不计",
        "2024-10-08（周二） 第 3 个工作日",
        "截止：2024-10-08（周二） 24:00 前",
    ]
    assert worked_example.explain("zh") == worked_example.explain()


def test_worked_example_en(worked_example: Deadline) -> None:
    lines = worked_example.explain("en")
    assert lines == [
        "Start day 2024-09-27 (Fri) is not counted; period 3 working days",
        "2024-09-28 (Sat) rest day, not counted",
        "2024-09-29 (Sun) make-up working day (National Day), working day 1",
        "2024-09-30 (Mon) working day 2",
        "2024-10-01 (Tue) to 2024-10-07 (Mon) National Day holiday, not counted",
        "2024-10-08 (Tue) working day 3",
        "Due: 2024-10-08 (Tue), by 24:00",
    ]
    assert any("make-up working day" in line for line in lines)


def test_runs_of_working_days_are_grouped(cal: WorkdayCalendar) -> None:
    lines = explained(POLICY_INTERPRETATION, [start(at(2024, 10, 8))], cal).explain()
    assert lines[1:] == [
        "2024-10-09（周三）至2024-10-11（周五） 第 1–3 个工作日",
        "截止：2024-10-11（周五） 24:00 前",
    ]


def test_a_makeup_day_gets_its_own_line(cal: WorkdayCalendar) -> None:
    # Fri 02-27, Sat 02-28 (make-up for 春节), Mon 03-02: the make-up day is not merged into
    # the run of ordinary working days around it.
    rule = DeadlineRule(unit=Unit.WORKING_DAY, amount=4)
    assert explained(rule, [start(at(2026, 2, 25))], cal).explain()[1:] == [
        "2026-02-26（周四）至2026-02-27（周五） 第 1–2 个工作日",
        "2026-02-28（周六） 调休上班（春节），第 3 个工作日",
        "2026-03-01（周日） 休息日，不计",
        "2026-03-02（周一） 第 4 个工作日",
        "截止：2026-03-02（周一） 24:00 前",
    ]


def test_provisional_note_for_a_2027_deadline(cal: WorkdayCalendar) -> None:
    deadline = explained(REQUEST_REPLY, [start(at(2026, 12, 15))], cal)
    lines = deadline.explain()
    assert deadline.provisional is True
    assert lines[-2] == "截止：2027-01-13（周三） 24:00 前"
    assert lines[-1] == PROVISIONAL_NOTE_ZH
    assert "2027-01-01（周五） 元旦放假，不计" in lines  # the estimated 元旦
    english = deadline.explain("en")
    assert english[-1] == (
        "Note: the State Council holiday notice for 2027 is not loaded; "
        "this due date is provisional and will be recomputed"
    )


def test_no_provisional_note_for_an_official_deadline(worked_example: Deadline) -> None:
    assert not any("暂定" in line for line in worked_example.explain())
    assert not any("provisional" in line for line in worked_example.explain("en"))


@pytest.mark.parametrize("roll_forward", [True, False])
def test_provisional_note_agrees_with_the_deadline(
    cal: WorkdayCalendar, roll_forward: bool
) -> None:
    # 2026 annual report, due 2027-01-31 (a Sunday). With roll_forward false the calendar is
    # not consulted (Deadline.provisional is False) — yet today the explanation still says
    # the due date is provisional. See the report.
    rule = DeadlineRule(unit=Unit.FIXED_DATE, month=1, day=31, years=1, roll_forward=roll_forward)
    deadline = explained(rule, [start(at(2026, 12, 31))], cal)
    assert deadline.provisional is roll_forward
    has_note = any("暂定" in line for line in deadline.explain())
    assert has_note is deadline.provisional


def test_roll_forward_line(cal: WorkdayCalendar) -> None:
    rule = DeadlineRule(unit=Unit.FIXED_DATE, month=1, day=31, years=1)
    lines = explained(rule, [start(at(2024, 12, 31))], cal).explain()
    assert lines == [
        "所属期末 2024-12-31（周二）；期限 次年1月31日前",
        "2024-12-31（周二） 起 次年1月31日前",
        "期限末日 2025-01-31（周五） 为休息日，顺延至 2025-02-05（周三）（民法典第二百零三条）",
        "截止：2025-02-05（周三） 24:00 前",
    ]
    english = explained(rule, [start(at(2024, 12, 31))], cal).explain("en")
    assert "(Civil Code Art.203)" in english[2]


def test_calendar_day_explanation(cal: WorkdayCalendar) -> None:
    lines = explained(DeadlineRule(unit=Unit.DAY, amount=20), [start(at(2024, 9, 11))], cal)
    assert lines.explain() == [
        "起算日 2024-09-11（周三），当日不计入；期限 20日",
        "2024-09-12（周四）至2024-10-01（周二） 第 1–20 日",
        "期限末日 2024-10-01（周二） 为休息日，顺延至 2024-10-08（周二）（民法典第二百零三条）",
        "截止：2024-10-08（周二） 24:00 前",
    ]


def test_regime_pause_and_extension_lines(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2019, 5, 14)),
        ClockEvent(K.PAUSE, at(2019, 5, 16)),
        ClockEvent(K.RESUME, at(2019, 5, 20)),
        ClockEvent(K.EXTEND, at(2019, 5, 28), amount=5, approver="李局长"),
    ]
    lines = explained(REQUEST_REPLY, events, cal).explain()
    assert lines[0] == "起算日在 2019-05-15 之前，适用 2008年条例第二十四条：15个工作日"
    assert lines[1] == "起算日 2019-05-14（周二），当日不计入；期限 15个工作日"
    assert lines[2] == "经 李局长 批准延期 5个工作日"
    assert "2019-05-17（周五）至2019-05-20（周一） 中止计时，不计" in lines
    english = explained(REQUEST_REPLY, events, cal).explain("en")
    assert english[0] == "Started before 2019-05-15: 2008年条例第二十四条 applies, 15 working days"
    assert "Extended by 5 working days, approved by 李局长" in english
    assert "2019-05-17 (Fri) to 2019-05-20 (Mon) clock paused, not counted" in english


def test_restart_line(cal: WorkdayCalendar) -> None:
    events = [start(at(2024, 9, 27)), ClockEvent(K.RESTART, at(2024, 10, 8))]
    lines = explained(POLICY_INTERPRETATION, events, cal).explain()
    assert lines == [
        "起算日 2024-09-27（周五），当日不计入；期限 3个工作日",
        "2024-10-08（周二） 收到补正后的申请，重新计时（此前计时作废），当日不计入",
        "2024-10-09（周三）至2024-10-11（周五） 第 1–3 个工作日",
        "截止：2024-10-11（周五） 24:00 前",
    ]


def test_open_pause_line(cal: WorkdayCalendar) -> None:
    events = [start(at(2024, 9, 2)), ClockEvent(K.PAUSE, at(2024, 9, 10))]
    deadline = explained(REQUEST_REPLY, events, cal)
    assert deadline.explain()[-1] == "2024-09-10（周二） 起中止计时，恢复计时后才能确定截止日"
    assert deadline.explain("en")[-1] == (
        "Paused since 2024-09-10 (Tue); the due date is set once the clock resumes"
    )


def test_hour_rule_explanation(cal: WorkdayCalendar) -> None:
    rule = DeadlineRule(unit=Unit.HOUR, amount=48)
    deadline = explained(rule, [start(at(2024, 9, 27, 22))], cal)
    assert deadline.explain()[:2] == [
        "起算：2024-09-27（周五）；期限 48小时（连续计算）",
        "2024-09-27 22:00 起 48 小时 → 2024-09-29 22:00",
    ]
    assert not any("暂定" in line for line in deadline.explain())
    assert deadline.explain("en")[1] == "2024-09-27 22:00 + 48 hours → 2024-09-29 22:00"


def test_paused_hour_rule_explanation_states_the_real_due_moment(cal: WorkdayCalendar) -> None:
    # 48 h from Fri 22:00 with a 5 h pause: due Mon 2024-09-30 03:00. Today the explanation
    # stops at "→ 2024-09-29 22:00" plus a pause line and never states 03:00 (see the report).
    rule = DeadlineRule(unit=Unit.HOUR, amount=48, pausable=True)
    events = [
        start(at(2024, 9, 27, 22)),
        ClockEvent(K.PAUSE, at(2024, 9, 28, 8)),
        ClockEvent(K.RESUME, at(2024, 9, 28, 13)),
    ]
    deadline = explained(rule, events, cal)
    assert deadline.due_at == dt.datetime(2024, 9, 29, 19, tzinfo=dt.UTC)
    assert "2024-09-28 08:00 至 2024-09-28 13:00 中止计时，顺延" in deadline.explain()
    assert "2024-09-30 03:00" in deadline.explain()[-1]


def test_no_steps_without_explain(cal: WorkdayCalendar) -> None:
    deadline = compute_due(POLICY_INTERPRETATION, [start(at(2024, 9, 27))], calendar=cal, tz=TZ)
    assert deadline.steps == ()
    assert deadline.explain() == []


def test_unknown_language_and_step() -> None:
    with pytest.raises(ValueError, match="'zh' or 'en'"):
        render_steps([Step("due", {"date": D(2024, 10, 8)})], lang="fr")
    with pytest.raises(ValueError, match="unknown explanation step"):
        render_step(Step("bogus"))


@pytest.mark.parametrize(
    ("day", "lang", "label"),
    [
        (D(2024, 9, 29), "zh", "2024-09-29（周日）"),
        (D(2024, 9, 29), "en", "2024-09-29 (Sun)"),
        (D(2026, 2, 14), "zh", "2026-02-14（周六）"),
        (D(2024, 10, 7), "en", "2024-10-07 (Mon)"),
    ],
)
def test_day_label(day: dt.date, lang: str, label: str) -> None:
    assert day_label(day, lang) == label
