"""Hold a row lock from another connection while the test's own request waits for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction


@contextmanager
def row_held_elsewhere(queryset: models.QuerySet[models.Model], *, lock_timeout: str = "200ms") -> Iterator[None]:
    """Another thread, on its own connection, holds FOR UPDATE on `queryset`'s rows for the block;
    this connection gives up waiting for them after `lock_timeout`."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        if not holding.wait(timeout=30):
            raise RuntimeError("the other connection never got the row lock")
        with connection.cursor() as cursor:
            # set_config, not SET: SET takes no bound parameter, and the server binds them.
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [lock_timeout])
        yield
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
