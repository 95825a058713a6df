"""Logins in the browser (用户管理) and changing one's own password (修改密码).

The office manages its agency's logins here as ``gongkai user add|passwd`` does on the
command line: add a login for a section chief, staff member, leader or another office
user, set a new password for someone who forgot theirs, deactivate a login (its sessions
end at once: the session stamp covers the active flag) and activate it again. The
government office manages every agency's. Every change goes through ``db.users`` with the
logged-in user as the actor, so it is permission-checked and written to the audit chain.

Password hashes never reach a page; a new password is never shown back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from dashboard.forms import Form, RowId
from dashboard.routes.tasks import FormData
from dashboard.scope import ViewScope, agencies_in, scope_for, sections_in
from dashboard.security import Viewer, check_csrf, start_session
from dashboard.web import Services, Svc, WebViewer, flash, language, page_view, redirect, render
from db.context import PermissionDenied
from db.errors import LedgerError, NotFoundError
from db.models import Person, User
from db.users import (
    LOGIN_ROLES,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    UserError,
    add_user,
    change_own_password,
    resolve_scope,
    set_active,
    set_password,
    verify_password,
)

router = APIRouter(dependencies=[Depends(check_csrf)])

#: Roles the office of an agency may give; ``gov_office`` logins are the government
#: office's to create.
AGENCY_ROLES = tuple(role for role in LOGIN_ROLES if role != "gov_office")
SECTION_ROLES = ("chief", "staff")


def _require_manager(viewer: Viewer) -> None:
    if not viewer.is_office or not viewer.can_write:
        raise PermissionDenied(f"{viewer.username}: only the office manages logins")


def _visible_users(session: Session, scope: ViewScope) -> list[User]:
    statement = select(User).order_by(col(User.username))
    if scope.agency_id is not None:
        statement = statement.where(col(User.agency_id) == scope.agency_id)
    return list(session.exec(statement).all())


def _page(
    request: Request,
    svc: Services,
    viewer: Viewer,
    *,
    agency: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        users = _visible_users(session, scope)
        sections = sections_in(session, scope)
        agencies = agencies_in(session, scope)
        people = list(
            session.exec(
                select(Person)
                .where(col(Person.agency_id).in_([item.id for item in agencies]))
                .where(col(Person.active))
                .order_by(col(Person.name))
            ).all()
        )
    names = {person.id: person.name for person in people}
    agency_codes = {item.id: item.code for item in agencies}
    rows: list[dict[str, Any]] = [
        {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "agency": agency_codes.get(user.agency_id, "") if user.agency_id else "",
            "section": sections[user.section_id].name if user.section_id in sections else "",
            "person": names.get(user.person_id, "") if user.person_id else "",
            "active": user.active,
            "created_at": user.created_at,
            "is_self": user.id == viewer.user_id,
        }
        for user in users
    ]
    roles = LOGIN_ROLES if viewer.role == "gov_office" else AGENCY_ROLES
    return render(
        request,
        "users.html",
        {
            "rows": rows,
            "roles": roles,
            "sections": sections,
            "agencies": agencies,
            "people": people,
            "errors": errors or {},
            "form": form or {},
            "min_password": MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


@router.get("/users", include_in_schema=False)
@page_view
def users_page(
    request: Request, viewer: WebViewer, svc: Svc, agency: str | None = None
) -> Response:
    _require_manager(viewer)
    return _page(request, svc, viewer, agency=agency)


def _password(form: Form, name: str) -> str:
    """A new password from the form (not stripped: spaces are part of a passphrase)."""
    value = form.data.get(name, "")
    if not value:
        form.error(name, "必填", "required")
    elif len(value) < MIN_PASSWORD_LENGTH:
        form.error(
            name,
            f"密码至少 {MIN_PASSWORD_LENGTH} 个字符",
            f"at least {MIN_PASSWORD_LENGTH} characters",
        )
    elif len(value) > MAX_PASSWORD_LENGTH:
        form.error(
            name,
            f"密码最多 {MAX_PASSWORD_LENGTH} 个字符",
            f"at most {MAX_PASSWORD_LENGTH} characters",
        )
    return value


@router.post("/users", include_in_schema=False)
def create_user(request: Request, data: FormData, viewer: WebViewer, svc: Svc) -> Response:
    """Add a login; a bad field re-renders the form with its message and stores nothing."""
    _require_manager(viewer)
    lang = language(request)
    form = Form(data, lang)
    username = form.text("username", required=True, max_length=100)
    if username and any(ch.isspace() for ch in username):
        form.error("username", "用户名不能含空格", "no spaces in a user name")
    roles = LOGIN_ROLES if viewer.role == "gov_office" else AGENCY_ROLES
    role = form.choice("role", roles)
    section_value = form.text("section", max_length=20)
    person_value = form.text("person", max_length=20)
    agency_code = form.optional_text("agency", max_length=64)
    password = _password(form, "password")
    if password and data.get("password_again", "") != password:
        form.error("password_again", "两次输入的密码不一致", "the two passwords differ")
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency_code if viewer.all_agencies else None)
        sections = sections_in(session, scope)
        agencies = agencies_in(session, scope)
        people = {
            str(person.id): person
            for person in session.exec(
                select(Person).where(col(Person.agency_id).in_([a.id for a in agencies]))
            ).all()
        }
    section = next((s for s in sections.values() if str(s.id) == section_value), None)
    if section_value and section is None:
        form.error("section", "未知科室", "unknown section")
    person = people.get(person_value) if person_value else None
    if person_value and person is None:
        form.error("person", "未知人员", "unknown person")
    if (
        role in SECTION_ROLES
        and section is None
        and person is None
        and "section" not in form.errors
    ):
        form.error(
            "section", "科长、科员须选择所在科室", "a chief or staff login needs its section"
        )
    agency_of = {item.id: item.code for item in agencies}
    if role == "gov_office":
        target_agency = None
    elif section is not None:
        target_agency = agency_of.get(section.agency_id)
    elif person is not None:
        target_agency = agency_of.get(person.agency_id)
    elif len(agencies) == 1:
        target_agency = agencies[0].code
    else:
        target_agency = None
        form.error("agency", "请选择机关", "choose the agency")
    values = {
        key: value
        for key, value in data.items()
        if key not in ("csrf_token", "password", "password_again")
    }
    if not form.errors and role is not None:
        try:
            with svc.db.write() as session:
                user_scope = resolve_scope(
                    session,
                    role=role,
                    agency_code=target_agency,
                    section_code=section.code if section else None,
                    person_name=person.name if person else None,
                )
                add_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    scope=user_scope,
                    actor=viewer.actor,
                    at=svc.now(),
                )
        except PermissionDenied:
            raise
        except LedgerError as exc:
            message = str(exc)
            field = "username" if "user" in message and "exists" in message else "role"
            if "already exists" in message:
                form.error(field, f"用户名 {username} 已存在", f"user {username} already exists")
            else:
                form.errors[field] = message
    if form.errors:
        return _page(
            request,
            svc,
            viewer,
            agency=agency_code if viewer.all_agencies else None,
            errors=form.errors,
            form=values,
            status_code=422,
        )
    flash(request, f"已添加用户 {username}" if lang == "zh" else f"Login {username} added")
    return redirect("/users")


def _managed_user(session: Session, viewer: Viewer, user_id: int) -> User:
    """The login ``user_id`` if the viewer may manage it (same agency, or the gov office)."""
    user = session.get(User, user_id)
    if user is None or (
        viewer.role != "gov_office"
        and (user.agency_id is None or user.agency_id != viewer.agency_id)
    ):
        raise NotFoundError(f"no login {user_id}")
    return user


@router.post("/users/{user_id}/password", include_in_schema=False)
def reset_password(
    request: Request, user_id: RowId, data: FormData, viewer: WebViewer, svc: Svc
) -> Response:
    """The office sets a new password for a login (someone forgot theirs)."""
    _require_manager(viewer)
    lang = language(request)
    form = Form(data, lang)
    password = _password(form, "password")
    if form.errors:
        return _page(
            request,
            svc,
            viewer,
            errors={f"password-{user_id}": form.errors["password"]},
            status_code=422,
        )
    with svc.db.write() as session:
        user = _managed_user(session, viewer, user_id)
        set_password(
            session, username=user.username, password=password, actor=viewer.actor, at=svc.now()
        )
        if user.id == viewer.user_id:
            start_session(request, user, svc.secret_key)  # stay logged in with the new stamp
        name = user.username
    flash(request, f"已重设 {name} 的密码" if lang == "zh" else f"Password of {name} set")
    return redirect("/users")


@router.post("/users/{user_id}/active", include_in_schema=False)
def change_active(
    request: Request, user_id: RowId, data: FormData, viewer: WebViewer, svc: Svc
) -> Response:
    """Deactivate a login (its sessions end at once) or activate it again."""
    _require_manager(viewer)
    lang = language(request)
    form = Form(data, lang)
    choice = form.choice("active", ("0", "1"))
    form.raise_if_errors()
    active = choice == "1"
    if not active and user_id == viewer.user_id:
        raise PermissionDenied(f"{viewer.username}: a login cannot deactivate itself")
    with svc.db.write() as session:
        user = _managed_user(session, viewer, user_id)
        set_active(session, username=user.username, active=active, actor=viewer.actor, at=svc.now())
        name = user.username
    if lang == "zh":
        flash(request, f"已{'启用' if active else '停用'}用户 {name}")
    else:
        flash(request, f"Login {name} {'activated' if active else 'deactivated'}")
    return redirect("/users")


@router.get("/account", include_in_schema=False)
@page_view
def account_page(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    return render(request, "account.html", {"min_password": MIN_PASSWORD_LENGTH})


@router.post("/account/password", include_in_schema=False)
def own_password(request: Request, data: FormData, viewer: WebViewer, svc: Svc) -> Response:
    """Any login changes its own password, giving the current one. Other sessions of the
    user end (the stamp changes); this one continues."""
    lang = language(request)
    form = Form(data, lang)
    current = data.get("current", "")
    password = _password(form, "password")
    if password and data.get("password_again", "") != password:
        form.error("password_again", "两次输入的密码不一致", "the two passwords differ")
    if password and password == current:
        form.error(
            "password", "新密码须与原密码不同", "choose a password other than the current one"
        )
    if not form.errors:
        with svc.db.read() as session:
            if verify_password(session, viewer.username, current) is None:
                form.error("current", "原密码不正确", "the current password is wrong")
    if form.errors:
        return render(
            request,
            "account.html",
            {"min_password": MIN_PASSWORD_LENGTH, "errors": form.errors},
            status_code=422,
        )
    try:
        with svc.db.write() as session:
            user = change_own_password(
                session, username=viewer.username, current=current, password=password, at=svc.now()
            )
            start_session(request, user, svc.secret_key)
    except UserError:  # changed meanwhile in another session
        return render(
            request,
            "account.html",
            {"min_password": MIN_PASSWORD_LENGTH, "errors": {"current": "原密码不正确"}},
            status_code=422,
        )
    flash(request, "密码已修改" if lang == "zh" else "Password changed")
    return redirect("/account")
