"""Patient reminders and staff notices, from planning to the message on the wire.

- `planning`: which rows a booked case gets and when they fall due (a pure function over an
  `Appointment`), and the hooks the booking services call to (re-)plan or cancel them;
- `notices`: staff notices when a published or locked list changes;
- `delivery`: the sweep that sends each due row exactly once;
- `sms`: the SMS backends behind `settings.SMS_BACKEND`;
- `tasks`: the thin Celery tasks (registered through `scheduling.tasks`).

The booking services call the three names below as `reminders.<name>`.
"""

from scheduling.reminders.planning import cancel_for_case, reminder_warnings, replan_for_case

__all__ = ["cancel_for_case", "reminder_warnings", "replan_for_case"]
