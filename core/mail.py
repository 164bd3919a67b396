"""The `make run` outbox: one `.log` file per message, as the README promises.

Django's file backend names a file by the second and the connection object's id(); a connection
dropped after each message (scheduling/reminders/delivery.py) frees its id, the next connection
in the same second often gets the same one, and its message is appended to the previous file.
A random suffix keeps every message in its own file.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

from django.core.mail.backends.filebased import EmailBackend


class OneFilePerMessageBackend(EmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        sent = 0
        for message in email_messages:
            # A new file for each message, even on a connection opened beforehand.
            self.close()
            self._fname = None
            sent += super().send_messages([message]) or 0
        return sent

    def _get_filename(self) -> str:
        if self._fname is None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
            self._fname = os.path.join(self.file_path, f"{stamp}-{uuid.uuid4().hex[:12]}.log")  # type: ignore[attr-defined]
        return self._fname
