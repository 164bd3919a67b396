"""Moved to tests.builders.clinic (PermissionWorld, build_permission_world, Clinic, build_clinic),
tests.builders.people and tests.builders.versions; re-exported here under the old names so that
tests written against this module keep working."""

from __future__ import annotations

from tests.builders.clinic import (
    PATIENT_ADDRESS,
    PATIENT_DOB,
    PATIENT_EMAIL,
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    PATIENT_MRN,
    PATIENT_NHS,
    PATIENT_PHONE,
    PHASE_ITEMS,
    SIGN_IN,
    SIGN_OUT,
    TIME_OUT,
    Clinic,
    approve,
    book,
    build_clinic,
    confirm,
    sign,
)
from tests.builders.clinic import PermissionWorld as World
from tests.builders.clinic import build_permission_world as build_world
from tests.builders.people import ROLES, login
from tests.builders.versions import KP_STEPS, estimated_minutes, kp_version

__all__ = [
    "KP_STEPS",
    "PATIENT_ADDRESS",
    "PATIENT_DOB",
    "PATIENT_EMAIL",
    "PATIENT_FAMILY",
    "PATIENT_GIVEN",
    "PATIENT_MRN",
    "PATIENT_NHS",
    "PATIENT_PHONE",
    "PHASE_ITEMS",
    "ROLES",
    "SIGN_IN",
    "SIGN_OUT",
    "TIME_OUT",
    "Clinic",
    "World",
    "approve",
    "book",
    "build_clinic",
    "build_world",
    "confirm",
    "estimated_minutes",
    "kp_version",
    "login",
    "sign",
]
