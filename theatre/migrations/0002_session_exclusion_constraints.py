"""PostgreSQL holds the staff and theatre rules for live (non-cancelled) sessions:
one theatre, one surgeon, one anaesthetist can never have two overlapping lists.
Ranges are half-open [start, end), so back-to-back AM/PM lists do not collide."""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from core.migration_ops import postgres_sql

LIVE = "status <> 'cancelled'"

SQL = f"""
ALTER TABLE theatre_theatresession
  ADD CONSTRAINT session_no_theatre_overlap EXCLUDE USING gist
    (theatre_id WITH =, tstzrange(start, "end", '[)') WITH &&) WHERE ({LIVE}),
  ADD CONSTRAINT session_no_surgeon_overlap EXCLUDE USING gist
    (surgeon_id WITH =, tstzrange(start, "end", '[)') WITH &&) WHERE ({LIVE}),
  ADD CONSTRAINT session_no_anaesthetist_overlap EXCLUDE USING gist
    (anaesthetist_id WITH =, tstzrange(start, "end", '[)') WITH &&) WHERE ({LIVE} AND anaesthetist_id IS NOT NULL);
"""

REVERSE = """
ALTER TABLE theatre_theatresession
  DROP CONSTRAINT session_no_theatre_overlap,
  DROP CONSTRAINT session_no_surgeon_overlap,
  DROP CONSTRAINT session_no_anaesthetist_overlap;
"""


class PostgresBtreeGist(BtreeGistExtension):
    """CREATE EXTENSION btree_gist, on PostgreSQL only (SQLite under `make run` has none)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        return


class Migration(migrations.Migration):
    dependencies = [("theatre", "0001_initial")]
    operations = [PostgresBtreeGist(), postgres_sql(SQL, REVERSE)]
