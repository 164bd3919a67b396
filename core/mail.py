"""The `make run` outbox: one `.log` file per message, as the README promises.

Django's file backend names a file by the second and the connection object's id(), and opens it
when the connection opens: a connection dropped after each message (scheduling/reminders/
delivery.py) frees its id, the next connection in the same second often gets the same one, and
its message is appended to the previous file. Here each message opens its own file, named with a
random suffix, and opening the connection writes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend


class OneFilePerMessageBackend(EmailBackend):
    def open(self) -> bool:
        return False  # files are opened per message in send_messages

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
            path = os.path.join(self.file_path, f"{stamp}-{uuid.uuid4().hex[:12]}.log")  # type: ignore[attr-defined]
            with open(path, "ab") as stream:
                self.stream = stream  # type: ignore[assignment]  # bytes, as Django's own backend writes
                try:
                    self.write_message(message)
                finally:
                    self.stream = None  # type: ignore[assignment]
            sent += 1
        return sent
