"""Procedure template versions: the reads every view shares, and publishing a new version.

A version is immutable (ProcedureVersion.save refuses updates). A change is published as the next
number: the posted fields are laid over the latest version (a patch), `steps`, when given,
replace the whole ordered list, and the result must pass every rule of `validate_version`.
Cases keep the version they pinned, so an older version stays readable forever.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db import transaction
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from core.audit import Actor, record, snapshot
from core.errors import InvalidInput
from core.roles import Role, is_admin, roles_of
from procedures.estimates import VERTEBRAE, vertebra_position
from procedures.models import Anaesthesia, ProcedureStep, ProcedureTemplate, ProcedureVersion, StepKind
from procedures.screening import validate_hold_days, validate_renal_holds, validate_rules
from theatre.models import Capability, EquipmentKind

PUBLISH_PERMISSION = "procedures.add_procedureversion"

# Fields copied from the latest version unless the request changes them.
VERSION_FIELDS: tuple[str, ...] = (
    "anaesthesia_options",
    "default_anaesthesia",
    "positioning",
    "imaging",
    "required_capabilities",
    "required_equipment",
    "allowed_levels",
    "max_levels",
    "levels_contiguous",
    "turnover_minutes",
    "cement_product",
    "cement_mixing_minutes",
    "cement_working_minutes",
    "cement_setting_minutes",
    "cement_ml_per_level",
    "cement_ml_by_approach",
    "cement_max_ml_per_level",
    "contraindications",
    "inr_max",
    "platelets_min",
    "anticoagulant_hold_days",
    "anticoagulant_renal_holds",
    "fasting",
    "risks",
    "recovery",
    "follow_up",
    "patient_information",
    "sources",
    "parameter_sources",
)
STEP_FIELDS: tuple[str, ...] = ("kind", "name", "minutes", "per_level", "description")

INTRA_OP_IMAGING = frozenset(Capability.values) - {Capability.LAMINAR_FLOW}
POST_OP_IMAGING = frozenset({"xray", "ct", "mri"})
APPROACHES = frozenset({"unipedicular", "bipedicular"})


# --- Reads -----------------------------------------------------------------------------------


def versions_with_steps() -> QuerySet[ProcedureVersion]:
    """Versions with everything a serializer reads: template, author and ordered steps (3 queries)."""
    return ProcedureVersion.objects.select_related("template", "created_by").prefetch_related(
        Prefetch("steps", queryset=ProcedureStep.objects.order_by("order"))
    )


def templates_with_latest() -> QuerySet[ProcedureTemplate]:
    """Templates with `latest_versions` = [their newest version] prefetched: 3 queries for any number."""
    newest = ProcedureVersion.objects.filter(template=OuterRef("template")).order_by("-number").values("number")[:1]
    return ProcedureTemplate.objects.order_by("slug").prefetch_related(
        Prefetch(
            "versions",
            queryset=versions_with_steps().filter(number=Subquery(newest)),
            to_attr="latest_versions",
        )
    )


def latest_version(*, slug: str) -> ProcedureVersion | None:
    """The newest version of the template `slug`, steps prefetched (what a new case pins and what
    the API shows), or None if there is no such template or it has no version yet (2 queries)."""
    return versions_with_steps().filter(template__slug=slug).order_by("-number").first()


def version_to_pin(*, slug: str) -> ProcedureVersion:
    """The version a new case of procedure `slug` pins (its latest), or a 400 naming `procedure`."""
    version = latest_version(slug=slug)
    if version is None:
        raise InvalidInput("procedure", f"Unknown procedure {slug!r}.")
    return version


# --- Pinned versions, cached in process ---------------------------------------------------------
#
# A booking reads its case's version for the equipment it needs, and re-planning reminders for
# its fasting hours and follow-ups: 14 KB of JSON, about 1.8 ms to load and parse on every booking
# (bench/booking.py). A published version never changes: ProcedureVersion.save refuses updates, and
# on PostgreSQL a trigger refuses any UPDATE that changes what it says (migration 0006; only its
# bookkeeping `created_by` and `created_at` may change, and the cache leaves them out). So a
# version read once can never go stale, and each process keeps the versions it has read. The
# template is not cached with it (its name and slug can be edited), nor are the steps (no caller
# of `pinned_version` needs them).
_PINNED: dict[int, ProcedureVersion] = {}


def pinned_version(version_id: int) -> ProcedureVersion:
    """The published version `version_id` (what a case pins): one query the first time in this
    process, none after. Each call returns its own copy, so relations a caller loads onto it
    (`template`, `steps`) stay with that caller; its JSON values are shared: read them, never
    change them in place."""
    version = _PINNED.get(version_id)
    if version is None:
        # Left out, read on access: the two columns the trigger lets change.
        version = ProcedureVersion.objects.defer("created_by", "created_at").get(pk=version_id)
        _PINNED[version_id] = version
    return copy.copy(version)


# --- Who may publish ---------------------------------------------------------------------------


def can_publish_versions(user: AbstractBaseUser | AnonymousUser) -> bool:
    """An admin, or a surgeon who holds procedures.add_procedureversion (directly or via a group)."""
    if is_admin(user):
        return True
    return (
        isinstance(user, PermissionsMixin)
        and Role.SURGEON.value in roles_of(user)
        and user.has_perm(PUBLISH_PERMISSION)
    )


# --- Validation ----------------------------------------------------------------------------------


def _int(value: object, field: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(field, f"Must be a whole number of at least {minimum}.")
    return value


def _str_list(value: object, field: str, *, allowed: Iterable[str] | None = None, non_empty: bool = False) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(field, "Must be a list of non-empty strings.")
    if non_empty and not value:
        raise InvalidInput(field, "Must not be empty.")
    if len(set(value)) != len(value):
        raise InvalidInput(field, "Must not repeat an entry.")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise InvalidInput(field, f"Unknown code(s): {', '.join(unknown)}. Known: {', '.join(sorted(allowed))}.")


def _check_anaesthesia(data: Mapping[str, Any]) -> None:
    options = data["anaesthesia_options"]
    field = "anaesthesia_options"
    if not isinstance(options, list) or not options:
        raise InvalidInput(field, "At least one anaesthesia option is required.")
    totals: dict[str, int] = {}
    for option in options:
        if not isinstance(option, Mapping) or option.get("code") not in Anaesthesia.values:
            raise InvalidInput(field, f"Each option needs a code among {', '.join(Anaesthesia.values)}.")
        code = option["code"]
        if code in totals:
            raise InvalidInput(field, f"{code} is listed twice.")
        extra = set(option) - {"code", "label", "induction_minutes", "recovery_minutes"}
        if extra:
            raise InvalidInput(field, f"{code}: unknown keys {sorted(extra)}.")
        if "label" in option and not isinstance(option["label"], str):
            raise InvalidInput(field, f"{code}: label must be text.")
        induction = _int(option.get("induction_minutes"), f"{field}.{code}.induction_minutes")
        recovery = _int(option.get("recovery_minutes"), f"{field}.{code}.recovery_minutes")
        totals[code] = induction + recovery
    if data["default_anaesthesia"] not in totals:
        raise InvalidInput(
            "default_anaesthesia",
            f"{data['default_anaesthesia']!r} is not among the anaesthesia options ({', '.join(totals)}).",
        )
    general, local = totals.get(Anaesthesia.GENERAL), totals.get(Anaesthesia.LOCAL_SEDATION)
    if general is not None and local is not None and general < local:
        # GA adds airway management and emergence to everything sedation needs: a version that
        # times GA shorter than sedation is a typing error, and would make lists over-full.
        raise InvalidInput(
            field, "General anaesthesia cannot take less time (induction + recovery) than local with sedation."
        )


def _check_levels(data: Mapping[str, Any]) -> None:
    levels = data["allowed_levels"]
    _str_list(levels, "allowed_levels", allowed=VERTEBRAE, non_empty=True)
    positions = [vertebra_position(code) for code in levels]
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise InvalidInput(
            "allowed_levels", "Must be a contiguous run of vertebrae listed cranial → caudal, e.g. T5 … L5."
        )
    _int(data["max_levels"], "max_levels", minimum=1)
    if not isinstance(data["levels_contiguous"], bool):
        raise InvalidInput("levels_contiguous", "Must be true or false.")


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(field, "Must be a number.")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(field, "Must be a number.") from None
    if not number.is_finite() or number < 0:
        raise InvalidInput(field, "Must be a number of at least 0.")
    return number


def _check_cement(data: Mapping[str, Any]) -> None:
    for name in ("cement_mixing_minutes", "cement_working_minutes", "cement_setting_minutes"):
        _decimal(data[name], name)
    per_level = _decimal(data["cement_ml_per_level"], "cement_ml_per_level")
    maximum = _decimal(data["cement_max_ml_per_level"], "cement_max_ml_per_level")
    if per_level <= 0:
        raise InvalidInput("cement_ml_per_level", "Must be above 0 mL.")
    if maximum < per_level:
        raise InvalidInput(
            "cement_max_ml_per_level", f"The maximum ({maximum} mL) is below the volume per level ({per_level} mL)."
        )
    by_approach = data["cement_ml_by_approach"]
    if not isinstance(by_approach, Mapping):
        raise InvalidInput("cement_ml_by_approach", "Must be an object of approach → mL.")
    for approach, ml in by_approach.items():
        if approach not in APPROACHES:
            raise InvalidInput("cement_ml_by_approach", f"Unknown approach {approach!r}.")
        volume = _decimal(ml, f"cement_ml_by_approach.{approach}")
        if volume <= 0 or volume > maximum:
            raise InvalidInput(
                f"cement_ml_by_approach.{approach}", f"Must be above 0 and at most the maximum ({maximum} mL)."
            )


def _check_imaging(data: Mapping[str, Any]) -> None:
    imaging = data["imaging"]
    if not isinstance(imaging, Mapping) or set(imaging) - {"intra_op", "intra_op_options", "post_op"}:
        raise InvalidInput("imaging", "Must be an object with intra_op, intra_op_options and post_op lists.")
    _str_list(imaging.get("intra_op"), "imaging.intra_op", allowed=INTRA_OP_IMAGING, non_empty=True)
    _str_list(imaging.get("intra_op_options", []), "imaging.intra_op_options", allowed=INTRA_OP_IMAGING)
    _str_list(imaging.get("post_op", []), "imaging.post_op", allowed=POST_OP_IMAGING)


def _check_clinical_lists(data: Mapping[str, Any]) -> None:
    risks = data["risks"]
    if not isinstance(risks, list) or not all(
        isinstance(r, Mapping) and all(isinstance(r.get(k), str) and r[k] for k in ("code", "name", "frequency"))
        for r in risks
    ):
        raise InvalidInput("risks", "Each risk needs a code, a name and a frequency (text).")
    follow_up = data["follow_up"]
    if not isinstance(follow_up, list):
        raise InvalidInput("follow_up", "Must be a list of follow-ups.")
    codes: set[str] = set()
    for item in follow_up:
        if not isinstance(item, Mapping) or not isinstance(item.get("code"), str) or item["code"] in codes:
            raise InvalidInput("follow_up", "Each follow-up needs its own code.")
        codes.add(item["code"])
        _int(item.get("after_days"), f"follow_up.{item['code']}.after_days")
        if not isinstance(item.get("title"), str):
            raise InvalidInput(f"follow_up.{item['code']}.title", "Must be text.")
        _str_list(item.get("advice", []), f"follow_up.{item['code']}.advice")
    if not isinstance(data["recovery"], Mapping):
        raise InvalidInput("recovery", "Must be an object.")
    fasting = data["fasting"]
    if not isinstance(fasting, Mapping):
        raise InvalidInput("fasting", "Must be an object such as {food_hours, clear_fluids_hours}.")
    for key, hours in fasting.items():
        _int(hours, f"fasting.{key}")
    _str_list(data["patient_information"], "patient_information")
    _str_list(data["sources"], "sources", non_empty=True)


def _check_steps(steps: object) -> None:
    if not isinstance(steps, list) or not steps:
        raise InvalidInput("steps", "A version needs at least one step.")
    for index, step in enumerate(steps):
        where = f"steps.{index}"
        if not isinstance(step, Mapping) or step.get("kind") not in StepKind.values:
            raise InvalidInput(f"{where}.kind", f"Must be one of {', '.join(StepKind.values)}.")
        if not isinstance(step.get("name"), str) or not step["name"].strip():
            raise InvalidInput(f"{where}.name", "A step needs a name.")
        _int(step.get("minutes"), f"{where}.minutes")
        if not isinstance(step.get("per_level"), bool):
            raise InvalidInput(f"{where}.per_level", "Must be true or false.")
        if not isinstance(step.get("description", ""), str):
            raise InvalidInput(f"{where}.description", "Must be text.")
        if step["kind"] == StepKind.ANAESTHESIA and step["per_level"]:
            raise InvalidInput(f"{where}.per_level", "Anaesthesia happens once per case, not per level.")
    if not any(step["per_level"] and step["minutes"] > 0 for step in steps):
        # Each extra level must cost time, or lists fill with cases that cannot fit.
        raise InvalidInput("steps", "At least one step must repeat per level and take more than 0 minutes.")


def validate_version(data: Mapping[str, Any]) -> None:
    """InvalidInput naming the field unless the complete version data obeys its own rules."""
    _check_anaesthesia(data)
    if not isinstance(data["positioning"], str) or not data["positioning"].strip():
        raise InvalidInput("positioning", "Positioning is required, e.g. prone.")
    _check_imaging(data)
    _str_list(data["required_capabilities"], "required_capabilities", allowed=Capability.values)
    _str_list(data["required_equipment"], "required_equipment", allowed=EquipmentKind.values)
    _check_levels(data)
    _int(data["turnover_minutes"], "turnover_minutes")
    _check_cement(data)
    validate_rules(data["contraindications"])
    inr_max = _decimal(data["inr_max"], "inr_max")
    if inr_max <= 0:
        raise InvalidInput("inr_max", "Must be above 0.")
    _int(data["platelets_min"], "platelets_min")
    validate_hold_days(data["anticoagulant_hold_days"])
    validate_renal_holds(data.get("anticoagulant_renal_holds", {}), data["anticoagulant_hold_days"])
    _check_clinical_lists(data)
    _check_steps(data["steps"])
    _check_parameter_sources(data)


# --- Sources of numbers ----------------------------------------------------------------------
#
# Every number in a version is a clinician's default, so each needs a source a reviewer can check
# (the hazard log's H13, "a template number without a source"). `parameter_sources` maps a path
# to its source; the path names one number ("inr_max", "anticoagulant_hold_days.dabigatran",
# "steps.6.minutes") or a group of them ("fasting"), and then covers every number beneath it.
# List items are named by their `code` when they have one ("anaesthesia_options.general.
# induction_minutes", "follow_up.review_2_weeks.after_days"), steps by their order from 1, other
# items by their index from 0.


def numeric_parameters(data: Mapping[str, Any]) -> dict[str, Decimal]:
    """Every number in the version data (VERSION_FIELDS and steps), by its path."""
    found: dict[str, Decimal] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float | Decimal):
            found[path] = Decimal(str(value))
        elif isinstance(value, str) and path.split(".")[0] in _DECIMAL_TEXT_FIELDS:
            found[path] = Decimal(value)  # a decimal field posted or seeded as text, e.g. "1.5"
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                name = item.get("code") if isinstance(item, Mapping) else None
                walk(item, f"{path}.{name if isinstance(name, str) else index}")

    for name in VERSION_FIELDS:
        if name not in ("parameter_sources", "sources") and name in data:
            walk(data[name], name)
    for order, step in enumerate(data.get("steps", []), start=1):
        walk(step.get("minutes"), f"steps.{order}.minutes")
    return found


_DECIMAL_TEXT_FIELDS = frozenset(
    {
        "cement_mixing_minutes",
        "cement_working_minutes",
        "cement_setting_minutes",
        "cement_ml_per_level",
        "cement_max_ml_per_level",
        "inr_max",
    }
)


def _covers(key: str, path: str) -> bool:
    return path == key or path.startswith(f"{key}.")


def unsourced_parameters(data: Mapping[str, Any]) -> list[str]:
    """The paths of the version's numbers that no `parameter_sources` entry covers, in order."""
    keys = list(data.get("parameter_sources") or {})
    return [path for path in numeric_parameters(data) if not any(_covers(key, path) for key in keys)]


def _check_parameter_sources(data: Mapping[str, Any]) -> None:
    sources = data.get("parameter_sources", {})
    if not isinstance(sources, Mapping):
        raise InvalidInput("parameter_sources", "Must be an object of parameter path → source.")
    paths = numeric_parameters(data)
    for key, source in sources.items():
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput(f"parameter_sources.{key}", "A source must be non-empty text.")
        if not any(_covers(key, path) for path in paths):
            raise InvalidInput(f"parameter_sources.{key}", "Names no number of this version.")


def _carried_sources(
    latest: Mapping[str, Any], data: Mapping[str, Any], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The new version's sources: the latest's, less those whose numbers this change altered, plus
    the ones the change gives. A changed number never keeps the source of the number it replaced."""
    before, after = numeric_parameters(latest), numeric_parameters(data)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    carried = {
        key: source
        for key, source in (latest.get("parameter_sources") or {}).items()
        if not any(_covers(key, path) for path in changed)
    }
    return {**carried, **(given or {})}


# --- Publishing --------------------------------------------------------------------------------


def _step_dicts(version: ProcedureVersion) -> list[dict[str, Any]]:
    return [{name: getattr(step, name) for name in STEP_FIELDS} for step in version.steps.all()]


@transaction.atomic
def create_version(
    *, template: ProcedureTemplate, changes: Mapping[str, Any], change_note: str, actor: Actor
) -> ProcedureVersion:
    """Publish the next numbered version (latest + `changes`), whole or not at all, and audit it."""
    unknown = sorted(set(changes) - {*VERSION_FIELDS, "steps"})
    if unknown:
        raise InvalidInput(unknown[0], "Not a version field.")
    if not change_note.strip():
        raise InvalidInput("change_note", "Say what changed and why.")
    # Lock the template row: two clinicians publishing at once get numbers n+1 and n+2 in
    # turn, never a unique-constraint error.
    ProcedureTemplate.objects.select_for_update().filter(pk=template.pk).get()
    latest = latest_version(slug=template.slug)
    data: dict[str, Any] = {}
    if latest is not None:
        data = {name: getattr(latest, name) for name in VERSION_FIELDS}
        data["steps"] = _step_dicts(latest)
    previous = dict(data)
    data.update(changes)
    if latest is not None:
        # parameter_sources merge over the latest's, unlike the other fields, which replace.
        data["parameter_sources"] = _carried_sources(previous, data, changes.get("parameter_sources"))
    data.setdefault("anticoagulant_renal_holds", {})
    data.setdefault("parameter_sources", {})
    missing = [name for name in (*VERSION_FIELDS, "steps") if name not in data]
    if missing:
        raise InvalidInput(missing[0], "Required for a template's first version.")
    validate_version(data)

    fields = {name: data[name] for name in VERSION_FIELDS}
    for name in (
        "cement_mixing_minutes",
        "cement_working_minutes",
        "cement_setting_minutes",
        "cement_ml_per_level",
        "cement_max_ml_per_level",
        "inr_max",
    ):
        fields[name] = Decimal(str(fields[name]))
    version = ProcedureVersion.objects.create(
        template=template,
        number=(latest.number + 1) if latest is not None else 1,
        created_by=actor.user,
        change_note=change_note,
        **fields,
    )
    ProcedureStep.objects.bulk_create(
        ProcedureStep(
            version=version,
            order=order,
            description=step.get("description", ""),
            **{name: step[name] for name in ("kind", "name", "minutes", "per_level")},
        )
        for order, step in enumerate(data["steps"], start=1)
    )
    record(
        actor=actor,
        action="procedureversion.created",
        obj=version,
        before={"number": latest.number} if latest is not None else None,
        after={**snapshot(version), "steps": data["steps"]},
        reason=change_note,
    )
    return versions_with_steps().get(pk=version.pk)
