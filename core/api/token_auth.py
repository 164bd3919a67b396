"""The API's token authentication: django-rest-knox's, with the user's roles in the token's query
and without knox's per-request sweep of the user's other tokens."""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.contrib.auth.models import Group, User
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from knox import auth
from knox.crypto import hash_token
from knox.models import AuthToken, get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from core.db import CompiledQuery
from core.roles import cache_roles

# The tokens under a key, each with its user and the names of the user's groups: one query, its SQL
# compiled once (core.db.CompiledQuery). knox reads the token and its user; the user's roles were a
# second query on every API request, and building knox's query a millisecond of CPU (issue 18).
_TOKENS_WITH_GROUPS = CompiledQuery(
    lambda key: (
        get_token_model()
        .objects.filter(token_key=key)
        .select_related("user")
        .annotate(group_names=ArraySubquery(Group.objects.filter(user=OuterRef("user_id")).values("name")))
    )
)


class TokenAuthentication(auth.TokenAuthentication):  # type: ignore[misc]  # knox has no type hints
    """knox's token check (django-rest-knox 5), reading the user's roles with the token and not
    reading all of the user's tokens on every request.

    knox's `_cleanup_token` loads every token the user holds, on every request, to delete the
    expired ones: one query more per API call, about 0.45 ms of the week's session list (6 queries
    to 5; bench/session_list.py, issue 18). It only tidies rows that can no longer authenticate:
    the presented token's own expiry is still checked here, as knox checks it (deleted and refused
    when past), and `core.api.auth.issue_token` clears a user's expired tokens at every login.
    """

    def authenticate_credentials(self, token: bytes) -> tuple[User, AuthToken]:
        """knox's own, step for step, but for where the tokens come from (on PostgreSQL)."""
        if connection.vendor != "postgresql":  # SQLite under `make run`: ArraySubquery is PostgreSQL's
            return super().authenticate_credentials(token)  # type: ignore[no-any-return]
        msg = _("Invalid token.")
        key = token.decode("utf-8")
        for auth_token in _TOKENS_WITH_GROUPS.all(key[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(key)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                cache_roles(auth_token.user, auth_token.group_names)  # the annotation above
                return self.validate_user(auth_token)  # type: ignore[no-any-return]
        raise exceptions.AuthenticationFailed(msg)

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        """True (and the token deleted, as knox does) when the presented token has expired."""
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True
