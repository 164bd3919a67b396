"""The import order of DESIGN §1, proven: theatre ← procedures ← scheduling ← fhir.

- theatre imports neither procedures nor scheduling, and procedures does not import scheduling
  (read from the syntax tree, so an import inside a function or a string given to importlib
  counts too).
- fhir, the FHIR facade (DESIGN §5.5), sits on top: it may import every app, and no app imports
  it (config wires its URLs, as it wires every app's).
- theatre does not reach scheduling by string either. Following a reverse relation by name
  (`session.cases`, `_meta.get_field("cases").related_model`), filtering on a case's fields
  (`anaesthesia="general"`) or repeating its statuses as literals depends on scheduling as much
  as an import does; it only hides the dependency. So theatre's source, comments included, must
  not mention scheduling's models, their reverse relations onto theatre, or their vocabulary.
  Its migrations are left out: they record history, and must not be rewritten.

When these fail, invert the dependency: theatre offers a hook (theatre/hooks.py) and the higher
app connects to it in its AppConfig.ready().
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
HIGHER = {
    "core": ("fhir",),
    "theatre": ("procedures", "scheduling", "fhir"),
    "procedures": ("scheduling", "fhir"),
    "scheduling": ("fhir",),
}

# Words of scheduling's domain (matched against every word of names, strings and comments,
# identifiers split at underscores and capitals: `listed_cases`, `CaseStatus`, `nhs_number`).
SCHEDULING_WORDS = frozenset(
    {
        "scheduling",
        "case",
        "cases",
        "patient",
        "patients",
        "nhs",
        "mrn",
        "anaesthesia",
        "booked",
        "booking",
        "bookings",
        "reminder",
        "reminders",
        "checklist",
    }
)

# Ways to reach a model without importing it.
REACHING = re.compile(r"related_model|related_objects|get_model\(")


def sources(package: str, *, migrations: bool) -> list[Path]:
    found = sorted((ROOT / package).rglob("*.py"))
    return [p for p in found if migrations or "migrations" not in p.relative_to(ROOT).parts]


# --- Imports ------------------------------------------------------------------------------------


def imported_modules(source: str, *, package: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in `source` (a module of `package`), relative ones
    resolved, at any depth, and every module named to importlib."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield node.lineno, f"{base}.{node.module}" if node.module else base
            else:
                yield node.lineno, node.module or ""
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def upward_imports(package: str) -> list[str]:
    higher = HIGHER[package]
    return [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sources(package, migrations=True)
        for line, module in imported_modules(path.read_text(), package=".".join(path.relative_to(ROOT).parts[:-1]))
        if module.split(".")[0] in higher
    ]


@pytest.mark.pure
def test_the_import_check_finds_imports_however_written() -> None:
    source = (
        "import scheduling.models\n"
        "def later():\n"
        "    from scheduling.booking import book_case\n"
        "    from .. import views\n"
        "    return importlib.import_module('scheduling.lists')\n"
    )
    assert sorted(imported_modules(source, package="procedures.api")) == [
        (1, "scheduling.models"),
        (3, "scheduling.booking"),
        (4, "procedures"),
        (5, "scheduling.lists"),
    ]


@pytest.mark.pure
@pytest.mark.parametrize("package", sorted(HIGHER))
def test_no_app_imports_one_above_it(package: str) -> None:
    hits = upward_imports(package)
    assert not hits, f"{package} imports from {' or '.join(HIGHER[package])} (DESIGN §1):\n" + "\n".join(hits)


# --- Reaching scheduling by string --------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """What naming scheduling looks like: its words, its identifiers, and its literal values."""

    words: frozenset[str]
    identifiers: frozenset[str]  # model names, and reverse relations onto theatre's models
    values: frozenset[str]  # status and anaesthesia values theatre has no use of its own for


def _choice_values(fields: Iterable[object]) -> set[str]:
    return {str(value) for field in fields for value, _ in getattr(field, "choices", None) or ()}


def scheduling_vocabulary() -> Vocabulary:
    theatre = list(apps.get_app_config("theatre").get_models())
    higher = [model for label in HIGHER["theatre"] for model in apps.get_app_config(label).get_models()]
    # Reverse relations from the higher apps onto theatre's models: `session.cases`, `unit.claims`.
    reverse = {
        name
        for model in theatre
        for relation in model._meta.related_objects
        if relation.related_model in higher and not relation.hidden
        for name in (relation.get_accessor_name(), relation.field.related_query_name())
        if name
    }
    case = apps.get_model("scheduling", "Case")
    values = _choice_values([case._meta.get_field("status"), case._meta.get_field("anaesthesia")])
    theatres_own = _choice_values(field for model in theatre for field in model._meta.get_fields())
    return Vocabulary(
        words=SCHEDULING_WORDS,
        identifiers=frozenset({model.__name__ for model in higher} | reverse),
        values=frozenset(values - theatres_own),
    )


# Where text is: names, strings and comments (Python 3.12 splits an f-string into parts).
TEXT_TOKENS = {tokenize.NAME, tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def _words(text: str) -> list[str]:
    """`listed_cases` → listed, cases; `CaseStatus` → case, status; `NHS number` → nhs, number."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return [word.lower() for word in re.findall(r"[A-Za-z]+", spaced)]


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines.add(first.lineno)
    return lines


def mentions(source: str, vocabulary: Vocabulary) -> list[tuple[int, str]]:
    """(line, what) for each mention of scheduling in `source`: names, strings and comments."""
    hits: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in TEXT_TOKENS:
            continue
        for offset, text in enumerate(token.string.splitlines()):
            line = token.start[0] + offset
            identifiers = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
            hits += [(line, name) for name in identifiers & vocabulary.identifiers]
            hits += [(line, word) for word in _words(text) if word in vocabulary.words]
            hits += [(line, match) for match in REACHING.findall(text)]
    # A status or anaesthesia value as a literal (a docstring may use the English word).
    tree = ast.parse(source)
    docstrings = _docstring_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno not in docstrings:
            for part in re.split(r"[^A-Za-z0-9_]+|__", node.value):
                if part in vocabulary.values:
                    hits.append((node.lineno, repr(part)))
    return sorted(set(hits))


# The old way theatre reached cases (theatre/sessions.py, theatre/api/serializers.py), kept as a
# control: a checker that finds nothing here would prove nothing elsewhere.
OLD_REACH = """
LISTED_CASE_STATUSES = ("booked", "confirmed", "in_theatre", "completed")


def find_surgeon_operating(slots):
    model = TheatreSession._meta.get_field("cases").related_model
    return model._default_manager.filter(status__in=LISTED_CASE_STATUSES)


def loses_anaesthetist(session):
    return session.cases.filter(status__in=("booked", "confirmed"), anaesthesia="general").exists()


def in_theatre(session):
    return session.cases.filter(status="in_theatre").exists()


def moved_unit_in_use(unit, now):
    return unit.claims.filter(end__gt=now).exists()


class ListCase(serializers.Serializer):
    def get_patient(self, case):
        return {"nhs_number": case.patient.nhs_number}
"""


@pytest.mark.pure
def test_the_string_check_finds_the_old_reach_into_scheduling() -> None:
    found = mentions(OLD_REACH, scheduling_vocabulary())
    lines = {line for line, _ in found}
    what = {name for _, name in found}
    # Every line that reaches scheduling is found, each for the right reason.
    assert lines == {2, 6, 7, 11, 15, 19, 22, 23, 24}
    assert {"'booked'", "'confirmed'", "'in_theatre'", "'completed'", "'general'"} <= what
    assert {"cases", "related_model", "anaesthesia", "claims", "patient", "nhs"} <= what


@pytest.mark.pure
def test_the_string_check_leaves_theatres_own_words_alone() -> None:
    own = 'status = "cancelled"  # a locked list (6-4-2) needs an override\nTheatreSession.objects.filter(surgeon=s)\n'
    assert mentions(own, scheduling_vocabulary()) == []


@pytest.mark.pure
def test_theatre_never_names_scheduling() -> None:
    vocabulary = scheduling_vocabulary()
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sources("theatre", migrations=False)
        for line, what in mentions(path.read_text(), vocabulary)
    ]
    assert not hits, "theatre reaches scheduling by string (use a hook in theatre/hooks.py):\n" + "\n".join(hits)
