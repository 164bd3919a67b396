from django.contrib.auth.views import LogoutView
from django.urls import path

from ui import views

app_name = "ui"

urlpatterns = [
    path("", views.page, {"name": "board"}, name="board"),
    path("waiting/", views.page, {"name": "waiting"}, name="waiting"),
    path("patients/new/", views.page, {"name": "patient_new"}, name="patient-new"),
    path("cases/new/", views.page, {"name": "case_new"}, name="case-new"),
    path("cases/<int:case_id>/", views.page, {"name": "case"}, name="case"),
    path("fill/", views.page, {"name": "fill"}, name="fill"),
    path("metrics/", views.page, {"name": "metrics"}, name="metrics"),
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="/login/"), name="logout"),
]
