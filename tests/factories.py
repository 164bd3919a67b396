"""factory_boy factories for every model. Times are aware (UTC) and lists fall on London hours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import factory
from factory.django import DjangoModelFactory

from procedures.models import ProcedureStep, ProcedureTemplate, ProcedureVersion
from scheduling.models import Case, Patient
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession, Timetable

LONDON = ZoneInfo("Europe/London")


def london(year: int, month: int, day: int, hour: int = 8, minute: int = 0) -> dt.datetime:
    """An aware datetime at a London wall-clock time (what a coordinator would type)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


def valid_nhs_number(seed: int) -> str:
    """A 10-digit NHS number whose modulus-11 check digit is valid, derived from `seed`."""
    n = 400_000_000 + seed * 10  # spaced out: an invalid check digit rolls on to the next number
    while True:
        digits = [int(c) for c in f"{n:09d}"]
        remainder = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 11 - remainder
        if check == 11:
            check = 0
        if check != 10:
            return f"{n:09d}{check}"
        n += 1


class SiteFactory(DjangoModelFactory[Site]):
    class Meta:
        model = Site
        django_get_or_create = ("name",)

    name = "Northgate Spinal Unit"
    timezone = "Europe/London"
    address = "Northgate Hospital, 1 Infirmary Road, Leeds LS1 3EX"


class TheatreFactory(DjangoModelFactory[Theatre]):
    class Meta:
        model = Theatre

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Theatre {n + 1}")
    capabilities = factory.LazyFunction(lambda: ["fluoroscopy", "laminar_flow"])


class EquipmentUnitFactory(DjangoModelFactory[EquipmentUnit]):
    class Meta:
        model = EquipmentUnit

    site = factory.SubFactory(SiteFactory)
    kind = "c_arm"
    name = factory.Sequence(lambda n: f"Unit {n + 1}")
    serial = factory.Sequence(lambda n: f"SN-{n:05d}")


class StaffMemberFactory(DjangoModelFactory[StaffMember]):
    class Meta:
        model = StaffMember

    name = factory.Sequence(lambda n: f"Staff {n}")
    role = "surgeon"
    email = factory.Sequence(lambda n: f"staff{n}@hospital.example")


class SurgeonFactory(StaffMemberFactory):
    name = factory.Sequence(lambda n: f"Mr Surgeon {n}")
    role = "surgeon"


class AnaesthetistFactory(StaffMemberFactory):
    name = factory.Sequence(lambda n: f"Dr Anaesthetist {n}")
    role = "anaesthetist"


class TimetableFactory(DjangoModelFactory[Timetable]):
    class Meta:
        model = Timetable

    theatre = factory.SubFactory(TheatreFactory)
    weekday = 0
    period = "am"
    start_time = dt.time(8, 0)
    end_time = dt.time(13, 0)
    surgeon = factory.SubFactory(SurgeonFactory)
    anaesthetist = factory.SubFactory(AnaesthetistFactory)
    valid_from = dt.date(2026, 1, 1)


class TheatreSessionFactory(DjangoModelFactory[TheatreSession]):
    class Meta:
        model = TheatreSession

    theatre = factory.SubFactory(TheatreFactory)
    period = "am"
    start = factory.Sequence(lambda n: london(2027, 1, 4, 8) + dt.timedelta(days=n))
    end = factory.LazyAttribute(lambda o: o.start + dt.timedelta(hours=5))
    surgeon = factory.SubFactory(SurgeonFactory)
    anaesthetist = factory.SubFactory(AnaesthetistFactory)
    status = "published"


class ProcedureTemplateFactory(DjangoModelFactory[ProcedureTemplate]):
    class Meta:
        model = ProcedureTemplate
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"test-procedure-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class ProcedureVersionFactory(DjangoModelFactory[ProcedureVersion]):
    """A small kyphoplasty-like version: 10 fixed minutes + 20 per level, GA 20 / LA 10, turnover 15."""

    class Meta:
        model = ProcedureVersion
        # A saved version is immutable (VersionImmutable): never save again after the steps hook.
        skip_postgeneration_save = True

    template = factory.SubFactory(ProcedureTemplateFactory)
    number = factory.Sequence(lambda n: n + 1)
    anaesthesia_options = factory.LazyFunction(
        lambda: [
            {"code": "general", "induction_minutes": 15, "recovery_minutes": 5},
            {"code": "local_sedation", "induction_minutes": 5, "recovery_minutes": 5},
        ]
    )
    default_anaesthesia = "general"
    positioning = "prone"
    imaging = factory.LazyFunction(lambda: {"intra_op": ["fluoroscopy"], "post_op": ["xray"]})
    required_capabilities = factory.LazyFunction(lambda: ["fluoroscopy"])
    required_equipment = factory.LazyFunction(lambda: ["c_arm"])
    allowed_levels = factory.LazyFunction(
        lambda: ["T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    )
    max_levels = 3
    turnover_minutes = 15
    cement_product = "PMMA bone cement"
    cement_mixing_minutes = Decimal("1.0")
    cement_working_minutes = Decimal("8.5")
    cement_setting_minutes = Decimal("11.0")
    cement_ml_per_level = Decimal("4.0")
    cement_max_ml_per_level = Decimal("7.0")
    contraindications = factory.LazyFunction(list)
    inr_max = Decimal("1.5")
    platelets_min = 50
    anticoagulant_hold_days = factory.LazyFunction(lambda: {"warfarin": 5, "apixaban": 2, "clopidogrel": 5})
    fasting = factory.LazyFunction(lambda: {"food_hours": 6, "clear_fluids_hours": 2})

    @factory.post_generation  # type: ignore[untyped-decorator]  # it passes the built version as `self`
    def steps(self: ProcedureVersion, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        specs = extracted or [
            ("trocar_access", "Transpedicular trocar access", 10, False),
            ("cement_injection", "Cement injection", 20, True),
        ]
        for order, (kind, name, minutes, per_level) in enumerate(specs, start=1):
            ProcedureStep.objects.create(
                version=self, order=order, kind=kind, name=name, minutes=minutes, per_level=per_level
            )


class PatientFactory(DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    nhs_number = factory.Sequence(valid_nhs_number)
    mrn = factory.Sequence(lambda n: f"MRN{n:07d}")
    # Distinctive names, never a substring of ordinary text ("Ball" is in "Balloon kyphoplasty"), so
    # that every "this name must not appear" check means what it says.
    given_name = factory.Sequence(lambda n: f"Ottoline{n:03d}")
    family_name = factory.Sequence(lambda n: f"Quarrington{n:03d}")
    date_of_birth = dt.date(1948, 5, 17)
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    phone = "+447700900123"
    reminder_channels = factory.LazyFunction(lambda: ["email"])


class CaseFactory(DjangoModelFactory[Case]):
    """A waiting-list case. Book it through scheduling.booking, not by setting fields here."""

    class Meta:
        model = Case

    reference = factory.Sequence(lambda n: f"C{n + 1:06d}")
    patient = factory.SubFactory(PatientFactory)
    procedure_version = factory.SubFactory(ProcedureVersionFactory)
    procedure = factory.LazyAttribute(lambda o: o.procedure_version.template)
    levels = factory.LazyFunction(lambda: ["L1"])
    approach = "bipedicular"
    anaesthesia = "general"
    surgeon = factory.SubFactory(SurgeonFactory)
    priority = "P3"
    referral_date = dt.date(2026, 10, 1)
    screening_answers = factory.LazyFunction(dict)
    screening_result = factory.LazyFunction(lambda: {"result": "eligible", "blockers": [], "warnings": []})
    estimated_minutes = 50
    status = "waiting"
