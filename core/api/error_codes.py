"""Which error `code`s each API operation answers, declared beside the view that answers them.

A view method says what its services can refuse with, by status::

    @raises(409, *booking.PLACEMENT_REFUSALS)
    @raises(400, ErrorCode.OUT_OF_RANGE)
    def book(self, request, pk): ...

A group of codes has one home, next to the rules that raise them (booking.PLACEMENT_REFUSALS
beside the booking rules), and views name the group. An action a viewset inherits (DRF's own
create, update, destroy) is declared in the class's `action_error_codes`, with the same `raises`
values. The codes every operation shares (401, 403, 404, a write's 409 `busy`, …) are not
declared here: core/api/schema.py adds them by the rules that give them. The schema documents the
union per operation, and tests/api/error_ledger.py checks every error the test suite sees
against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

ANY_METHOD = "*"
ATTRIBUTE = "error_codes"

# method ("*" for every method of the view function) → status → codes
Table = dict[str, dict[int, frozenset[str]]]
F = TypeVar("F", bound=Callable[..., Any])


def _merge(*tables: Mapping[str, Mapping[int, frozenset[str]]]) -> Table:
    merged: Table = {}
    for table in tables:
        for method, by_status in table.items():
            into = merged.setdefault(method, {})
            for status, codes in by_status.items():
                into[status] = into.get(status, frozenset()) | codes
    return merged


class raises:  # noqa: N801 - a decorator, named as one reads it: @raises(409, …)
    """Declare that a view method answers `status` with each of `codes`; stack one per status.

    `methods` narrows the declaration for a view function that serves several methods (an action
    with GET and POST). Stacking order does not matter, also around core.idempotency.idempotent
    (functools.wraps carries the declarations to the wrapper)."""

    def __init__(self, status: int, *codes: str, methods: Sequence[str] = (ANY_METHOD,)) -> None:
        if not 400 <= status < 500 or not codes:
            raise ValueError("declare a 4xx status and its codes; a 5xx is a bug, never part of the contract")
        self.table: Table = {method.upper(): {status: frozenset(str(code) for code in codes)} for method in methods}

    def __call__(self, view_method: F) -> F:
        # A fresh table, never one mutated in place: functools.wraps shares the wrapped function's
        # __dict__ values with its wrapper, so an in-place change would leak between the two.
        setattr(view_method, ATTRIBUTE, _merge(getattr(view_method, ATTRIBUTE, {}), self.table))
        return view_method


class raises_from:  # noqa: N801 - read as raises
    """Like raises, for codes known only once the apps are ready: those that the receivers of a lower
    app's hook raise (theatre's estate API documents what the apps above it refuse with)."""

    def __init__(self, status: int, codes: Callable[[], Iterable[str]]) -> None:
        self.status = status
        self.codes = codes

    @property
    def table(self) -> Table:
        codes = tuple(self.codes())
        return raises(self.status, *codes).table if codes else {}


# DRF's partial_update calls update, so a PATCH answers whatever a PUT does.
_DELEGATES = {"partial_update": "update"}


def declared_codes(view: Any, method: str) -> dict[int, set[str]]:
    """Status → the codes declared for `method` on this view (a view instance, as the schema has it)."""
    method = method.upper()
    action = getattr(view, "action", None)
    tables: list[Mapping[str, Mapping[int, frozenset[str]]]] = []
    names = [action, _DELEGATES.get(action or "")] if action else [method.lower()]
    for name in filter(None, names):
        tables.append(getattr(getattr(view, name, None), ATTRIBUTE, {}))
        for declaration in getattr(view, "action_error_codes", {}).get(name, ()):
            tables.append(declaration.table)
    merged = _merge(*tables)
    found: dict[int, set[str]] = {}
    for key in (ANY_METHOD, method):
        for status, codes in merged.get(key, {}).items():
            found.setdefault(status, set()).update(codes)
    return found
