"""How long the case plan takes to assemble, fingerprint and print, without the database.

    .venv/bin/python bench/plan.py

The plan is a pure function of frozen inputs (the case, its pinned version with its steps, its
session, its claimed units and its estimate), so the figures below are the CPU cost per
GET /cases/{id}/plan/ on top of its five queries. Prints µs per plan for 1 and 3 levels, the
fingerprint alone, and the print view's template render, with ratios. Figures, not assertions;
not part of `make test`.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.template.loader import render_to_string  # noqa: E402

from procedures.estimates import estimate, estimate_rules_of  # noqa: E402
from procedures.models import ProcedureStep, ProcedureTemplate, ProcedureVersion  # noqa: E402
from scheduling.models import Case  # noqa: E402
from scheduling.plans.assembly import PlanUnit, approval_state, build_plan, plan_fingerprint  # noqa: E402
from scheduling.plans.loading import plan_approval, plan_case, plan_session, plan_version  # noqa: E402
from theatre.models import EquipmentUnit, Site, StaffMember, Theatre, TheatreSession  # noqa: E402

ROUNDS = 2000
STEPS = [
    ("sign_in", "Sign in", 3, False),
    ("anaesthesia", "Induction", 0, False),
    ("positioning", "Prone positioning", 5, False),
    ("level_confirmation", "Level confirmation", 3, False),
    ("time_out", "Time out", 2, False),
    ("trocar_access", "Trocar access", 7, True),
    ("drill", "Drill", 2, True),
    ("balloon_inflation", "Balloon inflation", 5, True),
    ("cavity_creation", "Cavity creation", 2, True),
    ("cement_mixing", "Cement mixing", 5, False),
    ("cement_injection", "Cement fill", 4, True),
    ("cement_setting", "Cement hardening", 11, False),
    ("closure", "Closure", 3, False),
    ("sign_out", "Sign out", 2, False),
]


def version() -> ProcedureVersion:
    v = ProcedureVersion(
        pk=1,
        template=ProcedureTemplate(pk=1, slug="kyphoplasty", name="Balloon kyphoplasty"),
        number=1,
        anaesthesia_options=[
            {"code": "general", "label": "General anaesthesia", "induction_minutes": 15, "recovery_minutes": 10}
        ],
        default_anaesthesia="general",
        allowed_levels=["T11", "T12", "L1"],
        imaging={"intra_op": ["fluoroscopy"], "post_op": ["xray"]},
        required_equipment=["c_arm", "kyphoplasty_system"],
        cement_product="PMMA",
        cement_mixing_minutes=Decimal("5.1"),
        cement_working_minutes=Decimal("8.5"),
        cement_setting_minutes=Decimal("11.0"),
        cement_ml_per_level=Decimal("4.1"),
        cement_max_ml_per_level=Decimal("7.0"),
        cement_ml_by_approach={"unipedicular": 4.1, "bipedicular": 4.9},
        fasting={"food_hours": 6, "clear_fluids_hours": 2},
        risks=[{"code": f"r{i}", "name": f"Risk {i}", "frequency": "1 in 100"} for i in range(8)],
        recovery={"stay": "day case or overnight", "bed_rest_hours": 1, "discharge_hours": 4},
        follow_up=[{"code": "review_2_weeks", "after_days": 14, "title": "Review"}],
    )
    v._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "steps": [
            ProcedureStep(version=v, order=i, kind=k, name=n, minutes=m, per_level=p)
            for i, (k, n, m, p) in enumerate(STEPS, start=1)
        ]
    }
    return v


def case_and_session(levels: list[str]) -> tuple[Case, TheatreSession, list[EquipmentUnit]]:
    london = ZoneInfo("Europe/London")
    surgeon = StaffMember(pk=1, name="Miss Priya Shah", role="surgeon")
    session = TheatreSession(
        pk=1,
        theatre=Theatre(pk=1, name="Theatre 1", site=Site(pk=1, name="Northgate")),
        start=dt.datetime(2027, 3, 1, 8, tzinfo=london),
        end=dt.datetime(2027, 3, 1, 13, tzinfo=london),
        surgeon=surgeon,
        status="published",
    )
    case = Case(
        pk=1,
        reference="KP-ABC123",
        patient_id=1,
        procedure_version_id=1,
        levels=levels,
        approach="bipedicular",
        anaesthesia="general",
        surgeon=surgeon,
        session=session,
        start=session.start,
        end=session.start + dt.timedelta(minutes=120),
        estimated_minutes=120,
        screening_result={"result": "eligible", "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}]},
    )
    units = [
        EquipmentUnit(pk=i, kind=k, name=k, serial=f"SN{i}") for i, k in enumerate(["c_arm", "kyphoplasty_system"])
    ]
    return case, session, units


def per_call_us(work: Callable[[], object]) -> float:
    samples = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(ROUNDS):
            work()
        samples.append((time.perf_counter() - began) / ROUNDS * 1e6)
    return statistics.median(samples)


def plan_of(v: ProcedureVersion, levels: list[str]) -> Callable[[], dict[str, Any]]:
    """build_plan with its frozen inputs built once, as scheduling.plans.loading builds them."""
    case, session, units = case_and_session(levels)
    facts, terms, plan_list = plan_case(case), plan_version(v), plan_session(session)
    claimed = [PlanUnit(id=u.pk, kind=u.kind, name=u.name, serial=u.serial) for u in units]
    times = estimate(rules=estimate_rules_of(v), levels=levels, anaesthesia=case.anaesthesia)
    return lambda: build_plan(case=facts, version=terms, session=plan_list, units=claimed, estimate=times)


def main() -> None:
    v = version()
    results: dict[str, float] = {}
    for levels in (["L1"], ["T11", "T12", "L1"]):
        results[f"build_plan, {len(levels)} level(s)"] = per_call_us(plan_of(v, levels))
    case, _, _ = case_and_session(["T11", "T12", "L1"])
    facts = plan_case(case)
    results["plan_fingerprint alone"] = per_call_us(lambda: plan_fingerprint(facts))
    plan = plan_of(v, ["T11", "T12", "L1"])()
    plan["approval"] = approval_state(approval=plan_approval(case), fingerprint=plan["fingerprint"], withdrawal=None)
    plan["patient"] = None
    results["print view render, 3 levels"] = per_call_us(lambda: render_to_string("plans/print.html", {"plan": plan}))
    base = results["build_plan, 1 level(s)"]
    for name, us in results.items():
        print(f"{name:<32} {us:9.1f} µs   ({us / base:4.2f} × the 1-level plan)")


if __name__ == "__main__":
    main()
