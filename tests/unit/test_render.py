"""Rendering a message per channel: pure functions, fixed instants, no I/O."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from notifier.base import DigestItem, Message
from notifier.render import (
    TELEGRAM_LIMIT,
    due_label,
    item_status,
    render_email,
    render_markdown,
    render_plain,
    render_telegram,
    split_lines,
)

TZ = ZoneInfo("Asia/Shanghai")


def item(**changes: object) -> DigestItem:
    values: dict[str, object] = {
        "task_id": 7,
        "title": "依申请公开答复：外贸统计",
        "section": "外贸科",
        "obligation": "request-reply",
        "due_at": dt.datetime(2026, 12, 18, 23, 59, 59, tzinfo=TZ),
        "due_date": dt.date(2026, 12, 18),
        "state": "due_soon",
        "days": 3,
        "link": "https://gongkai.example.gov.cn/tasks/7",
    }
    values.update(changes)
    return DigestItem(**values)  # type: ignore[arg-type]


def message(*items: DigestItem, **changes: object) -> Message:
    values: dict[str, object] = {
        "recipient": "丁示例",
        "title": "政务公开事项提醒 2026-12-15（周二）",
        "items": items,
        "link": "https://gongkai.example.gov.cn",
    }
    values.update(changes)
    return Message(**values)  # type: ignore[arg-type]


class _Tags(HTMLParser):
    """Collects the tags of a Telegram HTML part and whether they nest properly."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.balanced = True
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def tags_of(part: str) -> _Tags:
    parser = _Tags()
    parser.feed(part)
    parser.close()
    return parser


@pytest.mark.parametrize(
    ("state", "days", "hourly", "lang", "expected"),
    [
        ("due_soon", 3, False, "zh", "还剩 3 个工作日"),
        ("due_today", 0, False, "zh", "今日截止"),
        ("overdue", 2, False, "zh", "已逾期 2 个工作日"),
        ("escalation", 5, False, "zh", "已逾期 5 个工作日"),
        ("due_soon", 4, True, "zh", "还剩 4 小时"),
        ("overdue", 1, True, "zh", "已逾期 1 小时"),
        ("due_soon", 3, False, "en", "3 working days left"),
        ("due_today", 0, False, "en", "due today"),
        ("overdue", 2, False, "en", "2 working days overdue"),
        ("overdue", 6, True, "en", "6 hours overdue"),
    ],
)
def test_item_status_says_days_left_or_overdue(
    state: str, days: int, hourly: bool, lang: str, expected: str
) -> None:
    assert item_status(item(state=state, days=days, hourly=hourly), lang) == expected


def test_due_label_shows_the_day_and_marks_provisional_years() -> None:
    assert due_label(item()) == "2026-12-18（周五） 24:00"
    assert due_label(item(provisional=True)).endswith("（暂定）")
    assert due_label(item(provisional=True), "en").endswith("(provisional)")


def test_hour_level_duties_show_the_clock_time() -> None:
    due = dt.datetime(2026, 12, 15, 17, 30, tzinfo=TZ)
    assert due_label(item(hourly=True, due_at=due)) == "2026-12-15 17:30"


def test_plain_groups_escalations_first_then_overdue_today_soon() -> None:
    text = render_plain(
        message(
            item(task_id=1, state="due_soon", days=4),
            item(task_id=2, state="overdue", days=1),
            item(task_id=3, state="due_today", days=0),
            item(task_id=4, state="escalation", days=6),
        )
    )
    order = [text.index(h) for h in ("【升级督办】", "【已逾期】", "【今日截止】", "【即将到期】")]
    assert order == sorted(order)
    assert text.splitlines()[0] == "政务公开事项提醒 2026-12-15（周二）"
    assert text.rstrip().endswith("https://gongkai.example.gov.cn")


def test_plain_english() -> None:
    text = render_plain(
        message(item(state="overdue", days=2), lang="en", title="Disclosure duties")
    )
    assert "[Overdue]" in text
    assert "2 working days overdue" in text


def test_a_notice_without_tasks_is_just_the_notice() -> None:
    text = render_plain(message(notice="无法向 王外贸 的 telegram 地址发送提醒", link=None))
    assert text == "政务公开事项提醒 2026-12-15（周二）\n无法向 王外贸 的 telegram 地址发送提醒"


def test_telegram_escapes_names_and_links() -> None:
    tricky = item(
        title="《关于<调整>收费标准 & 公示》", section="A&B科", link='https://x.cn/?a=1&b="2"'
    )
    [part] = render_telegram(message(tricky, title="提醒 <今天>"))
    assert "&lt;调整&gt;" in part
    assert "A&amp;B科" in part
    assert 'href="https://x.cn/?a=1&amp;b=&quot;2&quot;"' in part
    assert "<b>提醒 &lt;今天&gt;</b>" in part
    parsed = tags_of(part)
    assert parsed.balanced
    assert parsed.tags <= {"b", "a"}


def test_telegram_splits_long_digests_between_lines() -> None:
    many = tuple(
        item(task_id=i, title=f"第 {i} 项主动公开事项：" + "关于做好政务公开工作的通知" * 3)
        for i in range(200)
    )
    parts = render_telegram(message(*many))
    assert len(parts) > 1
    assert all(len(part) <= TELEGRAM_LIMIT for part in parts)
    for part in parts:  # every part is valid HTML on its own: no tag is cut in two
        assert tags_of(part).balanced
    joined = "\n".join(parts)
    assert all(f"第 {i} 项" in joined for i in range(200))


def test_split_lines_cuts_an_overlong_line_hard() -> None:
    parts = split_lines(["a" * 25, "b"], 10)
    assert parts == ["a" * 10, "a" * 10, "a" * 5 + "\nb"]


def test_markdown_for_robots_links_titles() -> None:
    text = render_markdown(message(item()))
    assert text.startswith("### 政务公开事项提醒")
    assert "**即将到期**" in text
    assert "[依申请公开答复：外贸统计](https://gongkai.example.gov.cn/tasks/7)" in text
    assert text.endswith("[打开看板](https://gongkai.example.gov.cn)")


def test_email_has_subject_text_and_html() -> None:
    subject, text, html = render_email(message(item(title="A<B")))
    assert subject == "政务公开事项提醒 2026-12-15（周二）"
    assert "A<B" in text
    assert "A&lt;B" in html
    assert html.startswith("<html><body>")
    assert "<br>" in html
