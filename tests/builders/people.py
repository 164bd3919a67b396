"""Logins in each role, and the named staff members linked to them."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from core.roles import Role
from tests.factories import AnaesthetistFactory, SurgeonFactory
from theatre.models import StaffMember

# Every role the permission tests walk; `anonymous` has no login.
ROLES: tuple[str, ...] = ("anonymous", "viewer", "coordinator", "surgeon", "other_surgeon", "anaesthetist", "admin")

# role → (username, group); the admin is a superuser in no group.
_LOGINS: dict[str, tuple[str, Role | None]] = {
    "viewer": ("viewer", Role.VIEWER),
    "coordinator": ("coordinator", Role.COORDINATOR),
    "surgeon": ("surgeon", Role.SURGEON),
    "other_surgeon": ("surgeon2", Role.SURGEON),
    "anaesthetist": ("anaesthetist", Role.ANAESTHETIST),
    "admin": ("admin", None),
}


def login(username: str, role: Role | None, *, superuser: bool = False) -> User:
    """A user in a role group. No password: hashing one costs ~0.3 s, and the tests authenticate
    with force_authenticate or force_login anyway."""
    user = User.objects.create(username=username, is_superuser=superuser, is_staff=superuser)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


def logins(*, prefix: str = "") -> dict[str, User | None]:
    """One login per role in ROLES (None for `anonymous`), usernames starting with `prefix`."""
    users: dict[str, User | None] = {"anonymous": None}
    for role, (username, group) in _LOGINS.items():
        users[role] = login(prefix + username, group, superuser=role == "admin")
    return users


def team(users: dict[str, User | None]) -> tuple[StaffMember, StaffMember, StaffMember]:
    """The surgeon, the other surgeon and the anaesthetist, linked to those roles' logins."""
    return (
        SurgeonFactory(name="Miss Priya Shah", user=users["surgeon"]),
        SurgeonFactory(name="Mr Tom Okafor", user=users["other_surgeon"]),
        AnaesthetistFactory(name="Dr Helen Marsh", user=users["anaesthetist"]),
    )
