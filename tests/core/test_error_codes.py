"""Every error code the application sends is an ErrorCode: no raw string a client cannot look up."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import DomainError, ErrorCode, InvalidInput

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "core", "procedures", "scheduling", "theatre")


def _sources() -> Iterator[tuple[Path, ast.AST]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(), filename=str(path))


def _is_text(node: ast.expr | None) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


# Where each error class takes its code as a positional argument.
CODE_POSITION = {"DomainError": 0, "InvalidInput": 2}


def _raw_codes(tree: ast.AST) -> Iterator[int]:
    """Lines that give an error code as a string: DomainError("…"), InvalidInput(…, code="…"), {"code": "…"}."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CODE_POSITION:
            position = CODE_POSITION[node.func.id]
            positional = node.args[position] if len(node.args) > position else None
            keyword = next((kw.value for kw in node.keywords if kw.arg == "code"), None)
            if _is_text(positional) or _is_text(keyword):
                yield node.lineno
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "code" and _is_text(value):
                    yield node.lineno


def test_no_error_code_is_a_raw_string() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}" for path, tree in _sources() for line in _raw_codes(tree)]
    assert found == [], "use an ErrorCode member instead of a string code"


def test_the_check_sees_each_form_of_raw_code() -> None:
    tree = ast.parse('DomainError("x", "d")\nInvalidInput("f", "d", code=f"dup_{f}")\nbody = {"code": "x"}\n')
    assert list(_raw_codes(tree)) == [1, 2, 3]


def test_domain_errors_answer_with_the_codes_value() -> None:
    assert DomainError(ErrorCode.PATIENT_HAS_CASES, "d").as_dict()["code"] == "patient_has_cases"
    assert InvalidInput("mrn", "d", code=ErrorCode.DUPLICATE_MRN).as_dict() == {
        "code": "duplicate_mrn",
        "detail": "d",
        "errors": {"mrn": ["d"]},
    }
    assert InvalidInput("mrn", "d").code == "invalid"


def test_error_codes_are_unique_snake_case() -> None:
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(value.replace("_", "").isalpha() and value.islower() for value in values)
