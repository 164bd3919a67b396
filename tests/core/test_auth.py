"""Authentication fit for a hospital (issue 15, ASVS L2): lockout, expiring tokens, session
timeouts, throttling and security headers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from core.api.token_auth import TokenAuthentication
from core.roles import Role, has_role, roles_of
from core.sessions import SEEN, STARTED

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def nurse(db: None) -> User:
    user = User.objects.create_user(username="nurse", password=PASSWORD)
    user.groups.add(Group.objects.get(name="viewer"))
    return user


def api_login(username: str, password: str, address: str = "10.0.0.1") -> Any:
    return APIClient(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password}, format="json")


def outcomes(username: str, address: str, attempts: int = 20) -> list[tuple[int, dict[str, Any]]]:
    result = []
    for _ in range(attempts):
        response = api_login(username, "wrong password", address)
        result.append((response.status_code, response.json()))
    return result


def end_cool_off() -> None:
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(hours=1))


def test_twenty_wrong_passwords_lock_the_account_and_nothing_tells_whether_it_exists(nurse: User) -> None:
    real = outcomes("nurse", "10.0.0.1")
    ghost = outcomes("nobody-by-this-name", "10.0.0.2")
    codes = [body["code"] for _, body in real]
    # The 5th failure locks the account (AXES_FAILURE_LIMIT) and is answered as the lockout;
    # so the lockout has taken effect by the 6th attempt, and every attempt after it is refused.
    assert codes[:4] == ["invalid_credentials"] * 4
    assert codes[4:] == ["locked_out"] * 16
    assert [status for status, _ in real[:4]] == [401] * 4
    assert [status for status, _ in real[4:]] == [429] * 16
    # The same answers, word for word, for an account that does not exist.
    assert real == ghost
    # The right password is refused during the cool-off, from any address...
    refused = api_login("nurse", PASSWORD, "10.0.0.9")
    assert (refused.status_code, refused.json()["code"]) == (429, "locked_out")
    assert int(refused["Retry-After"]) > 0
    # ...and accepted once it has ended.
    end_cool_off()
    assert api_login("nurse", PASSWORD, "10.0.0.9").status_code == 200


def test_one_address_trying_many_accounts_is_locked_out_too(nurse: User) -> None:
    """Password spraying: one wrong password for each of many names from one address."""
    answers = [api_login(f"user{n}", "Winter2026!", "10.0.0.3").json()["code"] for n in range(8)]
    assert answers[:4] == ["invalid_credentials"] * 4
    assert set(answers[4:]) == {"locked_out"}
    assert api_login("nurse", PASSWORD, "10.0.0.3").json()["code"] == "locked_out"


def test_the_browser_login_page_shares_the_lockout(nurse: User) -> None:
    browser = Client(REMOTE_ADDR="10.0.0.4")
    for _ in range(4):
        page = browser.post("/api-auth/login/", {"username": "nurse", "password": "wrong"})
        assert page.status_code == 200  # the form again, with its error
    assert browser.post("/api-auth/login/", {"username": "nurse", "password": "wrong"}).status_code == 429
    assert browser.post("/api-auth/login/", {"username": "nurse", "password": PASSWORD}).status_code == 429
    assert browser.get("/api/v1/cases/").status_code == 401
    # The API login is locked for that account as well.
    assert api_login("nurse", PASSWORD, "10.0.0.5").json()["code"] == "locked_out"


def test_logins_failures_and_lockouts_are_recorded(nurse: User) -> None:
    assert api_login("nurse", PASSWORD).status_code == 200
    outcomes("nurse", "10.0.0.6", attempts=6)
    assert AccessLog.objects.filter(username="nurse").count() == 1
    assert AccessFailureLog.objects.filter(username="nurse").count() >= 5
    assert AccessFailureLog.objects.filter(username="nurse", locked_out=True).exists()
    assert AccessAttempt.objects.filter(username="nurse", failures_since_start__gte=5).exists()
    # The password itself is never recorded.
    assert not AccessAttempt.objects.filter(post_data__contains="wrong password").exists()


def test_a_login_gives_an_expiring_token_per_device_stored_hashed(nurse: User, settings: Any) -> None:
    before = timezone.now()
    phone, laptop = api_login("nurse", PASSWORD).json(), api_login("nurse", PASSWORD).json()
    assert phone["token"] != laptop["token"]
    expires = dt.datetime.fromisoformat(phone["expires_at"])
    assert dt.timedelta(hours=11, minutes=59) < expires - before <= dt.timedelta(hours=12, seconds=5)
    for token in (phone["token"], laptop["token"]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get("/api/v1/cases/").status_code == 200
    stored = list(AuthToken.objects.filter(user=nurse).values_list("digest", flat=True))
    assert len(stored) == 2
    assert phone["token"] not in stored
    assert laptop["token"] not in stored


def test_logout_revokes_only_the_token_that_made_the_request(nurse: User) -> None:
    phone, laptop = APIClient(), APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {api_login('nurse', PASSWORD).json()['token']}")
    laptop.credentials(HTTP_AUTHORIZATION=f"Token {api_login('nurse', PASSWORD).json()['token']}")
    assert phone.post("/api/v1/auth/logout/").status_code == 204
    refused = phone.get("/api/v1/cases/")
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")
    assert laptop.get("/api/v1/cases/").status_code == 200


def test_an_expired_token_is_refused(nurse: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_login('nurse', PASSWORD).json()['token']}")
    AuthToken.objects.filter(user=nurse).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/api/v1/cases/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_is_checked_in_one_query_and_an_expired_one_is_refused_and_deleted(
    nurse: User, django_assert_num_queries: Any
) -> None:
    """Given a live token and another, expired, on a second device: checking the live one reads
    only that token with its user (knox's sweep of the user's other tokens is left to the next
    login: core/api/token_auth.py); presenting the expired one refuses it and deletes it, as knox
    does; and the next login clears what is left expired."""
    live, old = api_login("nurse", PASSWORD).json()["token"], api_login("nurse", PASSWORD).json()["token"]
    past = timezone.now() - dt.timedelta(seconds=1)
    AuthToken.objects.filter(token_key=old[: CONSTANTS.TOKEN_KEY_LENGTH]).update(expiry=past)
    with django_assert_num_queries(1):
        user, _ = TokenAuthentication().authenticate_credentials(live.encode())
        assert has_role(user, Role.COORDINATOR) is False  # the roles came with the token: no query
    assert user == nurse
    assert AuthToken.objects.filter(user=nurse).count() == 2
    with pytest.raises(AuthenticationFailed):
        TokenAuthentication().authenticate_credentials(old.encode())
    assert AuthToken.objects.filter(user=nurse).count() == 1
    AuthToken.objects.filter(user=nurse).update(expiry=past)
    api_login("nurse", PASSWORD)
    assert AuthToken.objects.filter(user=nurse).count() == 1


def test_the_roles_read_with_a_token_are_the_users_roles_and_only_role_groups(
    nurse: User, django_assert_num_queries: Any, settings: Any
) -> None:
    """A role group given or taken away counts from the next request; other groups are not roles."""
    token = api_login("nurse", PASSWORD).json()["token"]
    nurse.groups.add(Group.objects.get(name="surgeon"), Group.objects.get_or_create(name="not-a-role")[0])
    with django_assert_num_queries(1):
        user, _ = TokenAuthentication().authenticate_credentials(token.encode())
        assert roles_of(user) == {"viewer", "surgeon"}
    nurse.groups.remove(Group.objects.get(name="surgeon"), Group.objects.get(name="viewer"))
    user, _ = TokenAuthentication().authenticate_credentials(token.encode())
    assert roles_of(user) == frozenset()
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/cases/").status_code == 403


def test_a_named_service_account_gets_a_longer_token(nurse: User, settings: Any) -> None:
    nurse.groups.add(Group.objects.get_or_create(name=settings.API_SERVICE_ACCOUNT_GROUP)[0])
    expires = dt.datetime.fromisoformat(api_login("nurse", PASSWORD).json()["expires_at"])
    assert expires - timezone.now() > dt.timedelta(days=89)


# --- Browser sessions ---------------------------------------------------------------------


def browser_for(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def age_session(browser: Client, **seconds_ago: float) -> None:
    session = browser.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[{"seen": SEEN, "started": STARTED}[key]] = now - ago
    session.save()


def test_a_browser_session_ends_after_thirty_idle_minutes(nurse: User) -> None:
    browser = browser_for(nurse)
    age_session(browser, seen=29 * 60, started=29 * 60)
    assert browser.get("/api/v1/cases/").status_code == 200
    age_session(browser, seen=31 * 60)
    assert browser.get("/api/v1/cases/").status_code == 401


def test_a_busy_browser_session_still_ends_at_its_absolute_lifetime(nurse: User, settings: Any) -> None:
    browser = browser_for(nurse)
    age_session(browser, seen=10, started=settings.SESSION_ABSOLUTE_HOURS * 3600 + 1)
    assert browser.get("/api/v1/cases/").status_code == 401


# --- Throttling and headers ---------------------------------------------------------------


@pytest.fixture
def tight_throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"expensive": "2/minute"})
    cache.clear()
    yield
    cache.clear()


def test_expensive_endpoints_are_throttled_per_user_with_retry_after(
    tight_throttle: None, viewer: APIClient, coordinator: APIClient
) -> None:
    url = "/api/v1/reports/theatre-utilisation/"
    assert [viewer.get(url).status_code for _ in range(2)] == [200, 200]
    refused = viewer.get(url)
    assert (refused.status_code, refused.json()["code"]) == (429, "throttled")
    assert int(refused["Retry-After"]) > 0
    # Per user: the coordinator is not held back by the viewer's requests.
    assert coordinator.get(url).status_code == 200


def test_security_headers(coordinator: APIClient) -> None:
    response = coordinator.get("/api/v1/")
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_swagger_ui_runs_without_inline_script(viewer: APIClient) -> None:
    page = viewer.get("/api/v1/docs/").content.decode()
    assert "<script>" not in page.replace(" ", "")


def test_past_the_device_limit_a_new_login_revokes_the_oldest(nurse: User, settings: Any) -> None:
    settings.API_TOKENS_PER_USER = 2
    first, second, third = (api_login("nurse", PASSWORD).json()["token"] for _ in range(3))
    assert AuthToken.objects.filter(user=nurse).count() == 2
    statuses = []
    for token in (first, second, third):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        statuses.append(client.get("/api/v1/cases/").status_code)
    assert statuses == [401, 200, 200]
