"""Where a test builds what it needs. One row at a time comes from tests/factories.py (factory_boy,
with `london()` for a wall-clock time); everything larger is built here, from those factories:

- world.py: the unit every scheduling test books into (`build_world`), with its Monday list
  (`build_booking_world`) or dressed for reminders (`build_reminder_world`); a list made through
  theatre's service (`new_session`) and a case written straight onto a list (`placed_case`).
- clinic.py: the unit with a login per role and a seeded patient's cases booked through the real
  services (`build_clinic`, and `build_permission_world` for the permission matrix).
- people.py: logins per role (`login`, `logins`) and the staff linked to them (`team`).
- versions.py: procedure versions, unsaved for the pure tests (`version`, `estimate_rules`,
  `screening_rules`) and saved (`kp_version`, `reminder_version`).
- answers.py: screening answers that pass every rule (`eligible_answers`).
- theatre_day.py: a unit whose lists have happened (`build_theatre_day`): cases taken through
  sign in, their theatre times recorded, signed out or cancelled on the day, for the times,
  cancellation and report tests.
"""
