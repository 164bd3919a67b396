"""CompiledQuery gives the instances its queryset gives, related objects cached, in one query."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.db.models import Count
from django.db.transaction import TransactionManagementError

from core.db import CompiledQuery
from scheduling.models import Case, ReminderPlan
from tests.factories import CaseFactory, TheatreSessionFactory
from theatre.models import TheatreSession

pytestmark = pytest.mark.django_db

LOCKED_CASE = CompiledQuery(
    lambda pk: (
        Case.objects.select_for_update(of=("self",))
        .select_related("patient", "procedure", "reminder_plan")
        .filter(pk=pk)
    )
)
SESSION = CompiledQuery(
    lambda pk: TheatreSession.objects.select_related("theatre__site", "surgeon", "anaesthetist").filter(pk=pk)
)
CASES_OF_SURGEON = CompiledQuery(lambda surgeon: Case.objects.filter(surgeon_id=surgeon).order_by("-id"))


def values(obj: models.Model | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def assert_same(mine: models.Model, theirs: models.Model, paths: list[list[str]]) -> None:
    """Equal field values, and along each path the same related objects, cached (read with no query)."""
    assert type(mine) is type(theirs)
    assert values(mine) == values(theirs)
    assert not mine._state.adding and mine._state.db == theirs._state.db
    for path in paths:
        a, b = mine, theirs
        for name in path:
            descriptor = getattr(type(a), name)
            field = getattr(descriptor, "field", None) or descriptor.related
            assert field.is_cached(a) == field.is_cached(b) is True, name
            a, b = field.get_cached_value(a), field.get_cached_value(b)
            assert values(a) == values(b), name
            if a is None:
                break


@pytest.mark.parametrize("with_plan", [True, False])
def test_a_locked_case_comes_with_the_same_values_and_related_objects_as_the_queryset(
    with_plan: bool, django_assert_num_queries: Any
) -> None:
    case = CaseFactory()
    if with_plan:
        ReminderPlan.objects.create(case=case, warnings=[{"code": "no_contact"}])
    with transaction.atomic():
        theirs = (
            Case.objects.select_for_update(of=("self",))
            .select_related("patient", "procedure", "reminder_plan")
            .get(pk=case.pk)
        )
        LOCKED_CASE.get(case.pk)  # compiled on first use
        with django_assert_num_queries(1):
            mine = LOCKED_CASE.get(case.pk)
    assert_same(mine, theirs, [["patient"], ["procedure"], ["reminder_plan"]])
    assert mine.screening_result == theirs.screening_result  # JSON read through the field's converter
    if not with_plan:
        with django_assert_num_queries(0), pytest.raises(ReminderPlan.DoesNotExist):
            mine.reminder_plan  # noqa: B018 - known absent, as select_related leaves it


@pytest.mark.parametrize("with_anaesthetist", [True, False])
def test_nested_and_null_relations_are_populated_as_select_related_does(with_anaesthetist: bool) -> None:
    session = TheatreSessionFactory(**({} if with_anaesthetist else {"anaesthetist": None}))
    theirs = TheatreSession.objects.select_related("theatre__site", "surgeon", "anaesthetist").get(pk=session.pk)
    mine = SESSION.get(session.pk)
    assert_same(mine, theirs, [["theatre", "site"], ["surgeon"], ["anaesthetist"]])
    assert (mine.anaesthetist is None) is not with_anaesthetist


def test_many_rows_come_in_the_querysets_order_and_none_is_an_empty_list() -> None:
    first = CaseFactory()
    second = CaseFactory(surgeon=first.surgeon)
    assert [c.pk for c in CASES_OF_SURGEON.all(first.surgeon_id)] == [second.pk, first.pk]
    assert CASES_OF_SURGEON.all(-1) == []
    with pytest.raises(TheatreSession.DoesNotExist):
        SESSION.get(-1)
    with pytest.raises(Case.MultipleObjectsReturned):
        CompiledQuery(lambda surgeon: Case.objects.filter(surgeon_id=surgeon)).get(first.surgeon_id)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_as_django_refuses_it() -> None:
    case = CaseFactory()
    with pytest.raises(TransactionManagementError):
        CompiledQuery(lambda pk: Case.objects.select_for_update().filter(pk=pk)).get(case.pk)  # when compiled
    with transaction.atomic():
        LOCKED_CASE.get(case.pk)  # compiled
    with pytest.raises(TransactionManagementError):
        LOCKED_CASE.get(case.pk)  # when run


def test_annotations_are_set_on_the_instances_as_the_queryset_sets_them() -> None:
    case = CaseFactory()
    ReminderPlan.objects.create(case=case)
    annotated = CompiledQuery(lambda pk: Case.objects.annotate(plans=Count("reminder_plan")).filter(pk=pk))
    theirs = Case.objects.annotate(plans=Count("reminder_plan")).get(pk=case.pk)
    assert annotated.get(case.pk).plans == theirs.plans == 1  # type: ignore[attr-defined]


def test_what_it_cannot_rebuild_is_refused_when_compiled() -> None:
    case = CaseFactory()
    extra = CompiledQuery(lambda pk: Case.objects.extra(select={"one": "1"}).filter(pk=pk))  # noqa: S610 - a test
    with pytest.raises(ValueError, match="model rows"):
        extra.get(case.pk)
    two_parameters = CompiledQuery(lambda pk: Case.objects.filter(pk=pk, estimated_minutes__gt=5))
    with pytest.raises(ValueError, match="one parameter"):
        two_parameters.get(case.pk)


@pytest.mark.django_db(transaction=True)
def test_a_finished_threads_connection_is_not_kept_alive_by_the_compiled_query() -> None:
    """Compiled per connection and kept on it: when a thread that ran it ends, its connection (and
    its PostgreSQL session) can go, as with the ORM. A cache beside it kept every one alive."""
    case = CaseFactory()
    seen: list[weakref.ref[Any]] = []

    def work() -> None:
        CASES_OF_SURGEON.all(case.surgeon_id)
        seen.append(weakref.ref(connections["default"]))
        connections["default"].close()

    for _ in range(3):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    gc.collect()
    assert len(seen) == 3 and all(ref() is None for ref in seen)


def test_none_is_refused_because_it_is_bound_as_it_is() -> None:
    with pytest.raises(ValueError, match="None"):
        CASES_OF_SURGEON.all(None)
