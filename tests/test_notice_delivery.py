"""Notices leave the building: e-mail through SMTP (a real SMTP conversation with a local
server started by the test) and the SMS/WeCom hook, with retries recorded in the outbox."""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any

import pytest
from conftest import PETITION, ApiClient
from sqlalchemy import select

from service import clock, senders
from service.store.models import Delivery, User


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        sender, recipients = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode("ascii", "replace").strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb.startswith("MAIL FROM"):
                sender = line.decode().split(":", 1)[1].strip()
                self.wfile.write(b"250 OK\r\n")
            elif verb.startswith("RCPT TO"):
                recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self.wfile.write(b"250 OK\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                body = bytearray()
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append((sender, recipients, bytes(body)))  # type: ignore[attr-defined]
                recipients = []
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_senders() -> Iterator[None]:
    yield
    senders.unregister("email")
    senders.unregister("sms")


def _petition_at_handle(api: ApiClient) -> int:
    today = clock.now().replace(microsecond=0).isoformat()  # the ladder is still weeks away
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": {**PETITION, "received_at": today}})
    iid = r.get_json()["id"]
    for user, step, form in (
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve"}),
        ("msz", "sg_approve", {"decision": "approve"}),
    ):
        assert api.complete(user, iid, step, form).status_code == 200
    return iid


def _set_contact(app: Any, username: str, email_address: str | None = None, phone: str | None = None) -> None:
    with app.extensions["govflow"].db.write() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        user.email, user.phone = email_address, phone


def test_manual_urge_is_mailed_to_the_handling_unit_through_smtp(sqlite_api: ApiClient, smtp_server: Any) -> None:
    api = sqlite_api
    app = api.app
    _set_contact(app, "fgw1", email_address="fgw1@example.gov.cn")
    iid = _petition_at_handle(api)
    business_key = api.instance("xfk1", iid)["business_key"]
    senders.register("email", senders.SmtpSender("127.0.0.1", smtp_server.server_address[1],
                                                 sender="govflow@example.gov.cn"))
    r = api.post("zr", f"/api/v1/instances/{iid}/urge", json={"comment": "请于三日内报送办理结果"})
    assert r.status_code == 200, r.get_json()
    assert senders.deliver_pending(app.extensions["govflow"].db) == 1
    assert len(smtp_server.messages) == 1
    sender, recipients, raw = smtp_server.messages[0]
    assert recipients == ["fgw1@example.gov.cn"]
    message = email.message_from_bytes(raw)
    assert str(make_header(decode_header(message["Subject"]))) == "GovFlow 人工催办"
    body = message.get_payload(decode=True).decode("utf-8")
    assert business_key in body and "法制工作委员会" in body and "请于三日内报送办理结果" in body
    with app.extensions["govflow"].db.read() as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.channel, row.state, row.attempts) == ("email", "sent", 1)
    # sent once: a second run finds nothing pending
    assert senders.deliver_pending(app.extensions["govflow"].db) == 0
    assert len(smtp_server.messages) == 1


def test_failed_sms_gateway_is_retried_then_marked_failed(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    app = api.app
    _set_contact(app, "fgw1", phone="13900000000")
    iid = _petition_at_handle(api)
    calls: list[tuple[str, str]] = []

    def broken_gateway(address: str, subject: str, body: str) -> None:
        calls.append((address, body))
        raise ConnectionError("gateway down")

    senders.register("sms", broken_gateway)
    assert api.post("zr", f"/api/v1/instances/{iid}/urge", json={"comment": "尽快办理"}).status_code == 200
    db = app.extensions["govflow"].db
    for _ in range(senders.MAX_ATTEMPTS + 2):
        senders.deliver_pending(db)
    assert len(calls) == senders.MAX_ATTEMPTS and calls[0][0] == "13900000000"
    with db.read() as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.state, row.attempts) == ("failed", senders.MAX_ATTEMPTS)
        assert "gateway down" in (row.last_error or "")
