"""The API's token authentication: django-rest-knox's, less its per-request sweep."""

from __future__ import annotations

from django.utils import timezone
from knox import auth
from knox.models import AuthToken
from knox.signals import token_expired


class TokenAuthentication(auth.TokenAuthentication):  # type: ignore[misc]  # knox has no type hints
    """knox's token check, without reading all of the user's tokens on every request.

    knox's `_cleanup_token` loads every token the user holds, on every request, to delete the
    expired ones: one query more per API call, about 0.45 ms of the week's session list (6 queries
    to 5; bench/session_list.py, issue 18). It only tidies rows that can no longer authenticate:
    the presented token's own expiry is still checked here, as knox checks it (deleted and refused
    when past), and `core.api.auth.issue_token` clears a user's expired tokens at every login.
    """

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        """True (and the token deleted, as knox does) when the presented token has expired."""
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True
