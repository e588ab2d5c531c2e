"""Delivery of notices beyond the in-app centre: a pluggable sender per channel.

E-mail goes through SMTP (GOVFLOW_SMTP_HOST/PORT/USER/PASSWORD/FROM/STARTTLS). SMS and WeCom
gateways differ per office: register a sender for the channel (`register("sms", sender)`), or
set GOVFLOW_SMS_WEBHOOK to a gateway URL that accepts {"to", "text"} as JSON."""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select, update

from service import clock
from service.store.db import Database
from service.store.models import Delivery, Notice

log = logging.getLogger(__name__)

Sender = Callable[[str, str, str], None]  # (address, subject, body)
MAX_ATTEMPTS = 5

_senders: dict[str, Sender] = {}


def register(channel: str, sender: Sender) -> None:
    _senders[channel] = sender


def unregister(channel: str) -> None:
    _senders.pop(channel, None)


class SmtpSender:
    """Sends one plain-text UTF-8 e-mail per notice."""

    def __init__(self, host: str, port: int = 25, sender: str = "govflow@localhost", user: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def __call__(self, address: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain="govflow")
        message.set_content(body, charset="utf-8")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


class WebhookSender:
    """Posts {"to", "subject", "text"} to an SMS/WeCom gateway URL."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url, self.timeout = url, timeout

    def __call__(self, address: str, subject: str, body: str) -> None:
        data = json.dumps({"to": address, "subject": subject, "text": body}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - admin-configured
            if response.status >= 300:
                raise RuntimeError(f"gateway answered {response.status}")


def configure_from_env() -> None:
    host = os.environ.get("GOVFLOW_SMTP_HOST")
    if host:
        register("email", SmtpSender(
            host, int(os.environ.get("GOVFLOW_SMTP_PORT", "25")),
            os.environ.get("GOVFLOW_SMTP_FROM", "govflow@localhost"), os.environ.get("GOVFLOW_SMTP_USER"),
            os.environ.get("GOVFLOW_SMTP_PASSWORD"), os.environ.get("GOVFLOW_SMTP_STARTTLS") == "1",
        ))
    hook = os.environ.get("GOVFLOW_SMS_WEBHOOK")
    if hook:
        register("sms", WebhookSender(hook))


def deliver_pending(db: Database, limit: int = 100) -> int:
    """Send pending deliveries of channels that have a sender; failures retry up to MAX_ATTEMPTS."""
    if not _senders:
        return 0
    with db.read() as session:
        rows = [(d.id, d.channel, d.address, n.kind, n.text) for d, n in session.execute(
            select(Delivery, Notice).join(Notice, Notice.id == Delivery.notice_id)
            .where(Delivery.state == "pending", Delivery.channel.in_(list(_senders))).order_by(Delivery.id)
            .limit(limit))]
    sent = 0
    for delivery_id, channel, address, kind, text in rows:
        with db.write() as session:  # claim: another process may be looking at the same row
            claimed = session.execute(
                update(Delivery).where(Delivery.id == delivery_id, Delivery.state == "pending")
                .values(state="sending").execution_options(synchronize_session=False)
            ).rowcount
        if claimed != 1:
            continue
        error = None
        try:
            from service.notices import kinds

            _senders[channel](address, f"GovFlow {kinds().get(kind, '通知')}", text)
        except Exception as exc:  # noqa: BLE001 - any gateway failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}"
            log.warning("delivery %s failed: %s", delivery_id, error)
        with db.write() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                continue
            row.attempts += 1
            if error is None:
                row.state, row.sent_at = "sent", clock.now()
                sent += 1
            else:
                row.last_error = error
                row.state = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
    return sent
