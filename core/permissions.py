"""DRF permission classes. Default deny: an authenticated user with no role gets 403."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.roles import Role, has_role


class HasRole(BasePermission):
    """Authenticated and holding at least one role (or admin). The project-wide default."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, *Role)


class CoordinatorWritesOthersRead(BasePermission):
    """Reads for every role; writes for coordinators and admins (estate, sessions, cases)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request.user, *Role)
        return has_role(request.user, Role.COORDINATOR)


class IsCoordinator(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, Role.COORDINATOR)


class IsAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)
