"""What the Telegram bot says, in Chinese and English: replies, role names, the command menu.

Kept apart from :mod:`notifier.bot` so the wording can be reviewed (and translated) without
reading the handlers. Placeholders in braces are filled by the bot with ``str.format``.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "refuse": "您好！本机器人仅为已登记的政务公开工作人员提供提醒服务。"
        "如需使用，请向办公室索取绑定码，然后发送：/start 绑定码",
        "hello": "您好，{name}（{role}{section}）。本会话已绑定，您将在这里收到政务公开事项提醒。\n"
        "/tasks 查看待办任务 · /stats 本年按时率 · /help 帮助",
        "bound": "绑定成功：{name}（{role}{section}）。您将在这里收到政务公开事项提醒。\n"
        "/tasks 查看待办任务 · /stats 本年按时率",
        "bind_failed": "绑定失败：{reason}。请向办公室重新索取绑定码。",
        "bind_reasons": "unknown code=绑定码不正确|this code was already used=该绑定码已被使用"
        "|this code has expired=该绑定码已过期|no code given=没有提供绑定码",
        "bind_throttled": "尝试次数过多，请 15 分钟后再试。",
        "help": "可用命令：\n/tasks 待办任务（可点按钮办结或申请延期）\n/stats 本年按时率\n"
        "/done 编号 办结任务 · /extend 编号 申请延期\n/pending 待审批的延期申请（办公室）\n"
        "/cancel 取消当前操作",
        "private_only": "为防止他人代办，办结、延期和审批请在与机器人的私聊中操作。",
        "read_only": "分管领导为只读权限：可以查看任务和统计，不能办理。",
        "no_tasks": "目前没有待办任务。",
        "tasks_title": "待办任务（{count} 项）",
        "tasks_more": "仅显示最紧急的 {shown} 项，全部任务请见看板。",
        "done_button": "已完成 #{id}",
        "ext_button": "申请延期 #{id}",
        "ask_evidence": "请发送任务 #{id}《{title}》的佐证链接（公开页面的 http(s):// 网址）。\n"
        "发送 /cancel 取消。",
        "bad_evidence": "“{text}”不是有效的网址。请发送以 http:// 或 https:// 开头的公开页面链接，"
        "或发送 /cancel 取消。",
        "ask_outcome": "任务 #{id} 是依申请公开答复，还需要答复结果（年度报告表三）。请选择类别：",
        "ask_outcome_code": "请选择具体的答复结果：",
        "ask_service_date": "请选择送达日期（签收或交邮之日），或直接发送日期，如 {example}：",
        "bad_date": "“{text}”不是有效的送达日期：须为 YYYY-MM-DD，不早于 {start}、不晚于今天。",
        "today": "今天 {date}",
        "yesterday": "昨天 {date}",
        "completed": "✅ 已办结 #{id}《{title}》：{timeliness}{margin}。",
        "margin_early": "，提前 {days} 个工作日",
        "margin_late": "，逾期 {days} 个工作日",
        "ext_not_allowed": "任务 #{id}《{title}》按规定不能（再）延期。",
        "ask_ext_amount": "任务 #{id}《{title}》最多还可延期 {room}{unit}。请选择延期时长：",
        "ask_ext_reason": "请说明延期 {amount}{unit} 的理由（一条消息）。发送 /cancel 取消。",
        "ext_requested": "已提交延期申请 #{request}（任务 #{id} 延期 {amount}{unit}），等待办公室审批。",
        "pending_none": "目前没有待审批的延期申请。",
        "pending_item": "申请 #{request}：{who} 申请任务 #{id}《{title}》延期 {amount}{unit}\n理由：{reason}",
        "approve": "批准 #{request}",
        "reject": "驳回 #{request}",
        "approved": "已批准延期申请 #{request}：任务 #{id} 新的截止时间 {due}。",
        "rejected": "已驳回延期申请 #{request}。",
        "office_only": "只有办公室可以审批延期申请。",
        "cancelled": "已取消。",
        "nothing_to_cancel": "当前没有进行中的操作。",
        "usage_done": "用法：/done 任务编号，例如 /done 12",
        "usage_extend": "用法：/extend 任务编号，例如 /extend 12",
        "stale": "该按钮已失效，请重新发送 /tasks。",
        "not_found": "找不到任务 #{id}。",
        "denied": "您无权办理任务 #{id}：只能办理本科室的任务。",
        "closed": "任务 #{id} 已办结或已取消，无需再办理。",
        "failed": "无法办理：{reason}",
        "error": "抱歉，处理时出错了，已记录。请稍后再试，或使用看板。",
        "unknown_command": "不认识这个命令。发送 /help 查看可用命令。",
        "idle_text": "发送 /tasks 查看待办任务，或 /help 查看帮助。",
        "stats_title": "{year} 年按时率",
        "stats_line": "{name}：{rate}（按时 {on_time} + 延期内办结 {extended}，共 {denominator} 项；"
        "逾期办结 {late}，逾期未办结 {overdue}）",
        "stats_basis": "分母：本年到期的已办结事项与逾期未办结事项之和；分子：按时办结及在批准延期内办结的事项。",
        "stats_none": "—（本年尚无到期事项）",
        "total": "合计",
        "dashboard": "打开看板",
    },
    "en": {
        "refuse": "Hello! This bot only serves registered disclosure staff. To use it, ask the "
        "office for a binding code and send: /start CODE",
        "hello": "Hello, {name} ({role}{section}). This chat is bound; reminders arrive here.\n"
        "/tasks open tasks · /stats on-time rate · /help",
        "bound": "Bound: {name} ({role}{section}). Reminders will arrive in this chat.\n"
        "/tasks open tasks · /stats on-time rate",
        "bind_failed": "Binding failed: {reason}. Ask the office for a new code.",
        "bind_reasons": "",
        "bind_throttled": "Too many attempts; try again in 15 minutes.",
        "help": "Commands:\n/tasks open tasks (buttons: done, extension)\n/stats on-time rate this "
        "year\n/done N mark done · /extend N ask for an extension\n/pending extension requests "
        "(office)\n/cancel abandon the current step",
        "private_only": "To prevent others acting for you, completing, extending and approving "
        "only work in a private chat with the bot.",
        "read_only": "Leaders have read-only access: you can view tasks and statistics.",
        "no_tasks": "No open tasks.",
        "tasks_title": "Open tasks ({count})",
        "tasks_more": "Showing the {shown} most urgent; see the dashboard for all.",
        "done_button": "Done #{id}",
        "ext_button": "Extension #{id}",
        "ask_evidence": "Send the evidence link for task #{id} “{title}” (the http(s):// address "
        "of the published page). /cancel to stop.",
        "bad_evidence": "“{text}” is not a valid link. Send an address starting with http:// or "
        "https://, or /cancel.",
        "ask_outcome": "Task #{id} is a request reply and also needs its outcome (table 3). "
        "Choose the category:",
        "ask_outcome_code": "Choose the outcome:",
        "ask_service_date": "Choose the service date (signed for / posted), or send a date such "
        "as {example}:",
        "bad_date": "“{text}” is not a valid service date: YYYY-MM-DD, not before {start}, not "
        "after today.",
        "today": "Today {date}",
        "yesterday": "Yesterday {date}",
        "completed": "✅ Done #{id} “{title}”: {timeliness}{margin}.",
        "margin_early": ", {days} working days early",
        "margin_late": ", {days} working days late",
        "ext_not_allowed": "Task #{id} “{title}” cannot be extended (any more) under its rule.",
        "ask_ext_amount": "Task #{id} “{title}” may be extended by up to {room}{unit}. Choose:",
        "ask_ext_reason": "Give the reason for extending by {amount}{unit} (one message). "
        "/cancel to stop.",
        "ext_requested": "Extension request #{request} sent (task #{id}, +{amount}{unit}); the "
        "office will decide.",
        "pending_none": "No pending extension requests.",
        "pending_item": "Request #{request}: {who} asks to extend task #{id} “{title}” by "
        "{amount}{unit}\nReason: {reason}",
        "approve": "Approve #{request}",
        "reject": "Reject #{request}",
        "approved": "Extension request #{request} approved: task #{id} is now due {due}.",
        "rejected": "Extension request #{request} rejected.",
        "office_only": "Only the office decides extension requests.",
        "cancelled": "Cancelled.",
        "nothing_to_cancel": "Nothing to cancel.",
        "usage_done": "Usage: /done TASK, e.g. /done 12",
        "usage_extend": "Usage: /extend TASK, e.g. /extend 12",
        "stale": "This button is no longer valid; send /tasks again.",
        "not_found": "Task #{id} not found.",
        "denied": "You may not act on task #{id}: only on your own section's tasks.",
        "closed": "Task #{id} is already done or cancelled.",
        "failed": "Could not do that: {reason}",
        "error": "Sorry, something went wrong; it has been logged. Try again later or use the "
        "dashboard.",
        "unknown_command": "Unknown command. Send /help for the list.",
        "idle_text": "Send /tasks for your open tasks, or /help.",
        "stats_title": "On-time rate {year}",
        "stats_line": "{name}: {rate} (on time {on_time} + within extension {extended} of "
        "{denominator}; late {late}, overdue and open {overdue})",
        "stats_basis": "Denominator: tasks due this year that were closed or are overdue; "
        "numerator: closed on time or within an approved extension.",
        "stats_none": "— (nothing due yet this year)",
        "total": "Total",
        "dashboard": "Open the dashboard",
    },
}
ROLE_NAMES = {
    "zh": {
        "chief": "科长",
        "staff": "科员",
        "office": "办公室",
        "leader": "分管领导",
        "gov_office": "政务公开办",
    },
    "en": {
        "chief": "chief",
        "staff": "staff",
        "office": "office",
        "leader": "leader",
        "gov_office": "disclosure office",
    },
}
COMMANDS = {
    "zh": [
        ("tasks", "待办任务"),
        ("stats", "本年按时率"),
        ("done", "办结任务：/done 编号"),
        ("extend", "申请延期：/extend 编号"),
        ("pending", "待审批的延期申请（办公室）"),
        ("cancel", "取消当前操作"),
        ("help", "帮助"),
    ],
    "en": [
        ("tasks", "open tasks"),
        ("stats", "on-time rate this year"),
        ("done", "mark done: /done N"),
        ("extend", "ask for an extension: /extend N"),
        ("pending", "extension requests (office)"),
        ("cancel", "abandon the current step"),
        ("help", "help"),
    ],
}
