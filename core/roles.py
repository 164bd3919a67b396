"""The four role groups of DESIGN §3, plus superusers as admin."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser


class Role(StrEnum):
    COORDINATOR = "coordinator"
    SURGEON = "surgeon"
    ANAESTHETIST = "anaesthetist"
    VIEWER = "viewer"


_ROLE_NAMES = frozenset(r.value for r in Role)


def roles_of(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The user's role names, cached on the user object for the request (one query)."""
    if not user.is_authenticated:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_role_cache", None)
    if cached is None:
        names = user.groups.filter(name__in=_ROLE_NAMES).values_list("name", flat=True)  # type: ignore[attr-defined]
        cached = frozenset(names)
        user._role_cache = cached  # type: ignore[attr-defined]
    return cached


def cache_roles(user: AbstractBaseUser, group_names: Iterable[str]) -> None:
    """Give `roles_of` the user's roles from their group names read along with them (token
    authentication reads them with the token: core/api/token_auth.py), so it sends no query."""
    user._role_cache = frozenset(name for name in group_names if name in _ROLE_NAMES)  # type: ignore[attr-defined]


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "is_superuser", False))


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    """True for an admin, or a user holding any of `roles`."""
    return is_admin(user) or bool(roles_of(user) & {r.value for r in roles})


def can_see_patient_identifiers(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Viewers read lists without patient identifiers (DESIGN §3); every other role sees them."""
    return has_role(user, Role.COORDINATOR, Role.SURGEON, Role.ANAESTHETIST)
