"""告知书 drafts from a request's task page (live server, SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
from docx import Document
from sqlalchemy import func
from sqlmodel import Session, select

from db import tasks as ledger
from db.context import Actor
from db.engine import session_scope
from db.models import AuditEntry, Task

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def text_of(body: bytes) -> str:
    return "\n".join(paragraph.text for paragraph in Document(io.BytesIO(body)).paragraphs)


def audit_count(site: Any) -> int:
    with Session(site.engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEntry)).one())


def letter(client: Any, task_id: int, **fields: str) -> Any:
    return support.post_form(client, f"/tasks/{task_id}", f"/letters/{task_id}", fields)


def test_correction_notice_for_the_applicant(site: Any) -> None:
    reply = site.tasks["request-reply"]
    chief = support.logged_in(site, "trade")
    page = chief.get(f"/tasks/{reply}").text
    assert 'id="form-letter"' in page
    assert 'value="extension"' not in page  # no extension approved yet
    before = audit_count(site)
    answer = letter(
        chief,
        reply,
        kind="correction",
        applicant="张三",
        number="厦商务依申请〔2026〕12号",
        correction="未写明所需统计数据的年份和口径",
        correction_days="10",
    )
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == DOCX
    assert f'filename="letter-{reply}.docx"' in answer.headers["content-disposition"]
    text = text_of(answer.content)
    assert text.startswith("政府信息公开申请补正告知书\n厦商务依申请〔2026〕12号\n张三：")
    assert (
        "本机关于2026年10月9日收到你（单位）提出的政府信息公开申请（申请公开2025年外贸统计）"
        in text
    )
    assert "未写明所需统计数据的年份和口径" in text
    assert "自收到本告知书之日起10个工作日内" in text
    assert "第三十条" in text
    assert text.endswith("厦门市商务局\n（印章）\n2026年11月27日")
    assert audit_count(site) == before  # a draft stores nothing


def test_extension_notice_once_the_extension_is_approved(site: Any) -> None:
    reply = site.tasks["request-reply"]
    chief = support.logged_in(site, "trade")
    early = letter(chief, reply, kind="extension", applicant="张三", reason="需要征求第三方意见")
    assert early.status_code == 422
    assert 'data-field="kind"' in early.text
    with session_scope(site.engine) as session:
        ledger.extend(
            session,
            reply,
            site.domain,
            actor=Actor.system("test"),
            at=site.at,
            amount=10,
            approver="李主任",
        )
    with Session(site.engine) as session:
        task = session.get(Task, reply)
        assert task is not None
        due = task.due_date
    assert due is not None
    assert 'value="extension"' in chief.get(f"/tasks/{reply}").text
    answer = letter(chief, reply, kind="extension", applicant="张三", reason="需要征求第三方意见。")
    assert answer.status_code == 200, answer.text[:500]
    text = text_of(answer.content)
    assert text.startswith("政府信息公开延期答复告知书\n张三：")
    assert "因需要征求第三方意见，本机关不能在规定期限内作出答复" in text
    assert "答复期限延长10个工作日" in text
    assert f"本机关将于{due.year}年{due.month}月{due.day}日前作出答复" in text
    assert "第三十三条第二款" in text


def test_missing_fields_are_named_and_nothing_is_made(site: Any) -> None:
    reply = site.tasks["request-reply"]
    chief = support.logged_in(site, "trade")
    for fields, field in [
        ({"kind": "correction", "applicant": "", "correction": "x"}, "applicant"),
        ({"kind": "correction", "applicant": "张三", "correction": ""}, "correction"),
        (
            {"kind": "correction", "applicant": "张三", "correction": "x", "correction_days": "0"},
            "correction_days",
        ),
        ({"kind": "apology", "applicant": "张三"}, "kind"),
    ]:
        answer = letter(chief, reply, **fields)
        assert answer.status_code == 422, fields
        assert f'data-field="{field}"' in answer.text, fields
        assert answer.headers["content-type"].startswith("text/html")


def test_only_those_who_act_on_the_task_make_letters(site: Any) -> None:
    reply = site.tasks["request-reply"]
    fields = {"kind": "correction", "applicant": "张三", "correction": "年份不明"}
    for name in ("invest", "leader"):
        client = support.logged_in(site, name)
        page = client.get("/board")  # any page for the CSRF token
        token = support.csrf_of(page.text)
        answer = client.post(f"/letters/{reply}", data={**fields, "csrf_token": token})
        assert answer.status_code == 403, name
    office = support.logged_in(site, "office")
    assert letter(office, reply, **fields).status_code == 200
    policy = site.tasks["general-doc"]
    assert 'id="form-letter"' not in office.get(f"/tasks/{policy}").text
    assert letter(office, policy, **fields).status_code == 422  # not a request
