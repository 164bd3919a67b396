"""Browser sessions end after SESSION_IDLE_MINUTES without a request, and SESSION_ABSOLUTE_HOURS
after login whatever happens (ASVS V3.3: a shared clinical workstation is left logged in).

Django's session cookie has one age; the two clocks are kept in the session itself and checked on
every request that carries one. API tokens are not sessions: they have their own expiry (knox).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse

STARTED = "_session_started"
SEEN = "_session_seen"


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.session.session_key is not None:
            now = time.time()
            started = request.session.setdefault(STARTED, now)
            seen = request.session.get(SEEN, now)
            idle = now - seen > settings.SESSION_IDLE_MINUTES * 60
            too_old = now - started > settings.SESSION_ABSOLUTE_HOURS * 3600
            if idle or too_old:
                logout(request)  # flushes the session: the next request is anonymous (401)
            else:
                request.session[SEEN] = now
        return self.get_response(request)


def mark_session_start(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """user_logged_in: a browser login starts both clocks (an API token login has no session)."""
    session = getattr(request, "session", None)
    if session is not None and SESSION_KEY in session:
        now = time.time()
        session[STARTED] = now
        session[SEEN] = now
