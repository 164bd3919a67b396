"""PostgreSQL holds the booking invariants of DESIGN §2 for cases that occupy time
(booked, confirmed, in_theatre, completed): no two overlap in a session, and no surgeon,
anaesthetist, patient or equipment unit is in two places at once. Half-open ranges, so a
case may start the minute the previous one ends."""

from django.db import migrations

from core.migration_ops import postgres_sql

OCCUPYING = "status IN ('booked', 'confirmed', 'in_theatre', 'completed')"
RANGE = "tstzrange(start, \"end\", '[)') WITH &&"

SQL = f"""
ALTER TABLE scheduling_case
  ADD CONSTRAINT case_no_session_overlap EXCLUDE USING gist (session_id WITH =, {RANGE}) WHERE ({OCCUPYING}),
  ADD CONSTRAINT case_no_surgeon_overlap EXCLUDE USING gist (surgeon_id WITH =, {RANGE}) WHERE ({OCCUPYING}),
  ADD CONSTRAINT case_no_anaesthetist_overlap EXCLUDE USING gist (anaesthetist_id WITH =, {RANGE})
    WHERE ({OCCUPYING} AND anaesthetist_id IS NOT NULL),
  ADD CONSTRAINT case_no_patient_overlap EXCLUDE USING gist (patient_id WITH =, {RANGE}) WHERE ({OCCUPYING});
ALTER TABLE scheduling_caseequipment
  ADD CONSTRAINT caseequipment_no_unit_overlap EXCLUDE USING gist (unit_id WITH =, {RANGE});
"""

REVERSE = """
ALTER TABLE scheduling_case
  DROP CONSTRAINT case_no_session_overlap,
  DROP CONSTRAINT case_no_surgeon_overlap,
  DROP CONSTRAINT case_no_anaesthetist_overlap,
  DROP CONSTRAINT case_no_patient_overlap;
ALTER TABLE scheduling_caseequipment DROP CONSTRAINT caseequipment_no_unit_overlap;
"""


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial"), ("theatre", "0002_session_exclusion_constraints")]
    operations = [postgres_sql(SQL, REVERSE)]
