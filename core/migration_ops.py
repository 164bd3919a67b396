"""Migration operations that only run on PostgreSQL.

The booking invariants are backed by exclusion constraints (btree_gist + tstzrange), which
SQLite cannot hold. Under `make run` (SQLite) the services' locked checks stand alone; in
production and in every test the database holds the line too.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def postgres_sql(sql: str, reverse_sql: str) -> migrations.RunPython:
    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(reverse_sql)

    return migrations.RunPython(forward, backward)
