"""SQLModel tables of the ledger. Every datetime is timezone-aware and stored in UTC.

Plain ``datetime`` fields map to SQLModel's ``UTCDateTime`` which keeps the offset on
SQLite too (a raw ``DateTime(timezone=True)`` column would drop it there). Every row that
belongs to an agency carries ``agency_id`` so queries, reports and permissions are scoped by
agency from the first table on.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# Named constraints, so later migrations can alter or drop them by name (SQLite batch mode too).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    CHIEF = "chief"  # 科长
    STAFF = "staff"  # 科员
    OFFICE = "office"  # 办公室
    LEADER = "leader"  # 分管领导
    GOV_OFFICE = "gov_office"  # 政务公开办: sees every agency


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    EMAIL = "email"
    CONSOLE = "console"


class TaskStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class Agency(SQLModel, table=True):
    """A 机关/部门. The embedded case has one; a 政务公开办 runs many."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    created_at: dt.datetime


class Section(SQLModel, table=True):
    """A 科室 of an agency."""

    __table_args__ = (UniqueConstraint("agency_id", "code", name="uq_section_agency_code"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    active: bool = True


class Person(SQLModel, table=True):
    """Someone who receives reminders or acts on tasks."""

    __table_args__ = (UniqueConstraint("agency_id", "name", name="uq_person_agency_name"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    section_id: int | None = Field(default=None, foreign_key="section.id", index=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    active: bool = True


class ChatAddress(SQLModel, table=True):
    """Where a person is reached on one channel (chat id, webhook key, e-mail address)."""

    __table_args__ = (UniqueConstraint("person_id", "channel", name="uq_chat_person_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=500)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)


class Event(SQLModel, table=True):
    """Something that happened and may spawn tasks (文件公开, 收到申请, …)."""

    __table_args__ = (UniqueConstraint("agency_id", "external_id", name="uq_event_external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    type: str = Field(max_length=40, index=True)
    external_id: str | None = Field(default=None, max_length=200)
    occurred_at: dt.datetime
    section_id: int | None = Field(default=None, foreign_key="section.id")
    title: str = Field(default="", max_length=500)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: dt.datetime
    recorded_by: str = Field(max_length=100)


class Task(SQLModel, table=True):
    """One occurrence of an obligation for one section, with a snapshot of its rule."""

    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_task_dedupe_key"),
        Index(
            "ix_task_next_action_at",
            "next_action_at",
            sqlite_where=text("next_action_at IS NOT NULL"),
            postgresql_where=text("next_action_at IS NOT NULL"),
        ),
        # The dashboard's overdue board, overview and calendar: ranges of due_at among one
        # agency's (or one section's) open tasks, counted per section from the index alone.
        Index("ix_task_agency_status_due_section", "agency_id", "status", "due_at", "section_id"),
        Index("ix_task_section_status_due", "section_id", "status", "due_at"),
        # The closing facts the reports aggregate (reports/stats.py), so a year's statistics
        # read this index instead of the task rows with their 1–2 KB rule snapshots.
        Index(
            "ix_task_report_facts",
            "agency_id",
            "due_date",
            "obligation_code",
            "section_id",
            "status",
            "timeliness",
            "working_days_margin",
            "due_at",
            "done_at",
            "event_id",
            "outcome_code",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id")
    section_id: int = Field(foreign_key="section.id")
    obligation_code: str = Field(max_length=64, index=True)
    #: (obligation, section, period) for recurring tasks, (obligation, section, event) else.
    dedupe_key: str = Field(max_length=300)
    event_id: int | None = Field(default=None, foreign_key="event.id", index=True)
    period_key: str | None = Field(default=None, max_length=16)
    title: str = Field(max_length=500)
    #: The obligation as it was when the task was created: editing the catalog later
    #: never rewrites this task.
    rule: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=TaskStatus.OPEN.value, max_length=16)
    start_date: dt.date
    due_date: dt.date | None = None
    due_at: dt.datetime | None = None
    provisional: bool = False
    extended_by: int = 0
    next_action_at: dt.datetime | None = None
    #: Highest reminder / escalation stage already handed to the outbox (-1: none yet).
    stage_done: int = -1
    claimed_by: str | None = Field(default=None, max_length=100)
    claim_expires_at: dt.datetime | None = None
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    evidence_url: str | None = Field(default=None, max_length=2000)
    outcome_code: str | None = Field(default=None, max_length=64)
    service_date: dt.date | None = None
    # Closing facts, stored when the task closes (statistics aggregate these).
    timeliness: str | None = Field(default=None, max_length=20)
    working_days_margin: int | None = None
    extended: bool = False
    cancel_reason: str | None = Field(default=None, max_length=500)
    version: int = 0


class ClockEventRow(SQLModel, table=True):
    """One event of a task's clock (start, pause, resume, restart, extend)."""

    __tablename__ = "clock_event"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    kind: str = Field(max_length=16)
    at: dt.datetime
    amount: int = 0
    approver: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=500)
    recorded_at: dt.datetime
    recorded_by: str = Field(max_length=100)


class OutboxMessage(SQLModel, table=True):
    """A message to deliver; the unique key makes a double send impossible."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # deliver's "was this person's digest for this window already sent?" check.
        Index(
            "ix_outbox_sent_person_window",
            "person_id",
            "window",
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    #: (task, stage, recipient, window)
    dedupe_key: str = Field(max_length=300)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    stage: str = Field(max_length=40)
    window: str = Field(max_length=40)
    immediate: bool = False
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: dt.datetime
    claimed_by: str | None = Field(default=None, max_length=100)
    claim_expires_at: dt.datetime | None = None
    created_at: dt.datetime
    sent_at: dt.datetime | None = None
    last_error: str | None = Field(default=None, max_length=2000)


class Delivery(SQLModel, table=True):
    """The outcome of one attempt to send outbox messages over one channel."""

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    channel: str = Field(max_length=16)
    attempted_at: dt.datetime
    outcome: str = Field(max_length=16)  # sent | transient | permanent
    detail: str | None = Field(default=None, max_length=2000)


class AuditEntry(SQLModel, table=True):
    """One ledger operation; entries form a hash chain that ``audit verify`` checks."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, index=True)
    at: dt.datetime
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    entity_id: str = Field(max_length=100)
    agency_id: int | None = Field(default=None, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class CalendarNotice(SQLModel, table=True):
    """A State Council holiday notice loaded into this installation (latest per year wins)."""

    __tablename__ = "calendar_notice"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    title: str = Field(max_length=300)
    source: str = Field(max_length=300)
    text: str
    loaded_at: dt.datetime
    loaded_by: str = Field(max_length=100)


class AuditHead(SQLModel, table=True):
    """The chain's last ``seq`` and hash, so deleting the newest entries is detected too."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class ExtensionRequest(SQLModel, table=True):
    """A chief's request to extend a task (申请延期); the office approves or rejects it."""

    __tablename__ = "extension_request"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    amount: int
    reason: str = Field(max_length=1000)
    requested_by: str = Field(max_length=100)
    requested_at: dt.datetime
    status: str = Field(default="pending", max_length=16)  # pending | approved | rejected
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: dt.datetime | None = None
    decision_note: str | None = Field(default=None, max_length=1000)


class ReviewCase(SQLModel, table=True):
    """An administrative review (行政复议) or lawsuit (行政诉讼) about disclosure: table 四."""

    __tablename__ = "review_case"
    __table_args__ = (
        UniqueConstraint("agency_id", "external_id", name="uq_review_case_external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    #: review | litigation_direct (未经复议直接起诉) | litigation_after_review (复议后起诉)
    kind: str = Field(max_length=32)
    external_id: str | None = Field(default=None, max_length=200)
    filed_on: dt.date
    #: upheld (维持) | corrected (纠正) | other (其他) | pending (尚未审结)
    result: str = Field(default="pending", max_length=16)
    closed_on: dt.date | None = None
    event_id: int | None = Field(default=None, foreign_key="event.id")
    note: str | None = Field(default=None, max_length=1000)
    recorded_at: dt.datetime
    recorded_by: str = Field(max_length=100)


class YearFigure(SQLModel, table=True):
    """A figure of the annual report that is not a count of tasks (e.g. 行政事业性收费 amount,
    规章 in force), entered by the office per agency and year."""

    __tablename__ = "year_figure"
    __table_args__ = (UniqueConstraint("agency_id", "year", "key", name="uq_year_figure_key"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    year: int
    key: str = Field(max_length=64)
    value: float
    note: str | None = Field(default=None, max_length=500)
    recorded_at: dt.datetime
    recorded_by: str = Field(max_length=100)


class YearLock(SQLModel, table=True):
    """A published year frozen with the figures as filed (their JSON and its hash)."""

    __tablename__ = "year_lock"
    __table_args__ = (UniqueConstraint("agency_id", "year", name="uq_year_lock_agency_year"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    year: int
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    digest: str = Field(max_length=64)
    locked_at: dt.datetime
    locked_by: str = Field(max_length=100)


class User(SQLModel, table=True):
    """A dashboard login. Passwords are stored only as hashes."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=100)
    password_hash: str = Field(max_length=300)
    role: str = Field(max_length=16)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    section_id: int | None = Field(default=None, foreign_key="section.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    active: bool = True
    created_at: dt.datetime


class ApiToken(SQLModel, table=True):
    """A token for integrations (the agency's CMS) or a calendar feed; only its hash is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=100)
    #: api (REST integrations) | feed (ICS subscription)
    purpose: str = Field(default="api", max_length=16)
    role: str = Field(default="office", max_length=16)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    section_id: int | None = Field(default=None, foreign_key="section.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: dt.datetime
    last_used_at: dt.datetime | None = None
    revoked: bool = False


class BindCode(SQLModel, table=True):
    """A one-time code the office issues so a person can bind a chat (Telegram ``/start CODE``)."""

    __tablename__ = "bind_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(unique=True, index=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    created_at: dt.datetime
    created_by: str = Field(max_length=100)
