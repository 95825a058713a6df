"""Logins in the browser: the office adds, resets and deactivates logins; anyone changes
their own password. Against a real ledger (SQLite and PostgreSQL) and a live server."""

from __future__ import annotations

from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db.models import AuditEntry, User

NEW_PASSWORD = "a brand new passphrase 42"


def user(engine: Engine, username: str) -> User | None:
    with Session(engine) as session:
        return session.exec(select(User).where(User.username == username)).first()


def user_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


def section_id(site: Any, code: str) -> str:
    return str(site.sections[code])


def add(client: Any, **fields: str) -> Any:
    data = {"role": "chief", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    data.update(fields)
    return support.post_form(client, "/users", "/users", data)


def test_office_adds_a_chief_who_then_sees_only_their_section(site: Any) -> None:
    office = support.logged_in(site, "office")
    page = office.get("/users")
    assert page.status_code == 200
    assert 'data-user="trade"' in page.text
    assert 'data-user="gov"' not in page.text  # another scope's login
    answer = add(office, username="wang2", section=section_id(site, "foreign-trade"))
    assert answer.status_code == 303, answer.text
    created = user(site.engine, "wang2")
    assert created is not None
    assert (created.role, created.section_id) == ("chief", site.sections["foreign-trade"])
    assert created.password_hash.startswith("$argon2")
    listed = office.get("/users").text
    assert "已添加用户 wang2" in listed
    assert created.password_hash not in listed
    with Session(site.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.action == "create")
        ).all()[-1]
    assert entry.actor == "office"
    assert created.password_hash not in str(entry.after)

    chief = site.client()
    assert support.login(chief, "wang2", NEW_PASSWORD).status_code == 303
    assert chief.get(f"/tasks/{site.tasks['general-doc']}").status_code == 403
    assert chief.get(f"/tasks/{site.tasks['request-reply']}").status_code == 200
    assert chief.get("/users").status_code == 403


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "short", "password": "abc", "password_again": "abc"}, "password"),
        ({"username": "mismatch", "password_again": "something else 123"}, "password_again"),
        ({"username": "trade"}, "username"),  # exists
        ({"username": "with space"}, "username"),
        ({"username": "nosection"}, "section"),  # a chief needs a section
        ({"username": "badsection", "section": "999999"}, "section"),
        ({"username": "badrole", "role": "gov_office"}, "role"),  # the office may not
        ({"username": "", "section": "1"}, "username"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_nothing_is_stored(
    site: Any, fields: dict[str, str], field: str
) -> None:
    office = support.logged_in(site, "office")
    before = user_count(site.engine)
    if "section" not in fields and field != "section":
        fields = {**fields, "section": section_id(site, "foreign-trade")}
    answer = add(office, **fields)
    assert answer.status_code == 422, answer.text[:300]
    assert f'data-field="{field}"' in answer.text
    assert user_count(site.engine) == before
    assert NEW_PASSWORD not in answer.text  # a password is never shown back


def test_user_text_is_escaped(site: Any) -> None:
    office = support.logged_in(site, "office")
    answer = add(office, username="<script>alert(1)</script>", role="leader")
    assert answer.status_code == 303, answer.text
    page = office.get("/users").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_office_resets_a_password_and_the_old_sessions_end(site: Any) -> None:
    chief = support.logged_in(site, "trade")
    assert chief.get("/board").status_code == 200
    office = support.logged_in(site, "office")
    target = user(site.engine, "trade")
    assert target is not None
    short = support.post_form(office, "/users", f"/users/{target.id}/password", {"password": "x"})
    assert short.status_code == 422
    assert f'data-field="password-{target.id}"' in short.text
    done = support.post_form(
        office, "/users", f"/users/{target.id}/password", {"password": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert chief.get("/board").status_code == 303  # back to the login page
    assert support.login(site.client(), "trade").status_code != 303  # old password
    assert support.login(site.client(), "trade", NEW_PASSWORD).status_code == 303


def test_deactivate_ends_sessions_and_activate_restores(site: Any) -> None:
    leader = support.logged_in(site, "leader")
    office = support.logged_in(site, "office")
    target = user(site.engine, "leader")
    me = user(site.engine, "office")
    assert target is not None
    assert me is not None
    off = support.post_form(office, "/users", f"/users/{target.id}/active", {"active": "0"})
    assert off.status_code == 303
    assert leader.get("/").status_code == 303
    assert support.login(site.client(), "leader").status_code != 303
    on = support.post_form(office, "/users", f"/users/{target.id}/active", {"active": "1"})
    assert on.status_code == 303
    assert support.login(site.client(), "leader").status_code == 303
    itself = support.post_form(office, "/users", f"/users/{me.id}/active", {"active": "0"})
    assert itself.status_code == 403
    bad = support.post_form(office, "/users", f"/users/{target.id}/active", {"active": "maybe"})
    assert bad.status_code == 422
    assert (user(site.engine, "office") or me).active


def test_only_the_office_manages_logins_and_only_its_own(site: Any) -> None:
    target = user(site.engine, "invest")
    gov = user(site.engine, "gov")
    assert target is not None
    assert gov is not None
    for name in ("trade", "leader"):
        client = support.logged_in(site, name)
        assert client.get("/users").status_code == 403
        page = client.get("/account")
        refused = client.post(
            f"/users/{target.id}/active",
            data={"active": "0", "csrf_token": support.csrf_of(page.text)},
        )
        assert refused.status_code == 403
    office = support.logged_in(site, "office")
    other = support.post_form(office, "/users", f"/users/{gov.id}/active", {"active": "0"})
    assert other.status_code == 404  # the government office's login is not the agency's
    assert (user(site.engine, "gov") or gov).active
    everyone = support.logged_in(site, "gov")
    page = everyone.get("/users").text
    assert 'data-user="gov"' in page
    assert 'data-user="trade"' in page
    no_csrf = office.post(f"/users/{target.id}/active", data={"active": "0"})
    assert no_csrf.status_code == 403
    assert (user(site.engine, "invest") or target).active


def test_anyone_changes_their_own_password(site: Any) -> None:
    other_device = support.logged_in(site, "trade")
    chief = support.logged_in(site, "trade")
    wrong = support.post_form(
        chief,
        "/account",
        "/account/password",
        {"current": "not it at all", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert 'data-field="current"' in wrong.text
    differ = support.post_form(
        chief,
        "/account",
        "/account/password",
        {"current": support.PASSWORD, "password": NEW_PASSWORD, "password_again": "x" * 12},
    )
    assert differ.status_code == 422
    assert 'data-field="password_again"' in differ.text
    done = support.post_form(
        chief,
        "/account",
        "/account/password",
        {"current": support.PASSWORD, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert done.status_code == 303
    assert chief.get("/account").status_code == 200  # this session continues
    assert other_device.get("/board").status_code == 303  # the other one ended
    assert support.login(site.client(), "trade", NEW_PASSWORD).status_code == 303
    with Session(site.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity == "user", AuditEntry.action == "set_password"
            )
        ).all()[-1]
    assert entry.actor == "trade"
