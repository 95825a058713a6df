"""REST API ``/api/v1`` for the agency's CMS and other integrations (OpenAPI at
``/api/v1/openapi.json``).

Authentication: ``Authorization: Bearer <token>`` with an ``api`` token (``gongkai user token
NAME --role office``); the token acts with its role and scope like a logged-in user. Every
error is ``{"error": {"field": …, "message": …}}`` with the offending field named where
there is one; nothing is half-saved (each call is one ledger transaction).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard.board import obligation_title
from dashboard.forms import MAX_ID, FieldErrors
from dashboard.scope import ViewScope
from dashboard.security import LoginRequired
from dashboard.web import Services, Svc
from db import tasks as ledger
from db.context import Actor, PermissionDenied
from db.errors import NotFoundError
from db.models import Agency, ApiToken, ClockEventRow, Section, Task, TaskStatus
from db.spawn import record_event
from db.users import actor_for_token, resolve_token
from obligations.catalog import EventType
from obligations.errors import ObligationsError, OutOfRangeError
from obligations.events import EVENT_ATTRIBUTES

bearer = HTTPBearer(auto_error=False, description="An `api` token from `gongkai user token`")

FIRST_YEAR = 2004
LAST_YEAR = 2040


# --------------------------------------------------------------------------- schemas


class ErrorDetail(BaseModel):
    field: str | None = Field(description="The request field at fault, e.g. `evidence`")
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No or unknown token"},
    403: {"model": ErrorOut, "description": "The token may not do this"},
    404: {"model": ErrorOut, "description": "No such record"},
    422: {"model": ErrorOut, "description": "Bad input; `field` names the part"},
}


def _in_range(value: dt.datetime | dt.date | None, name: str) -> None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{name} must be within {FIRST_YEAR}–{LAST_YEAR}")


class EventIn(BaseModel):
    """An event in the agency (e.g. a policy document published on the website)."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = Field(description="document_published, request_received, …")
    occurred_at: AwareDatetime = Field(description="When it happened, with its UTC offset")
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The id in your system: sending the same id again creates nothing",
    )
    agency: str | None = Field(default=None, max_length=64, description="Agency code")
    section: str | None = Field(
        default=None, max_length=64, description="Code of the responsible section"
    )
    title: str = Field(default="", max_length=500)
    attributes: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Per type, e.g. applicant_type and channel for request_received",
    )

    @field_validator("occurred_at")
    @classmethod
    def _year(cls, value: dt.datetime) -> dt.datetime:
        _in_range(value, "occurred_at")
        return value


class TaskOut(BaseModel):
    id: int
    agency: str
    section: str
    section_name: str
    obligation: str
    obligation_title: str
    title: str
    status: str
    due_date: dt.date | None
    due_at: dt.datetime | None
    provisional: bool
    overdue: bool
    timeliness: str | None
    evidence_url: str | None
    url: str


class ClockEventOut(BaseModel):
    kind: str
    at: dt.datetime
    amount: int
    approver: str | None
    note: str | None


class TaskDetail(TaskOut):
    rule: str
    explanation: list[str]
    extended_by: int
    done_at: dt.datetime | None
    clock_events: list[ClockEventOut]


class TaskList(BaseModel):
    data: list[TaskOut]
    count: int = Field(description="Tasks matching the filters (all pages)")
    limit: int
    offset: int


class EventOut(BaseModel):
    event_id: int
    created: bool = Field(description="False when this external_id was already recorded")
    tasks: list[TaskOut]


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(
        min_length=1, max_length=2000, description="http(s) link where it was published"
    )
    done_at: AwareDatetime | None = Field(default=None, description="Default: now")
    outcome_code: str | None = Field(
        default=None, max_length=64, description="Requests only: the row of table 三"
    )
    service_date: dt.date | None = Field(
        default=None, description="Requests only: 送达日期 (signed for / posted)"
    )

    @field_validator("evidence")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return ledger.check_evidence(value)
        except ObligationsError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("done_at")
    @classmethod
    def _done_year(cls, value: dt.datetime | None) -> dt.datetime | None:
        _in_range(value, "done_at")
        return value

    @field_validator("service_date")
    @classmethod
    def _service_year(cls, value: dt.date | None) -> dt.date | None:
        _in_range(value, "service_date")
        return value


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=1, le=60, description="Units of the rule (working days, hours …)")
    approver: str = Field(min_length=1, max_length=100, description="Who approved (负责人)")
    reason: str = Field(default="", max_length=500)


# --------------------------------------------------------------------------- auth


def api_actor(
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The token's actor; 401 without a valid ``api`` token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise LoginRequired()
    at = svc.now()
    with svc.db.read() as session:
        token = resolve_token(session, credentials.credentials, purpose="api")
    if token is None:
        raise LoginRequired()
    _touch(svc, token, at)
    return actor_for_token(token)


def _touch(svc: Services, token: ApiToken, at: dt.datetime) -> None:
    if token.last_used_at is None or at - token.last_used_at > dt.timedelta(minutes=10):
        with svc.db.write() as session:
            row = session.get(ApiToken, token.id)
            if row is not None:
                row.last_used_at = at
                session.add(row)


ApiActor = Annotated[Actor, Depends(api_actor)]
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Task number")]

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERROR_RESPONSES)


# --------------------------------------------------------------------------- helpers


def _scope(actor: Actor) -> ViewScope:
    if actor.all_agencies:
        return ViewScope(agency_id=None)
    if actor.role in ("chief", "staff"):
        return ViewScope(agency_id=actor.agency_id, section_id=actor.section_id)
    return ViewScope(agency_id=actor.agency_id)


def _task_out(
    svc: Services, task: Any, section: Section, agency: Agency, at: dt.datetime
) -> TaskOut:
    domain = svc.domain()
    overdue = task.status == TaskStatus.OPEN.value and task.due_at is not None and task.due_at <= at
    return TaskOut(
        id=task.id,
        agency=agency.code,
        section=section.code,
        section_name=section.name,
        obligation=task.obligation_code,
        obligation_title=obligation_title(domain.catalog, task.obligation_code, "zh"),
        title=task.title,
        status=task.status,
        due_date=task.due_date,
        due_at=task.due_at,
        provisional=task.provisional,
        overdue=overdue,
        timeliness=task.timeliness,
        evidence_url=task.evidence_url,
        url=f"{svc.config.base_url.rstrip('/')}/tasks/{task.id}",
    )


def _load_out(
    session: Session, svc: Services, task_ids: list[int], at: dt.datetime
) -> list[TaskOut]:
    if not task_ids:
        return []
    rows = session.exec(
        select(Task, Section, Agency)
        .join(Section, col(Section.id) == col(Task.section_id))
        .join(Agency, col(Agency.id) == col(Task.agency_id))
        .where(col(Task.id).in_(task_ids))
        .order_by(col(Task.id))
    ).all()
    return [_task_out(svc, task, section, agency, at) for task, section, agency in rows]


def _refusal(exc: ObligationsError, fields: dict[str, str], default: str) -> FieldErrors:
    """A ledger refusal as a field error: the field of the first word of ``fields`` the
    message contains (word → field), else ``default``."""
    message = str(exc)
    field = next((name for word, name in fields.items() if word in message), default)
    return FieldErrors({field: message})


# --------------------------------------------------------------------------- endpoints


@router.post(
    "/events",
    response_model=EventOut,
    status_code=201,
    responses={200: {"model": EventOut, "description": "Already recorded (same external_id)"}},
    summary="Register an event (idempotent by external_id); spawns its tasks",
)
def register_event(body: EventIn, actor: ApiActor, svc: Svc) -> Any:
    at = svc.now()
    domain = svc.domain()
    if body.occurred_at > at:
        raise FieldErrors({"occurred_at": "occurred_at is in the future"})
    allowed = {spec.name for spec in EVENT_ATTRIBUTES[body.type]}
    for name in body.attributes:
        if name not in allowed:
            raise FieldErrors(
                {
                    f"attributes.{name}": f"unknown attribute for {body.type.value}; known: {', '.join(sorted(allowed))}"
                }
            )
    with svc.db.write() as session:
        agency_code = body.agency
        if agency_code is None:
            if actor.agency_id is None:
                raise FieldErrors({"agency": "give the agency code"})
            agency = session.get(Agency, actor.agency_id)
            if agency is None:
                raise FieldErrors({"agency": "the token's agency no longer exists"})
            agency_code = agency.code
        else:
            agency = session.exec(select(Agency).where(Agency.code == agency_code)).first()
            if agency is None:
                raise FieldErrors({"agency": f"unknown agency {agency_code!r}"})
        if body.section is not None:
            exists = session.exec(
                select(Section.id).where(
                    Section.agency_id == agency.id, Section.code == body.section
                )
            ).first()
            if exists is None:
                raise FieldErrors({"section": f"unknown section {body.section!r} in {agency_code}"})
        try:
            result = record_event(
                session,
                domain,
                agency_code=agency_code,
                event_type_name=body.type.value,
                occurred_at=body.occurred_at,
                actor=actor,
                at=at,
                attributes=body.attributes,
                external_id=body.external_id,
                section_code=body.section,
                title=body.title,
            )
        except PermissionDenied:
            raise
        except (NotFoundError, OutOfRangeError) as exc:
            raise _refusal(exc, {"section": "section", "agency": "agency"}, "occurred_at") from None
        except ObligationsError as exc:
            # Longest names first: "applicant_type" before "applicant".
            words = {name: f"attributes.{name}" for name in sorted(allowed, key=len, reverse=True)}
            raise _refusal(exc, {**words, "section": "section"}, "occurred_at") from None
        assert result.event.id is not None
        out = EventOut(
            event_id=result.event.id,
            created=result.created,
            tasks=_load_out(session, svc, result.task_ids, at),
        )
    if result.created:
        svc.stats.clear()
        return out
    return JSONResponse(out.model_dump(mode="json"), status_code=200)


@router.get("/tasks", response_model=TaskList, summary="List the tasks the token may see")
def list_tasks(
    actor: ApiActor,
    svc: Svc,
    status: Literal["open", "overdue", "paused", "done", "cancelled", "all"] = "open",
    section: Annotated[str | None, Query(max_length=64, description="Section code")] = None,
    obligation: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TaskList:
    at = svc.now()
    scope = _scope(actor)
    filters = list(scope.task_filters())
    with svc.db.read() as session:
        if section is not None:
            statement = select(Section.id).where(Section.code == section)
            if scope.agency_id is not None:
                statement = statement.where(Section.agency_id == scope.agency_id)
            ids = [value for value in session.exec(statement).all() if value is not None]
            if not ids:
                raise FieldErrors({"section": f"unknown section {section!r}"})
            filters.append(col(Task.section_id).in_(ids))
        if obligation is not None:
            filters.append(col(Task.obligation_code) == obligation)
        if status == "overdue":
            filters += [col(Task.status) == TaskStatus.OPEN.value, col(Task.due_at) <= at]
        elif status != "all":
            filters.append(col(Task.status) == status)
        count = int(session.exec(select(func.count()).select_from(Task).where(*filters)).one())
        ids_page = [
            task_id
            for task_id in session.exec(
                select(Task.id)
                .where(*filters)
                .order_by(col(Task.due_at).nulls_last(), col(Task.id))
                .offset(offset)
                .limit(limit)
            ).all()
            if task_id is not None
        ]
        by_id = {item.id: item for item in _load_out(session, svc, ids_page, at)}
    return TaskList(
        data=[by_id[task_id] for task_id in ids_page if task_id in by_id],
        count=count,
        limit=limit,
        offset=offset,
    )


def _detail(session: Session, svc: Services, task: Task, at: dt.datetime) -> TaskDetail:
    assert task.id is not None
    base = _load_out(session, svc, [task.id], at)[0]
    deadline = ledger.explain_task(session, task, svc.domain())
    events = session.exec(
        select(ClockEventRow)
        .where(ClockEventRow.task_id == task.id)
        .order_by(col(ClockEventRow.at), col(ClockEventRow.id))
    ).all()
    return TaskDetail(
        **base.model_dump(),
        rule=ledger.rule_of(task).describe("zh"),
        explanation=deadline.explain("zh"),
        extended_by=task.extended_by,
        done_at=task.done_at,
        clock_events=[
            ClockEventOut(
                kind=row.kind, at=row.at, amount=row.amount, approver=row.approver, note=row.note
            )
            for row in events
        ],
    )


@router.get(
    "/tasks/{task_id}", response_model=TaskDetail, summary="One task with its deadline explained"
)
def show_task(task_id: TaskId, actor: ApiActor, svc: Svc) -> TaskDetail:
    at = svc.now()
    with svc.db.read() as session:
        task = ledger.get_task(session, task_id, actor, for_write=False)
        return _detail(session, svc, task, at)


@router.post(
    "/tasks/{task_id}/complete", response_model=TaskDetail, summary="Mark done with its evidence"
)
def complete_task(task_id: TaskId, body: CompleteIn, actor: ApiActor, svc: Svc) -> TaskDetail:
    at = svc.now()
    if body.done_at is not None and body.done_at > at:
        raise FieldErrors({"done_at": "done_at is in the future"})
    with svc.db.write() as session:
        try:
            task = ledger.complete(
                session,
                task_id,
                svc.domain(),
                actor=actor,
                at=at,
                evidence=body.evidence,
                done_at=body.done_at,
                outcome_code=body.outcome_code,
                service_date=body.service_date,
            )
        except (NotFoundError, PermissionDenied):
            raise
        except ObligationsError as exc:
            fields = {
                "outcome": "outcome_code",
                "service": "service_date",
                "done_at": "done_at",
                "evidence": "evidence",
            }
            raise _refusal(exc, fields, "status") from None
        detail = _detail(session, svc, task, at)
    svc.stats.clear()
    return detail


@router.post(
    "/tasks/{task_id}/extend",
    response_model=TaskDetail,
    summary="Extend the deadline (office tokens; the approver is recorded)",
)
def extend_task(task_id: TaskId, body: ExtendIn, actor: ApiActor, svc: Svc) -> TaskDetail:
    at = svc.now()
    with svc.db.write() as session:
        try:
            task = ledger.extend(
                session,
                task_id,
                svc.domain(),
                actor=actor,
                at=at,
                amount=body.amount,
                approver=body.approver,
                reason=body.reason,
            )
        except (NotFoundError, PermissionDenied):
            raise
        except ObligationsError as exc:
            raise _refusal(exc, {"approver": "approver"}, "amount") from None
        detail = _detail(session, svc, task, at)
    svc.stats.clear()
    return detail
