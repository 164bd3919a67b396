"""Pre-operative screening: (version, answers) → eligible | ineligible | incomplete. Pure: no DB.

The functions take `ScreeningRules`, a frozen copy of the version's rules and limits made by
`screening_rules_of(version)`, so they never reach the database and test in microseconds.

The answers
-----------
A flat object, answer code → value (DESIGN §3). The vocabulary is fixed here (`QUESTIONS`);
which answers matter, and what they block, is the version's `contraindications` rules.

=============================  ==========  =====================================================
code                           type        meaning
=============================  ==========  =====================================================
fracture_painful               bool        severe ongoing pain from the fracture, confirmed at the
                                           level by examination (NICE TA279)
fracture_unhealed_on_imaging   bool        recent, unhealed fracture: marrow oedema on MRI STIR or
                                           a positive bone scan
conservative_care_tried        bool        optimal pain management / conservative care tried
fragment_or_tumour_in_canal    bool        retropulsed fragment or tumour extending into the canal
active_infection               bool        active local or systemic infection (osteomyelitis,
                                           discitis, sepsis)
bleeding_disorder              bool        a known, uncorrectable bleeding disorder
inr                            number      latest INR
platelets                      number      latest platelet count, ×10⁹/L
cement_allergy                 bool        allergy to PMMA bone cement or to contrast
anticoagulants                 drug list   anticoagulant/antiplatelet drug codes taken ([] if none),
                                           e.g. ["warfarin"]; matched against anticoagulant_hold_days
creatinine_clearance           number      creatinine clearance, mL/min (Cockcroft–Gault): picks a
                                           drug's renal hold band (anticoagulant_renal_holds)
can_lie_prone                  bool        can lie prone for the procedure
radicular_pain_dominant        bool        radicular (nerve-root) pain dominates the back pain
vertebra_plana                 bool        vertebra plana (near-complete collapse)
mdt_discussed                  bool        discussed at the spinal MDT (NICE IPG12)
=============================  ==========  =====================================================

`null` means "unknown / not answered yet" (as does leaving the key out): a mandatory answer that is
unknown gives ``incomplete``, never ``eligible``. Any other wrong type, an unknown
code or INR as text raises InvalidInput("answers.<code>", …): a 400 naming the field.

The rules (`ProcedureVersion.contraindications`)
------------------------------------------------
A list of rules, each::

    {"code": "bleeding_disorder",          # the Finding code; unique within the version
     "severity": "blocker" | "warning",    # a blocker makes the case ineligible
     "message": "…",                       # shown to the clinician
     "required": true,                     # optional: its answers are mandatory (default: true
                                           # for blockers, false for warnings)
     "any": [condition, …]}                # the rule fires if ANY condition holds

A condition names one answer and one test:

    {"answer": "<bool code>", "is": true | false}
    {"answer": "<number code>", "above": "inr_max" | "platelets_min"}   # value > version.<field>
    {"answer": "<number code>", "below": "inr_max" | "platelets_min"}   # value < version.<field>
    {"answer": "anticoagulants", "without_hold": true}   # a drug with no anticoagulant_hold_days entry
    {"answer": "anticoagulants", "renal_function_unknown": true}
        # a drug with renal hold bands, and creatinine_clearance not answered
    {"answer": "anticoagulants", "without_renal_hold": true}
        # a drug with renal hold bands, and a known clearance that no band covers and that is
        # below the highest band (e.g. dabigatran at 25 mL/min: the guide gives no hold there)

Limits are named, never written into the rule, so the INR and platelet limits stay in
`inr_max` / `platelets_min` and the hold days in `anticoagulant_hold_days`: every clinical
number is a field of the version.

The outcome
-----------
Any blocker → ``ineligible`` (a known blocker settles it, even with answers missing); otherwise
any mandatory answer missing → ``incomplete`` (listed in ``missing``); otherwise ``eligible``.
Warnings never change the result. Each drug in ``anticoagulants`` with a hold rule gets an
AnticoagulantHold. A drug WITHOUT one is what the seeded ``anticoagulant_plan_needed`` rule
blocks: without a stop date no reminder can be sent, and operating on an unplanned
anticoagulant risks bleeding, so the clinician must set a plan (a new version adding the drug's
hold days) before the case can be booked.

Renal hold bands
----------------
Some drugs are cleared by the kidney, so their hold lengthens as kidney function falls.
``anticoagulant_renal_holds`` maps a drug to bands::

    {"dabigatran": [{"crcl_min": 30, "crcl_max": 50, "stop_days_before": 4}]}

A known ``creatinine_clearance`` inside a band (both ends inclusive) gives that band's days;
above every band, the drug's ordinary ``anticoagulant_hold_days``. The hold's ``basis`` says
which applied. With the clearance unknown the ordinary days apply, and the seeded
``renal_function_unknown`` warning tells the clinician the hold may be too short.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput

if TYPE_CHECKING:
    from procedures.models import ProcedureVersion

BOOL = "bool"
NUMBER = "number"
DRUG_LIST = "drug_list"
# A drug-list answer names at most this many drugs: a real list is a handful; 50,000 is an attack.
MAX_DRUGS = 30

BLOCKER = "blocker"
WARNING = "warning"

ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"
INCOMPLETE = "incomplete"

# The version fields a rule may name as a limit (ScreeningRules carries them by the same names).
LIMIT_FIELDS: tuple[str, ...] = ("inr_max", "platelets_min")

_DRUG_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RULE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class Question:
    code: str
    type: str  # BOOL | NUMBER | DRUG_LIST
    label: str
    unit: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "type": self.type, "label": self.label, "unit": self.unit}


QUESTIONS: tuple[Question, ...] = (
    Question(
        "fracture_painful",
        BOOL,
        "Is the fracture causing severe ongoing pain, confirmed at the level by examination?",
    ),
    Question(
        "fracture_unhealed_on_imaging",
        BOOL,
        "Is the fracture recent and unhealed on imaging (marrow oedema on MRI STIR, or a positive bone scan)?",
    ),
    Question("conservative_care_tried", BOOL, "Has optimal pain management (conservative care) been tried?"),
    Question(
        "fragment_or_tumour_in_canal",
        BOOL,
        "Does a bone fragment or tumour extend into the spinal canal?",
    ),
    Question(
        "active_infection",
        BOOL,
        "Is there an active local or systemic infection (osteomyelitis, discitis, sepsis)?",
    ),
    Question("bleeding_disorder", BOOL, "Does the patient have a known, uncorrectable bleeding disorder?"),
    Question("inr", NUMBER, "Latest INR"),
    Question("platelets", NUMBER, "Latest platelet count", unit="×10⁹/L"),
    Question("cement_allergy", BOOL, "Is the patient allergic to PMMA bone cement or to contrast?"),
    Question(
        "anticoagulants",
        DRUG_LIST,
        "Anticoagulant or antiplatelet drugs taken (codes such as warfarin, apixaban, clopidogrel; [] if none)",
    ),
    Question(
        "creatinine_clearance",
        NUMBER,
        "Creatinine clearance (Cockcroft–Gault), for anticoagulants cleared by the kidney such as dabigatran",
        unit="mL/min",
    ),
    Question("can_lie_prone", BOOL, "Can the patient lie prone for the procedure?"),
    Question("radicular_pain_dominant", BOOL, "Is radicular (nerve-root) pain the dominant pain?"),
    Question("vertebra_plana", BOOL, "Is the vertebra nearly completely collapsed (vertebra plana)?"),
    Question("mdt_discussed", BOOL, "Has the case been discussed at the spinal MDT?"),
)
QUESTION_BY_CODE: dict[str, Question] = {q.code: q for q in QUESTIONS}


@dataclass(frozen=True)
class RenalHold:
    """A drug's hold when creatinine clearance is within [crcl_min, crcl_max] mL/min."""

    crcl_min: Decimal
    crcl_max: Decimal
    stop_days_before: int


@dataclass(frozen=True)
class ScreeningRules:
    """What screening reads from a version: its rules, and the limits and hold days they name."""

    contraindications: tuple[Mapping[str, Any], ...]  # the rules, in the version's order
    inr_max: Decimal
    platelets_min: Decimal
    anticoagulant_hold_days: Mapping[str, int]  # drug code → days
    # drug code → its bands, lowest clearance first (empty: no drug depends on kidney function)
    anticoagulant_renal_holds: Mapping[str, tuple[RenalHold, ...]] = field(default_factory=dict)


def screening_rules_of(version: ProcedureVersion) -> ScreeningRules:
    """Screening's view of a version (no query: every field is on the version row)."""
    return ScreeningRules(
        contraindications=tuple(version.contraindications),
        inr_max=Decimal(str(version.inr_max)),
        platelets_min=Decimal(str(version.platelets_min)),
        anticoagulant_hold_days={str(drug): int(days) for drug, days in version.anticoagulant_hold_days.items()},
        anticoagulant_renal_holds=renal_holds_of(version.anticoagulant_renal_holds or {}),
    )


def renal_holds_of(raw: Mapping[str, Any]) -> dict[str, tuple[RenalHold, ...]]:
    """The version's `anticoagulant_renal_holds` JSON as RenalHold bands, lowest clearance first."""
    return {
        str(drug): tuple(
            sorted(
                (
                    RenalHold(
                        crcl_min=Decimal(str(band["crcl_min"])),
                        crcl_max=Decimal(str(band["crcl_max"])),
                        stop_days_before=int(band["stop_days_before"]),
                    )
                    for band in bands
                ),
                key=lambda band: band.crcl_min,
            )
        )
        for drug, bands in raw.items()
    }


@dataclass(frozen=True)
class Finding:
    code: str
    message: str


@dataclass(frozen=True)
class AnticoagulantHold:
    drug: str
    stop_days_before: int
    basis: str = ""  # why this many days, when kidney function changed it (or could have)


@dataclass(frozen=True)
class ScreeningOutcome:
    result: str  # ELIGIBLE | INELIGIBLE | INCOMPLETE
    blockers: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    missing: tuple[str, ...]
    holds: tuple[AnticoagulantHold, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "blockers": [{"code": f.code, "message": f.message} for f in self.blockers],
            "warnings": [{"code": f.code, "message": f.message} for f in self.warnings],
            "missing": list(self.missing),
            # `basis` only when kidney function decided (or could have decided) the days, so the
            # stored shape of every other hold is unchanged.
            "anticoagulant_holds": [
                {"drug": h.drug, "stop_days_before": h.stop_days_before, **({"basis": h.basis} if h.basis else {})}
                for h in self.holds
            ],
        }


# --- Answers -------------------------------------------------------------------------------


def _parse_answer(code: str, value: object) -> object:
    question = QUESTION_BY_CODE.get(code)
    field = f"answers.{code}"
    if question is None:
        raise InvalidInput(field, f"Unknown answer code {code!r}. Known codes: {', '.join(QUESTION_BY_CODE)}.")
    if question.type == BOOL:
        if not isinstance(value, bool):
            raise InvalidInput(field, "Must be true or false.")
        return value
    if question.type == NUMBER:
        # bool is an int subclass: true is not an INR.
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise InvalidInput(field, "Must be a number (not text).")
        number = Decimal(str(value))
        if not number.is_finite() or number < 0:
            raise InvalidInput(field, "Must be a finite number of at least 0.")
        return number
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(field, 'Must be a list of drug codes, e.g. ["warfarin"], or [] for none.')
    if len(value) > MAX_DRUGS:
        raise InvalidInput(field, f"List at most {MAX_DRUGS} drugs.")
    drugs: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _DRUG_CODE.match(item.strip().lower()):
            raise InvalidInput(field, f"{item!r} is not a drug code (letters, digits and underscores).")
        drug = item.strip().lower()
        if drug not in drugs:
            drugs.append(drug)
    return tuple(drugs)


def parse_answers(answers: object) -> dict[str, object]:
    """The answers that were given, typed; InvalidInput("answers.<code>", …) for malformed ones."""
    if not isinstance(answers, Mapping):
        raise InvalidInput("answers", "Answers must be an object of answer code → value.")
    parsed: dict[str, object] = {}
    for code, value in answers.items():
        if value is None and str(code) in QUESTION_BY_CODE:
            continue  # not answered yet
        parsed[str(code)] = _parse_answer(str(code), value)
    return parsed


# --- Rules ---------------------------------------------------------------------------------


def _limit(rules: ScreeningRules, name: str) -> Decimal:
    return Decimal(str(getattr(rules, name)))


def _fmt(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _condition_detail(condition: Mapping[str, Any], parsed: Mapping[str, object], rules: ScreeningRules) -> str | None:
    """None if the condition does not hold (or its answer is missing); else a short reason ("" if none)."""
    code = condition["answer"]
    if code not in parsed:
        return None
    value = parsed[code]
    label = "INR" if code == "inr" else code.replace("_", " ").capitalize()
    if "is" in condition:
        return "" if value is condition["is"] else None
    if "above" in condition:
        limit = _limit(rules, condition["above"])
        if isinstance(value, Decimal) and value > limit:
            return f"{label} {_fmt(value)} is above the limit of {_fmt(limit)}"
        return None
    if "below" in condition:
        limit = _limit(rules, condition["below"])
        if isinstance(value, Decimal) and value < limit:
            return f"{label} {_fmt(value)} is below the limit of {_fmt(limit)}"
        return None
    if condition.get("without_hold"):
        unplanned = [drug for drug in value if drug not in rules.anticoagulant_hold_days]  # type: ignore[attr-defined]
        return f"no hold rule for {', '.join(unplanned)}" if unplanned else None
    renal_drugs = [drug for drug in value if drug in rules.anticoagulant_renal_holds]  # type: ignore[attr-defined]
    clearance = parsed.get("creatinine_clearance")
    if condition.get("renal_function_unknown"):
        if renal_drugs and clearance is None:
            return f"creatinine clearance unknown for {', '.join(renal_drugs)}"
        return None
    if condition.get("without_renal_hold") and isinstance(clearance, Decimal):
        uncovered = [
            drug for drug in renal_drugs if _renal_band(rules.anticoagulant_renal_holds[drug], clearance) is _NO_RULE
        ]
        if uncovered:
            return f"no hold rule for {', '.join(uncovered)} at a creatinine clearance of {_fmt(clearance)} mL/min"
    return None


_NO_RULE = RenalHold(Decimal(-1), Decimal(-1), -1)  # a clearance below the highest band that no band covers


def _renal_band(bands: Sequence[RenalHold], clearance: Decimal) -> RenalHold | None:
    """The band covering `clearance`; None above every band (the ordinary hold); else _NO_RULE."""
    for band in bands:
        if band.crcl_min <= clearance <= band.crcl_max:
            return band
    if not bands or clearance > max(band.crcl_max for band in bands):
        return None
    return _NO_RULE


def _hold(drug: str, parsed: Mapping[str, object], rules: ScreeningRules) -> AnticoagulantHold:
    """The drug's hold: its renal band's days when the clearance falls in one, else the ordinary days."""
    days = rules.anticoagulant_hold_days[drug]
    bands = rules.anticoagulant_renal_holds.get(drug, ())
    if not bands:
        return AnticoagulantHold(drug, days)
    clearance = parsed.get("creatinine_clearance")
    if not isinstance(clearance, Decimal):
        return AnticoagulantHold(drug, days, "creatinine clearance unknown: the ordinary hold, which may be too short")
    band = _renal_band(bands, clearance)
    if band is None:
        return AnticoagulantHold(drug, days, f"creatinine clearance {_fmt(clearance)} mL/min: the ordinary hold")
    if band is _NO_RULE:
        return AnticoagulantHold(drug, days, f"creatinine clearance {_fmt(clearance)} mL/min: no hold rule")
    return AnticoagulantHold(
        drug,
        max(days, band.stop_days_before),
        f"creatinine clearance {_fmt(clearance)} mL/min ({_fmt(band.crcl_min)}–{_fmt(band.crcl_max)} mL/min band)",
    )


def _is_required(rule: Mapping[str, Any]) -> bool:
    return bool(rule.get("required", rule["severity"] == BLOCKER))


def mandatory_answers(rules: ScreeningRules) -> list[str]:
    """Answer codes the version's required rules read, in rule order (no duplicates)."""
    codes: list[str] = []
    for rule in rules.contraindications:
        if _is_required(rule):
            for condition in rule["any"]:
                if condition["answer"] not in codes:
                    codes.append(condition["answer"])
    return codes


def questionnaire(rules: ScreeningRules) -> list[dict[str, Any]]:
    """What a UI renders: every question, with `required` as this version's rules say."""
    required = set(mandatory_answers(rules))
    return [{**q.as_dict(), "required": q.code in required} for q in QUESTIONS]


def screen(*, rules: ScreeningRules, answers: Mapping[str, object]) -> ScreeningOutcome:
    """The outcome of the version's rules on `answers`: never eligible with a blocker or a missing answer."""
    parsed = parse_answers(answers)
    blockers: list[Finding] = []
    warnings: list[Finding] = []
    for rule in rules.contraindications:
        details = [d for c in rule["any"] if (d := _condition_detail(c, parsed, rules)) is not None]
        if not details:
            continue
        reasons = "; ".join(d for d in details if d)
        message = f"{rule['message']} ({reasons})" if reasons else str(rule["message"])
        (blockers if rule["severity"] == BLOCKER else warnings).append(Finding(rule["code"], message))
    missing = tuple(code for code in mandatory_answers(rules) if code not in parsed)
    drugs = parsed.get("anticoagulants", ())
    holds = tuple(
        _hold(drug, parsed, rules)
        for drug in drugs  # type: ignore[attr-defined]
        if drug in rules.anticoagulant_hold_days
    )
    if blockers:
        result = INELIGIBLE
    elif missing:
        result = INCOMPLETE
    else:
        result = ELIGIBLE
    return ScreeningOutcome(result, tuple(blockers), tuple(warnings), missing, holds)


def hold_dates(*, outcome: ScreeningOutcome, procedure_date: dt.date) -> list[dict[str, Any]]:
    """Per drug: the last day a dose may be taken and the first day without it.

    "Stop N days before" means no dose on the N days before the procedure, so the last dose is
    taken on day −(N+1) (e.g. warfarin 5 days: last dose on day −6).
    """
    return [
        {
            "drug": hold.drug,
            "stop_days_before": hold.stop_days_before,
            "last_dose_on": procedure_date - dt.timedelta(days=hold.stop_days_before + 1),
            "stop_from": procedure_date - dt.timedelta(days=hold.stop_days_before),
        }
        for hold in outcome.holds
    ]


# --- Validating a version's rules (used when a new version is created) ---------------------


def _check_condition(condition: object, where: str) -> None:
    if not isinstance(condition, Mapping):
        raise InvalidInput("contraindications", f"{where}: a condition must be an object.")
    code = condition.get("answer")
    question = QUESTION_BY_CODE.get(code) if isinstance(code, str) else None
    if question is None:
        raise InvalidInput("contraindications", f"{where}: unknown answer code {code!r}.")
    tests = [key for key in CONDITION_TESTS if key in condition]
    extra = set(condition) - {"answer", *CONDITION_TESTS}
    if len(tests) != 1 or extra:
        raise InvalidInput(
            "contraindications", f"{where}: exactly one of {' / '.join(CONDITION_TESTS)}, and nothing else."
        )
    test = tests[0]
    if test == "is" and (question.type != BOOL or not isinstance(condition["is"], bool)):
        raise InvalidInput("contraindications", f"{where}: 'is' needs a yes/no answer and true or false.")
    if test in ("above", "below") and (question.type != NUMBER or condition[test] not in LIMIT_FIELDS):
        raise InvalidInput(
            "contraindications",
            f"{where}: '{test}' needs a number answer and a limit field ({', '.join(LIMIT_FIELDS)}).",
        )
    if test in DRUG_TESTS and (question.type != DRUG_LIST or condition[test] is not True):
        raise InvalidInput("contraindications", f"{where}: '{test}' applies to anticoagulants and is true.")


CONDITION_TESTS: tuple[str, ...] = (
    "is",
    "above",
    "below",
    "without_hold",
    "renal_function_unknown",
    "without_renal_hold",
)
DRUG_TESTS = frozenset({"without_hold", "renal_function_unknown", "without_renal_hold"})


def validate_rules(rules: object) -> None:
    """InvalidInput("contraindications", …) unless `rules` has the documented shape."""
    if not isinstance(rules, list):
        raise InvalidInput("contraindications", "Must be a list of rules.")
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"rule {index + 1}"
        if not isinstance(rule, Mapping):
            raise InvalidInput("contraindications", f"{where}: a rule must be an object.")
        code = rule.get("code")
        if not isinstance(code, str) or not _RULE_CODE.match(code):
            raise InvalidInput("contraindications", f"{where}: 'code' must be a snake_case code.")
        if code in seen:
            raise InvalidInput("contraindications", f"{where}: code {code!r} is used twice.")
        seen.add(code)
        if rule.get("severity") not in (BLOCKER, WARNING):
            raise InvalidInput("contraindications", f"{where} ({code}): 'severity' must be blocker or warning.")
        if not isinstance(rule.get("message"), str) or not rule["message"].strip():
            raise InvalidInput("contraindications", f"{where} ({code}): 'message' is required.")
        if "required" in rule and not isinstance(rule["required"], bool):
            raise InvalidInput("contraindications", f"{where} ({code}): 'required' must be true or false.")
        extra = set(rule) - {"code", "severity", "message", "required", "any"}
        if extra:
            raise InvalidInput("contraindications", f"{where} ({code}): unknown keys {sorted(extra)}.")
        conditions = rule.get("any")
        if not isinstance(conditions, list) or not conditions:
            raise InvalidInput("contraindications", f"{where} ({code}): 'any' must be a non-empty list.")
        for condition in conditions:
            _check_condition(condition, f"{where} ({code})")


def validate_hold_days(hold_days: object) -> None:
    """InvalidInput("anticoagulant_hold_days", …) unless it maps drug codes to whole days ≥ 0."""
    if not isinstance(hold_days, Mapping):
        raise InvalidInput("anticoagulant_hold_days", "Must be an object of drug code → days.")
    for drug, days in hold_days.items():
        if not isinstance(drug, str) or not _DRUG_CODE.match(drug):
            raise InvalidInput("anticoagulant_hold_days", f"{drug!r} is not a lowercase drug code.")
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise InvalidInput("anticoagulant_hold_days", f"{drug}: days must be a whole number of at least 0.")


def validate_renal_holds(renal_holds: object, hold_days: Mapping[str, object]) -> None:
    """InvalidInput("anticoagulant_renal_holds", …) unless each drug with an ordinary hold maps to
    non-overlapping bands {crcl_min ≤ crcl_max, stop_days_before ≥ the ordinary days}."""
    field = "anticoagulant_renal_holds"
    if not isinstance(renal_holds, Mapping):
        raise InvalidInput(field, "Must be an object of drug code → bands.")
    for drug, bands in renal_holds.items():
        if drug not in hold_days:
            raise InvalidInput(field, f"{drug!r} has no ordinary hold in anticoagulant_hold_days.")
        if not isinstance(bands, list) or not bands:
            raise InvalidInput(field, f"{drug}: must be a non-empty list of bands.")
        spans: list[tuple[Decimal, Decimal]] = []
        for band in bands:
            if not isinstance(band, Mapping) or set(band) != {"crcl_min", "crcl_max", "stop_days_before"}:
                raise InvalidInput(field, f"{drug}: each band is {{crcl_min, crcl_max, stop_days_before}}.")
            low, high = (_band_number(band[k], f"{field}.{drug}.{k}") for k in ("crcl_min", "crcl_max"))
            if low > high:
                raise InvalidInput(field, f"{drug}: crcl_min {low} is above crcl_max {high}.")
            days = band["stop_days_before"]
            if isinstance(days, bool) or not isinstance(days, int) or days < int(str(hold_days[drug])):
                raise InvalidInput(
                    field, f"{drug}: stop_days_before must be a whole number, at least the ordinary hold."
                )
            spans.append((low, high))
        spans.sort()
        if any(later[0] <= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)):
            raise InvalidInput(field, f"{drug}: bands overlap.")


def _band_number(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(field, "Must be a number (mL/min).")
    number = Decimal(str(value))
    if not number.is_finite() or number < 0:
        raise InvalidInput(field, "Must be a number of at least 0.")
    return number
