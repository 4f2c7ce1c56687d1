"""The e-mails notify sends: that there is something new in Yui and a link, never anything about a subject."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from notify.settings import Settings


def _message(settings: Settings, *, to: str, subject: str, body: str, message_key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    # Stable per (event, user): a mail system that sees it twice can tell it is the same message.
    message["Message-ID"] = f"<{message_key}@notify.yui>"
    message.set_content(body)
    return message


def _inbox_link(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/notifications"


def something_new(settings: Settings, *, to: str, message_key: str) -> EmailMessage:
    link = _inbox_link(settings)
    return _message(
        settings,
        to=to,
        subject="Yui: 新しいお知らせがあります / Something new in Yui",
        body=(
            "Yui に、あなた宛ての新しいお知らせがあります。ログインしてご確認ください。\n"
            f"{link}\n\n"
            "There is something new for you in Yui. Sign in to read it.\n"
            f"{link}\n"
        ),
        message_key=message_key,
    )


def daily_digest(settings: Settings, *, to: str, count: int, message_key: str) -> EmailMessage:
    link = _inbox_link(settings)
    return _message(
        settings,
        to=to,
        subject=f"Yui: 未読のお知らせ {count} 件 / {count} unread in Yui",
        body=(
            f"Yui に未読のお知らせが {count} 件あります。ログインしてご確認ください。\n"
            f"{link}\n\n"
            f"You have {count} unread notifications in Yui. Sign in to read them.\n"
            f"{link}\n"
        ),
        message_key=message_key,
    )


def application_decided(settings: Settings, *, to: str, approved: bool, message_key: str) -> EmailMessage:
    link = settings.public_url.rstrip("/") + "/"
    if approved:
        ja, en = "承認されました", "has been approved"
    else:
        ja, en = "承認されませんでした", "was not approved"
    return _message(
        settings,
        to=to,
        subject="Yui: 利用申請の結果 / Your application to Yui",
        body=(
            f"Yui への施設の利用申請は{ja}。"
            "詳しくはサービス運用者からのご連絡、または次のページをご覧ください。\n"
            f"{link}\n\n"
            f"Your facility's application to join Yui {en}. "
            "The network's operator will contact you; see also\n"
            f"{link}\n"
        ),
        message_key=message_key,
    )


async def send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
        timeout=30,
    )
