"""`make run`'s outbox keeps one file per message, as the README says (issue 15: 2 of 28 held two)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.mail import EmailMessage

from core.mail import OneFilePerMessageBackend

pytestmark = pytest.mark.pure


def test_every_message_gets_its_own_file_even_on_one_connection(tmp_path: Path) -> None:
    backend = OneFilePerMessageBackend(file_path=str(tmp_path))
    messages = [EmailMessage(f"Reminder {n}", "Body", "from@example.org", ["to@example.org"]) for n in range(3)]
    backend.open()
    assert backend.send_messages(messages[:2]) == 2
    assert backend.send_messages(messages[2:]) == 1
    backend.close()
    # And connections opened and dropped one after another in the same second, as delivery does.
    for n in range(3):
        OneFilePerMessageBackend(file_path=str(tmp_path)).send_messages(
            [EmailMessage(f"Notice {n}", "Body", "from@example.org", ["to@example.org"])]
        )
    files = sorted(tmp_path.glob("*.log"))
    assert len(files) == 6
    assert all(file.read_text().count("Subject: ") == 1 for file in files)
