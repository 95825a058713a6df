"""Importing past records (历史台账) so that a year which began before gongkai still compiles.

An office keeps two Excel ledgers: the 依申请公开台账 (one row per disclosure request) and a
公开事项台账 (one row per duty: a monthly report, a policy interpretation, …). ``gongkai import
ledger FILE`` reads either as ``.xlsx`` (sheets named 依申请公开台账 and 公开事项台账; other
sheets are ignored) or as ``.csv`` (one table; its columns tell which). The templates are in
``gongkai/examples/`` and are written by ``scripts/make_ledger_template.py`` from
:data:`REQUEST_COLUMNS` and :data:`DUTY_COLUMNS`.

Reading
    The header row holds the Chinese labels or the English keys (both are recognised, with a
    few common variants, ignoring ``*`` and hints in brackets); title rows above it are
    skipped, and so is the template's second header row of English keys. Rows are numbered
    as a spreadsheet shows them. Columns named 序号 or starting with 备注 are ignored; any
    other unknown column is refused, so a misspelt header never silently drops data.
    Dates are date cells or text ``2026-03-02``, ``2026/3/2``, ``2026年3月2日``; hour duties
    (舆情) need a time (``2026-03-02 14:30``).

Requests (依申请公开台账)
    Each row becomes one ``request_received`` event whose ``external_id`` is the 申请编号
    (so importing again finds it) and its table-三 task (``request-reply``), through
    :func:`db.spawn.record_event` with a catalog narrowed to the duties the row documents.
    The clock starts on the receipt date of 条例第三十一条 (收到日期, or 确认日期 for
    ordinary letters, online, fax and e-mail); 补正后收到日期 restarts it (重新计时);
    中止计时开始/结束 pause it; 延期工作日数 with 延期批准人 extends it (capped by the rule;
    the extension's clock event is dated at the import, since ledgers rarely record that
    day). A row with 答复送达日期 is closed with :func:`db.tasks.complete` (service date = the
    moment that counts, outcome = the row of table 三), so its closing facts are those a live
    reply would get; a row without one stays an open task with its real due moment. The
    ``request-correction-notice`` task exists for an imported request only when the ledger
    records a 补正告知日期, and is closed on that day: a ledger without one says no 补正 was
    needed, and an open 补正告知 task per past request would only be overdue noise.

    **Evidence is optional for requests**: a reply letter rarely has a public link, so
    imported history may lack evidence and is stored with ``evidence_url`` None (the
    补正告知 task never has one: the row's 佐证链接 documents the reply).

Duties (公开事项台账)
    A row names an obligation and a section, and either a period (``2026-03``, ``2026-Q1``,
    ``2026``, ``2026-W09``) for recurring duties or an event date (with an optional 事件编号,
    else the event is keyed by type, date and title) for event duties. The task gets the due
    moment of the catalog's rule. If the ledger's 应完成日期 differs, the row is refused with
    both dates, unless 截止依据 says 以台账为准: then the task's rule snapshot is pinned to the
    ledger's date (a calendar-day rule ending on it, labelled with both dates), so its
    closing facts measure against what the office was held to. A done duty needs its 佐证链接.

Existing records
    Rows already in gongkai (same 申请编号; same obligation, section and period or event)
    count as "already present" and are not changed — except that an open task whose ledger
    row is closed is closed now, provided its stored due date agrees with the ledger's dates
    (else the row is refused: record the extension or pause in gongkai first).

All or nothing
    Every row is validated before the first write and every problem is collected as
    ``file:sheet:row N: column: message``; any problem raises
    :class:`~db.errors.ImportRowsError` and the caller's transaction (``session_scope``)
    writes nothing. Writes go through the ledger's own operations, so each is audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor, Domain
from db.errors import ImportRowsError, LedgerError
from db.models import Agency, Event, Section, Task, TaskStatus
from db.spawn import agency_by_code, insert_tasks, new_task_row, record_event, rule_snapshot
from db.tasks import check_evidence, complete, extend, pause, restart, resume
from obligations.catalog import Catalog, EventType, Feed, Obligation, ResponsibleMode
from obligations.clocks import ClockEvent, ClockEventKind, Deadline, compute_due
from obligations.errors import CalendarError, ClockError, ObligationsError
from obligations.events import (
    APPLICANT_TYPES,
    CONFIRMATION_CHANNELS,
    RECEIPT_CHANNELS,
    request_start,
    validate_attributes,
)
from obligations.outcomes import OUTCOMES, group_label
from obligations.periods import Period, Recurrence, parse_period, period_of
from obligations.rules import DeadlineRule, Unit

__all__ = [
    "CHANNEL_LABELS",
    "DUE_OVERRIDE",
    "DUTY_COLUMNS",
    "DUTY_SHEET",
    "OUTCOME_LABELS",
    "REQUEST_COLUMNS",
    "REQUEST_SHEET",
    "Column",
    "LedgerFile",
    "LedgerImportResult",
    "RowOutcome",
    "SheetSummary",
    "import_ledger",
    "parse_ledger_csv",
    "parse_ledger_xlsx",
    "read_ledger",
]

UTC = dt.UTC

SheetKind = Literal["requests", "duties"]

REQUEST_SHEET = "依申请公开台账"
DUTY_SHEET = "公开事项台账"
SHEET_NAMES: dict[SheetKind, str] = {"requests": REQUEST_SHEET, "duties": DUTY_SHEET}
#: Other names a sheet may carry (normalised as headers are).
_SHEET_ALIASES: dict[str, SheetKind] = {
    "依申请公开台账": "requests",
    "依申请公开": "requests",
    "requests": "requests",
    "公开事项台账": "duties",
    "公开事项": "duties",
    "duties": "duties",
}

#: The obligation that gets the 补正告知 task of an imported request.
CORRECTION_NOTICE = "request-correction-notice"
#: What the 截止依据 column says to keep the ledger's due date.
DUE_OVERRIDE = "以台账为准"
#: Note on the clock events and audit entries written by an import.
IMPORT_NOTE = "历史台账导入"


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One column of a ledger table: English key, Chinese header, accepted variants."""

    key: str
    zh: str
    required: bool = False
    kind: Literal["text", "date", "datetime", "int", "choice", "url"] = "text"
    help: str = ""
    aliases: tuple[str, ...] = ()
    #: The values the template offers in its drop-down list (others may still be accepted).
    choices: tuple[str, ...] = ()


#: Receipt channels as the template lists them (条例第三十一条).
CHANNEL_LABELS: dict[str, str] = {
    "in_person": "当面提交",
    "post_signed": "邮寄签收",
    "post_unsigned": "平常信函",
    "online": "网络",
    "fax": "传真",
    "email": "电子邮件",
}


def _outcome_label(code: str) -> str:
    outcome = next(item for item in OUTCOMES if item.code == code)
    if outcome.group in ("disclosed", "partial"):
        return outcome.zh
    group = group_label(outcome.group).split("）", 1)[-1]
    return f"{group}：{re.sub(r'^[0-9]+[.．]', '', outcome.zh)}"


#: Outcome code → the label the template lists, e.g. ``不予公开：属于国家秘密``.
OUTCOME_LABELS: dict[str, str] = {
    outcome.code: _outcome_label(outcome.code) for outcome in OUTCOMES
}

_YES_NO = ("是", "否")

REQUEST_COLUMNS: tuple[Column, ...] = (
    Column(
        "external_id",
        "申请编号",
        True,
        help="台账中的申请编号；再次导入时据此识别，不会重复登记",
        aliases=("编号", "申请号", "受理编号"),
    ),
    Column(
        "received_on",
        "收到日期",
        True,
        "date",
        "当面提交为提交当日；邮寄签收为签收当日；平常信函、网络、传真、电子邮件为到达日期（另填确认日期）",
        aliases=("收到申请日期", "收件日期", "申请日期"),
    ),
    Column(
        "channel",
        "收到渠道",
        True,
        "choice",
        "当面提交/邮寄签收/平常信函/网络/传真/电子邮件",
        aliases=("申请方式", "提交方式", "申请渠道", "收到方式"),
        choices=tuple(CHANNEL_LABELS.values()),
    ),
    Column(
        "confirmed_on",
        "确认日期",
        kind="date",
        help="平常信函、网络、传真、电子邮件：双方确认收到申请之日（条例第三十一条），期限自此起算",
        aliases=("双方确认日期", "确认收到日期"),
    ),
    Column(
        "applicant_type",
        "申请人类型",
        True,
        "choice",
        "自然人/商业企业/科研机构/社会公益组织/法律服务机构/其他",
        aliases=("申请人类别",),
        choices=tuple(label for label, _ in APPLICANT_TYPES.values()),
    ),
    Column("applicant", "申请人", help="可不填", aliases=("申请人姓名", "申请人名称")),
    Column(
        "section",
        "承办科室",
        True,
        help="科室代码或名称，如 foreign-trade 或 外贸科",
        aliases=("办理科室", "科室", "承办处室", "责任科室"),
    ),
    Column(
        "title", "申请内容", help="申请公开的信息", aliases=("标题", "申请事项", "申请公开内容")
    ),
    Column(
        "correction_notice_on",
        "补正告知日期",
        kind="date",
        help="告知申请人补正之日（无补正不填）",
        aliases=("补正通知日期",),
    ),
    Column(
        "corrected_on",
        "补正后收到日期",
        kind="date",
        help="收到补正后申请之日，期限重新计算（条例第三十条）",
        aliases=("补正收到日期", "重新计时日期"),
    ),
    Column(
        "paused_from",
        "中止计时开始",
        kind="date",
        help="征求第三方或其他机关意见开始之日（不计入期限）",
        aliases=("征求意见开始日期",),
    ),
    Column(
        "paused_to",
        "中止计时结束",
        kind="date",
        help="征求意见结束、恢复计时之日",
        aliases=("征求意见结束日期",),
    ),
    Column("extended", "是否延期", kind="choice", help="是/否", choices=_YES_NO, aliases=("延期",)),
    Column(
        "extension_days",
        "延期工作日数",
        kind="int",
        help="延长的工作日数（2019年条例最多20个，2008年条例最多15个）",
        aliases=("延期天数", "延长工作日数", "延期工作日"),
    ),
    Column(
        "extension_approver",
        "延期批准人",
        help="批准延期的政府信息公开工作机构负责人",
        aliases=("批准人", "延期审批人"),
    ),
    Column(
        "answered_on",
        "答复送达日期",
        kind="date",
        help="答复送达（签收或交邮）之日；未答复不填",
        aliases=("答复日期", "送达日期", "办结日期"),
    ),
    Column(
        "outcome",
        "办理结果",
        kind="choice",
        help="年度报告表三的行，如 予以公开、部分公开、不予公开：属于国家秘密",
        aliases=("答复结果", "处理结果", "答复类型"),
        choices=tuple(OUTCOME_LABELS.values()),
    ),
    Column(
        "evidence_url",
        "佐证链接",
        kind="url",
        help="可不填（历史答复常无公开链接）",
        aliases=("佐证", "链接"),
    ),
    Column("note", "备注", help="不导入"),
)

DUTY_COLUMNS: tuple[Column, ...] = (
    Column(
        "obligation",
        "事项代码",
        True,
        "choice",
        "公开事项代码，如 monthly-info-report、policy-interpretation",
        aliases=("公开事项", "事项", "义务"),
    ),
    Column(
        "section", "责任科室", True, help="科室代码或名称", aliases=("科室", "承办科室", "办理科室")
    ),
    Column(
        "period",
        "期间",
        help="周期性事项：2026-03（月）、2026-Q1（季）、2026（年）、2026-W09（周）",
        aliases=("所属期间", "周期"),
    ),
    Column(
        "event_id",
        "事件编号",
        help="事件性事项：文号或其他编号；不填则按事件类型、日期和标题识别",
        aliases=("文号",),
    ),
    Column(
        "event_date",
        "事件日期",
        kind="datetime",
        help="事件性事项：文件公开、决定作出等之日；舆情须填时间",
        aliases=("发生日期", "触发日期", "事件时间"),
    ),
    Column(
        "event_attributes",
        "事件属性",
        help="如 kind=licensing；severity=major（多个用分号隔开）",
        aliases=("属性",),
    ),
    Column("title", "标题", help="文件或事项名称", aliases=("名称", "内容")),
    Column(
        "due_on",
        "应完成日期",
        kind="date",
        help="台账记载的期限；与规则不一致时须在截止依据填以台账为准",
        aliases=("截止日期", "期限"),
    ),
    Column(
        "due_override",
        "截止依据",
        kind="choice",
        help="以台账为准：保留台账的应完成日期；不填按规则计算",
        aliases=("due依据",),
        choices=(DUE_OVERRIDE, "按规则"),
    ),
    Column(
        "done_on",
        "完成日期",
        kind="datetime",
        help="完成（公开、报送）之日；未完成不填",
        aliases=("办结日期", "公开日期", "完成时间"),
    ),
    Column(
        "evidence_url",
        "佐证链接",
        True,
        "url",
        "已完成的事项必填：公开网址",
        aliases=("佐证", "链接"),
    ),
    Column("note", "备注", help="不导入"),
)

COLUMNS: dict[SheetKind, tuple[Column, ...]] = {"requests": REQUEST_COLUMNS, "duties": DUTY_COLUMNS}

_HINT = re.compile(r"[（(][^（）()]*[）)]")
_IGNORED = frozenset({"序号", "no", "#"})


def _norm_header(text: str) -> str:
    value = _HINT.sub("", text)
    return re.sub(r"[\s*＊:：]", "", value).lower()


def _header_index(columns: Sequence[Column]) -> dict[str, str]:
    index: dict[str, str] = {}
    for column in columns:
        for name in (column.key, column.zh, *column.aliases):
            index.setdefault(_norm_header(name), column.key)
    return index


_HEADERS: dict[SheetKind, dict[str, str]] = {
    kind: _header_index(cols) for kind, cols in COLUMNS.items()
}


def _ignored_header(normalised: str) -> bool:
    return normalised in _IGNORED or normalised.startswith("备注")


# --------------------------------------------------------------------------- vocabularies


def _norm_value(text: str) -> str:
    value = text.translate(str.maketrans("（）：", "():"))
    return re.sub(r"[\s:\-－—/、.．]", "", value).lower()


def _vocabulary(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Normalised spelling → key; a spelling two keys share is left out (ambiguous)."""
    found: dict[str, set[str]] = {}
    for spelling, key in pairs:
        found.setdefault(_norm_value(spelling), set()).add(key)
    return {spelling: next(iter(keys)) for spelling, keys in found.items() if len(keys) == 1}


_APPLICANTS = _vocabulary(
    [(key, key) for key in APPLICANT_TYPES]
    + [(zh, key) for key, (zh, _) in APPLICANT_TYPES.items()]
    + [(en, key) for key, (_, en) in APPLICANT_TYPES.items()]
    + [("个人", "natural_person"), ("公民", "natural_person"), ("企业", "commercial_enterprise")]
)
_CHANNELS = _vocabulary(
    [(key, key) for key in RECEIPT_CHANNELS]
    + [(zh, key) for key, (zh, _) in RECEIPT_CHANNELS.items()]
    + [(en, key) for key, (_, en) in RECEIPT_CHANNELS.items()]
    + [(label, key) for key, label in CHANNEL_LABELS.items()]
    + [
        ("当面", "in_person"),
        ("现场", "in_person"),
        ("现场提交", "in_person"),
        ("挂号信", "post_signed"),
        ("邮寄（签收）", "post_signed"),
        ("普通信函", "post_unsigned"),
        ("信函", "post_unsigned"),
        ("互联网", "online"),
        ("网上", "online"),
        ("网上申请", "online"),
        ("在线申请", "online"),
        ("邮件", "email"),
        ("email", "email"),
    ]
)


def _outcome_spellings() -> Iterable[tuple[str, str]]:
    for outcome in OUTCOMES:
        bare = re.sub(r"^[0-9]+[.．]", "", outcome.zh)
        group = group_label(outcome.group).split("）", 1)[-1].split("（", 1)[0]
        yield outcome.code, outcome.code
        yield OUTCOME_LABELS[outcome.code], outcome.code
        yield outcome.zh, outcome.code
        yield bare, outcome.code
        yield group + bare, outcome.code
        yield group + outcome.zh, outcome.code


_OUTCOMES = _vocabulary(_outcome_spellings())
_YES = frozenset({"是", "y", "yes", "true", "1", "√", "✓", "有"})
_NO = frozenset({"否", "n", "no", "false", "0", "×", "无"})


# --------------------------------------------------------------------------- reading files


@dataclass(frozen=True)
class _Place:
    header: str  # as written in the file
    index: int  # 0-based column


@dataclass
class LedgerSheet:
    """One table of a ledger file, as read: where each column is and the data rows."""

    kind: SheetKind
    name: str
    columns: dict[str, _Place]
    rows: list[tuple[int, tuple[Any, ...]]]
    header_row: int


@dataclass
class LedgerFile:
    """A parsed ledger file: its source name (used in problems) and its tables in order."""

    source: str
    sheets: list[LedgerSheet] = field(default_factory=list)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _blank(cells: Sequence[Any]) -> bool:
    return not any(_cell_text(cell) for cell in cells)


def _header_score(kind: SheetKind, cells: Sequence[Any]) -> int:
    index = _HEADERS[kind]
    return sum(1 for cell in cells if _norm_header(_cell_text(cell)) in index)


def _find_header(kind: SheetKind, rows: Sequence[Sequence[Any]]) -> int | None:
    """The 0-based index of the header row: the first of the top rows naming two columns."""
    for position, cells in enumerate(rows[:6]):
        if _header_score(kind, cells) >= 2:
            return position
    return None


def _is_key_row(kind: SheetKind, cells: Sequence[Any]) -> bool:
    keys = {column.key for column in COLUMNS[kind]}
    texts = [_cell_text(cell) for cell in cells if _cell_text(cell)]
    return bool(texts) and all(
        text in keys or _ignored_header(_norm_header(text)) for text in texts
    )


def _build_sheet(
    kind: SheetKind, name: str, source: str, rows: Sequence[Sequence[Any]], problems: list[str]
) -> LedgerSheet | None:
    where = f"{source}:{name}"
    header_at = _find_header(kind, rows)
    if header_at is None:
        expected = "、".join(column.zh for column in COLUMNS[kind] if column.required)
        problems.append(
            f"{where}:row 1: (header): no header row found; expected columns such as {expected}"
        )
        return None
    header_row = header_at + 1
    columns: dict[str, _Place] = {}
    index = _HEADERS[kind]
    for position, cell in enumerate(rows[header_at]):
        text = _cell_text(cell)
        normalised = _norm_header(text)
        if not text or _ignored_header(normalised):
            continue
        key = index.get(normalised)
        if key is None:
            known = "、".join(column.zh for column in COLUMNS[kind])
            problems.append(
                f"{where}:row {header_row}: {text}: unknown column; rename it to one of {known} "
                "(or to 备注), or delete it"
            )
        elif key in columns:
            problems.append(
                f"{where}:row {header_row}: {text}: the same column as {columns[key].header} "
                f"({_letter(columns[key].index)})"
            )
        else:
            columns[key] = _Place(text, position)
    for column in COLUMNS[kind]:
        if column.required and column.key not in columns:
            problems.append(f"{where}:row {header_row}: {column.zh}: required column is missing")
    first_data = header_at + 1
    if first_data < len(rows) and _is_key_row(kind, rows[first_data]):
        first_data += 1
    data = [
        (position + 1, tuple(cells))
        for position, cells in enumerate(rows)
        if position >= first_data and not _blank(cells)
    ]
    return LedgerSheet(kind=kind, name=name, columns=columns, rows=data, header_row=header_row)


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def parse_ledger_csv(text: str, source: str) -> LedgerFile:
    """One CSV table; whether it lists requests or duties is told by its header."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    scores = {
        kind: (_find_header(kind, rows), max((_header_score(kind, r) for r in rows[:6]), default=0))
        for kind in COLUMNS
    }
    requests_score, duties_score = scores["requests"][1], scores["duties"][1]
    if max(requests_score, duties_score) < 2 or requests_score == duties_score:
        raise ImportRowsError(
            [
                f"{source}:row 1: (header): cannot tell a requests table (申请编号, 收到日期, …) from a "
                "duties table (事项代码, 责任科室, …): use the headers of gongkai/examples/ledger-template.csv "
                "or duties-template.csv"
            ]
        )
    kind: SheetKind = "requests" if requests_score > duties_score else "duties"
    problems: list[str] = []
    sheet = _build_sheet(kind, SHEET_NAMES[kind], source, rows, problems)
    if problems or sheet is None:
        raise ImportRowsError(problems)
    return LedgerFile(source=source, sheets=[sheet])


def parse_ledger_xlsx(data: bytes, source: str) -> LedgerFile:
    """The sheets 依申请公开台账 and 公开事项台账 of a workbook (other sheets are ignored)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRowsError(
            [f"{source}: not a readable .xlsx workbook ({exc.__class__.__name__})"]
        ) from None
    problems: list[str] = []
    ledger = LedgerFile(source=source)
    seen: dict[SheetKind, str] = {}
    for worksheet in workbook.worksheets:
        kind = _SHEET_ALIASES.get(_norm_header(str(worksheet.title)))
        if kind is None:
            continue
        if kind in seen:
            problems.append(
                f"{source}:{worksheet.title}: a second {SHEET_NAMES[kind]} sheet (first: {seen[kind]})"
            )
            continue
        seen[kind] = str(worksheet.title)
        rows = [tuple(cells) for cells in worksheet.iter_rows(values_only=True)]
        sheet = _build_sheet(kind, str(worksheet.title), source, rows, problems)
        if sheet is not None:
            ledger.sheets.append(sheet)
    if not seen:
        names = "、".join(str(sheet.title) for sheet in workbook.worksheets)
        problems.append(
            f"{source}: no sheet named {REQUEST_SHEET} or {DUTY_SHEET} (sheets: {names})"
        )
    if problems:
        raise ImportRowsError(problems)
    return ledger


def read_ledger(path: Path) -> LedgerFile:
    """Read a ``.xlsx`` or ``.csv`` ledger; CSV may be UTF-8 (with or without BOM) or GB18030."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise LedgerError(
            f"{path}: unknown file type {path.suffix or '(none)'!r}: use .xlsx or .csv"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LedgerError(
            f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}"
        ) from None
    if suffix == ".xlsx":
        return parse_ledger_xlsx(data, path.name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # Spreadsheet programs in China save CSV as GBK unless told otherwise.
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise LedgerError(f"{path}: not UTF-8 or GB18030 text; save the CSV as UTF-8") from None
    return parse_ledger_csv(text, path.name)


# --------------------------------------------------------------------------- row values


@dataclass(frozen=True, order=True)
class _Problem:
    sheet: int
    row: int
    column: int
    text: str


@dataclass(frozen=True)
class _Moment:
    day: dt.date
    time: dt.time | None


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_DATETIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(?:T|\s)\s*(\d{1,2})\s*[:：时]\s*(\d{1,2})"
    r"(?:\s*[:：分]\s*(\d{1,2}))?\s*秒?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class _CellError(Exception):
    pass


def _moment(value: Any) -> _Moment:
    if isinstance(value, dt.datetime):
        clock = value.time().replace(tzinfo=None)
        return _Moment(value.date(), None if clock == dt.time() else clock)
    if isinstance(value, dt.date):
        return _Moment(value, None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _CellError(
            f"{_cell_text(value)} is a number, not a date: write 2026-03-02 or format the cell as a date"
        )
    text = _cell_text(value)
    try:
        match = _DATE.match(text) or _COMPACT.match(text)
        if match:
            return _Moment(dt.date(*(int(part) for part in match.groups())), None)
        match = _DATETIME.match(text)
        if match:
            year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
            return _Moment(dt.date(year, month, day), dt.time(hour, minute, second))
    except ValueError:
        raise _CellError(f"{text!r} is not a valid date") from None
    raise _CellError(f"{text!r} is not a date (YYYY-MM-DD, e.g. 2026-03-02)")


class _Row:
    """One data row being validated: typed values, and its problems."""

    def __init__(
        self, ctx: _Context, sheet: LedgerSheet, sheet_no: int, number: int, cells: tuple[Any, ...]
    ) -> None:
        self.ctx = ctx
        self.sheet = sheet
        self.sheet_no = sheet_no
        self.number = number
        self.cells = cells
        self.bad = False

    def raw(self, key: str) -> Any:
        place = self.sheet.columns.get(key)
        if place is None or place.index >= len(self.cells):
            return None
        return self.cells[place.index]

    def label(self, key: str | None) -> str:
        if key is None:
            return "(row)"
        place = self.sheet.columns.get(key)
        if place is not None:
            return place.header
        return next(column.zh for column in COLUMNS[self.sheet.kind] if column.key == key)

    def fail(self, key: str | None, message: str) -> None:
        self.bad = True
        place = self.sheet.columns.get(key) if key else None
        order = place.index if place is not None else -1
        text = (
            f"{self.ctx.source}:{self.sheet.name}:row {self.number}: {self.label(key)}: {message}"
        )
        self.ctx.problems.append(_Problem(self.sheet_no, self.number, order, text))

    def text(self, key: str, *, required: bool = False, max_length: int = 500) -> str:
        value = _cell_text(self.raw(key))
        if required and not value:
            self.fail(key, "required")
        elif len(value) > max_length:
            self.fail(key, f"longer than {max_length} characters")
        return value

    def moment(self, key: str, *, required: bool = False) -> _Moment | None:
        raw = self.raw(key)
        if not _cell_text(raw):
            if required:
                self.fail(key, "required")
            return None
        try:
            found = _moment(raw)
        except _CellError as exc:
            self.fail(key, str(exc))
            return None
        return (
            found if self.in_calendar(key, found.day) and self.not_future(key, found.day) else None
        )

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        found = self.moment(key, required=required)
        return found.day if found else None

    def in_calendar(self, key: str, day: dt.date) -> bool:
        try:
            self.ctx.domain.calendar.kind(day)
        except CalendarError as exc:
            self.fail(key, str(exc))
            return False
        return True

    def not_future(self, key: str, day: dt.date) -> bool:
        if day > self.ctx.today:
            self.fail(key, f"{day} is in the future (today is {self.ctx.today})")
            return False
        return True

    def choice(
        self, key: str, vocabulary: Mapping[str, str], what: str, *, required: bool = False
    ) -> str | None:
        text = _cell_text(self.raw(key))
        if not text:
            if required:
                self.fail(key, "required")
            return None
        found = vocabulary.get(_norm_value(text))
        if found is None:
            self.fail(key, f"{text!r} is not {what}")
        return found

    def flag(self, key: str, *, yes: Iterable[str] = _YES, no: Iterable[str] = _NO) -> bool | None:
        text = _cell_text(self.raw(key))
        if not text:
            return None
        value = _norm_value(text)
        if value in {_norm_value(item) for item in yes}:
            return True
        if value in {_norm_value(item) for item in no}:
            return False
        self.fail(key, f"{text!r}: write 是 or 否")
        return None

    def integer(self, key: str) -> int | None:
        raw = self.raw(key)
        text = _cell_text(raw)
        if not text:
            return None
        if not re.fullmatch(r"\d{1,4}", text):
            self.fail(key, f"{text!r} is not a whole number of working days")
            return None
        return int(text)

    def url(self, key: str) -> str | None:
        text = _cell_text(self.raw(key))
        if not text:
            return None
        try:
            return check_evidence(text)
        except LedgerError as exc:
            self.fail(key, str(exc))
            return None

    def section(self, key: str) -> Section | None:
        text = _cell_text(self.raw(key))
        if not text:
            self.fail(key, "required")
            return None
        found = self.ctx.sections_by_code.get(text) or self.ctx.sections_by_name.get(text)
        if found is None:
            known = ", ".join(
                f"{code} {section.name}" for code, section in self.ctx.sections_by_code.items()
            )
            self.fail(
                key,
                f"unknown section {text!r} in agency {self.ctx.agency.code}; known: {known or '(none)'}",
            )
        return found


# --------------------------------------------------------------------------- plans


Action = Literal["create", "close", "present"]


@dataclass
class _RequestPlan:
    row: _Row
    external_id: str
    arrived: dt.date
    attributes: dict[str, str]
    section: Section
    title: str
    reply: Obligation
    correction: Obligation | None
    correction_notice_on: dt.date | None
    corrected_on: dt.date | None
    pause: tuple[dt.date, dt.date] | None
    extension: tuple[int, str] | None
    answered_on: dt.date | None
    outcome: str | None
    evidence: str | None
    deadline: Deadline
    action: Action = "create"
    task: Task | None = None


@dataclass
class _DutyPlan:
    row: _Row
    obligation: Obligation
    section: Section
    period: Period | None
    event_key: str | None
    event_type: EventType | None
    attributes: dict[str, str]
    #: The task's title for a recurring duty, the event's title (may be empty) otherwise.
    title: str
    start_at: dt.datetime
    deadline: Deadline
    done_at: dt.datetime | None
    evidence: str | None
    #: Whether the ledger gave the event's time of day (else only its date counts).
    event_timed: bool = False
    action: Action = "create"
    task: Task | None = None
    event: Event | None = None

    @property
    def key(self) -> str:
        return f"{self.obligation.code} {self.period.key if self.period else self.event_key}"


@dataclass
class _Context:
    session: Session
    domain: Domain
    source: str
    agency: Agency
    at: dt.datetime
    today: dt.date
    sections_by_code: dict[str, Section]
    sections_by_name: dict[str, Section]
    problems: list[_Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: 申请编号 of the file's requests (a duty's 事件编号 must not reuse one).
    request_ids: set[str] = field(default_factory=set)

    def midnight(self, day: dt.date, clock: dt.time | None = None) -> dt.datetime:
        return dt.datetime.combine(day, clock or dt.time(), self.domain.tz)

    def where(self, row: _Row) -> str:
        return f"{self.source}:{row.sheet.name}:row {row.number}"


# --------------------------------------------------------------------------- results


@dataclass
class RowOutcome:
    """What one row did: created, closed an open task, or was already present."""

    sheet: str
    row: int
    key: str
    action: Action
    task_id: int | None
    status: str | None
    due_date: dt.date | None
    timeliness: str | None
    working_days_margin: int | None


@dataclass
class SheetSummary:
    sheet: str
    rows: int = 0
    created: int = 0
    closed: int = 0
    present: int = 0
    open: int = 0
    on_time: int = 0
    extended_on_time: int = 0
    late: int = 0

    def count(self, outcome: RowOutcome) -> None:
        """Add one row: what it did and, for rows this import wrote, how its task stands."""
        self.rows += 1
        if outcome.action == "present":
            self.present += 1
            return
        if outcome.action == "create":
            self.created += 1
        else:
            self.closed += 1
        if outcome.status in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value):
            self.open += 1
        elif outcome.timeliness == "on_time":
            self.on_time += 1
        elif outcome.timeliness == "extended_on_time":
            self.extended_on_time += 1
        elif outcome.timeliness == "late":
            self.late += 1


@dataclass
class LedgerImportResult:
    source: str
    agency: str
    sheets: list[SheetSummary]
    rows: list[RowOutcome]
    warnings: list[str]

    @property
    def created(self) -> int:
        return sum(sheet.created for sheet in self.sheets)

    @property
    def closed(self) -> int:
        return sum(sheet.closed for sheet in self.sheets)

    @property
    def present(self) -> int:
        return sum(sheet.present for sheet in self.sheets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "agency": self.agency,
            "created": self.created,
            "closed": self.closed,
            "already_present": self.present,
            "sheets": [vars(sheet) for sheet in self.sheets],
            "rows": [vars(row) for row in self.rows],
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------- requests


def _plan_requests(ctx: _Context, sheet: LedgerSheet, sheet_no: int) -> list[_RequestPlan]:
    ids = _column_texts(sheet, "external_id")
    ctx.request_ids.update(ids)
    existing = _events_by_external_id(ctx, ids)
    seen: dict[str, int] = {}
    plans: list[_RequestPlan] = []
    for number, cells in sheet.rows:
        row = _Row(ctx, sheet, sheet_no, number, cells)
        plan = _plan_request(ctx, row, seen)
        if plan is None or row.bad:
            continue
        _match_request(ctx, plan, existing.get(plan.external_id))
        if not row.bad:
            plans.append(plan)
    return plans


def _column_texts(sheet: LedgerSheet, key: str) -> list[str]:
    place = sheet.columns.get(key)
    if place is None:
        return []
    texts = (
        _cell_text(cells[place.index]) if place.index < len(cells) else ""
        for _, cells in sheet.rows
    )
    return [text for text in texts if text]


def _plan_request(ctx: _Context, row: _Row, seen: dict[str, int]) -> _RequestPlan | None:
    external_id = row.text("external_id", required=True, max_length=200)
    arrived = row.date("received_on", required=True)
    channel = row.choice(
        "channel",
        _CHANNELS,
        "a receipt channel (当面提交, 邮寄签收, 平常信函, 网络, 传真, 电子邮件)",
        required=True,
    )
    confirmed = row.date("confirmed_on")
    applicant_type = row.choice(
        "applicant_type",
        _APPLICANTS,
        "an applicant type (自然人, 商业企业, 科研机构, 社会公益组织, 法律服务机构, 其他)",
        required=True,
    )
    applicant = row.text("applicant", max_length=200)
    section = row.section("section")
    title = row.text("title")
    correction_notice_on = row.date("correction_notice_on")
    corrected_on = row.date("corrected_on")
    paused_from = row.date("paused_from")
    paused_to = row.date("paused_to")
    extended = row.flag("extended")
    days = row.integer("extension_days")
    approver = row.text("extension_approver", max_length=100)
    answered_on = row.date("answered_on")
    outcome = row.choice(
        "outcome",
        _OUTCOMES,
        "an outcome of table 三 (e.g. 予以公开, 部分公开, 不予公开：属于国家秘密, "
        "or a code such as refused.state_secret)",
    )
    evidence = row.url("evidence_url")
    if external_id:
        if external_id in seen:
            row.fail("external_id", f"{external_id!r} repeats row {seen[external_id]}")
        else:
            seen[external_id] = row.number
    if row.bad or arrived is None or channel is None or applicant_type is None or section is None:
        return None

    receipt = arrived
    if channel in CONFIRMATION_CHANNELS:
        if confirmed is None:
            row.fail(
                "confirmed_on",
                f"required for {CHANNEL_LABELS[channel]}: the day both sides confirmed "
                "the request (条例第三十一条)",
            )
        elif confirmed < arrived:
            row.fail("confirmed_on", f"{confirmed} is before the request arrived ({arrived})")
        else:
            receipt = confirmed
    elif confirmed is not None and confirmed != arrived:
        row.fail(
            "confirmed_on",
            f"only 平常信函, 网络, 传真 and 电子邮件 have a confirmation date; for "
            f"{CHANNEL_LABELS[channel]} the request counts from 收到日期",
        )
    start_day = receipt
    if corrected_on is not None:
        if correction_notice_on is None:
            row.fail(
                "corrected_on",
                "a corrected request needs 补正告知日期 (when the applicant was asked to correct)",
            )
        elif corrected_on < correction_notice_on:
            row.fail(
                "corrected_on", f"{corrected_on} is before 补正告知日期 ({correction_notice_on})"
            )
        start_day = corrected_on
    if correction_notice_on is not None and correction_notice_on < receipt:
        row.fail(
            "correction_notice_on",
            f"{correction_notice_on} is before the request was received ({receipt})",
        )
    pause_span: tuple[dt.date, dt.date] | None = None
    if (paused_from is None) != (paused_to is None):
        missing = "paused_to" if paused_to is None else "paused_from"
        row.fail(missing, "give both 中止计时开始 and 中止计时结束")
    elif paused_from is not None and paused_to is not None:
        if paused_to < paused_from:
            row.fail("paused_to", f"{paused_to} is before 中止计时开始 ({paused_from})")
        elif paused_from < start_day:
            row.fail("paused_from", f"{paused_from} is before the clock started ({start_day})")
        pause_span = (paused_from, paused_to)
    extension: tuple[int, str] | None = None
    if extended is True and days is None:
        row.fail("extension_days", "是否延期 is 是: give the extension in working days")
    elif extended is False and days is not None:
        row.fail("extended", "is 否 but 延期工作日数 is given")
    elif days is not None:
        if days < 1:
            row.fail("extension_days", "an extension adds at least 1 working day")
        elif not approver:
            row.fail(
                "extension_approver", "an extension needs the name of the person who approved it"
            )
        else:
            extension = (days, approver)
    elif approver:
        row.fail("extension_days", "延期批准人 is given but not the extension's working days")
    if answered_on is not None:
        for earlier, what in (
            (receipt, "the request was received"),
            (correction_notice_on, "补正告知日期"),
            (corrected_on, "补正后收到日期"),
            (paused_to, "中止计时结束"),
        ):
            if earlier is not None and answered_on < earlier:
                row.fail("answered_on", f"{answered_on} is before {what} ({earlier})")
                break
        if outcome is None:
            row.fail(
                "outcome",
                "required when 答复送达日期 is given: the row of table 三 (e.g. 予以公开)",
            )
    else:
        if outcome is not None:
            row.fail(
                "outcome", "given but 答复送达日期 is empty (an open request has no outcome yet)"
            )
        if evidence is not None:
            row.fail("evidence_url", "given but 答复送达日期 is empty")
    if row.bad:
        return None

    attributes = {"applicant_type": applicant_type, "channel": channel}
    if channel in CONFIRMATION_CHANNELS and confirmed is not None:
        attributes["confirmed_on"] = confirmed.isoformat()
    if applicant:
        attributes["applicant"] = applicant
    try:
        attributes = validate_attributes(EventType.REQUEST_RECEIVED, attributes)
    except ObligationsError as exc:
        row.fail("channel", str(exc))
        return None
    matching = ctx.domain.catalog.for_event(EventType.REQUEST_RECEIVED, attributes)
    replies = [item for item in matching if Feed.TABLE3 in item.feeds]
    if len(replies) != 1:
        codes = ", ".join(item.code for item in replies) or "none"
        row.fail(
            None,
            f"the catalog must have exactly one request_received obligation feeding table 三 (found: {codes})",
        )
        return None
    reply = replies[0]
    correction = None
    if correction_notice_on is not None:
        correction = next((item for item in matching if item.code == CORRECTION_NOTICE), None)
    arrived_at = ctx.midnight(arrived)
    events = [
        ClockEvent(ClockEventKind.START, request_start(attributes, arrived_at, ctx.domain.tz))
    ]
    if corrected_on is not None:
        events.append(ClockEvent(ClockEventKind.RESTART, ctx.midnight(corrected_on)))
    if pause_span is not None:
        events.append(ClockEvent(ClockEventKind.PAUSE, ctx.midnight(pause_span[0])))
        events.append(ClockEvent(ClockEventKind.RESUME, ctx.midnight(pause_span[1])))
    if extension is not None:
        events.append(
            ClockEvent(ClockEventKind.EXTEND, ctx.at, amount=extension[0], approver=extension[1])
        )
    try:
        deadline = compute_due(
            reply.deadline, events, calendar=ctx.domain.calendar, tz=ctx.domain.tz
        )
    except ClockError as exc:
        row.fail("extension_days" if extension else None, str(exc))
        return None
    except CalendarError as exc:
        row.fail("received_on", f"its due date is outside the calendar: {exc}")
        return None
    return _RequestPlan(
        row=row,
        external_id=external_id,
        arrived=arrived,
        attributes=attributes,
        section=section,
        title=title,
        reply=reply,
        correction=correction,
        correction_notice_on=correction_notice_on,
        corrected_on=corrected_on,
        pause=pause_span,
        extension=extension,
        answered_on=answered_on,
        outcome=outcome,
        evidence=evidence,
        deadline=deadline,
    )


def _events_by_external_id(ctx: _Context, external_ids: Sequence[str]) -> dict[str, Event]:
    found: dict[str, Event] = {}
    unique = sorted(set(external_ids))
    for offset in range(0, len(unique), 500):
        chunk = unique[offset : offset + 500]
        statement = select(Event).where(
            Event.agency_id == ctx.agency.id, col(Event.external_id).in_(chunk)
        )
        for event in ctx.session.exec(statement).all():
            if event.external_id is not None:
                found[event.external_id] = event
    return found


def _local_date(ctx: _Context, moment: dt.datetime) -> dt.date:
    return moment.astimezone(ctx.domain.tz).date()


def _match_request(ctx: _Context, plan: _RequestPlan, event: Event | None) -> None:
    """Decide create / close / present for a request row; refuse what contradicts gongkai."""
    if event is None:
        return
    row = plan.row
    if event.type != EventType.REQUEST_RECEIVED.value:
        row.fail(
            "external_id",
            f"{plan.external_id!r} is already used by a {event.type} event in gongkai",
        )
        return
    recorded = _local_date(ctx, event.occurred_at)
    if recorded != plan.arrived:
        row.fail(
            "received_on",
            f"request {plan.external_id!r} is already in gongkai, received {recorded}; "
            f"the ledger says {plan.arrived}",
        )
        return
    task = ctx.session.exec(
        select(Task).where(Task.event_id == event.id, Task.obligation_code == plan.reply.code)
    ).first()
    plan.action = "present"
    plan.task = task
    if task is None:
        ctx.warnings.append(
            f"{ctx.where(row)}: request {plan.external_id!r} is in gongkai without a "
            f"{plan.reply.code} task; nothing imported"
        )
        return
    if (
        task.status in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value)
        and plan.answered_on is not None
    ):
        if task.status == TaskStatus.OPEN.value and task.due_date != plan.deadline.due_date:
            row.fail(
                "external_id",
                f"request {plan.external_id!r} is open in gongkai (task {task.id}) due "
                f"{task.due_date}, but this row's dates give {plan.deadline.due_date}: record "
                "the extension, pause or 补正 in gongkai, or correct the row",
            )
            return
        plan.action = "close"
    elif task.status == TaskStatus.DONE.value and plan.answered_on not in (None, task.service_date):
        ctx.warnings.append(
            f"{ctx.where(row)}: request {plan.external_id!r} was closed in gongkai with service "
            f"date {task.service_date}; the ledger says {plan.answered_on} (kept gongkai's)"
        )


def _write_request(ctx: _Context, plan: _RequestPlan, actor: Actor) -> Task | None:
    session, domain, at = ctx.session, ctx.domain, ctx.at
    if plan.action == "present":
        return plan.task
    if plan.action == "close":
        assert plan.task is not None
        assert plan.task.id is not None
        return _close_reply(ctx, plan, plan.task.id, actor)
    narrowed = Catalog([plan.reply, *([plan.correction] if plan.correction else [])])
    result = record_event(
        session,
        replace(domain, catalog=narrowed),
        agency_code=ctx.agency.code,
        event_type_name=EventType.REQUEST_RECEIVED.value,
        occurred_at=ctx.midnight(plan.arrived),
        actor=actor,
        at=at,
        attributes=plan.attributes,
        external_id=plan.external_id,
        section_code=plan.section.code,
        title=plan.title,
    )
    tasks = {task.obligation_code: task for task in _tasks(session, result.task_ids)}
    reply_id = tasks[plan.reply.code].id
    assert reply_id is not None
    if plan.corrected_on is not None:
        restart(
            session, reply_id, domain, actor=actor, at=at, received=ctx.midnight(plan.corrected_on)
        )
    if plan.pause is not None:
        pause(
            session,
            reply_id,
            domain,
            actor=actor,
            at=at,
            since=ctx.midnight(plan.pause[0]),
            reason=f"征求意见（{IMPORT_NOTE}）",
        )
        resume(session, reply_id, domain, actor=actor, at=at, since=ctx.midnight(plan.pause[1]))
    if plan.extension is not None:
        extend(
            session,
            reply_id,
            domain,
            actor=actor,
            at=at,
            amount=plan.extension[0],
            approver=plan.extension[1],
            reason=IMPORT_NOTE,
        )
    if plan.correction is not None and plan.correction_notice_on is not None:
        notice_id = tasks[plan.correction.code].id
        assert notice_id is not None
        # The row's 佐证链接 documents the reply, not the 补正告知书: the notice has none.
        complete(
            session,
            notice_id,
            domain,
            actor=actor,
            at=at,
            evidence=None,
            done_at=ctx.midnight(plan.correction_notice_on),
        )
    if plan.answered_on is None:
        return session.get(Task, reply_id)
    return _close_reply(ctx, plan, reply_id, actor)


def _close_reply(ctx: _Context, plan: _RequestPlan, task_id: int, actor: Actor) -> Task:
    assert plan.answered_on is not None
    # Imported history may lack evidence: a reply letter rarely has a public link.
    return complete(
        ctx.session,
        task_id,
        ctx.domain,
        actor=actor,
        at=ctx.at,
        evidence=plan.evidence,
        done_at=ctx.midnight(plan.answered_on),
        outcome_code=plan.outcome,
        service_date=plan.answered_on,
    )


def _tasks(session: Session, ids: Sequence[int]) -> list[Task]:
    if not ids:
        return []
    return list(session.exec(select(Task).where(col(Task.id).in_(list(ids)))).all())


# --------------------------------------------------------------------------- duties


def _obligation_index(catalog: Catalog) -> dict[str, Obligation]:
    index: dict[str, Obligation] = {}
    for obligation in catalog.values():
        index.setdefault(obligation.code, obligation)
        index.setdefault(obligation.title.zh, obligation)
    return index


def _parse_attributes(row: _Row, text: str) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for part in re.split(r"[;；,，\n]", text):
        if not part.strip():
            continue
        key, sep, value = part.replace("＝", "=").partition("=")
        if not sep or not key.strip():
            row.fail(
                "event_attributes", f"{part.strip()!r} must be key=value (e.g. kind=licensing)"
            )
            return None
        found[key.strip()] = value.strip()
    return found


def _event_key(event_type: EventType, moment: dt.datetime, title: str) -> str:
    digest = hashlib.sha1(title.encode("utf-8")).hexdigest()[:12]
    return f"ledger:{event_type.value}:{moment.isoformat()}:{digest}"


def _plan_duties(ctx: _Context, sheet: LedgerSheet, sheet_no: int) -> list[_DutyPlan]:
    obligations = _obligation_index(ctx.domain.catalog)
    seen: dict[tuple[str, int, str], int] = {}
    plans: list[_DutyPlan] = []
    for number, cells in sheet.rows:
        row = _Row(ctx, sheet, sheet_no, number, cells)
        plan = _plan_duty(ctx, row, obligations)
        if plan is None or row.bad:
            continue
        assert plan.section.id is not None
        identity = (
            plan.obligation.code,
            plan.section.id,
            plan.period.key if plan.period else plan.event_key or "",
        )
        if identity in seen:
            row.fail(
                "obligation",
                f"the same duty ({plan.obligation.code}, {plan.section.code}, "
                f"{identity[2]}) as row {seen[identity]}",
            )
            continue
        seen[identity] = number
        plans.append(plan)
    _check_event_groups(ctx, plans)
    _match_duties(ctx, plans)
    return [plan for plan in plans if not plan.row.bad]


def _plan_duty(ctx: _Context, row: _Row, obligations: Mapping[str, Obligation]) -> _DutyPlan | None:
    code = row.text("obligation", required=True, max_length=64)
    section = row.section("section")
    period_raw = row.raw("period")
    event_id = row.text("event_id", max_length=200)
    event_moment = row.moment("event_date")
    attributes_text = row.text("event_attributes")
    title = row.text("title")
    due_on = row.date("due_on")
    override = row.flag("due_override", yes=(*_YES, DUE_OVERRIDE), no=(*_NO, "按规则"))
    done = row.moment("done_on")
    evidence = row.url("evidence_url")
    obligation = obligations.get(code) if code else None
    if code and obligation is None:
        row.fail(
            "obligation", f"unknown obligation {code!r}; known: {', '.join(ctx.domain.catalog)}"
        )
    if obligation is None or section is None or row.bad:
        return None
    if not obligation.enabled:
        row.fail("obligation", f"{obligation.code} is disabled in this agency's catalog")
    if obligation.trigger.event is EventType.REQUEST_RECEIVED or Feed.TABLE3 in obligation.feeds:
        row.fail(
            "obligation",
            f"{obligation.code} belongs to a request: list requests on the {REQUEST_SHEET} sheet",
        )
    responsible = obligation.responsible
    if responsible.mode is ResponsibleMode.LISTED and section.code not in responsible.sections:
        row.fail(
            "section",
            f"{obligation.code} is the duty of {', '.join(responsible.sections)}, not {section.code}",
        )
    if row.bad:
        return None

    period: Period | None = None
    event_type = obligation.trigger.event
    attributes: dict[str, str] = {}
    event_key: str | None = None
    hourly = obligation.deadline.unit is Unit.HOUR
    if obligation.trigger.every is not None:
        every = obligation.trigger.every
        for key, given in (
            ("event_id", event_id),
            ("event_date", event_moment),
            ("event_attributes", attributes_text),
        ):
            if given:
                row.fail(
                    key, f"{obligation.code} is a recurring duty: give 期间, not event columns"
                )
        period = _period(row, period_raw, every)
        if period is None or row.bad:
            return None
        start_at = ctx.midnight(period.last)
        title = title or f"{obligation.title.zh} {period.label()}"
    else:
        assert event_type is not None
        if _cell_text(period_raw):
            row.fail(
                "period",
                f"{obligation.code} is started by an event ({event_type.label()}): give 事件日期, not 期间",
            )
        if event_moment is None:
            if not row.bad:
                row.fail("event_date", f"required: when the {event_type.label()} event happened")
            return None
        if hourly and event_moment.time is None:
            row.fail(
                "event_date",
                f"{obligation.code} counts hours: give the time too (YYYY-MM-DD HH:MM)",
            )
        parsed = _parse_attributes(row, attributes_text)
        if parsed is None or row.bad:
            return None
        for key, value in obligation.trigger.when.items():
            if parsed.setdefault(key, value) != value:
                row.fail(
                    "event_attributes",
                    f"{key}={parsed[key]} does not start {obligation.code} (it needs {key}={value})",
                )
                return None
        try:
            attributes = validate_attributes(event_type, parsed)
        except ObligationsError as exc:
            row.fail("event_attributes", str(exc))
            return None
        start_at = ctx.midnight(event_moment.day, event_moment.time)
        if not title and not event_id:
            row.fail("title", "give 事件编号 or 标题, so that importing again finds this event")
            return None
        event_key = event_id or _event_key(event_type, start_at, title)

    deadline = _duty_deadline(row, obligation, start_at, "period" if period else "event_date")
    if deadline is None:
        return None
    if override and due_on is None:
        row.fail("due_override", f"{DUE_OVERRIDE} needs 应完成日期 (the ledger's due date)")
    elif due_on is not None and due_on != deadline.due_date:
        if not override:
            rule = obligation.deadline.label or obligation.deadline.describe()
            row.fail(
                "due_on",
                f"the ledger says {due_on} but the rule of {obligation.code} ({rule}) gives "
                f"{deadline.due_date}: correct the date, or write {DUE_OVERRIDE} in "
                f"{row.label('due_override')} to keep the ledger's",
            )
        elif hourly:
            row.fail(
                "due_override",
                f"{obligation.code} counts hours: a ledger date cannot replace its due moment",
            )
        elif due_on < deadline.start_date:
            row.fail("due_on", f"{due_on} is before the duty began ({deadline.start_date})")
        else:
            pinned = DeadlineRule(
                unit=Unit.DAY,
                amount=(due_on - deadline.start_date).days,
                roll_forward=False,
                label=f"{DUE_OVERRIDE}：{due_on}（规则为 {deadline.due_date}）",
            )
            obligation = obligation.model_copy(update={"deadline": pinned})
            deadline = _duty_deadline(row, obligation, start_at, "due_on") or deadline
    done_at: dt.datetime | None = None
    if done is not None:
        done_at = ctx.midnight(done.day, done.time)
        began = period.first if period else start_at.date()
        if done.day < began:
            row.fail("done_on", f"{done.day} is before the duty began ({began})")
        elif hourly and done.time is None:
            row.fail(
                "done_on", f"{obligation.code} counts hours: give the time too (YYYY-MM-DD HH:MM)"
            )
        elif hourly and done_at < start_at:
            row.fail(
                "done_on",
                f"{done_at:%Y-%m-%d %H:%M} is before the event ({start_at:%Y-%m-%d %H:%M})",
            )
        if evidence is None:
            row.fail(
                "evidence_url", "required when 完成日期 is given: the link where it was published"
            )
    elif evidence is not None:
        row.fail("evidence_url", "given but 完成日期 is empty")
    if row.bad:
        return None
    return _DutyPlan(
        row=row,
        obligation=obligation,
        section=section,
        period=period,
        event_key=event_key,
        event_type=event_type,
        attributes=attributes,
        title=title,
        start_at=start_at,
        deadline=deadline,
        done_at=done_at,
        evidence=evidence,
        event_timed=event_moment is not None and event_moment.time is not None,
    )


def _period(row: _Row, raw: Any, every: Recurrence) -> Period | None:
    text = _cell_text(raw)
    if not text:
        row.fail(
            "period",
            f"required for a {every.value}ly duty (e.g. {period_of(every, row.ctx.today).key})",
        )
        return None
    if isinstance(raw, dt.date):
        # A spreadsheet turns "2026-03" into 2026-03-01: read it as the period containing the day.
        day = raw.date() if isinstance(raw, dt.datetime) else raw
        return period_of(every, day)
    try:
        period = parse_period(text)
    except ObligationsError as exc:
        row.fail("period", str(exc))
        return None
    if period.kind is not every:
        row.fail(
            "period",
            f"{text} is a {period.kind.value}, but this duty recurs every {every.value} "
            f"(e.g. {period_of(every, period.first).key})",
        )
        return None
    return period


def _duty_deadline(
    row: _Row, obligation: Obligation, start_at: dt.datetime, key: str
) -> Deadline | None:
    try:
        return compute_due(
            obligation.deadline,
            [ClockEvent(ClockEventKind.START, start_at)],
            calendar=row.ctx.domain.calendar,
            tz=row.ctx.domain.tz,
        )
    except CalendarError as exc:
        row.fail(key, f"its due date is outside the calendar: {exc}")
    except ClockError as exc:
        row.fail(key, str(exc))
    return None


def _check_event_groups(ctx: _Context, plans: Sequence[_DutyPlan]) -> None:
    """Rows naming the same event must agree on its type, moment and attributes."""
    first: dict[str, _DutyPlan] = {}
    for plan in plans:
        if plan.event_key is None:
            continue
        earlier = first.setdefault(plan.event_key, plan)
        if earlier is plan:
            continue
        row = plan.row
        if plan.event_type is not earlier.event_type:
            assert earlier.event_type is not None
            row.fail(
                "event_id",
                f"{plan.event_key} is a {earlier.event_type.value} event (row {earlier.row.number}) "
                f"but {plan.obligation.code} is started by another kind of event",
            )
        elif plan.start_at != earlier.start_at:
            row.fail(
                "event_date",
                f"event {plan.event_key} happened at {earlier.start_at:%Y-%m-%d %H:%M} "
                f"(row {earlier.row.number})",
            )
        else:
            for key, value in plan.attributes.items():
                if earlier.attributes.setdefault(key, value) != value:
                    row.fail(
                        "event_attributes",
                        f"{key}={value} contradicts row {earlier.row.number} "
                        f"({key}={earlier.attributes[key]})",
                    )
            plan.attributes = earlier.attributes


def _match_duties(ctx: _Context, plans: Sequence[_DutyPlan]) -> None:
    for plan in plans:
        if plan.event_key is not None and plan.event_key in ctx.request_ids:
            plan.row.fail(
                "event_id", f"{plan.event_key!r} is also a 申请编号 on the {REQUEST_SHEET} sheet"
            )
    keys = [plan.event_key for plan in plans if plan.event_key is not None and not plan.row.bad]
    events = _events_by_external_id(ctx, keys)
    dedupe: dict[str, _DutyPlan] = {}
    for plan in plans:
        if plan.row.bad:
            continue
        if plan.period is not None:
            dedupe[f"{plan.obligation.code}|{plan.section.id}|{plan.period.key}"] = plan
            continue
        assert plan.event_key is not None
        assert plan.event_type is not None
        event = events.get(plan.event_key)
        if event is None:
            continue
        if event.type != plan.event_type.value:
            plan.row.fail(
                "event_id", f"{plan.event_key!r} is already used by a {event.type} event in gongkai"
            )
            continue
        recorded = event.occurred_at.astimezone(ctx.domain.tz)
        same = (
            event.occurred_at == plan.start_at
            if plan.event_timed
            else recorded.date() == plan.start_at.date()
        )
        if not same:
            shown = (
                f"{plan.start_at:%Y-%m-%d %H:%M}"
                if plan.event_timed
                else f"{plan.start_at:%Y-%m-%d}"
            )
            plan.row.fail(
                "event_date",
                f"event {plan.event_key!r} is already in gongkai at "
                f"{recorded:%Y-%m-%d %H:%M}; the ledger says {shown}",
            )
            continue
        # Tasks added to a recorded event start when the event did, as record_event's do.
        plan.start_at = event.occurred_at
        plan.event = event
        dedupe[f"{plan.obligation.code}|{plan.section.id}|event:{event.id}"] = plan
    keys_list = sorted(dedupe)
    for offset in range(0, len(keys_list), 500):
        chunk = keys_list[offset : offset + 500]
        for task in ctx.session.exec(select(Task).where(col(Task.dedupe_key).in_(chunk))).all():
            plan = dedupe[task.dedupe_key]
            if task.agency_id != ctx.agency.id:
                continue
            plan.task = task
            plan.action = "present"
            if (
                task.status in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value)
                and plan.done_at is not None
            ):
                if task.status == TaskStatus.OPEN.value and task.due_date != plan.deadline.due_date:
                    plan.row.fail(
                        "due_on",
                        f"{plan.key} is open in gongkai (task {task.id}) due {task.due_date}, "
                        f"but the ledger's duty is due {plan.deadline.due_date}",
                    )
                    continue
                plan.action = "close"


def _write_duties(ctx: _Context, plans: Sequence[_DutyPlan], actor: Actor) -> list[Task | None]:
    session, domain, at = ctx.session, ctx.domain, ctx.at
    task_ids: dict[int, int] = {}  # index in plans → task id
    # Recurring duties: one bulk insert, keyed like spawn_recurring's tasks.
    rows: list[dict[str, Any]] = []
    starts: list[dt.datetime] = []
    positions: list[int] = []
    for position, plan in enumerate(plans):
        if plan.action == "create" and plan.period is not None:
            rows.append(
                new_task_row(
                    agency=ctx.agency,
                    section=plan.section,
                    obligation=plan.obligation,
                    snapshot=rule_snapshot(plan.obligation),
                    dedupe_key=f"{plan.obligation.code}|{plan.section.id}|{plan.period.key}",
                    title=plan.title,
                    start_at=plan.start_at,
                    domain=domain,
                    at=at,
                    period_key=plan.period.key,
                )
            )
            starts.append(plan.start_at)
            positions.append(position)
    ids = insert_tasks(session, rows, starts, actor=actor, at=at, audit=AuditWriter(session))
    task_ids.update(zip(positions, ids, strict=True))
    # Event duties: the event once (through record_event, narrowed to the rows' duties of
    # the event's section), then the tasks it did not spawn.
    events: dict[str, Event] = {}
    for position, plan in enumerate(plans):
        if plan.action != "create" or plan.event_key is None:
            continue
        event = plan.event or events.get(plan.event_key)
        if event is None:
            event = _record_duty_event(
                ctx, plan, [p for p in plans if p.event_key == plan.event_key], actor
            )
            events[plan.event_key] = event
        dedupe_key = f"{plan.obligation.code}|{plan.section.id}|event:{event.id}"
        spawned = session.exec(select(Task.id).where(Task.dedupe_key == dedupe_key)).first()
        if spawned is None:
            row = new_task_row(
                agency=ctx.agency,
                section=plan.section,
                obligation=plan.obligation,
                snapshot=rule_snapshot(plan.obligation),
                dedupe_key=dedupe_key,
                title=f"{plan.obligation.title.zh}：{event.title}"
                if event.title
                else plan.obligation.title.zh,
                start_at=plan.start_at,
                domain=domain,
                at=at,
                event_id=event.id,
            )
            spawned = insert_tasks(
                session, [row], [plan.start_at], actor=actor, at=at, audit=AuditWriter(session)
            )[0]
        task_ids[position] = int(spawned)
    results: list[Task | None] = []
    for position, plan in enumerate(plans):
        if plan.action == "present":
            results.append(plan.task)
            continue
        task_id = (
            plan.task.id if plan.action == "close" and plan.task is not None else task_ids[position]
        )
        assert task_id is not None
        if plan.done_at is None:
            results.append(session.get(Task, task_id))
            continue
        assert plan.evidence is not None
        results.append(
            complete(
                session,
                task_id,
                domain,
                actor=actor,
                at=at,
                evidence=plan.evidence,
                done_at=plan.done_at,
            )
        )
    return results


def _record_duty_event(
    ctx: _Context, plan: _DutyPlan, group: Sequence[_DutyPlan], actor: Actor
) -> Event:
    assert plan.event_type is not None
    assert plan.event_key is not None
    spawn = [
        item.obligation
        for item in group
        if item.action == "create"
        and item.section.id == plan.section.id
        and item.obligation.responsible.mode is ResponsibleMode.FROM_EVENT
    ]
    title = next((item.title for item in group if item.title), "")
    result = record_event(
        ctx.session,
        replace(ctx.domain, catalog=Catalog(spawn)),
        agency_code=ctx.agency.code,
        event_type_name=plan.event_type.value,
        occurred_at=plan.start_at,
        actor=actor,
        at=ctx.at,
        attributes=plan.attributes,
        external_id=plan.event_key,
        section_code=plan.section.code,
        title=title,
    )
    return result.event


# --------------------------------------------------------------------------- entry point


def import_ledger(
    session: Session,
    domain: Domain,
    ledger: LedgerFile,
    *,
    agency_code: str,
    actor: Actor,
    at: dt.datetime,
) -> LedgerImportResult:
    """Validate every row of ``ledger``, then write it (see the module docstring).

    Raises :class:`ImportRowsError` with every problem before anything is written; the
    caller's transaction must be rolled back on any error (``session_scope`` does).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise LedgerError(f"at {at.isoformat()} has no time zone")
    agency = agency_by_code(session, agency_code)
    actor.check_write(agency.id or 0, None)
    sections = list(
        session.exec(
            select(Section).where(Section.agency_id == agency.id).order_by(col(Section.id))
        ).all()
    )
    ctx = _Context(
        session=session,
        domain=domain,
        source=ledger.source,
        agency=agency,
        at=at,
        today=at.astimezone(domain.tz).date(),
        sections_by_code={section.code: section for section in sections},
        sections_by_name={section.name: section for section in sections},
    )
    request_plans: dict[int, list[_RequestPlan]] = {}
    duty_plans: dict[int, list[_DutyPlan]] = {}
    for number, sheet in enumerate(ledger.sheets):
        if sheet.kind == "requests":
            request_plans[number] = _plan_requests(ctx, sheet, number)
    for number, sheet in enumerate(ledger.sheets):
        if sheet.kind == "duties":
            duty_plans[number] = _plan_duties(ctx, sheet, number)
    if ctx.problems:
        raise ImportRowsError([problem.text for problem in sorted(ctx.problems)])

    summaries: list[SheetSummary] = []
    outcomes: list[RowOutcome] = []
    for number, sheet in enumerate(ledger.sheets):
        written: list[tuple[_Row, str, Action, Task | None]] = []
        if number in request_plans:
            for plan in request_plans[number]:
                try:
                    task = _write_request(ctx, plan, actor)
                except ObligationsError as exc:
                    # Validation should have caught this; report it like any row problem.
                    raise ImportRowsError([f"{ctx.where(plan.row)}: (row): {exc}"]) from exc
                written.append((plan.row, plan.external_id, plan.action, task))
        else:
            duties = duty_plans[number]
            try:
                tasks = _write_duties(ctx, duties, actor)
            except ObligationsError as exc:
                raise ImportRowsError([f"{ctx.source}:{sheet.name}: {exc}"]) from exc
            written = [
                (plan.row, plan.key, plan.action, task)
                for plan, task in zip(duties, tasks, strict=True)
            ]
        summary = SheetSummary(sheet=sheet.name)
        for row, key, action, task in written:
            outcome = RowOutcome(
                sheet=sheet.name,
                row=row.number,
                key=key,
                action=action,
                task_id=task.id if task else None,
                status=task.status if task else None,
                due_date=task.due_date if task else None,
                timeliness=task.timeliness if task else None,
                working_days_margin=task.working_days_margin if task else None,
            )
            summary.count(outcome)
            outcomes.append(outcome)
        summaries.append(summary)
    return LedgerImportResult(
        source=ledger.source,
        agency=agency.code,
        sheets=summaries,
        rows=outcomes,
        warnings=ctx.warnings,
    )
