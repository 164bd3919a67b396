"""Demo logins for `make run`: one per role, printed at start-up. Never used in production."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from core.roles import Role

# username → (role group or None for the admin superuser, display name)
DEMO_USERS: dict[str, tuple[Role | None, str]] = {
    "coordinator": (Role.COORDINATOR, "Theatre Coordinator"),
    "surgeon": (Role.SURGEON, "Miss Priya Shah"),
    "surgeon2": (Role.SURGEON, "Mr Tom Okafor"),
    "anaesthetist": (Role.ANAESTHETIST, "Dr Helen Marsh"),
    "viewer": (Role.VIEWER, "Ward Viewer"),
    "admin": (None, "System Administrator"),
}


def demo_password(username: str) -> str:
    return f"{username}-demo"


def seed_users() -> dict[str, User]:
    """Create (or reset the password of) one login per role. Idempotent."""
    users: dict[str, User] = {}
    for username, (role, display) in DEMO_USERS.items():
        first, _, last = display.rpartition(" ")
        user, _ = User.objects.get_or_create(username=username, defaults={"first_name": first, "last_name": last})
        user.set_password(demo_password(username))
        user.is_staff = role is None
        user.is_superuser = role is None
        user.save()
        if role is not None:
            user.groups.set([Group.objects.get(name=role.value)])
        users[username] = user
    return users


def demo_token(username: str) -> str:
    """A freshly minted API token (tokens are stored hashed, so an old one cannot be shown again);
    it expires like any person's token (API_TOKEN_TTL_HOURS)."""
    from knox.models import AuthToken

    from core.api.auth import issue_token

    user = User.objects.get(username=username)
    AuthToken.objects.filter(user=user).delete()  # the last run's demo token goes
    token, _ = issue_token(user)
    return token
