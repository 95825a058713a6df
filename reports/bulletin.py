"""The monthly bulletin (月度通报, seed 三明: 一月一通报): sections ranked by timeliness.

For the tasks due in the month (those feeding ``timeliness``): per section the counts of
:mod:`reports.stats`, ranked by on-time rate (highest first; a section with nothing yet due
last), then by overdue count (fewest first), then by tasks due; plus the list of tasks still
open and overdue. :func:`bulletin_message` renders it as plain text for the office's chat
(the flows' notifier pushes it); charts and files come from the renderers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from db.models import Section, Task, TaskStatus
from reports.feeds import FeedMap, resolve_feeds
from reports.model import Bulletin, BulletinRow, OverdueItem, TimelinessRow
from reports.scope import Scope, month_window
from reports.sql import fetch
from reports.stats import Tally, section_names, timeliness_buckets

#: Telegram's limit is 4,096 characters; leave room for a channel's own prefix.
MESSAGE_LIMIT = 3_900


def compile_month(
    session: Session,
    *,
    year: int,
    month: int,
    at: dt.datetime,
    tz: dt.tzinfo,
    scope: Scope,
    overdue_limit: int = 50,
) -> Bulletin:
    window = month_window(year, month, tz)
    ids = scope.ids
    feeds = resolve_feeds(session, ids)
    buckets = timeliness_buckets(session, ids, window, at, feeds)
    sections = section_names(session, ids)
    agencies = {agency.id: agency for agency in scope.agencies}
    total = Tally()
    per_section: dict[tuple[int, int], Tally] = {}
    for bucket in buckets:
        total.add(bucket.cls, bucket.margin, bucket.tasks)
        key = (bucket.agency_id, bucket.section_id)
        per_section.setdefault(key, Tally()).add(bucket.cls, bucket.margin, bucket.tasks)
    rows: list[tuple[tuple[float, int, int, str], int, int, TimelinessRow]] = []
    for (agency_id, section_id), tally in per_section.items():
        code, name = sections.get(section_id, (str(section_id), str(section_id)))
        row = tally.row({"agency": agencies[agency_id].code, "section": code, "section_name": name})
        rate = row.on_time_rate.value
        order = (-(rate if rate is not None else -1.0), row.open_overdue, -row.due, code)
        rows.append((order, agency_id, section_id, row))
    rows.sort(key=lambda item: item[0])
    ranking = [
        BulletinRow(
            rank=position,
            agency=row.agency or "",
            section=row.section or "",
            section_name=row.section_name or "",
            due=row.due,
            on_time=row.on_time,
            extended_on_time=row.extended_on_time,
            late=row.late,
            open_overdue=row.open_overdue,
            open_not_due=row.open_not_due,
            on_time_rate=row.on_time_rate,
        )
        for position, (_, _, _, row) in enumerate(rows, start=1)
    ]
    overdue, more = overdue_tasks(
        session, scope, feeds, window.first, window.last, at, tz, overdue_limit
    )
    names = "、".join(agency.name for agency in scope.agencies)
    title = (
        f"{names}{year}年{month}月政务公开月度通报"
        if not scope.government
        else f"本级政府{year}年{month}月政务公开月度通报（{len(scope.agencies)}个单位）"
    )
    total_row = total.row({"agency": "*" if scope.government else scope.agencies[0].code})
    return Bulletin(
        year=year,
        month=month,
        as_of=at,
        title=title,
        government=scope.government,
        total=total_row,
        ranking=ranking,
        overdue=overdue,
        overdue_more=more,
        empty=not buckets,
        sentences=_sentences(year, month, total_row, ranking, at, tz),
    )


def overdue_tasks(
    session: Session,
    scope: Scope,
    feeds: FeedMap,
    first: dt.date,
    last: dt.date,
    at: dt.datetime,
    tz: dt.tzinfo,
    limit: int,
) -> tuple[list[OverdueItem], int]:
    """Open tasks due in the month and overdue at ``at`` (most overdue first), and how many
    more there are beyond ``limit``."""
    condition = (
        col(Task.agency_id).in_(scope.ids),
        col(Task.status) == TaskStatus.OPEN.value,
        col(Task.due_date) >= first,
        col(Task.due_date) <= last,
        col(Task.due_at) <= at,
        feeds.condition("timeliness"),
    )
    ids = [
        int(row[0])
        for row in fetch(
            session,
            select_rows(col(Task.id))
            .where(*condition)
            .order_by(col(Task.due_at), col(Task.id))
            .limit(limit + 1),
        )
    ]
    found = session.exec(
        select(Task, Section)
        .join(Section, col(Section.id) == col(Task.section_id))
        .where(col(Task.id).in_(ids))
        .order_by(col(Task.due_at), col(Task.id))
    ).all()
    codes = {agency.id: agency.code for agency in scope.agencies}
    today = at.astimezone(tz).date()
    items = [
        OverdueItem(
            task_id=task.id or 0,
            agency=codes.get(task.agency_id, ""),
            section_name=section.name,
            obligation=task.obligation_code,
            title=task.title,
            due_date=task.due_date or first,
            days_overdue=max((today - (task.due_date or today)).days, 0),
        )
        for task, section in found[:limit]
    ]
    more = 0
    if len(found) > limit:
        counted = fetch(session, select_rows(func.count()).select_from(Task).where(*condition))
        more = int(counted[0][0]) - limit
    return items, more


def _sentences(
    year: int,
    month: int,
    total: TimelinessRow,
    ranking: list[BulletinRow],
    at: dt.datetime,
    tz: dt.tzinfo,
) -> list[str]:
    when = at.astimezone(tz).date().isoformat()
    if total.due == 0:
        return [f"{year}年{month}月没有到期的政务公开事项。"]
    closed = total.on_time + total.extended_on_time + total.late
    lines = [
        f"{year}年{month}月到期事项{total.due}项（截至{when}），已办结{closed}项：按时{total.on_time}项、"
        f"延期内{total.extended_on_time}项、逾期{total.late}项；逾期未办结{total.open_overdue}项；"
        f"按时办结率{total.on_time_rate.percent()}。"
    ]
    full = [row.section_name for row in ranking if row.on_time_rate.value == 1.0]
    if full:
        lines.append(f"按时办结率100%的科室：{'、'.join(full)}。")
    behind = [f"{row.section_name}{row.open_overdue}项" for row in ranking if row.open_overdue]
    if behind:
        lines.append(f"有逾期未办结事项的科室：{'、'.join(behind)}。")
    return lines


def bulletin_message(bulletin: Bulletin, *, limit: int = MESSAGE_LIMIT) -> str:
    """The bulletin as one plain-text chat message (at most ``limit`` characters)."""
    lines = [f"【{bulletin.title}】", *bulletin.sentences]
    if bulletin.ranking:
        lines.append("科室排名（按时办结率 / 逾期未办结）：")
        for row in bulletin.ranking:
            rate = bulletin_rate(row)
            lines.append(f"{row.rank}. {row.section_name} {rate}，逾期未办结{row.open_overdue}项")
    if bulletin.overdue:
        lines.append("逾期未办结事项：")
        for item in bulletin.overdue:
            lines.append(
                f"- {item.section_name}：{item.title}（{item.due_date.isoformat()}到期，"
                f"已逾期{item.days_overdue}日）"
            )
        if bulletin.overdue_more:
            lines.append(f"……另有{bulletin.overdue_more}项")
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    cut = text[: limit - 20].rsplit("\n", 1)[0]
    return cut + "\n……（完整通报见附件）"


def bulletin_rate(row: BulletinRow) -> str:
    rate = row.on_time_rate
    if rate.value is None:
        return "暂无到期"
    return f"{rate.percent()}（{rate.numerator}/{rate.denominator}）"
