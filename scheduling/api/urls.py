from django.urls import path
from rest_framework.routers import DefaultRouter

from scheduling.api import plans, sessions, times, unavailability, views
from scheduling.api.calendar import CalendarFeedView, StaffCalendarFeedView, StaffCalendarView
from scheduling.api.cancellations import CancelReasonsView
from scheduling.api.durations import ProcedureDurationsView
from scheduling.api.fill import FillView, SessionCandidatesView
from scheduling.api.me import MeView
from scheduling.api.reminders import CaseRemindersView
from scheduling.api.reports import TheatreUtilisationView

router = DefaultRouter()
# Lists are shown with their cases, so /sessions/ and the timetables' generate live here.
router.register("sessions", sessions.SessionViewSet, basename="session")
router.register("timetables", sessions.TimetableGenerateViewSet, basename="timetable-generate")
router.register("patients", views.PatientViewSet, basename="patient")
# Plan, approval, confirm, checklist and history: detail routes only, beside CaseViewSet.
router.register("cases", plans.CasePlanViewSet, basename="case-plan")
router.register("cases", times.CaseTimesViewSet, basename="case-times")
router.register("cases", unavailability.CaseUnavailabilityViewSet, basename="case-unavailability")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("availability/", views.AvailabilityView.as_view(), name="availability"),
    path("reminders/", CaseRemindersView.as_view(), name="reminders"),
    path("staff/<int:pk>/calendar.ics", StaffCalendarView.as_view(), name="staff-calendar"),
    path("staff/<int:pk>/calendar-feed/", StaffCalendarFeedView.as_view(), name="staff-calendar-feed"),
    # The private feed URL a phone subscribes to: the secret in the path is the credential.
    path("calendar-feeds/<str:secret>.ics", CalendarFeedView.as_view(), name="calendar-feed"),
    path("cancel-reasons/", CancelReasonsView.as_view(), name="cancel-reasons"),
    # procedures' router has no `durations` route, so this path is not shadowed by it.
    path("procedures/<slug:slug>/durations/", ProcedureDurationsView.as_view(), name="procedure-durations"),
    path("reports/theatre-utilisation/", TheatreUtilisationView.as_view(), name="theatre-utilisation"),
    path("fill/", FillView.as_view(), name="fill"),
    path("sessions/<int:pk>/candidates/", SessionCandidatesView.as_view(), name="session-candidates"),
    *router.urls,
]
