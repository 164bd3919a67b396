"""The `make run` demo's past weeks (scheduling/demo_history.py): lists that happened, recorded
through the real services, a report with meaningful figures straight away, and not one reminder
for a patient whose operation is history."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.audit import Actor
from core.demo import seed_users
from core.models import AuditEntry
from scheduling.demo import seed_cases, seed_plan_demo
from scheduling.demo_history import HISTORY_WEEKS, seed_history
from scheduling.milestones import minutes_between, touch_interval
from scheduling.models import Case, CaseCancellation, CaseTimes, ChecklistEntry, Reminder, StaffNotice
from scheduling.reminders.delivery import sweep
from tests.conftest import client_for
from theatre.demo import seed_estate
from theatre.models import StaffMember


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    """The whole demo as `make run` loads it, once for the module, rolled back at the end."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            seed_users()
            seed_estate()
            seed_cases()
            seed_plan_demo()
            yield seed_history()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def history_cases() -> Any:
    return Case.objects.filter(patient__mrn__startswith="NSU-H")


@pytest.mark.django_db
def test_the_history_covers_at_least_six_whole_weeks_of_the_timetable(demo: dict[str, int]) -> None:
    today = timezone.localdate()
    lists = [
        case.session if case.session is not None else case.cancellation.session
        for case in history_cases().select_related("session", "cancellation__session")
    ]
    days = sorted({timezone.localtime(session.start).date() for session in lists if session is not None})
    assert days[0] <= today - dt.timedelta(weeks=HISTORY_WEEKS)
    assert days[-1] < today
    weeks = {day - dt.timedelta(days=day.weekday()) for day in days}
    assert len(weeks) >= HISTORY_WEEKS
    assert demo["lists"] >= 4 * HISTORY_WEEKS and demo["cases"] >= 2 * demo["lists"]


@pytest.mark.django_db
def test_past_cases_went_through_the_real_services(demo: dict[str, int]) -> None:
    completed = history_cases().filter(status="completed")
    assert completed.count() == demo["cases"]
    phases = ChecklistEntry.objects.filter(case__in=completed).values_list("case_id", "phase")
    assert len(phases) == 3 * completed.count()
    ids = [str(pk) for pk in completed.values_list("pk", flat=True)]
    actions = set(
        AuditEntry.objects.filter(object_type="scheduling.case", object_id__in=ids).values_list("action", flat=True)
    )
    assert {"case.created", "case.booked", "case.plan_approved", "case.confirmed", "case.completed"} <= actions
    assert "case.times_recorded" in actions
    # One case abandoned after sign in, and some cancelled on the morning of their list.
    assert CaseCancellation.objects.filter(case__in=history_cases(), from_status="in_theatre").count() == 1
    assert (
        CaseCancellation.objects.filter(case__in=history_cases(), on_the_day=True).count()
        == demo["cancelled_on_the_day"]
        >= 3
    )


@pytest.mark.django_db
def test_touch_times_are_lognormal_around_the_estimates(demo: dict[str, int]) -> None:
    ratios = []
    for times in CaseTimes.objects.filter(case__in=history_cases(), case__status="completed").select_related(
        "case__procedure_version"
    ):
        interval = touch_interval(
            {"anaesthesia_start": times.anaesthesia_start, "out_of_theatre": times.out_of_theatre}
        )
        assert interval is not None
        expected = times.case.estimated_minutes - times.case.procedure_version.turnover_minutes
        ratios.append(math.log(minutes_between(*interval) / expected))
    assert len(ratios) >= 40
    assert -0.1 < statistics.median(ratios) < 0.2  # centred a little above the estimate
    assert 0.1 < statistics.stdev(ratios) < 0.4  # and spread like real theatre times


@pytest.mark.django_db
def test_the_report_is_populated_straight_after_seeding(demo: dict[str, int]) -> None:
    viewer = client_for(User.objects.get(username="viewer"))
    response = viewer.get("/api/v1/reports/theatre-utilisation/", {"group_by": "week"})
    assert response.status_code == 200
    body = response.json()
    totals = body["totals"]
    assert len(body["rows"]) >= 4
    assert totals["lists"] >= 12 and totals["cases"] >= 24
    assert totals["capped_utilisation"] is not None and 50 <= totals["capped_utilisation"] <= 95
    assert totals["capped_utilisation"] <= totals["uncapped_utilisation"]
    six_weeks = viewer.get(
        "/api/v1/reports/theatre-utilisation/",
        {
            "date_from": (timezone.localdate() - dt.timedelta(weeks=7)).isoformat(),
            "date_to": timezone.localdate().isoformat(),
        },
    ).json()["totals"]
    for figure in ("late_starts", "early_finishes", "overruns"):
        assert six_weeks[figure]["count"] > 0 and six_weeks[figure]["minutes"] > 0
    cancellations = six_weeks["on_the_day_cancellations"]
    assert cancellations["count"] >= 4 and min(cancellations["clinical"], cancellations["patient"]) >= 1
    assert six_weeks["lists_missing_times"] >= 1


@pytest.mark.django_db
def test_no_reminder_is_ever_sent_for_a_past_case(demo: dict[str, int]) -> None:
    now = timezone.now()
    past = Case.objects.filter(pk__in=history_cases()) | Case.objects.filter(status="completed")
    assert past.filter(session__start__gte=now).count() == 0
    assert Reminder.objects.filter(case__in=past).exists()  # they were planned at booking ...
    assert not Reminder.objects.filter(case__in=past, status="pending").exists()  # ... and retired
    assert not StaffNotice.objects.filter(session__end__lt=now, status="pending").exists()

    result = sweep(actor=Actor.system("test"), budget_seconds=60)
    assert result.counts["sent"] > 0  # the live demo's future bookings do get theirs
    assert not Reminder.objects.filter(case__in=past, status="sent").exists()


@pytest.mark.django_db
def test_the_worker_sweep_alone_sends_nothing_for_a_past_case(demo: dict[str, int]) -> None:
    """Defence in depth: even if every reminder of the demo's past cases were still pending (the
    seeding's retirement undone, as on the clone that sent four emails for last week's case), the
    beat's sweep task, as the worker runs it, sends none of them: each is `skipped` with a reason."""
    from scheduling.reminders.staleness import SKIP_REASONS
    from scheduling.reminders.tasks import send_due_reminders

    now = timezone.now()
    past = Case.objects.filter(pk__in=history_cases()) | Case.objects.filter(status="completed")
    reopened = Reminder.objects.filter(case__in=past).update(status="pending", skip_reason="")
    due = Reminder.objects.filter(case__in=past, due_at__lte=now)
    # A completed case's review that fell due these last three days is the one message a past case
    # rightly gets; the demo's history may have one or two, and this test is about the rest.
    recent_reviews = [
        row.pk
        for row in due.filter(case__status="completed", kind__startswith="follow_up:").select_related("case")
        if row.case.start is not None
        and now - (row.case.start + dt.timedelta(days=row.context["after_days"])) <= dt.timedelta(days=3)
    ]
    stale_ids = set(due.exclude(pk__in=recent_reviews).values_list("pk", flat=True))
    assert reopened > 100 and len(stale_ids) > 100

    counts = send_due_reminders(spread=False)

    assert counts["sent"] > 0  # the live demo's future bookings still get theirs
    assert not Reminder.objects.filter(pk__in=stale_ids).exclude(status="skipped").exists()
    reasons = set(Reminder.objects.filter(pk__in=stale_ids).values_list("skip_reason", flat=True))
    assert {"appointment_passed", "case_completed", "follow_up_overdue"} <= reasons <= set(SKIP_REASONS)
    audited = AuditEntry.objects.filter(
        action="reminder.skipped", actor_label="task:scheduling.send_due_reminders", object_id__in=map(str, stale_ids)
    )
    assert audited.count() == len(stale_ids)


@pytest.mark.django_db
def test_seeding_the_history_again_adds_nothing(demo: dict[str, int]) -> None:
    count = Case.objects.count()
    assert seed_history() == {"lists": 0, "cases": 0, "cancelled_on_the_day": 0}
    assert Case.objects.count() == count


@pytest.mark.django_db
def test_the_demo_surgeons_get_visibly_different_predictions(demo: dict[str, int]) -> None:
    """The demo's surgeons work at different speeds, so after seeding the learned figures for the
    same procedure differ between them, each from their own history."""
    coordinator = client_for(User.objects.get(username="coordinator"))
    figures = {}
    for member in StaffMember.objects.filter(user__username__in=["surgeon", "surgeon2"]).select_related("user"):
        assert member.user is not None
        body = coordinator.get("/api/v1/procedures/kyphoplasty/durations/", {"surgeon": member.pk}).data
        figures[member.user.username] = {(r["levels"], r["anaesthesia"]): r for r in body["rows"]}
    quick, slow = figures["surgeon"][1, "general"], figures["surgeon2"][1, "general"]
    assert quick["n"] >= 5 and slow["n"] >= 5
    assert quick["basis"].startswith("surgeon_") and slow["basis"].startswith("surgeon_")
    assert quick["p50"] < quick["template_minutes"] * 1.05 < slow["p50"]
    assert slow["p50"] - quick["p50"] >= 8
