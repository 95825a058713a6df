"""Interface language: Chinese by default, English on request (a cookie set by ``/lang``).

Labels of the domain's own vocabulary (event types, day kinds, timeliness) come from
``obligations``; the glossary words of the dashboard itself are here, so one page never
says 科室 and another 部门. Templates call ``tr("中文", "English")`` for one-off text.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("zh", "en")
LANG_COOKIE: Final = "gongkai_lang"

ROLE_LABELS: Final = {
    "zh": {
        "office": "办公室",
        "chief": "科长",
        "staff": "科员",
        "leader": "分管领导",
        "gov_office": "政务公开办",
    },
    "en": {
        "office": "office",
        "chief": "section chief",
        "staff": "staff",
        "leader": "leader",
        "gov_office": "government office",
    },
}

STATUS_LABELS: Final = {
    "zh": {
        "open": "办理中",
        "paused": "中止计时",
        "done": "已完成",
        "cancelled": "已撤销",
        "overdue": "逾期",
    },
    "en": {
        "open": "open",
        "paused": "paused",
        "done": "done",
        "cancelled": "cancelled",
        "overdue": "overdue",
    },
}

CLOCK_LABELS: Final = {
    "zh": {
        "start": "起算",
        "pause": "中止计时",
        "resume": "恢复计时",
        "restart": "重新计时（补正）",
        "extend": "延期",
    },
    "en": {
        "start": "start",
        "pause": "pause",
        "resume": "resume",
        "restart": "restart (corrected request)",
        "extend": "extension",
    },
}

ACTION_LABELS: Final = {
    "zh": {
        "create": "创建",
        "record": "登记",
        "complete": "完成",
        "extend": "延期",
        "pause": "中止计时",
        "resume": "恢复计时",
        "restart": "重新计时",
        "cancel": "撤销",
        "reopen": "重新打开",
        "recalculate": "按新通知重算",
        "claim": "认领",
        "remind": "提醒",
    },
    "en": {
        "create": "created",
        "record": "recorded",
        "complete": "completed",
        "extend": "extended",
        "pause": "paused",
        "resume": "resumed",
        "restart": "restarted",
        "cancel": "cancelled",
        "reopen": "reopened",
        "recalculate": "recalculated (notice)",
        "claim": "claimed",
        "remind": "reminded",
    },
}

EXTENSION_LABELS: Final = {
    "zh": {"pending": "待审批", "approved": "已批准", "rejected": "已驳回"},
    "en": {"pending": "pending", "approved": "approved", "rejected": "rejected"},
}


def normalise(lang: str | None, default: str = "zh") -> str:
    return lang if lang in LANGUAGES else default


def label(table: dict[str, dict[str, str]], lang: str, key: str | None) -> str:
    """The label of ``key`` in ``lang``; unknown keys are shown as they are."""
    if key is None:
        return ""
    return table.get(lang, table["zh"]).get(key, key)
