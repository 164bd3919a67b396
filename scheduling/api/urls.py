from django.urls import path
from rest_framework.routers import DefaultRouter

from scheduling.api import plans, sessions, views
from scheduling.api.calendar import StaffCalendarView
from scheduling.api.reminders import CaseRemindersView

router = DefaultRouter()
# Lists are shown with their cases, so /sessions/ and the timetables' generate live here.
router.register("sessions", sessions.SessionViewSet, basename="session")
router.register("timetables", sessions.TimetableGenerateViewSet, basename="timetable-generate")
router.register("patients", views.PatientViewSet, basename="patient")
# Plan, approval, confirm, checklist and history: detail routes only, beside CaseViewSet.
router.register("cases", plans.CasePlanViewSet, basename="case-plan")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("availability/", views.AvailabilityView.as_view(), name="availability"),
    path("reminders/", CaseRemindersView.as_view(), name="reminders"),
    path("staff/<int:pk>/calendar.ics", StaffCalendarView.as_view(), name="staff-calendar"),
    *router.urls,
]
