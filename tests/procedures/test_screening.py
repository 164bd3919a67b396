"""Screening: the version's rules applied to the answers, as a pure function."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from core.errors import InvalidInput
from procedures.screening import (
    QUESTIONS,
    AnticoagulantHold,
    ScreeningOutcome,
    ScreeningRules,
    hold_dates,
    mandatory_answers,
    questionnaire,
    screen,
    screening_rules_of,
    validate_hold_days,
    validate_rules,
)
from tests.builders.answers import eligible_answers as answers
from tests.builders.versions import RULES, screening_rules, version

pytestmark = pytest.mark.pure


def codes(findings: Any) -> list[str]:
    return [f.code for f in findings]


def test_complete_clean_answers_are_eligible() -> None:
    outcome = screen(rules=screening_rules(), answers=answers())
    assert outcome == ScreeningOutcome("eligible", (), (), (), ())


@pytest.mark.parametrize(
    ("change", "blocker"),
    [
        ({"fracture_painful": False}, "stable_painless_fracture"),
        ({"fracture_unhealed_on_imaging": False}, "stable_painless_fracture"),
        ({"fragment_or_tumour_in_canal": True}, "fragment_or_tumour_in_canal"),
        ({"active_infection": True}, "active_infection"),
        ({"bleeding_disorder": True}, "bleeding_disorder"),
        ({"inr": 1.6}, "bleeding_disorder"),
        ({"platelets": 49}, "bleeding_disorder"),
        ({"cement_allergy": True}, "cement_allergy"),
        ({"conservative_care_tried": False}, "conservative_care_not_tried"),
        ({"anticoagulants": ["phenindione"]}, "anticoagulant_plan_needed"),
    ],
)
def test_each_blocker_makes_the_case_ineligible(change: dict[str, Any], blocker: str) -> None:
    outcome = screen(rules=screening_rules(), answers=answers(**change))
    assert outcome.result == "ineligible"
    assert codes(outcome.blockers) == [blocker]


def test_limits_are_inclusive_and_read_from_the_version() -> None:
    v = screening_rules(inr_max=Decimal("1.8"), platelets_min=75)
    assert screen(rules=v, answers=answers(inr=1.8, platelets=75)).result == "eligible"
    outcome = screen(rules=v, answers=answers(inr=1.7, platelets=74))
    assert codes(outcome.blockers) == ["bleeding_disorder"]
    assert "Platelets 74 is below the limit of 75" in outcome.blockers[0].message


def test_limit_message_names_value_and_limit() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(inr=2.25))
    assert outcome.blockers[0].message == "Bleeding risk. (INR 2.25 is above the limit of 1.5)"


def test_missing_mandatory_answers_are_incomplete_and_listed() -> None:
    given = answers()
    del given["inr"], given["cement_allergy"]
    outcome = screen(rules=screening_rules(), answers=given)
    assert outcome.result == "incomplete"
    assert outcome.missing == ("inr", "cement_allergy")


def test_empty_answers_are_incomplete_never_eligible() -> None:
    outcome = screen(rules=screening_rules(), answers={})
    assert outcome.result == "incomplete"
    assert set(outcome.missing) == set(mandatory_answers(screening_rules()))


def test_null_means_not_answered() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(inr=None))
    assert outcome.result == "incomplete" and outcome.missing == ("inr",)


def test_a_blocker_wins_over_missing_answers() -> None:
    outcome = screen(rules=screening_rules(), answers={"active_infection": True})
    assert outcome.result == "ineligible"
    assert codes(outcome.blockers) == ["active_infection"]
    assert "inr" in outcome.missing


def test_warnings_do_not_change_an_eligible_result() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(can_lie_prone=False, radicular_pain_dominant=True))
    assert outcome.result == "eligible"
    assert codes(outcome.warnings) == ["cannot_lie_prone", "radicular_pain_dominant"]


def test_warning_answers_are_optional() -> None:
    assert "can_lie_prone" not in mandatory_answers(screening_rules())


def test_anticoagulants_give_a_hold_per_drug_from_the_version() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(anticoagulants=["Warfarin", "clopidogrel", "warfarin"]))
    assert outcome.result == "eligible"
    assert outcome.holds == (AnticoagulantHold("warfarin", 5), AnticoagulantHold("clopidogrel", 5))
    other = screening_rules(anticoagulant_hold_days={"warfarin": 7, "clopidogrel": 5})
    assert screen(rules=other, answers=answers(anticoagulants=["warfarin"])).holds == (
        AnticoagulantHold("warfarin", 7),
    )


def test_an_anticoagulant_without_a_hold_rule_blocks_and_names_the_drug() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(anticoagulants=["apixaban", "phenindione"]))
    assert outcome.result == "ineligible"
    assert "no hold rule for phenindione" in outcome.blockers[0].message
    assert outcome.holds == (AnticoagulantHold("apixaban", 2),)


def test_as_dict_matches_the_shared_shape() -> None:
    data = screen(rules=screening_rules(), answers=answers(anticoagulants=["warfarin"], inr=3)).as_dict()
    assert data == {
        "result": "ineligible",
        "blockers": [{"code": "bleeding_disorder", "message": "Bleeding risk. (INR 3 is above the limit of 1.5)"}],
        "warnings": [],
        "missing": [],
        "anticoagulant_holds": [{"drug": "warfarin", "stop_days_before": 5}],
    }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"inr": "1.2"}, "answers.inr"),
        ({"inr": True}, "answers.inr"),
        ({"inr": float("nan")}, "answers.inr"),
        ({"platelets": -1}, "answers.platelets"),
        ({"active_infection": "no"}, "answers.active_infection"),
        ({"active_infection": 0}, "answers.active_infection"),
        ({"anticoagulants": "warfarin"}, "answers.anticoagulants"),
        ({"anticoagulants": [5]}, "answers.anticoagulants"),
        ({"anticoagulants": ["war farin"]}, "answers.anticoagulants"),
        ({"favourite_colour": "blue"}, "answers.favourite_colour"),
    ],
)
def test_malformed_answers_name_the_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        screen(rules=screening_rules(), answers=answers(**bad))
    assert exc.value.field == field
    assert exc.value.as_dict()["errors"] == {field: [exc.value.detail]}


def test_answers_must_be_an_object() -> None:
    with pytest.raises(InvalidInput) as exc:
        screen(rules=screening_rules(), answers=["inr"])  # type: ignore[arg-type]
    assert exc.value.field == "answers"


def test_a_version_without_rules_needs_no_answers() -> None:
    assert screen(rules=screening_rules(contraindications=[]), answers={}).result == "eligible"


def test_hold_dates_count_back_from_the_procedure_day() -> None:
    outcome = screen(rules=screening_rules(), answers=answers(anticoagulants=["warfarin", "apixaban"]))
    assert hold_dates(outcome=outcome, procedure_date=dt.date(2027, 3, 10)) == [
        {
            "drug": "warfarin",
            "stop_days_before": 5,
            "last_dose_on": dt.date(2027, 3, 4),
            "stop_from": dt.date(2027, 3, 5),
        },
        {
            "drug": "apixaban",
            "stop_days_before": 2,
            "last_dose_on": dt.date(2027, 3, 7),
            "stop_from": dt.date(2027, 3, 8),
        },
    ]


def test_questionnaire_lists_every_question_with_required_flags() -> None:
    items = questionnaire(screening_rules())
    assert [i["code"] for i in items] == [q.code for q in QUESTIONS]
    by_code = {i["code"]: i for i in items}
    assert by_code["inr"]["required"] is True and by_code["inr"]["type"] == "number"
    assert by_code["can_lie_prone"]["required"] is False
    assert by_code["platelets"]["unit"] == "×10⁹/L"


def test_the_test_rules_are_valid() -> None:
    validate_rules(RULES)


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ({}, "list of rules"),
        ([{"code": "x", "severity": "blocker", "message": "m", "any": []}], "non-empty"),
        (
            [{"code": "X Y", "severity": "blocker", "message": "m", "any": [{"answer": "inr", "above": "inr_max"}]}],
            "snake_case",
        ),
        (
            [{"code": "x", "severity": "fatal", "message": "m", "any": [{"answer": "inr", "above": "inr_max"}]}],
            "severity",
        ),
        (
            [{"code": "x", "severity": "blocker", "message": "", "any": [{"answer": "inr", "above": "inr_max"}]}],
            "message",
        ),
        (
            [{"code": "x", "severity": "blocker", "message": "m", "any": [{"answer": "shoe_size", "is": True}]}],
            "unknown answer",
        ),
        ([{"code": "x", "severity": "blocker", "message": "m", "any": [{"answer": "inr", "is": True}]}], "'is' needs"),
        (
            [{"code": "x", "severity": "blocker", "message": "m", "any": [{"answer": "inr", "above": 1.5}]}],
            "limit field",
        ),
        (
            [
                {
                    "code": "x",
                    "severity": "blocker",
                    "message": "m",
                    "any": [{"answer": "inr", "above": "inr_max", "is": True}],
                }
            ],
            "exactly one",
        ),
        (
            [
                {
                    "code": "x",
                    "severity": "blocker",
                    "message": "m",
                    "any": [{"answer": "inr", "above": "inr_max"}],
                    "when": 1,
                }
            ],
            "unknown keys",
        ),
        (
            [
                {
                    "code": "x",
                    "severity": "blocker",
                    "message": "m",
                    "any": [{"answer": "active_infection", "without_hold": True}],
                }
            ],
            "without_hold",
        ),
        (
            [
                {"code": "x", "severity": "blocker", "message": "m", "any": [{"answer": "inr", "above": "inr_max"}]},
                {"code": "x", "severity": "warning", "message": "m", "any": [{"answer": "inr", "above": "inr_max"}]},
            ],
            "used twice",
        ),
    ],
)
def test_validate_rules_refuses_malformed_rules(rules: object, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_rules(rules)
    assert exc.value.field == "contraindications"
    assert fragment in exc.value.detail


@pytest.mark.parametrize("hold_days", [[], {"Warfarin": 5}, {"warfarin": -1}, {"warfarin": 2.5}, {"warfarin": True}])
def test_validate_hold_days_refuses_bad_values(hold_days: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_hold_days(hold_days)
    assert exc.value.field == "anticoagulant_hold_days"


def test_the_rules_are_read_from_the_version_rules_limits_and_hold_days() -> None:
    v = version(inr_max=Decimal("1.8"), platelets_min=75, anticoagulant_hold_days={"warfarin": 5})
    assert screening_rules_of(v) == ScreeningRules(
        contraindications=tuple(RULES),
        inr_max=Decimal("1.8"),
        platelets_min=Decimal(75),
        anticoagulant_hold_days={"warfarin": 5},
    )
