"""告知书 The notices a request's handling sends to the applicant, as Word drafts.

Two letters follow from the clock the ledger keeps for a disclosure request:

- **补正告知书** (《政府信息公开条例》第三十条): the request is unclear; the applicant is told
  once, within 7 working days of receipt, what to correct and by when. The reply period
  starts again when the corrected request arrives.
- **延期答复告知书** (第三十三条第二款): the reply period is extended (at most 20 working
  days, with the approval of the head of the disclosure office); the applicant is told the
  reason and the new date.

The facts come from the ledger (agency, receipt date, extension, new due date); what the
ledger does not keep — the applicant's name, the document number (文号), what to correct,
the reason — is given when the draft is made and is not stored. The layout follows the
common 公文 conventions (GB/T 9704-2012): title centred in a large bold face, 文号 under it,
the addressee, body text in 仿宋 三号 with a two-character first-line indent, the agency and
the date at the right. The office prints it, signs and seals it.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from enum import StrEnum

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Length, Pt
from docx.text.run import Run

from reports.errors import ReportsError

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
#: 三号 (16 pt) body, 二号 (22 pt) title.
BODY_SIZE = Pt(16)
TITLE_SIZE = Pt(22)
MAX_FIELD = 500


class LetterKind(StrEnum):
    CORRECTION = "correction"  # 补正告知书
    EXTENSION = "extension"  # 延期答复告知书

    def title(self) -> str:
        return {
            "correction": "政府信息公开申请补正告知书",
            "extension": "政府信息公开延期答复告知书",
        }[self.value]


class LetterError(ReportsError):
    """The letter cannot be drawn up as asked (the message names the field)."""


@dataclass(frozen=True)
class LetterFacts:
    """What the ledger knows about the request."""

    agency_name: str
    received_on: dt.date
    request_title: str
    #: The reply's due day after the extension (extension letters).
    due_on: dt.date | None = None
    #: Working days added by approved extensions (extension letters).
    extended_by: int = 0


@dataclass(frozen=True)
class LetterInput:
    """What the office adds when it makes the draft (not stored)."""

    applicant: str
    number: str = ""
    #: 补正: what is unclear and must be corrected.
    correction: str = ""
    #: 补正: working days the applicant has to correct.
    correction_days: int = 15
    #: 延期: why more time is needed.
    reason: str = ""


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _check(kind: LetterKind, facts: LetterFacts, given: LetterInput) -> None:
    def text(name: str, value: str, *, required: bool) -> None:
        if required and not value.strip():
            raise LetterError(f"{name}: 必填 required")
        if len(value) > MAX_FIELD:
            raise LetterError(f"{name}: 最多 {MAX_FIELD} 个字符 at most {MAX_FIELD} characters")
        if any(ord(char) < 32 and char not in "\n\t" for char in value):
            raise LetterError(f"{name}: 含有控制字符 contains control characters")

    text("applicant", given.applicant, required=True)
    text("number", given.number, required=False)
    if kind is LetterKind.CORRECTION:
        text("correction", given.correction, required=True)
        if not 1 <= given.correction_days <= 60:
            raise LetterError("correction_days: 1–60 个工作日 working days")
    else:
        text("reason", given.reason, required=True)
        if facts.extended_by <= 0 or facts.due_on is None:
            raise LetterError("kind: 该申请尚未批准延期 the reply has not been extended")


def letter_paragraphs(kind: LetterKind, facts: LetterFacts, given: LetterInput) -> list[str]:
    """The body of the letter, paragraph by paragraph (after the addressee line)."""
    _check(kind, facts, given)
    received = chinese_date(facts.received_on)
    request = facts.request_title.strip() or "政府信息公开"
    if kind is LetterKind.CORRECTION:
        return [
            f"本机关于{received}收到你（单位）提出的政府信息公开申请（{request}）。",
            f"经审查，你（单位）的申请内容不明确：{given.correction.strip()}",
            "根据《中华人民共和国政府信息公开条例》第三十条的规定，请你（单位）自收到本告知书之日起"
            f"{given.correction_days}个工作日内对申请内容作出补正，说明所需政府信息的名称、文号或者"
            "便于本机关查询的其他特征性描述。答复期限自本机关收到补正后的申请之日起计算。"
            "无正当理由逾期不补正的，视为放弃申请，本机关不再处理该政府信息公开申请。",
            "特此告知。",
        ]
    assert facts.due_on is not None
    return [
        f"本机关于{received}收到你（单位）提出的政府信息公开申请（{request}）。",
        f"因{given.reason.strip().rstrip('。')}，本机关不能在规定期限内作出答复。根据《中华人民共和国"
        f"政府信息公开条例》第三十三条第二款的规定，经政府信息公开工作机构负责人同意，答复期限延长"
        f"{facts.extended_by}个工作日，本机关将于{chinese_date(facts.due_on)}前作出答复。",
        "特此告知。",
    ]


def _font(run: Run, name: str, size: Length, *, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = size
    run.font.bold = bold
    properties = run._element.get_or_add_rPr()
    properties.get_or_add_rFonts().set(qn("w:eastAsia"), name)


def letter_docx(
    kind: LetterKind, facts: LetterFacts, given: LetterInput, *, issued_on: dt.date
) -> bytes:
    """The letter as a .docx draft; :class:`LetterError` names a missing or bad field."""
    body = letter_paragraphs(kind, facts, given)
    document = Document()
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(kind.title()), TITLE_FONT, TITLE_SIZE, bold=True)
    if given.number.strip():
        number = document.add_paragraph()
        number.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(number.add_run(given.number.strip()), BODY_FONT, BODY_SIZE)
    addressee = document.add_paragraph()
    _font(addressee.add_run(f"{given.applicant.strip()}："), BODY_FONT, BODY_SIZE)
    for text in body:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.first_line_indent = Pt(32)  # two characters of 三号
        paragraph.paragraph_format.line_spacing = Pt(28)
        _font(paragraph.add_run(text), BODY_FONT, BODY_SIZE)
    document.add_paragraph()
    for line in (facts.agency_name, "（印章）", chinese_date(issued_on)):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _font(paragraph.add_run(line), BODY_FONT, BODY_SIZE)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
