"""Fakes shipped with gongkai for tests and benchmarks: real servers on 127.0.0.1.

- :class:`FakeTelegramAPI`: a Telegram Bot API that records calls and feeds updates;
- :class:`WeComReceiver`, :class:`DingTalkReceiver`, :class:`FeishuReceiver`: robot webhooks
  that verify keys and signatures and answer the services' result codes;
- :class:`SmtpSink`: an aiosmtpd server keeping the mail it receives (needs aiosmtpd).

Nothing here is used in production. aiosmtpd (a test dependency) is only imported when an
:class:`SmtpSink` starts.
"""

from __future__ import annotations

from notifier.testing.robots import DingTalkReceiver, FeishuReceiver, RobotMessage, WeComReceiver
from notifier.testing.smtp import Mail, SmtpSink
from notifier.testing.telegram_api import ApiCall, FakeTelegramAPI, SentMessage

__all__ = [
    "ApiCall",
    "DingTalkReceiver",
    "FakeTelegramAPI",
    "FeishuReceiver",
    "Mail",
    "RobotMessage",
    "SentMessage",
    "SmtpSink",
    "WeComReceiver",
]
