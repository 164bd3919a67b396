"""The estate: sites, theatres, equipment units, staff and weekly timetables, written and audited.

The API and the admin both write through these functions, so a rule holds whichever way a change
comes in. Each write records `<model>.created` or `<model>.updated` in the same transaction.

Whether an equipment unit may move site depends on work planned above theatre, so theatre sends
`theatre.hooks.pre_unit_move` and the apps that plan that work connect to it in their AppConfig.ready(), as
they do to `theatre.signals.session_changed`: theatre never imports them.

Likewise a change to a theatre, a unit or a staff member that takes something away (a capability,
`active`, a unit's kind) is put to `pre_estate_change` first: the apps above refuse it if work
planned for the future needs what it takes (a 409 naming that work), unless the caller overrides
with a reason; then the change is made, `post_estate_change` lets them flag that work for the
coordinator, and the override's reason goes into the audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from core.audit import Actor, record_saved, snapshot
from core.errors import InvalidInput
from core.roles import is_admin
from theatre.hooks import EstateChange, post_estate_change, pre_estate_change, pre_unit_move
from theatre.models import (
    PERIOD_TIMES,
    Capability,
    EquipmentUnit,
    Site,
    StaffMember,
    Theatre,
    TheatreSession,
    Timetable,
)
from theatre.sessions import ensure_staff_roles

M = TypeVar("M", bound=models.Model)


# --- Rules --------------------------------------------------------------------------------------


def ensure_known_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"{name!r} is not a known time zone (e.g. Europe/London).") from None


def _check_site(site: Site | None, fields: Mapping[str, Any]) -> None:
    if "timezone" not in fields:
        return
    zone = fields["timezone"]
    ensure_known_zone(zone)
    # Lists are stored in UTC from local wall-clock times: a new zone would silently shift every
    # existing list by the difference.
    if site is not None and zone != site.timezone and TheatreSession.objects.filter(theatre__site=site).exists():
        raise InvalidInput("timezone", "A site that has lists cannot change its time zone.")


def clean_capabilities(value: object) -> list[str]:
    """Known capability codes, each once, sorted (the admin's JSON box takes anything)."""
    if not isinstance(value, list | tuple) or not all(isinstance(code, str) for code in value):
        raise InvalidInput("capabilities", "Give a list of capability codes.")
    unknown = sorted(set(value) - set(Capability.values))
    if unknown:
        raise InvalidInput("capabilities", f"Unknown capability {unknown[0]!r}; use one of {', '.join(Capability)}.")
    return sorted(set(value))


def _check_theatre(theatre: Theatre | None, fields: Mapping[str, Any]) -> None:
    if theatre is None or "site" not in fields or fields["site"].pk == theatre.site_id:
        return
    # A theatre's lists and timetables are in its site's local time, and the equipment its lists
    # use belongs to that site: moving it would break both.
    if theatre.sessions.exists() or theatre.timetables.exists():
        raise InvalidInput("site", "A theatre with lists or timetables cannot move to another site.")


def _check_unit(unit: EquipmentUnit | None, fields: Mapping[str, Any]) -> None:
    if unit is not None and "site" in fields and fields["site"].pk != unit.site_id:
        pre_unit_move.send(sender=EquipmentUnit, unit=unit, site=fields["site"])


def ensure_may_link_login(*, staff: StaffMember | None, user: User | None, actor: Actor) -> None:
    """Only an admin links or unlinks a staff member's login, and a login belongs to one person.

    The link decides whose login signs off a surgeon's plans: a clinical identity, so
    coordinators manage the rest of the record but not this.
    """
    current = staff.user_id if staff is not None else None
    if (user.pk if user is not None else None) == current:
        return
    if actor.user is None or not is_admin(actor.user):
        raise PermissionDenied("Only an admin may link or unlink a staff member's login.")
    others = StaffMember.objects.filter(user=user)
    if staff is not None:
        others = others.exclude(pk=staff.pk)
    if user is not None and others.exists():
        raise InvalidInput("user", "This login already belongs to another staff member.")


def _with_period_times(fields: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """A new timetable, or one whose period changes, takes the period's times unless given its own."""
    result = dict(fields)
    if creating or "period" in result:
        period = result.get("period")
        if period not in PERIOD_TIMES:
            raise InvalidInput("period", f"{period!r} is not a period (am, pm or all_day).")
        default_start, default_end = PERIOD_TIMES[period]
        if result.get("start_time") is None:
            result["start_time"] = default_start
        if result.get("end_time") is None:
            result["end_time"] = default_end
    return result


def _check_timetable(timetable: Timetable | None, fields: Mapping[str, Any]) -> None:
    def value(name: str) -> Any:
        return fields[name] if name in fields else getattr(timetable, name, None)

    if value("end_time") <= value("start_time"):
        raise InvalidInput("end_time", "The end time must be after the start time.")
    valid_to = value("valid_to")
    if valid_to is not None and valid_to < value("valid_from"):
        raise InvalidInput("valid_to", "valid_to must be on or after valid_from.")
    ensure_staff_roles(surgeon=value("surgeon"), anaesthetist=value("anaesthetist"))


# --- Writes -------------------------------------------------------------------------------------


def _only_editable(model: type[models.Model], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` if each names a field a person may set (not the id, not a timestamp)."""
    editable = {f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key}
    unknown = sorted(set(fields) - editable)
    if unknown:
        raise InvalidInput(unknown[0], "This field cannot be set.")
    return dict(fields)


def _create(obj: M, *, actor: Actor, reason: str) -> M:
    with transaction.atomic():
        obj.save()
        record_saved(obj, actor=actor, reason=reason)
    return obj


def _override_reason(*, override: bool, override_reason: str) -> str:
    """The override's reason, required when overriding (400 on override_reason otherwise)."""
    if not override:
        return ""
    if not override_reason.strip():
        raise InvalidInput(
            "override_reason", "An override needs a reason: it is audited and shown to the coordinators."
        )
    return override_reason.strip()


def _update(
    obj: M,
    *,
    changes: Mapping[str, Any],
    check: Callable[[M, dict[str, Any]], None],
    actor: Actor,
    reason: str,
    override: bool = False,
    override_reason: str = "",
    hooked: bool = False,
) -> M:
    """Lock the row, check the change against it, apply it, and audit before and after.

    `hooked` rows (theatres, units, staff) put the change to pre_estate_change before it is saved
    and to post_estate_change after, with the override if any; the audit reason names it."""
    changes = _only_editable(type(obj), changes)
    why = _override_reason(override=override, override_reason=override_reason)
    with transaction.atomic():
        current = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        check(current, changes)
        before = snapshot(current)
        for name, value in changes.items():
            setattr(current, name, value)
        change = EstateChange(instance=current, before=before, after=snapshot(current))
        if hooked:
            pre_estate_change.send(sender=type(current), change=change, override=override, override_reason=why)
        current.save()
        if hooked:
            post_estate_change.send(sender=type(current), change=change, actor=actor, override_reason=why)
        audit_reason = "; ".join(part for part in (reason, f"override: {why}" if why else "") if part)
        record_saved(current, actor=actor, before=before, reason=audit_reason)
    return current


def create_site(
    *, actor: Actor, name: str, timezone: str = "Europe/London", address: str = "", phone: str = "", reason: str = ""
) -> Site:
    """Create a site in a known time zone; audited."""
    _check_site(None, {"timezone": timezone})
    return _create(Site(name=name, timezone=timezone, address=address, phone=phone), actor=actor, reason=reason)


def update_site(*, actor: Actor, site: Site, changes: Mapping[str, Any], reason: str = "") -> Site:
    """Change a site; its time zone is frozen once it has lists; audited."""
    return _update(site, changes=changes, check=_check_site, actor=actor, reason=reason)


def create_theatre(
    *,
    actor: Actor,
    site: Site,
    name: str,
    capabilities: list[str] | tuple[str, ...] = (),
    active: bool = True,
    reason: str = "",
) -> Theatre:
    """Create a theatre with known capability codes; audited."""
    theatre = Theatre(site=site, name=name, capabilities=clean_capabilities(capabilities), active=active)
    return _create(theatre, actor=actor, reason=reason)


def update_theatre(
    *,
    actor: Actor,
    theatre: Theatre,
    changes: Mapping[str, Any],
    reason: str = "",
    override: bool = False,
    override_reason: str = "",
) -> Theatre:
    """Change a theatre; one with lists or timetables stays at its site; removing a capability or
    deactivating it is put to pre_estate_change (refused if future work needs it, unless
    overridden with a reason); audited."""
    changes = dict(changes)
    if "capabilities" in changes:
        changes["capabilities"] = clean_capabilities(changes["capabilities"])
    return _update(
        theatre,
        changes=changes,
        check=_check_theatre,
        actor=actor,
        reason=reason,
        override=override,
        override_reason=override_reason,
        hooked=True,
    )


def create_equipment_unit(
    *, actor: Actor, site: Site, kind: str, name: str, serial: str, active: bool = True, reason: str = ""
) -> EquipmentUnit:
    """Register an equipment unit at a site; audited."""
    unit = EquipmentUnit(site=site, kind=kind, name=name, serial=serial, active=active)
    return _create(unit, actor=actor, reason=reason)


def update_equipment_unit(
    *,
    actor: Actor,
    unit: EquipmentUnit,
    changes: Mapping[str, Any],
    reason: str = "",
    override: bool = False,
    override_reason: str = "",
) -> EquipmentUnit:
    """Change a unit; a move to another site is put to pre_unit_move's receivers first, a new kind
    or deactivation to pre_estate_change (refused if future work holds it, unless overridden with
    a reason); audited."""
    return _update(
        unit,
        changes=changes,
        check=_check_unit,
        actor=actor,
        reason=reason,
        override=override,
        override_reason=override_reason,
        hooked=True,
    )


def create_staff_member(
    *,
    actor: Actor,
    name: str,
    role: str,
    user: User | None = None,
    email: str = "",
    phone: str = "",
    active: bool = True,
    reason: str = "",
) -> StaffMember:
    """Add a staff member; only an admin links a login; audited."""
    ensure_may_link_login(staff=None, user=user, actor=actor)
    staff = StaffMember(name=name, role=role, user=user, email=email, phone=phone, active=active)
    return _create(staff, actor=actor, reason=reason)


def update_staff_member(
    *,
    actor: Actor,
    staff: StaffMember,
    changes: Mapping[str, Any],
    reason: str = "",
    override: bool = False,
    override_reason: str = "",
) -> StaffMember:
    """Change a staff member; only an admin links or unlinks the login; deactivation is put to
    pre_estate_change (refused if future work needs them, unless overridden with a reason); audited."""

    def check(current: StaffMember, fields: dict[str, Any]) -> None:
        if "user" in fields:
            ensure_may_link_login(staff=current, user=fields["user"], actor=actor)

    return _update(
        staff,
        changes=changes,
        check=check,
        actor=actor,
        reason=reason,
        override=override,
        override_reason=override_reason,
        hooked=True,
    )


def create_timetable(
    *,
    actor: Actor,
    theatre: Theatre,
    weekday: int,
    period: str,
    surgeon: StaffMember,
    valid_from: dt.date,
    anaesthetist: StaffMember | None = None,
    start_time: dt.time | None = None,
    end_time: dt.time | None = None,
    valid_to: dt.date | None = None,
    active: bool = True,
    reason: str = "",
) -> Timetable:
    """Create a weekly rule led by an active surgeon, in the period's times unless given; audited."""
    fields = _with_period_times(
        {
            "theatre": theatre,
            "weekday": weekday,
            "period": period,
            "start_time": start_time,
            "end_time": end_time,
            "surgeon": surgeon,
            "anaesthetist": anaesthetist,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "active": active,
        },
        creating=True,
    )
    _check_timetable(None, fields)
    return _create(Timetable(**fields), actor=actor, reason=reason)


def update_timetable(*, actor: Actor, timetable: Timetable, changes: Mapping[str, Any], reason: str = "") -> Timetable:
    """Change a weekly rule; a new period brings its times unless given; audited."""
    changes = _with_period_times(_only_editable(Timetable, changes), creating=False)
    return _update(timetable, changes=changes, check=_check_timetable, actor=actor, reason=reason)
