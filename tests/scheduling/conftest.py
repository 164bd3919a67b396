"""A real SMTP server (aiosmtpd) on 127.0.0.1 for reminder tests, the SMS memory outbox, and the
database guard of the pure tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.test import override_settings

from scheduling.reminders.sms import MemorySMSBackend


@dataclass(frozen=True)
class Received:
    message_id: str
    to: tuple[str, ...]
    subject: str
    body: str
    raw: bytes


@dataclass
class SMTPSink:
    """Keeps every message the server accepted. Tests can make it refuse or hold recipients.

    - `refuse[address] = "550 5.1.1 No such user"`: answer RCPT for that address with the reply.
    - `hold()`: every RCPT waits (inside an open SMTP transaction) until `release()`; `held`
      counts the senders waiting. A message is only accepted after the final "." of DATA, so a
      client killed while held leaves nothing on the server.
    """

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    held: int = 0
    _gate: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._gate.set()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        if not self._gate.is_set():
            with self._lock:
                self.held += 1
            await asyncio.get_running_loop().run_in_executor(None, self._gate.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        received = Received(
            message_id=str(parsed["Message-ID"]),
            to=tuple(envelope.rcpt_tos),
            subject=str(parsed["Subject"]),
            body=body.get_content() if body is not None else "",
            raw=envelope.content,
        )
        with self._lock:
            self.messages.append(received)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SMTPSink]:
    """A running aiosmtpd server; Django's SMTP email backend points at it for the test."""
    sink = SMTPSink(port=_free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, ready_timeout=10)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=sink.host,
            EMAIL_PORT=sink.port,
            EMAIL_USE_TLS=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_TIMEOUT=5,
        ):
            yield sink
    finally:
        sink.release()
        controller.stop()


@pytest.fixture(autouse=True)
def sms_outbox() -> Iterator[type[MemorySMSBackend]]:
    MemorySMSBackend.reset()
    yield MemorySMSBackend
    MemorySMSBackend.reset()


@pytest.fixture
def database_blocked() -> None:
    """For the pure tests: prove that pytest-django's block is on, so a query would fail them."""
    with pytest.raises(RuntimeError, match="Database access not allowed"):
        connection.ensure_connection()


# --- Both definitions of the hot-path queries ----------------------------------------------


@pytest.fixture(params=["sql", "orm"])
def both_query_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the hot paths' raw SQL (PostgreSQL) and again on their ORM definitions (what
    `make run`'s SQLite runs), on the same PostgreSQL data, so the two can never drift apart
    (core.db.hot_rows, issue 18)."""
    if request.param == "orm":
        monkeypatch.setattr("core.db.is_postgresql", lambda using="default": False)  # core.db.hot_rows
    return str(request.param)
