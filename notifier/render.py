"""Pure rendering of messages per channel: plain text, markdown, Telegram HTML, e-mail.

Nothing here sends or reads the clock. Telegram messages are HTML-escaped and split at
4,096 characters on line boundaries; robots get markdown; e-mail gets text and HTML.
"""

from __future__ import annotations

import html

from notifier.base import DigestItem, Message
from obligations.explain import day_label

TELEGRAM_LIMIT = 4096

_HEADINGS = {
    "zh": {
        "overdue": "已逾期",
        "escalation": "升级督办",
        "due_today": "今日截止",
        "due_soon": "即将到期",
    },
    "en": {
        "overdue": "Overdue",
        "escalation": "Escalated",
        "due_today": "Due today",
        "due_soon": "Due soon",
    },
}
_ORDER = ("escalation", "overdue", "due_today", "due_soon")


def item_status(item: DigestItem, lang: str = "zh") -> str:
    """ "还剩 N 个工作日" / "已逾期 N 个工作日" (hours for hour-level duties)."""
    unit_zh, unit_en = ("小时", "hours") if item.hourly else ("个工作日", "working days")
    if item.state in ("overdue", "escalation"):
        return f"已逾期 {item.days} {unit_zh}" if lang == "zh" else f"{item.days} {unit_en} overdue"
    if item.state == "due_today":
        return "今日截止" if lang == "zh" else "due today"
    return f"还剩 {item.days} {unit_zh}" if lang == "zh" else f"{item.days} {unit_en} left"


def due_label(item: DigestItem, lang: str = "zh") -> str:
    if item.hourly:
        return item.due_at.strftime("%Y-%m-%d %H:%M")
    label = f"{day_label(item.due_date, lang)} 24:00"
    if item.provisional:
        label += "（暂定）" if lang == "zh" else " (provisional)"
    return label


def grouped(items: tuple[DigestItem, ...]) -> list[tuple[str, list[DigestItem]]]:
    groups: list[tuple[str, list[DigestItem]]] = []
    for state in _ORDER:
        members = sorted(
            (i for i in items if i.state == state), key=lambda i: (i.due_at, i.task_id)
        )
        if members:
            groups.append((state, members))
    return groups


def render_plain(message: Message) -> str:
    lang = message.lang
    lines = [message.title]
    if message.notice:
        lines.append(message.notice)
    for state, members in grouped(message.items):
        lines.append("")
        lines.append(
            f"【{_HEADINGS[lang][state]}】" if lang == "zh" else f"[{_HEADINGS[lang][state]}]"
        )
        for item in members:
            deadline = "截止" if lang == "zh" else "due"
            lines.append(
                f"- {item.title}（{item.section}）{deadline} {due_label(item, lang)}，{item_status(item, lang)}"
            )
            if item.link:
                lines.append(f"  {item.link}")
    if message.link:
        lines.extend(["", message.link])
    return "\n".join(lines)


def render_markdown(message: Message) -> str:
    """Markdown for the WeCom / DingTalk / Feishu robots."""
    lang = message.lang
    lines = [f"### {message.title}"]
    if message.notice:
        lines.append(message.notice)
    for state, members in grouped(message.items):
        lines.append(f"**{_HEADINGS[lang][state]}**")
        for item in members:
            title = f"[{_link_text(item.title)}]({item.link})" if item.link else item.title
            lines.append(
                f"- {title}（{item.section}）{due_label(item, lang)}，{item_status(item, lang)}"
            )
    if message.link:
        lines.append(f"[{'打开看板' if lang == 'zh' else 'Open the dashboard'}]({message.link})")
    return "\n".join(lines)


def _link_text(text: str) -> str:
    """Link text for the robots' markdown: a "]" in a title would end the link early.

    The robots document no backslash escapes, so brackets become their full-width forms,
    which Chinese titles use anyway.
    """
    return text.replace("[", "［").replace("]", "］")


def render_telegram(message: Message, *, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """HTML parts, each at most ``limit`` characters, split between lines."""
    lang = message.lang
    lines = [f"<b>{html.escape(message.title)}</b>"]
    if message.notice:
        lines.append(html.escape(message.notice))
    for state, members in grouped(message.items):
        lines.append("")
        lines.append(f"<b>{html.escape(_HEADINGS[lang][state])}</b>")
        for item in members:
            title = html.escape(item.title)
            if item.link:
                title = f'<a href="{html.escape(item.link, quote=True)}">{title}</a>'
            lines.append(
                f"• {title}（{html.escape(item.section)}）{html.escape(due_label(item, lang))}，"
                f"{html.escape(item_status(item, lang))}"
            )
    if message.link:
        label = "打开看板" if lang == "zh" else "Open the dashboard"
        lines.append(f'<a href="{html.escape(message.link, quote=True)}">{label}</a>')
    return split_lines(lines, limit)


def split_lines(lines: list[str], limit: int) -> list[str]:
    """Join lines into parts of at most ``limit`` characters; a longer line is cut hard."""
    parts: list[str] = []
    current = ""
    for line in lines:
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def render_email(message: Message) -> tuple[str, str, str]:
    """(subject, plain text, HTML) for SMTP."""
    text = render_plain(message)
    body = "".join(
        f"<p>{part}</p>" for part in render_telegram(message, limit=10**9)[0].split("\n\n")
    )
    body = body.replace("\n", "<br>\n")
    return message.title, text, f"<html><body>{body}</body></html>"
