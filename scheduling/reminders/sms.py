"""Text messages through a small backend interface: `send(to, body)`.

The gateway is outside this system, so it hides behind `settings.SMS_BACKEND`:
- FileSMSBackend (make run): one file per message under settings.SMS_FILE_PATH;
- MemorySMSBackend (tests): keeps messages in a list; a test can make it fail on purpose.
A real gateway gets its own backend class; it raises TransientSMSError for errors worth retrying
(timeouts, 5xx from the gateway) and PermanentSMSError for the rest (invalid number).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SMSError(Exception):
    """A message the backend could not hand over."""


class TransientSMSError(SMSError):
    """Worth retrying later (gateway unreachable, rate-limited, timed out)."""


class PermanentSMSError(SMSError):
    """Retrying cannot help (invalid number, message refused)."""


class SMSBackend(Protocol):
    def send(self, to: str, body: str, *, message_id: str = "") -> None: ...


@dataclass(frozen=True)
class TextMessage:
    to: str
    body: str
    message_id: str


class FileSMSBackend:
    """Writes each message to its own file, so `make run` shows what a patient would receive."""

    def __init__(self) -> None:
        self.folder = Path(settings.SMS_FILE_PATH)

    def send(self, to: str, body: str, *, message_id: str = "") -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        safe_id = re.sub(r"[^A-Za-z0-9.-]", "_", message_id) or "message"
        path = self.folder / f"{stamp}-{safe_id}.txt"
        path.write_text(f"To: {to}\nMessage-ID: {message_id}\n\n{body}\n", encoding="utf-8")


class MemorySMSBackend:
    """Keeps messages in memory (tests). Set `fail_with` to an exception to refuse the next sends."""

    outbox: list[TextMessage] = []
    fail_with: SMSError | None = None
    _lock = threading.Lock()

    def send(self, to: str, body: str, *, message_id: str = "") -> None:
        with self._lock:
            if MemorySMSBackend.fail_with is not None:
                raise MemorySMSBackend.fail_with
            MemorySMSBackend.outbox.append(TextMessage(to=to, body=body, message_id=message_id))

    @classmethod
    def reset(cls) -> None:
        cls.outbox = []
        cls.fail_with = None


def get_sms_backend() -> SMSBackend:
    backend: SMSBackend = import_string(settings.SMS_BACKEND)()
    return backend
