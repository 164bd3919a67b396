"""Domain errors. Services raise these; one API exception handler turns them into responses.

The codes are the public contract of DESIGN §3: clients switch on them, so never rename one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    OUTSIDE_SESSION = "outside_session"
    SLOT_TAKEN = "slot_taken"
    SESSION_FULL = "session_full"
    SURGEON_BUSY = "surgeon_busy"
    ANAESTHETIST_BUSY = "anaesthetist_busy"
    PATIENT_BUSY = "patient_busy"
    EQUIPMENT_UNAVAILABLE = "equipment_unavailable"
    CAPABILITY_MISSING = "capability_missing"
    SESSION_LOCKED = "session_locked"
    INVALID_TRANSITION = "invalid_transition"
    CHECKLIST_ORDER = "checklist_order"
    # Added beside DESIGN §3's list: a general anaesthetic needs an anaesthetist on the list.
    ANAESTHETIST_REQUIRED = "anaesthetist_required"
    # Why a list fill left a case waiting, beside the booking codes: none of the lists filled is
    # led by its surgeon, or the room left is held back by the overrun-risk limit.
    NO_LIST_FOR_SURGEON = "no_list_for_surgeon"
    OVERRUN_RISK = "overrun_risk"
    # A list fill's commit found that a placement could no longer be booked (the data changed
    # since the fill was worked out): nothing is booked, and the answer names the case.
    FILL_CONFLICT = "fill_conflict"
    # Not a booking rule, but a 409 all the same: an Idempotency-Key reused with another body,
    # or a lock that could not be had in time.
    IDEMPOTENCY_MISMATCH = "idempotency_key_reused"
    BUSY = "busy"
    # A patient whose cases keep them on record: cancel the cases (a case's history keeps its patient).
    PATIENT_HAS_CASES = "patient_has_cases"
    # The WHO sign out is refused while the recorded theatre times contradict it (DESIGN §5.1).
    TIMES_CONTRADICT_SIGN_OUT = "times_contradict_sign_out"
    # The WHO sign in outside its window (DESIGN §5.8): on another day than the list's local date,
    # or earlier on the day than CHECKLIST_SIGN_IN_LEAD_MINUTES before the list starts. A
    # coordinator's override with a reason lets it through (audited).
    NOT_LIST_DAY = "not_list_day"
    SIGN_IN_TOO_EARLY = "sign_in_too_early"
    # An estate change (a capability removed; a theatre, surgeon, anaesthetist or unit deactivated;
    # a unit's kind changed) that future booked cases depend on: the 409 names them (`cases`), and
    # an explicit override with a reason carries it out and flags each case for the coordinator.
    AFFECTS_BOOKED_CASES = "affects_booked_cases"
    # Booking into a theatre, or with a surgeon or anaesthetist, that is deactivated (DESIGN §5.8).
    THEATRE_INACTIVE = "theatre_inactive"
    STAFF_INACTIVE = "staff_inactive"
    # Booking or moving a case onto a day its patient said they are unavailable (holiday, unfit,
    # their own choice: scheduling/unavailability.py).
    PATIENT_UNAVAILABLE = "patient_unavailable"

    # 400s: the request itself is wrong; `errors` names the field.
    INVALID = "invalid"
    OUT_OF_RANGE = "out_of_range"
    DUPLICATE = "duplicate"
    DUPLICATE_NHS_NUMBER = "duplicate_nhs_number"
    DUPLICATE_MRN = "duplicate_mrn"
    # Theatre times (scheduling/milestones.py): recorded milestones out of order, too far in the
    # future for a clock difference, outside the list's day, the operation starting after the WHO
    # sign out, an unknown milestone name, and a correction without its reason.
    OUT_OF_ORDER = "out_of_order"
    TIME_IN_FUTURE = "time_in_future"
    OUTSIDE_LIST_WINDOW = "outside_list_window"
    AFTER_SIGN_OUT = "after_sign_out"
    UNKNOWN_MILESTONE = "unknown_milestone"
    REASON_REQUIRED = "reason_required"
    # A request body over API_MAX_BODY_BYTES (413); an unknown URL under /api/ (404).
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    # Django's own 400 (an unreadable request) and 500 under /api/ (core/api/http.py).
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    # Logins (core/api/auth.py): a wrong username or password (401), and any attempt during a
    # lockout (429), the same whether or not the account exists.
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED_OUT = "locked_out"


class DomainError(Exception):
    """A broken business rule: answered with HTTP `status` and `{code, detail, ...extra}`."""

    status = 409

    def __init__(self, code: ErrorCode, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = str(code)
        self.detail = detail
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidInput(DomainError):
    """Input a service found invalid (a rule about values, not about the schedule): HTTP 400.

    `field` names the offending request field so the client can show the message beside it.
    """

    status = 400

    def __init__(self, field: str, detail: str, code: ErrorCode = ErrorCode.INVALID) -> None:
        super().__init__(code, detail, errors={field: [detail]})
        self.field = field
