"""Moved to tests.builders.versions (and the eligible answers to tests.builders.answers);
re-exported here so that tests written against this module keep working."""

from __future__ import annotations

from tests.builders.versions import DEFAULT_STEPS, RULES, T5_L5, estimate_rules, screening_rules, version

__all__ = ["DEFAULT_STEPS", "RULES", "T5_L5", "estimate_rules", "screening_rules", "version"]
