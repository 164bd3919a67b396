"""The staff UI's pages: one shell template per page, which loads that page's ES module.

The shells carry no clinical data. Everything a page shows or does goes through /api/v1/ with
the session and the CSRF token, so the UI can never do what the API would refuse (DESIGN §5.6).
The navigation is drawn here from the user's roles only to hide links they cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from core.roles import Role, has_role, is_admin


@dataclass(frozen=True)
class Page:
    name: str  # the ES module under ui/static/ui/js/pages/
    title: str
    path: str | None  # in the navigation when not None


PAGES: dict[str, Page] = {
    page.name: page
    for page in (
        Page("board", "Theatre board", "/"),
        Page("waiting", "Waiting list", "/waiting/"),
        Page("patient_new", "New patient", "/patients/new/"),
        Page("case_new", "New case", "/cases/new/"),
        Page("case", "Case", None),
        Page("fill", "Fill lists", "/fill/"),
        Page("metrics", "Metrics", "/metrics/"),
    )
}


def visible_pages(request: HttpRequest) -> list[Page]:
    """The navigation for this user: a link they could only be refused behind is not shown."""
    user = request.user
    coordinator = has_role(user, Role.COORDINATOR)
    hidden: set[str] = set()
    if not coordinator:
        hidden |= {"patient_new", "case_new"}
    # Fill: coordinators commit, admins and coordinators preview (DESIGN §5.4).
    if not (coordinator or is_admin(user)):
        hidden.add("fill")
    # The utilisation report is for coordinators, admins and viewers (README, Theatre times and metrics).
    if not has_role(user, Role.COORDINATOR, Role.VIEWER):
        hidden.add("metrics")
    return [p for p in PAGES.values() if p.path is not None and p.name not in hidden]


@login_required
@ensure_csrf_cookie
def page(request: HttpRequest, name: str, **params: int) -> HttpResponse:
    current = PAGES[name]
    return render(
        request,
        "ui/shell.html",
        {
            "page": current,
            "nav": visible_pages(request),
            "params": params,
            "time_zone": settings.TIME_ZONE,
        },
    )


class StaffLoginView(LoginView):
    """Django's own login (session + CSRF), with the staff UI's look."""

    template_name = "ui/login.html"
    redirect_authenticated_user = True
