"""The raw-psycopg limit for bench/booking.py: one booking's locks, reads and rows, by hand.

What `book_case` does for a waiting case with contact details, written as directly as
PostgreSQL allows, in one transaction per booking: the same row locks in the same order
(case, session FOR UPDATE; the advisory locks per resource and UTC hour; theatre, team and units
FOR KEY SHARE), the occupancy it needs to choose a start and units, and the same rows: the case
update, its unit claims, the reminder plan, the reminder rows (planned by the same pure
`plan_reminders`) and the audit entries (the case's booking, one per reminder, the plan), each
table in one multi-row INSERT. It is deliberately simpler than the service where the service
does more than the database needs (the earliest start after the list's last case rather than the
first gap; no learned durations), so it is a floor, not a twin.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

GRID = dt.timedelta(minutes=5)


def _round_up(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(second=0, microsecond=0) - dt.timedelta(minutes=moment.minute % 5)
    return floor if floor == moment else floor + GRID


def _hours(start: dt.datetime, end: dt.datetime) -> list[str]:
    hour = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    while hour < end:
        out.append(hour.strftime("%Y-%m-%dT%H"))
        hour += dt.timedelta(hours=1)
    return out


class RawBooker:
    """One client's connection and the procedure versions it has read (they never change)."""

    def __init__(self, dsn: str, actor_label: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.actor = actor_label
        self.versions: dict[int, dict[str, Any]] = {}

    def close(self) -> None:
        self.conn.close()

    def _version(self, cur: psycopg.Cursor[Any], version_id: int) -> dict[str, Any]:
        if version_id not in self.versions:
            cur.execute(
                "SELECT v.required_equipment, v.fasting, v.follow_up, v.recovery, t.name "
                "FROM procedures_procedureversion v JOIN procedures_proceduretemplate t ON t.id = v.template_id "
                "WHERE v.id = %s",
                [version_id],
            )
            equipment, fasting, follow_up, recovery, name = cur.fetchone()  # type: ignore[misc]
            self.versions[version_id] = {
                "equipment": list(dict.fromkeys(equipment)),
                "fasting": fasting,
                "follow_up": follow_up,
                "recovery": recovery,
                "template": name,
            }
        return self.versions[version_id]

    def book(self, *, case_id: int, session_id: int, now: dt.datetime) -> bool:
        """Book the case at the end of the session's cases; False (rolled back) if it does not fit."""
        try:
            with self.conn.transaction():
                return self._book(case_id=case_id, session_id=session_id, now=now)
        except _Refused:
            return False

    def _book(self, *, case_id: int, session_id: int, now: dt.datetime) -> bool:
        from scheduling.models import Patient
        from scheduling.reminders.planning import Appointment, plan_reminders, reachable_channels

        cur = self.conn.cursor()
        cur.execute(
            "SELECT c.status, c.surgeon_id, c.patient_id, c.estimated_minutes, c.planned_minutes, c.reference, "
            "c.levels, c.anaesthesia, c.screening_result, c.procedure_version_id, p.email, p.phone, "
            "p.reminder_channels FROM scheduling_case c JOIN scheduling_patient p ON p.id = c.patient_id "
            "WHERE c.id = %s FOR UPDATE OF c",
            [case_id],
        )
        (status, surgeon_id, patient_id, estimated, planned, reference, levels, anaesthesia, screening, version_id,
         email, phone, channels_pref) = cur.fetchone()  # type: ignore[misc]  # fmt: skip
        if status != "waiting":
            raise _Refused
        version = self._version(cur, version_id)
        cur.execute(
            "SELECT s.start, s.end, s.status, s.surgeon_id, s.anaesthetist_id, s.theatre_id, t.name, t.site_id, "
            "site.name, site.address, site.phone, site.timezone FROM theatre_theatresession s "
            "JOIN theatre_theatre t ON t.id = s.theatre_id JOIN theatre_site site ON site.id = t.site_id "
            "WHERE s.id = %s FOR UPDATE OF s",
            [session_id],
        )
        (s_start, s_end, s_status, s_surgeon, s_anaesthetist, theatre_id, theatre, site_id, site_name, address,
         site_phone, zone) = cur.fetchone()  # type: ignore[misc]  # fmt: skip
        resources = [f"surgeon:{surgeon_id}", f"patient:{patient_id}", f"anaesthetist:{s_anaesthetist}"]
        resources += [f"equipment:{site_id}:{kind}" for kind in version["equipment"]]
        keys = sorted({f"booking:{r}:{h}" for r in resources for h in _hours(s_start, s_end)})
        cur.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS ordered",
            [keys],
        )
        cur.execute("SELECT active FROM theatre_theatre WHERE id = %s FOR KEY SHARE", [theatre_id])
        cur.execute(
            "SELECT id, active FROM theatre_staffmember WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
            [sorted({surgeon_id, s_surgeon, s_anaesthetist})],
        )
        cur.execute(
            'SELECT max("end") FROM scheduling_case WHERE (session_id = %s OR surgeon_id = %s OR '
            "anaesthetist_id = %s OR patient_id = %s) AND status IN ('booked', 'confirmed', 'in_theatre', "
            "'completed') AND start < %s AND \"end\" > %s AND id <> %s",
            [session_id, surgeon_id, s_anaesthetist, patient_id, s_end, s_start, case_id],
        )
        (last_end,) = cur.fetchone()  # type: ignore[misc]
        start = _round_up(max(s_start, now, last_end or s_start))
        end = start + dt.timedelta(minutes=planned or estimated)
        if end > s_end:
            raise _Refused
        cur.execute(
            "SELECT u.id, u.kind FROM theatre_equipmentunit u WHERE u.site_id = %s AND u.kind = ANY(%s) "
            "AND u.active AND NOT EXISTS (SELECT 1 FROM scheduling_caseequipment cl WHERE cl.unit_id = u.id "
            'AND cl.start < %s AND cl."end" > %s) ORDER BY u.id',
            [site_id, version["equipment"], end, start],
        )
        units: dict[str, int] = {}
        for unit_id, kind in cur.fetchall():
            units.setdefault(kind, unit_id)
        if len(units) < len(version["equipment"]):
            raise _Refused
        cur.execute(
            'UPDATE scheduling_case SET session_id = %s, start = %s, "end" = %s, anaesthetist_id = %s, '
            "status = 'booked', updated_at = %s WHERE id = %s",
            [session_id, start, end, s_anaesthetist, now, case_id],
        )
        cur.execute("DELETE FROM scheduling_caseequipment WHERE case_id = %s", [case_id])
        unit_ids = sorted(units.values())
        cur.execute(
            "SELECT id, active FROM theatre_equipmentunit WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [unit_ids]
        )
        cur.execute(
            'INSERT INTO scheduling_caseequipment (case_id, unit_id, start, "end") '
            "SELECT %s, u, %s, %s FROM unnest(%s::bigint[]) AS u",
            [case_id, start, end, unit_ids],
        )

        channels, warnings = reachable_channels(Patient(email=email, phone=phone, reminder_channels=channels_pref))
        appointment = Appointment(
            reference=reference,
            procedure=version["template"],
            levels=tuple(levels),
            anaesthesia=anaesthesia,
            start=start,
            session_id=session_id,
            theatre=theatre,
            site_name=site_name,
            site_address=address,
            site_phone=site_phone,
            timezone=zone,
            screening_result=screening or {},
            fasting=version["fasting"],
            follow_up=tuple(version["follow_up"] or ()),
            recovery=version["recovery"] or {},
        )
        planned_rows, plan_warnings = plan_reminders(
            appointment=appointment, channels=channels, now=now, moved_from=None, arrival_minutes=60
        )
        warnings = warnings + plan_warnings
        cur.execute(
            "INSERT INTO scheduling_reminderplan (case_id, session_id, start, warnings, updated_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [case_id, session_id, start, Jsonb(warnings), now],
        )
        cur.execute(
            "INSERT INTO scheduling_reminder (case_id, kind, channel, due_at, status, attempts, last_error, "
            "skip_reason, context, created_at, updated_at) "
            "SELECT %s, k, ch, d, 'pending', 0, '', '', c, %s, %s "
            "FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::jsonb[]) AS r(k, ch, d, c) RETURNING id",
            [
                case_id,
                now,
                now,
                [p.kind for p in planned_rows],
                [p.channel for p in planned_rows],
                [p.due_at for p in planned_rows],
                [Jsonb(p.context) for p in planned_rows],
            ],
        )
        reminder_ids = [row[0] for row in cur.fetchall()]
        iso = start.isoformat()
        booked_before = {
            "status": "waiting",
            "session": None,
            "start": None,
            "end": None,
            "anaesthetist": None,
            "estimated_minutes": estimated,
            "planned_minutes": planned,
            "cancel_reason": "",
            "cancel_note": "",
            "equipment_units": [],
        }
        booked_after = {
            **booked_before,
            "status": "booked",
            "session": session_id,
            "start": iso,
            "end": end.isoformat(),
            "anaesthetist": s_anaesthetist,
            "equipment_units": unit_ids,
        }
        audit: list[tuple[str, str, str, Any, Any, str]] = [
            ("case.booked", "scheduling.case", str(case_id), booked_before, booked_after, "")
        ]
        for reminder_id, p in zip(reminder_ids, planned_rows, strict=True):
            after = {
                "kind": p.kind,
                "due_at": p.due_at.isoformat(),
                "status": "pending",
                "skip_reason": "",
                "context": p.context,
                "attempts": 0,
                "last_error": "",
                "next_attempt_at": None,
            }
            audit.append(("reminder.planned", "scheduling.reminder", str(reminder_id), None, after, ""))
        audit.append(
            (
                "case.reminders_planned",
                "scheduling.case",
                str(case_id),
                {"session": None, "start": None, "warnings": []},
                {"session": session_id, "start": iso, "warnings": warnings},
                "; ".join(w["code"] for w in warnings),
            )
        )
        cur.execute(
            "INSERT INTO core_auditentry (at, actor_id, actor_label, action, object_type, object_id, before, "
            "after, reason) SELECT %s, NULL, %s, a, t, i, b, f, r "
            "FROM unnest(%s::text[], %s::text[], %s::text[], %s::jsonb[], %s::jsonb[], %s::text[]) "
            "AS e(a, t, i, b, f, r)",
            [
                now,
                self.actor,
                [e[0] for e in audit],
                [e[1] for e in audit],
                [e[2] for e in audit],
                [Jsonb(e[3]) if e[3] is not None else None for e in audit],
                [Jsonb(e[4]) if e[4] is not None else None for e in audit],
                [e[5] for e in audit],
            ],
        )
        return True


class _Refused(Exception):
    """The case does not fit (or is not waiting): the transaction rolls back."""
