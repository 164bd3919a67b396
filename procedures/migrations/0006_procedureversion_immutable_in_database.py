"""PostgreSQL holds what ProcedureVersion.save promises: a published version never changes.

save() refuses an update, but QuerySet.update(), bulk_update() and raw SQL pass it by. Cases pin
their version, and each process caches the versions it has read (procedures.versions.
pinned_version), so an edited version would plan a case with numbers nobody published and leave
caches stale. The trigger refuses every UPDATE that changes what a version says: every column but
two bookkeeping ones, `created_by` (SET NULL when the author's user is deleted) and `created_at`
(Django's serialized test rollback writes it back at millisecond precision). The cache leaves
both out.
"""

from django.db import migrations

from core.migration_ops import postgres_sql

# No percent sign anywhere in the SQL: it passes through the driver's placeholder parsing.
SQL = """
CREATE FUNCTION procedures_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (to_jsonb(NEW) - 'created_by_id' - 'created_at') IS DISTINCT FROM (to_jsonb(OLD) - 'created_by_id' - 'created_at') THEN
    RAISE EXCEPTION USING
      MESSAGE = 'procedure version ' || OLD.id || ' is published and cannot change; create a new version',
      ERRCODE = 'integrity_constraint_violation',
      CONSTRAINT = 'procedureversion_immutable';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER procedureversion_immutable BEFORE UPDATE ON procedures_procedureversion
  FOR EACH ROW EXECUTE FUNCTION procedures_version_immutable();
"""

REVERSE = """
DROP TRIGGER procedureversion_immutable ON procedures_procedureversion;
DROP FUNCTION procedures_version_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("procedures", "0005_seed_version_2_renal_holds_and_sources")]
    operations = [postgres_sql(SQL, REVERSE)]
