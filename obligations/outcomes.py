"""Outcome codes of 依申请公开 replies: the rows of the official table 三.

Layout of 国办公开办函〔2021〕30号 (used from the 2021 reports on); the 2019 trial layout
(国办公开办函〔2019〕60号) differs only in that （六）其他处理 is one row without sub-items,
so every ``other.*`` code maps to that single row there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    group: str
    zh: str
    en: str


_GROUPS = {
    "disclosed": ("（一）予以公开", "Disclosed"),
    "partial": ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", "Partly disclosed"),
    "refused": ("（三）不予公开", "Not disclosed"),
    "unavailable": ("（四）无法提供", "Cannot be provided"),
    "not_handled": ("（五）不予处理", "Not handled"),
    "other": ("（六）其他处理", "Other handling"),
}

OUTCOMES: tuple[Outcome, ...] = (
    Outcome("disclosed", "disclosed", "予以公开", "disclosed"),
    Outcome("partial", "partial", "部分公开", "partly disclosed"),
    Outcome("refused.state_secret", "refused", "1.属于国家秘密", "state secret"),
    Outcome(
        "refused.prohibited_by_law",
        "refused",
        "2.其他法律行政法规禁止公开",
        "prohibited by other laws",
    ),
    Outcome(
        "refused.three_safeties",
        "refused",
        "3.危及“三安全一稳定”",
        "endangers the three safeties and stability",
    ),
    Outcome(
        "refused.third_party", "refused", "4.保护第三方合法权益", "protects a third party's rights"
    ),
    Outcome(
        "refused.internal_affairs",
        "refused",
        "5.属于三类内部事务信息",
        "internal affairs information",
    ),
    Outcome("refused.process_info", "refused", "6.属于四类过程性信息", "process information"),
    Outcome("refused.enforcement_file", "refused", "7.属于行政执法案卷", "law-enforcement file"),
    Outcome(
        "refused.inquiry_matter", "refused", "8.属于行政查询事项", "administrative inquiry matter"
    ),
    Outcome(
        "unavailable.not_held",
        "unavailable",
        "1.本机关不掌握相关政府信息",
        "not held by this agency",
    ),
    Outcome(
        "unavailable.needs_creation",
        "unavailable",
        "2.没有现成信息需要另行制作",
        "would need to be created",
    ),
    Outcome(
        "unavailable.unclear_after_correction",
        "unavailable",
        "3.补正后申请内容仍不明确",
        "still unclear after correction",
    ),
    Outcome("not_handled.petition", "not_handled", "1.信访举报投诉类申请", "petition or complaint"),
    Outcome("not_handled.repeated", "not_handled", "2.重复申请", "repeated request"),
    Outcome(
        "not_handled.publication", "not_handled", "3.要求提供公开出版物", "asks for a publication"
    ),
    Outcome(
        "not_handled.mass_requests",
        "not_handled",
        "4.无正当理由大量反复申请",
        "mass requests without reason",
    ),
    Outcome(
        "not_handled.reconfirm",
        "not_handled",
        "5.要求行政机关确认或重新出具已获取信息",
        "asks to re-confirm information held",
    ),
    Outcome(
        "other.no_correction",
        "other",
        "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        "no correction in time",
    ),
    Outcome(
        "other.fee_unpaid",
        "other",
        "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "fee not paid in time",
    ),
    Outcome("other.other", "other", "3.其他", "other"),
)

BY_CODE = {outcome.code: outcome for outcome in OUTCOMES}


def group_label(group: str, lang: str = "zh") -> str:
    zh, en = _GROUPS[group]
    return zh if lang == "zh" else en


def check_outcome(code: str) -> Outcome:
    """The outcome for ``code``; an unknown code raises with the list of valid ones."""
    from obligations.errors import ObligationsError

    try:
        return BY_CODE[code]
    except KeyError:
        known = ", ".join(BY_CODE)
        raise ObligationsError(f"unknown outcome code {code!r}; use one of: {known}") from None
