"""The DCB0129 hazard log (docs/safety/hazard-log.md) cannot drift from the code.

Each hazard is a fenced ```yaml hazard block (the log says how one is written). This test fails
when a control names a test that does not exist (resolved against the test files' syntax tree,
so it needs no collection run; a parametrized id `…::name[param]` resolves to `name`), when a
control's `where` names a file or a module-level name that does not exist, when a hazard has no
test, when an id repeats, when a risk is not the matrix's number, or when `pending` work names a
test (pending work has none yet).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "docs" / "safety" / "hazard-log.md"
BLOCK = re.compile(r"^```yaml hazard\n(.*?)^```", re.MULTILINE | re.DOTALL)
TEST_ID = re.compile(r"^(tests/[\w/]+\.py)::(\w+(?:::\w+)?)(\[[^\]]*\])?$")
WHERE = re.compile(r"^([\w/]+\.py)(?:::([\w.]+))?$")

SEVERITIES = ("Minor", "Significant", "Considerable", "Major", "Catastrophic")
# The DCB0129/DCB0160 risk matrix: likelihood → the risk for each severity above, in order.
MATRIX: dict[str, tuple[int, ...]] = {
    "Very high": (3, 4, 4, 5, 5),
    "High": (2, 3, 3, 4, 5),
    "Medium": (2, 2, 3, 3, 4),
    "Low": (1, 2, 2, 3, 4),
    "Very low": (1, 1, 2, 2, 3),
}
FIELDS = {"id", "title", "description", "causes", "effect", "initial", "controls", "residual"}
OPTIONAL = {"pending"}


def hazards(text: str | None = None) -> list[dict[str, Any]]:
    """Every hazard block of the log (or of `text`), as parsed YAML."""
    source = LOG.read_text(encoding="utf-8") if text is None else text
    return [yaml.safe_load(block) for block in BLOCK.findall(source)]


@cache
def _tree(path: str) -> ast.Module | None:
    file = ROOT / path
    return ast.parse(file.read_text(encoding="utf-8")) if file.is_file() else None


def _names(path: str) -> set[str]:
    """Module-level functions, classes and assigned names, plus `Class.method` (and for tests, `Class::test`)."""
    tree = _tree(path)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.update({f"{node.name}.{item.name}", f"{node.name}::{item.name}"})
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def missing_test(test_id: str) -> str | None:
    """Why `test_id` names no test, or None if it does."""
    match = TEST_ID.match(test_id)
    if match is None:
        return f"{test_id!r} is not a test id (tests/….py::test_name)"
    path, name, _ = match.groups()
    if _tree(path) is None:
        return f"{test_id}: no file {path}"
    if not name.rsplit("::", 1)[-1].startswith("test_") or name not in _names(path):
        return f"{test_id}: no test {name} in {path}"
    return None


def missing_code(where: str) -> str | None:
    """Why `where` names no code, or None if it does."""
    match = WHERE.match(where)
    if match is None:
        return f"{where!r} is not path/to/module.py or path/to/module.py::name"
    path, name = match.groups()
    if _tree(path) is None:
        return f"{where}: no file {path}"
    if name is not None and name not in _names(path):
        return f"{where}: no {name} in {path}"
    return None


def problems(entries: list[dict[str, Any]]) -> list[str]:
    """Everything wrong with the entries, one line each (empty: the log is sound)."""
    found: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        hazard = str(entry.get("id"))
        if not re.fullmatch(r"H\d{2}", hazard):
            found.append(f"{hazard}: an id is H and two digits")
        if hazard in seen:
            found.append(f"{hazard}: the id is used twice")
        seen.add(hazard)
        if set(entry) - FIELDS - OPTIONAL or FIELDS - set(entry):
            found.append(f"{hazard}: fields {sorted(set(entry))}, expected {sorted(FIELDS)} (+ pending)")
            continue
        if not isinstance(entry["causes"], list) or not entry["causes"]:
            found.append(f"{hazard}: causes must be a non-empty list")
        for stage in ("initial", "residual"):
            risk = entry[stage]
            severity, likelihood = risk.get("severity"), risk.get("likelihood")
            if severity not in SEVERITIES or likelihood not in MATRIX:
                found.append(f"{hazard}: {stage} severity/likelihood must be words of the matrix")
            elif risk.get("risk") != MATRIX[likelihood][SEVERITIES.index(severity)]:
                found.append(
                    f"{hazard}: {stage} {severity} × {likelihood} is risk "
                    f"{MATRIX[likelihood][SEVERITIES.index(severity)]}, not {risk.get('risk')}"
                )
        tests = 0
        for control in entry["controls"] or []:
            if not {"control", "where", "tests"} <= set(control):
                found.append(f"{hazard}: a control needs control, where and tests")
                continue
            if (why := missing_code(str(control["where"]))) is not None:
                found.append(f"{hazard}: {why}")
            for test_id in control["tests"] or []:
                tests += 1
                if (why := missing_test(str(test_id))) is not None:
                    found.append(f"{hazard}: {why}")
        if tests == 0:
            found.append(f"{hazard}: no control names a test")
        for note in entry.get("pending") or []:
            if "::" in str(note) or "tests/" in str(note):
                found.append(f"{hazard}: pending work names a test; move it into controls")
    return found


def test_the_hazard_log_is_sound() -> None:
    entries = hazards()
    assert entries, f"No ```yaml hazard blocks in {LOG}"
    assert problems(entries) == []


def test_the_log_covers_the_hazards_the_issue_lists() -> None:
    """Issue 16's fourteen hazards are H01-H14 in its order; H15-H18 come from its workflow gaps."""
    titles = {entry["id"]: entry["title"].lower() for entry in hazards()}
    expected = {
        "H01": "wrong patient",
        "H02": "double-booked",
        "H03": "anticoagulant hold",
        "H04": "fasting",
        "H05": "dst",
        "H06": "stale reminder",
        "H07": "approval",
        "H08": "ineligible",
        "H09": "equipment unit",
        "H10": "viewer",
        "H11": "audit",
        "H12": "worker crash",
        "H13": "without a source",
        "H14": "overrun",
        "H15": "not available",
        "H16": "estate change",
        "H17": "checklist",
        "H18": "inactive",
    }
    assert {hazard: word in titles.get(hazard, "") for hazard, word in expected.items()} == dict.fromkeys(
        expected, True
    )


def test_the_matrix_in_the_log_is_the_one_checked() -> None:
    rows: dict[str, tuple[int, ...]] = {}
    for line in LOG.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] in MATRIX and len(cells) == 6:
            rows[cells[0]] = tuple(int(cell) for cell in cells[1:])
    assert rows == MATRIX


def test_the_checker_finds_every_kind_of_fault() -> None:
    """The control: a log with each fault in it is refused, naming the fault."""
    good_test = "tests/test_hazard_log.py::test_the_hazard_log_is_sound"
    faulty = """
```yaml hazard
id: H01
title: t
description: d
causes: [c]
effect: e
initial: {severity: Major, likelihood: Medium, risk: 4}
controls:
  - control: c
    where: scheduling/booking.py::no_such_function
    tests: [tests/scheduling/test_booking.py::test_that_was_never_written, GOOD]
residual: {severity: Major, likelihood: Very low, risk: 2}
```
```yaml hazard
id: H01
title: t
description: d
causes: [c]
effect: e
initial: {severity: Major, likelihood: Medium, risk: 3}
controls:
  - control: c
    where: scheduling/no_such_module.py
    tests: []
pending: ["see tests/scheduling/test_booking.py::test_x"]
residual: {severity: Major, likelihood: Very low, risk: 2}
```
""".replace("GOOD", good_test)
    found = problems(hazards(faulty))
    assert any("is risk 3, not 4" in p for p in found)
    assert any("no no_such_function in scheduling/booking.py" in p for p in found)
    assert any("no test test_that_was_never_written" in p for p in found)
    assert any("used twice" in p for p in found)
    assert any("no file scheduling/no_such_module.py" in p for p in found)
    assert any("no control names a test" in p for p in found)
    assert any("pending work names a test" in p for p in found)
    assert missing_test(f"{good_test}[with-a-param]") is None
    assert (
        missing_test("tests/scheduling/test_booking.py::test_booking_places_case_claims_unit_and_copies_anaesthetist")
        is None
    )


def test_the_readme_links_the_log() -> None:
    assert "docs/safety/hazard-log.md" in (ROOT / "README.md").read_text(encoding="utf-8")
